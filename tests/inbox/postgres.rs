//! The shared inbox suite on `PostgresInbox` (the server at `DATABASE_URL`), each test on a
//! schema of its own. Postgres-only behaviour is in `tests/postgres/inbox.rs`.

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
