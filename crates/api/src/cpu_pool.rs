//! The threads that run analyses: CPU-bound work (decoding, pixel checks, models) kept off the
//! async reactor, bounded to a number of threads, and run at a lower scheduling priority than
//! the threads that serve requests.
//!
//! The priority is what keeps work-order CRUD fast while analyses run: on a 2-core machine the
//! analyses would otherwise take both cores for 40 to 80 ms at a time, and a request that needs a
//! few hundred microseconds of CPU would wait behind them. Two policies, see [`Priority`]:
//!
//! - [`Priority::Idle`] (the default, Linux only): the threads are scheduled `SCHED_IDLE`, so
//!   they run only on a core no other thread of the machine wants, and a request thread that
//!   wakes takes the core at once. Analyses still use every idle cycle: on an idle machine their
//!   throughput is unchanged. The price: while other processes keep every core busy, analyses
//!   wait for them.
//! - [`Priority::Nice`]: a higher nice value, a smaller share of the core but never none. It is
//!   the fallback where `SCHED_IDLE` is not available (or is refused), and the setting to choose
//!   when the host runs other CPU-heavy services whose load must not stall analyses.
//!
//! A job whose caller has gone away (the client disconnected while it waited in the queue) is
//! skipped instead of run.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How much lower the analysis threads' priority is than the process's under [`Priority::Nice`]:
/// a nice value of +10 gives them about a tenth of a core's share against a request thread at the
/// default nice value.
pub const DEFAULT_NICE_INCREMENT: i32 = 10;

/// How the analysis threads yield the CPU to the threads that serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// `SCHED_IDLE`: the CPU only when no other thread wants it. Where the kernel refuses it (or
    /// off Linux) the threads fall back to `Nice(fallback)`, with a warning.
    Idle { fallback: i32 },
    /// The process's nice value plus this increment (capped at 19; 0 keeps the priority).
    Nice(i32),
}

impl Priority {
    /// The policy named by the `analysis_priority` setting (`idle` or `nice`, any case), with
    /// `nice` the increment for `nice` and the fallback for `idle`; `None` for another name.
    pub fn from_setting(policy: &str, nice: i32) -> Option<Priority> {
        match policy.trim().to_ascii_lowercase().as_str() {
            "idle" => Some(Priority::Idle { fallback: nice }),
            "nice" => Some(Priority::Nice(nice)),
            _ => None,
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::Idle {
            fallback: DEFAULT_NICE_INCREMENT,
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Priority::Idle { .. } => f.write_str("SCHED_IDLE"),
            Priority::Nice(n) => write!(f, "nice +{n}"),
        }
    }
}

/// The default number of analysis threads: the cores minus one, and at least one.
///
/// The core left over serves requests and the database's writes. Analyses at idle priority
/// give way to those inside this machine, but on a virtual machine a virtual CPU that never
/// halts still competes on the host with the work that emulates the disk and delivers
/// interrupts: with every core busy, the work-order p99 rose 1.9-2.6x on a 2-core VM while
/// analyses ran, against 1.3-1.6x with one core left, and 1.1x with the photos on another disk
/// (`docs/PERFORMANCE.md`). A machine that only runs analyses (a dedicated `fieldproof worker`)
/// can set `analysis_threads` to every core.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores.saturating_sub(1).max(1)
}

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

/// The start of the analysis threads' names (`fp-analysis-N`), by which tools and the
/// benchmark tell them apart.
pub const ANALYSIS_THREAD_NAME: &str = "fp-analysis";

impl CpuPool {
    /// Starts `threads` threads (at least one), each at `priority`, named `fp-analysis-N`.
    pub fn new(threads: usize, priority: Priority) -> Self {
        Self::named(ANALYSIS_THREAD_NAME, threads, priority)
    }

    /// [`CpuPool::new`] with threads named `{prefix}-N` (15 bytes at most show in `/proc`), so
    /// that a pool for other work tells apart from the analyses in thread listings.
    pub fn named(prefix: &str, threads: usize, priority: Priority) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        for i in 0..threads {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            std::thread::Builder::new()
                .name(format!("{prefix}-{i}"))
                .spawn(move || {
                    lower_priority(priority);
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

fn lower_priority(priority: Priority) {
    let increment = match priority {
        Priority::Idle { fallback } => match schedule_idle() {
            Ok(()) => return,
            Err(why) => {
                tracing::warn!(
                    "the analysis threads cannot be scheduled SCHED_IDLE ({why}); they run at \
                     nice +{fallback} instead"
                );
                fallback
            }
        },
        Priority::Nice(n) => n,
    };
    if increment > 0 && raise_nice(increment).is_err() {
        tracing::warn!(
            "could not lower the analysis threads' priority; analyses compete with requests for the CPU"
        );
    }
}

/// Puts the calling thread in the `SCHED_IDLE` class. Any thread may do this to itself without
/// privilege (Linux 2.6.39 and later).
#[cfg(target_os = "linux")]
pub fn schedule_idle() -> Result<(), String> {
    use thread_priority::unix::{
        set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
        NormalThreadSchedulePolicy, ThreadSchedulePolicy,
    };
    use thread_priority::ThreadPriority;
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    // The call sets the policy, then the nice value to 0, which a process started at a higher
    // nice value may not do (lowering a nice value needs privilege). The policy is what matters:
    // a SCHED_IDLE thread gets no share while others want the core, whatever its nice value. So
    // the outcome is read back rather than taken from the result.
    let set = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle);
    match thread_schedule_policy() {
        Ok(p) if p == idle => Ok(()),
        _ => Err(match set {
            Err(e) => format!("{e:?}"),
            Ok(()) => "the policy did not change".into(),
        }),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn schedule_idle() -> Result<(), String> {
    Err("SCHED_IDLE exists on Linux only".into())
}

#[cfg(target_os = "linux")]
fn raise_nice(increment: i32) -> Result<(), ()> {
    use rustix::process::{getpriority_process, setpriority_process};
    // On Linux the nice value belongs to the thread, and `who` = 0 names the calling thread: this
    // changes the pool's thread only. Raising one's own nice value needs no privilege.
    let current = getpriority_process(None).map_err(drop)?;
    setpriority_process(None, (current + increment).min(19)).map_err(drop)
}

#[cfg(not(target_os = "linux"))]
fn raise_nice(_increment: i32) -> Result<(), ()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_reports_panics() {
        let pool = CpuPool::new(2, Priority::default());
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
        let pool = Arc::new(CpuPool::new(2, Priority::Nice(0)));
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
    async fn pool_threads_run_at_a_higher_nice_value() {
        use rustix::process::getpriority_process;
        let pool = CpuPool::new(1, Priority::Nice(5));
        let mine = getpriority_process(None).unwrap();
        let theirs = pool
            .run(|| getpriority_process(None).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (mine + 5).min(19));
        // The caller's own priority is untouched.
        assert_eq!(getpriority_process(None).unwrap(), mine);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn idle_pool_threads_are_sched_idle_and_the_caller_is_not() {
        use thread_priority::unix::{
            thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        let pool = CpuPool::new(2, Priority::default());
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        for _ in 0..4 {
            let theirs = pool
                .run(|| thread_schedule_policy().unwrap())
                .await
                .unwrap();
            assert_eq!(theirs, idle);
        }
        assert_eq!(
            thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
        );
    }
}
