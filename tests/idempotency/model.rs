//! Property test: random interleavings of claim / complete / release from several workers on a
//! few keys agree with a model in which a key is free, held by one token, or done (final for
//! the window, which is longer than the test).

use std::time::Duration;

use chathooks::idempotency::{
    ClaimOutcome, ClaimToken, IdempotencyKey, IdempotencyStore, MemoryStore,
};
use proptest::prelude::*;

use super::support::{fresh_key, now};

const WORKERS: usize = 4;
const KEYS: usize = 3;
const LEASE: Duration = Duration::from_secs(60);
const WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
enum Op {
    Claim { worker: usize, key: usize },
    Complete { worker: usize, key: usize },
    Release { worker: usize, key: usize },
}

fn op() -> impl Strategy<Value = Op> {
    (0..3u8, 0..WORKERS, 0..KEYS).prop_map(|(kind, worker, key)| match kind {
        0 => Op::Claim { worker, key },
        1 => Op::Complete { worker, key },
        _ => Op::Release { worker, key },
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Free,
    Held(ClaimToken),
    Done,
}

/// Apply `ops` to a store (through `run`, which drives its futures) and to the model; every
/// answer must match. Workers keep their last token after releasing or completing, so stale
/// tokens are exercised all the time.
fn check(
    store: &dyn IdempotencyStore,
    ops: &[Op],
    run: &mut dyn FnMut(StepFuture<'_>) -> Step,
) -> Result<(), TestCaseError> {
    let keys: Vec<IdempotencyKey> = (0..KEYS).map(|_| fresh_key("model")).collect();
    let mut state = [State::Free; KEYS];
    let mut tokens: [[Option<ClaimToken>; KEYS]; WORKERS] = [[None; KEYS]; WORKERS];
    for &op in ops {
        match op {
            Op::Claim { worker, key } => {
                let k = &keys[key];
                let Step::Claim(got) = run(Box::pin(async move {
                    Step::Claim(store.claim(k, LEASE).await.unwrap())
                })) else {
                    unreachable!()
                };
                match (state[key], got) {
                    (State::Free, ClaimOutcome::Claimed(t)) => {
                        prop_assert!(tokens.iter().flatten().all(|old| *old != Some(t)));
                        state[key] = State::Held(t);
                        tokens[worker][key] = Some(t);
                    }
                    (State::Held(_), ClaimOutcome::InFlight { retry_after }) => {
                        prop_assert!(retry_after <= LEASE)
                    }
                    (State::Done, ClaimOutcome::AlreadyDone) => {}
                    (model, got) => prop_assert!(false, "{op:?}: model {model:?}, store {got:?}"),
                }
            }
            Op::Complete { worker, key } | Op::Release { worker, key } => {
                let Some(token) = tokens[worker][key] else {
                    continue;
                };
                let k = &keys[key];
                let completing = matches!(op, Op::Complete { .. });
                let Step::Settle(applied) = run(Box::pin(async move {
                    Step::Settle(if completing {
                        store.complete(k, token, WINDOW).await.unwrap()
                    } else {
                        store.release(k, token).await.unwrap()
                    })
                })) else {
                    unreachable!()
                };
                let holds = state[key] == State::Held(token);
                prop_assert_eq!(applied, holds, "{:?} with model {:?}", op, state[key]);
                if holds {
                    state[key] = if completing { State::Done } else { State::Free };
                }
            }
        }
    }
    Ok(())
}

/// One store call, driven to completion by the caller's executor.
type StepFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Step> + Send + 'a>>;

enum Step {
    Claim(ClaimOutcome),
    Settle(bool),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn memory_store_follows_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let store = MemoryStore::new(64);
        check(&store, &ops, &mut |f| now(f))?;
    }
}

#[cfg(feature = "redis")]
#[test]
fn redis_store_follows_the_model() {
    use chathooks::idempotency::RedisStore;
    use proptest::test_runner::{Config, TestRunner};

    // Checked before proptest runs, so a missing Redis is a skip (or a CI failure), not a
    // "failing case" recorded in proptest's regression file.
    let Some(url) = super::support::redis_url("redis_store_follows_the_model") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(RedisStore::connect(&url)).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..60), |ops| {
            // Fresh keys per case (see `check`), so cases never see each other's state.
            check(&store, &ops, &mut |f| rt.block_on(f))
        })
        .unwrap();
}
