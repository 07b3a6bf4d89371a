//! The shared inbox suite on `PostgresInbox` (the server at `DATABASE_URL`), each test on a
//! schema of its own, with group commit (the default) and without. Postgres-only behaviour is
//! in `tests/postgres/inbox.rs`.

use std::sync::Arc;

use chathooks::inbox::Inbox;
use chathooks::postgres::PostgresInbox;

use super::suite::inbox_suite;
use crate::postgres::service::fresh_schema_pool;

async fn make(test: &str) -> Option<Arc<dyn Inbox>> {
    let pool = fresh_schema_pool(&format!("inbox_{test}")).await?;
    Some(Arc::new(PostgresInbox::new(&pool)))
}

inbox_suite!(make);

/// The same suite with group commit off: every put and ack its own statement.
mod one_statement_per_call {
    use super::*;

    async fn make(test: &str) -> Option<Arc<dyn Inbox>> {
        let pool = fresh_schema_pool(&format!("inbox1_{test}")).await?;
        Some(Arc::new(PostgresInbox::new(&pool).with_group_commit(false)))
    }

    inbox_suite!(make);
}
