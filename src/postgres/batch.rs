//! Group commit: concurrent calls of one kind (`put`, `ack`) on one inbox share one statement,
//! and so one transaction and one WAL flush.
//!
//! The first call that finds no batch running spawns a drain task on the current Tokio
//! runtime. The task takes everything queued (at most `max` per statement), runs it as one
//! statement, answers every caller, and repeats until the queue is empty; calls that arrive
//! while a statement runs form the next batch, so under load batches grow by themselves and
//! with a single caller a call costs what it did before. A call that finds a full batch already
//! waiting starts another drain task, up to `drainers`, so statements overlap (Postgres then
//! shares their WAL flushes) and a busy machine's scheduler still sees several backends.
//!
//! Bounded: at most [`QUEUE_BATCHES`] full batches per drainer wait; a call beyond that is
//! refused at once with `StoreUnavailable` (503, so a stalled database sheds load instead of
//! holding every body in memory), and a caller waits at most twice the operation timeout. A
//! caller that gave up (cancelled, or timed out) before its item was taken leaves nothing:
//! the drain skips it; once taken, the item is applied or not, like any statement whose
//! answer is lost. If the drain
//! task is dropped (its runtime shut down), its guard fails what is queued with
//! `StoreUnavailable` and lets the next call start a new task.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::Error;

type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// Full batches per drainer that may wait before calls are refused.
pub(crate) const QUEUE_BATCHES: usize = 4;

/// Runs one batch: one answer per item, in order.
pub(crate) trait RunBatch<R, T>: Clone + Send + Sync + 'static {
    fn run(&self, items: Vec<R>) -> impl Future<Output = Vec<Result<T, Error>>> + Send;
    fn retry_after(&self) -> Duration;
    /// Bound on one statement; a caller waits at most twice this (its turn, then its batch).
    fn op_timeout(&self) -> Duration;
}

pub(crate) struct Batcher<R, T> {
    max: usize,
    drainers: usize,
    state: Mutex<Queued<R, T>>,
}

struct Queued<R, T> {
    pending: Vec<(R, Reply<T>)>,
    /// Drain tasks running.
    draining: usize,
}

impl<R: Send + 'static, T: Send + 'static> Batcher<R, T> {
    /// At most `max` items per statement, at most `drainers` statements at once.
    pub(crate) fn new(max: usize, drainers: usize) -> Self {
        Batcher {
            max: max.max(1),
            drainers: drainers.max(1),
            state: Mutex::new(Queued {
                pending: Vec::new(),
                draining: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued<R, T>> {
        // Every critical section leaves the queue consistent; a panic elsewhere cannot poison it
        // in a harmful way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Submit `item` and wait for its answer.
    pub(crate) async fn submit<X: RunBatch<R, T>>(
        self: &Arc<Self>,
        runner: &X,
        item: R,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            let limit = self.max * self.drainers * QUEUE_BATCHES;
            if q.pending.len() >= limit {
                return Err(Error::StoreUnavailable {
                    reason: format!("postgres: {limit} calls already wait for the database"),
                    retry_after: runner.retry_after(),
                });
            }
            q.pending.push((item, tx));
            // A first drainer at once; more only when a batch's worth is already waiting, so
            // light load keeps one statement at a time and large batches.
            let start = q.draining == 0
                || (q.draining < self.drainers && q.pending.len() >= (self.max / 32).max(4));
            if start {
                q.draining += 1;
            }
            start
        };
        if start {
            let guard = Drain {
                batcher: Arc::clone(self),
                runner: runner.clone(),
                finished: false,
            };
            tokio::spawn(guard.run());
        }
        let wait = runner.op_timeout().saturating_mul(2);
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Error::StoreUnavailable {
                reason: "postgres: the batch carrying this call was dropped".into(),
                retry_after: runner.retry_after(),
            }),
            Err(_) => Err(Error::StoreUnavailable {
                reason: format!("postgres: no answer within {wait:?}"),
                retry_after: runner.retry_after(),
            }),
        }
    }
}

struct Drain<R: Send + 'static, T: Send + 'static, X: RunBatch<R, T>> {
    batcher: Arc<Batcher<R, T>>,
    runner: X,
    /// Set once the queue was found empty and this task left `draining`: from then on this
    /// guard must not touch the queue.
    finished: bool,
}

impl<R: Send + 'static, T: Send + 'static, X: RunBatch<R, T>> Drain<R, T, X> {
    async fn run(mut self) {
        loop {
            let batch = {
                let mut q = self.batcher.lock();
                // Callers that gave up are skipped: nobody waits for their answer.
                q.pending.retain(|(_, reply)| !reply.is_closed());
                if q.pending.is_empty() {
                    q.draining -= 1;
                    self.finished = true;
                    return;
                }
                let n = q.pending.len().min(self.batcher.max);
                q.pending.drain(..n).collect::<Vec<_>>()
            };
            let (items, replies): (Vec<R>, Vec<Reply<T>>) = batch.into_iter().unzip();
            let answers = self.runner.run(items).await;
            let mut answers = answers.into_iter();
            for reply in replies {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(Error::StoreUnavailable {
                        reason: "postgres: a batch answered fewer items than it was given".into(),
                        retry_after: self.runner.retry_after(),
                    })
                });
                let _ = reply.send(answer);
            }
        }
    }
}

