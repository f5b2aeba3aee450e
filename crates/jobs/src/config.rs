//! How a worker behaves: how many jobs at once, how long a lease, how often to look for work
//! when idle, and how retries back off.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// Handlers running at once in this worker (at least 1).
    pub concurrency: usize,
    /// How long a claim holds a job without news from its worker. The worker extends it every
    /// third of it while the handler runs, so it bounds how long a job waits after its worker
    /// died, not how long a handler may take.
    pub lease: Duration,
    /// How long an idle worker waits before looking for due jobs again. A worker that found a
    /// job looks again at once, so a burst is drained at full speed.
    pub poll_interval: Duration,
    /// The delay before the first retry; doubled at each further attempt.
    pub backoff_base: Duration,
    /// The longest delay before a retry.
    pub backoff_max: Duration,
}

impl Default for WorkerConfig {
    /// Four jobs at once, a 60 s lease, a poll every second, retries after 5 s, 10 s, 20 s, ...
    /// up to 30 minutes.
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(30 * 60),
        }
    }
}
