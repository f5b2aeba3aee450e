//! The threads that run analyses: CPU-bound work (decoding, pixel checks, models) kept off the
//! async reactor, bounded to a number of threads, and run at a lower scheduling priority than
//! the threads that serve requests.
//!
//! The priority is what keeps work-order CRUD fast while analyses run: on a 2-core machine the
//! analyses would otherwise take both cores for 40 to 80 ms at a time, and a request that needs a
//! few hundred microseconds of CPU would wait behind them. With the analysis threads at a higher
//! nice value the kernel gives the request threads the core as soon as they wake, and analyses
//! still use every cycle nothing else wants: on an idle machine their throughput is unchanged.
//!
//! A job whose caller has gone away (the client disconnected while it waited in the queue) is
//! skipped instead of run.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How much lower the analysis threads' priority is than the process's: a nice value of +10 gives
/// them about a tenth of a core's share against a request thread at the default nice value.
pub const DEFAULT_NICE_INCREMENT: i32 = 10;

pub struct CpuPool {
    queue: Mutex<mpsc::Sender<Job>>,
    threads: usize,
}

/// Why a job gave no result.
#[derive(Debug)]
pub enum PoolError {
    /// The job panicked; the message is the panic's.
    Panicked(String),
    /// The pool's threads are gone.
    Closed,
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Panicked(m) => write!(f, "analysis thread panicked: {m}"),
            PoolError::Closed => f.write_str("analysis pool closed"),
        }
    }
}

impl CpuPool {
    /// Starts `threads` threads (at least one), each at the process's nice value plus
    /// `nice_increment` (capped at 19; 0 keeps the priority).
    pub fn new(threads: usize, nice_increment: i32) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        for i in 0..threads {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            std::thread::Builder::new()
                .name(format!("fp-analysis-{i}"))
                .spawn(move || {
                    lower_priority(nice_increment);
                    let _ = ready.send(());
                    drop(ready);
                    loop {
                        // The lock is held only while waiting for the next job, not while it runs.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .expect("spawn an analysis thread");
        }
        // Returns once every thread runs, named and at its priority.
        drop(ready_tx);
        for _ in 0..threads {
            let _ = ready_rx.recv();
        }
        Self {
            queue: Mutex::new(tx),
            threads,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on one of the pool's threads when one is free; jobs start in the order they came.
    pub async fn run<R, F>(&self, f: F) -> Result<R, PoolError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // nobody waits for it any more
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
                let message = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                PoolError::Panicked(message)
            });
            let _ = tx.send(result);
        });
        self.queue
            .lock()
            .map_err(|_| PoolError::Closed)?
            .send(job)
            .map_err(|_| PoolError::Closed)?;
        rx.await.map_err(|_| PoolError::Closed)?
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(increment: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    if increment <= 0 {
        return;
    }
    // On Linux the nice value belongs to the thread, and `who` = 0 names the calling thread: this
    // changes the pool's thread only. Raising one's own nice value needs no privilege.
    let Ok(current) = getpriority_process(None) else {
        return;
    };
    if setpriority_process(None, (current + increment).min(19)).is_err() {
        tracing::warn!(
            "could not lower the analysis threads' priority; analyses compete with requests for the CPU"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_increment: i32) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_reports_panics() {
        let pool = CpuPool::new(2, DEFAULT_NICE_INCREMENT);
        assert_eq!(pool.run(|| 6 * 7).await.unwrap(), 42);
        let err = pool.run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(
            matches!(err, PoolError::Panicked(ref m) if m == "boom"),
            "{err:?}"
        );
        // The thread that caught the panic still serves.
        let results = run_all(&pool, (0..8).map(|i| move || i * 2).collect::<Vec<_>>()).await;
        assert_eq!(results, vec![0, 2, 4, 6, 8, 10, 12, 14]);
    }

    async fn run_all<F: FnOnce() -> u32 + Send + 'static>(
        pool: &CpuPool,
        jobs: Vec<F>,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        for job in jobs {
            out.push(pool.run(job).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn at_most_threads_jobs_run_at_once() {
        let pool = Arc::new(CpuPool::new(2, 0));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..6 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            handles.push(tokio::spawn(async move {
                pool.run(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    running.fetch_sub(1, SeqCst);
                })
                .await
                .unwrap()
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn pool_threads_run_at_a_lower_priority() {
        use rustix::process::getpriority_process;
        let pool = CpuPool::new(1, 5);
        let mine = getpriority_process(None).unwrap();
        let theirs = pool
            .run(|| getpriority_process(None).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (mine + 5).min(19));
        // The caller's own priority is untouched.
        assert_eq!(getpriority_process(None).unwrap(), mine);
    }
}
