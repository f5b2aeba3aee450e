//! What a request spent waiting on the store, for the API's `Server-Timing` header.
//!
//! The API runs each request inside [`measure`]; an engine reports, from the request's own task,
//! the time it spent in a read or a write ([`add_store`]) and, for a write that went through a
//! group commit, how long it was queued before its batch began ([`add_queued`]) and how long the
//! batch's commit took ([`add_commit`]); and for any call answered from another thread, how
//! long the request took to resume once answered ([`add_wake`]): its wait for a request thread,
//! the server's own scheduling rather than the store's work. Outside [`measure`] (tools, tests,
//! background jobs) the reports go nowhere. An engine that reports nothing leaves the figures
//! at zero.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

tokio::task_local! {
    static SPENT: Arc<Spent>;
}

/// The store's share of one request, accumulated over its calls.
#[derive(Debug, Default)]
pub struct Spent {
    store: AtomicU64,
    queued: AtomicU64,
    commit: AtomicU64,
    wake: AtomicU64,
}

impl Spent {
    /// Time spent awaiting the store's reads and writes.
    pub fn store(&self) -> Duration {
        Duration::from_nanos(self.store.load(Ordering::Relaxed))
    }

    /// Of which: writes queued behind other work before their transaction began.
    pub fn queued(&self) -> Duration {
        Duration::from_nanos(self.queued.load(Ordering::Relaxed))
    }

    /// Of which: the commits (the durable sync) of the transactions that carried the writes.
    pub fn commit(&self) -> Duration {
        Duration::from_nanos(self.commit.load(Ordering::Relaxed))
    }

    /// Of which: answered calls waiting to resume on a request thread.
    pub fn wake(&self) -> Duration {
        Duration::from_nanos(self.wake.load(Ordering::Relaxed))
    }
}

/// Runs `f`, collecting what the store reports from inside it.
pub async fn measure<F: Future>(f: F) -> (F::Output, Arc<Spent>) {
    let spent = Arc::new(Spent::default());
    let output = SPENT.scope(spent.clone(), f).await;
    (output, spent)
}

fn add(pick: fn(&Spent) -> &AtomicU64, d: Duration) {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let _ = SPENT.try_with(|s| pick(s).fetch_add(nanos, Ordering::Relaxed));
}

/// Reports time spent awaiting a read or a write.
pub fn add_store(d: Duration) {
    add(|s| &s.store, d);
}

/// Reports time a write waited before its transaction began.
pub fn add_queued(d: Duration) {
    add(|s| &s.queued, d);
}

/// Reports the commit time of the transaction that carried a write.
pub fn add_commit(d: Duration) {
    add(|s| &s.commit, d);
}

/// Reports the time from a call's answer, on another thread, to the request resuming.
pub fn add_wake(d: Duration) {
    add(|s| &s.wake, d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_add_up_inside_a_measure_and_vanish_outside() {
        add_store(Duration::from_millis(5));
        let ((), spent) = measure(async {
            add_store(Duration::from_micros(300));
            tokio::task::yield_now().await;
            add_store(Duration::from_micros(200));
            add_queued(Duration::from_micros(50));
            add_commit(Duration::from_micros(100));
            add_wake(Duration::from_micros(20));
        })
        .await;
        assert_eq!(spent.store(), Duration::from_micros(500));
        assert_eq!(spent.queued(), Duration::from_micros(50));
        assert_eq!(spent.commit(), Duration::from_micros(100));
        assert_eq!(spent.wake(), Duration::from_micros(20));
        let ((), nothing) = measure(async {}).await;
        assert_eq!(nothing.store(), Duration::ZERO);
    }
}