impl<R: Send + 'static, T: Send + 'static, X: RunBatch<R, T>> Drop for Drain<R, T, X> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped mid-batch (runtime shutdown): the last drainer fails what is queued, and the
        // next call starts a new one.
        let mut q = self.batcher.lock();
        q.draining = q.draining.saturating_sub(1);
        if q.draining == 0 {
            for (_, reply) in q.pending.drain(..) {
                let _ = reply.send(Err(Error::StoreUnavailable {
                    reason: "postgres: the batch task stopped".into(),
                    retry_after: self.runner.retry_after(),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A database that never answers: each statement records its items and hangs.
    #[derive(Clone, Default)]
    struct Stalled {
        seen: Arc<AtomicUsize>,
    }

    impl RunBatch<u32, u32> for Stalled {
        fn run(&self, items: Vec<u32>) -> impl Future<Output = Vec<Result<u32, Error>>> + Send {
            self.seen.fetch_add(items.len(), Ordering::SeqCst);
            std::future::pending()
        }
        fn retry_after(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn op_timeout(&self) -> Duration {
            Duration::from_millis(100)
        }
    }

    #[tokio::test]
    async fn a_stalled_database_sheds_calls_beyond_the_queue_and_times_out_the_rest() {
        let batcher = Arc::new(Batcher::<u32, u32>::new(2, 1));
        let runner = Stalled::default();
        let limit = 2 * QUEUE_BATCHES;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..(limit + 2 + 5) as u32 {
            let (b, r) = (batcher.clone(), runner.clone());
            calls.spawn(async move { b.submit(&r, i).await });
            // Let each call queue before the next (the drain takes the first batch of 2).
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let answers = calls.join_all().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "bounded by 2 × op_timeout"
        );
        let refused = answers
            .iter()
            .filter(|a| matches!(a, Err(Error::StoreUnavailable { reason, .. }) if reason.contains("already wait")))
            .count();
        let timed_out = answers
            .iter()
            .filter(|a| matches!(a, Err(Error::StoreUnavailable { reason, .. }) if reason.contains("no answer")))
            .count();
        // The stalled statement holds the first batch (what was queued when the drain ran);
        // `limit` more wait behind it; the rest are refused at once.
        let taken = runner.seen.load(Ordering::SeqCst);
        assert!((1..=2).contains(&taken), "{taken}");
        assert_eq!(timed_out, limit + taken, "{answers:?}");
        assert_eq!(refused + timed_out, answers.len(), "{answers:?}");
        // The queued calls gave up: a drain coming back to the queue sends none of them.
        assert!(batcher.lock().pending.iter().all(|(_, r)| r.is_closed()));
    }
}
