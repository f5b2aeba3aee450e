//! The worker runtime on real stores (SQLite, and PostgreSQL shared by several stores as by
//! several processes): a burst runs each job exactly once, a crashed worker's job moves on after
//! its lease, heartbeats keep a long job, a lost lease stops its handler, retries back off and
//! end in the dead letters, and shutdown lets running handlers finish.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use fieldproof_jobs::{backoff, now_micros, JobError, RunReport, Worker, WorkerConfig};
use fieldproof_store::{JobState, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

fn config(lease: Duration) -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease,
        poll_interval: Duration::from_millis(20),
        backoff_base: Duration::from_millis(40),
        backoff_max: Duration::from_millis(200),
    }
}

/// A running worker and the means to stop it.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<RunReport>,
}

fn start(worker: Worker) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn shut_down(self) -> RunReport {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the worker stops within 30 s of its shutdown")
            .expect("the worker's task")
    }
}

/// Sets its flag when dropped: tells whether a handler's future was dropped (aborted).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

const BURST: usize = 500;
const WORKERS: usize = 3;

async fn burst(env: Env) -> Env {
    let store = env.store();
    let mut ids = Vec::new();
    for i in 0..BURST {
        let mut new = job("burst", 3);
        new.payload = serde_json::json!({ "n": i });
        ids.push(enqueue(&store, new).await.id);
    }
    // The effect of each job: a count by job id, and which worker ran it.
    let effects: Arc<Mutex<HashMap<Uuid, Vec<usize>>>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<Running> = (0..WORKERS)
        .map(|w| {
            let effects = effects.clone();
            let worker = Worker::new(
                env.stores[w].clone(),
                format!("burst-{w}"),
                config(Duration::from_secs(30)),
            )
            .handle("burst", move |job| {
                let effects = effects.clone();
                async move {
                    effects.lock().unwrap().entry(job.id).or_default().push(w);
                    tokio::task::yield_now().await;
                    Ok(())
                }
            });
            start(worker)
        })
        .collect();
    wait_finished(&store, &ids, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    let mut reports = Vec::new();
    for w in workers {
        reports.push(w.shut_down().await);
    }

    let effects = effects.lock().unwrap().clone();
    let twice: Vec<_> = effects.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    let missing: Vec<_> = ids.iter().filter(|id| !effects.contains_key(id)).collect();
    assert!(missing.is_empty(), "jobs never run: {missing:?}");
    assert_eq!(
        effects.len(),
        BURST,
        "no effect of a job that was not enqueued"
    );
    let done = store
        .list_jobs(Some(JobState::Done), 10 * BURST as u64)
        .await
        .expect("list_jobs");
    assert_eq!(done.len(), BURST, "every job is done");
    assert!(done.iter().all(|j| j.attempts == 1), "each in one attempt");
    let completed: u64 = reports.iter().map(|r| r.completed).sum();
    assert_eq!(completed, BURST as u64, "the workers' reports: {reports:?}");
    let per_worker: Vec<usize> = (0..WORKERS)
        .map(|w| effects.values().filter(|by| by[0] == w).count())
        .collect();
    eprintln!(
        "{}: {BURST} jobs over {WORKERS} workers in {elapsed:.2?} ({:.0} jobs/s), per worker {per_worker:?}",
        env.engine,
        BURST as f64 / elapsed.as_secs_f64()
    );
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_over_three_workers_runs_each_job_exactly_once() {
    on_both(WORKERS, burst).await;
}

async fn crash(env: Env) -> Env {
    let store = env.store();
    let queued = enqueue(&store, job("slow", 5)).await;
    let lease = Duration::from_millis(800);

    // Worker A takes the job and hangs in it; then its process "dies" (the task is aborted).
    let dropped = Arc::new(AtomicBool::new(false));
    let a = {
        let dropped = dropped.clone();
        Worker::new(env.stores[0].clone(), "crasher", config(lease)).handle("slow", move |_| {
            let guard = DropFlag(dropped.clone());
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(())
            }
        })
    };
    let a = start(a);
    wait_until(
        "worker A holds the job",
        Duration::from_secs(10),
        || async {
            get(&store, queued.id)
                .await
                .lease_owner
                .is_some_and(|o| o.starts_with("crasher#"))
        },
    )
    .await;
    a.task.abort();
    assert!(a.task.await.unwrap_err().is_cancelled());
    wait_until(
        "the crashed worker's handler is dropped",
        Duration::from_secs(5),
        || async { dropped.load(Ordering::SeqCst) },
    )
    .await;
    let held = get(&store, queued.id).await;
    assert_eq!(held.state, JobState::Running, "a crash records nothing");
    let a_lease_until = held.lease_until.expect("a lease");

    // Worker B, in another process, gets the job once A's lease has expired.
    let runs: Arc<Mutex<Vec<(u32, i64)>>> = Arc::default();
    let b = {
        let runs = runs.clone();
        Worker::new(env.stores[1].clone(), "rescuer", config(lease)).handle("slow", move |job| {
            let runs = runs.clone();
            async move {
                runs.lock().unwrap().push((job.attempts, now_micros()));
                Ok(())
            }
        })
    };
    let b = start(b);
    wait_finished(&store, &[queued.id], Duration::from_secs(20)).await;
    let report = b.shut_down().await;

    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1, "B ran the job once: {runs:?}");
    let (attempt, at) = runs[0];
    assert_eq!(attempt, 2, "B's run is the second attempt");
    assert!(
        at >= a_lease_until,
        "B ran it only after A's lease expired ({at} < {a_lease_until})"
    );
    let done = get(&store, queued.id).await;
    assert_eq!(done.state, JobState::Done);
    assert!(done.lease_owner.is_some_and(|o| o.starts_with("rescuer#")));
    assert_eq!(report.completed, 1);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_workers_job_goes_to_another_worker_after_its_lease() {
    on_both(2, crash).await;
}

async fn long_job(env: Env) -> Env {
    let store = env.store();
    let queued = enqueue(&store, job("long", 5)).await;
    // The handler takes more than three leases; heartbeats keep the job with its worker while
    // a second worker polls for it all along.
    let lease = Duration::from_millis(600);
    let runs: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<Running> = ["first", "second"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let runs = runs.clone();
            start(
                Worker::new(env.stores[i].clone(), name, config(lease)).handle("long", move |_| {
                    let runs = runs.clone();
                    async move {
                        runs.lock().unwrap().push(name.to_string());
                        tokio::time::sleep(Duration::from_millis(2_000)).await;
                        Ok(())
                    }
                }),
            )
        })
        .collect();
    wait_finished(&store, &[queued.id], Duration::from_secs(20)).await;
    for w in workers {
        w.shut_down().await;
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1, "one run, kept alive by heartbeats: {runs:?}");
    let done = get(&store, queued.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 1));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_keep_a_long_job_with_its_worker() {
    on_both(2, long_job).await;
}

async fn lost_lease(env: Env) -> Env {
    let store = env.store();
    let queued = enqueue(&store, job("taken", 5)).await;
    let dropped = Arc::new(AtomicBool::new(false));
    let worker = {
        let dropped = dropped.clone();
        Worker::new(store.clone(), "loser", config(Duration::from_millis(300))).handle(
            "taken",
            move |_| {
                let guard = DropFlag(dropped.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                }
            },
        )
    };
    let running = start(worker);
    wait_until(
        "the worker holds the job",
        Duration::from_secs(10),
        || async { get(&store, queued.id).await.state == JobState::Running },
    )
    .await;
    // Another claimer whose clock says the lease has expired takes the job over.
    let thief = store
        .claim_job(
            "thief#1",
            &["taken".to_string()],
            now_micros() + 10_000_000,
            60_000_000,
        )
        .await
        .expect("claim_job")
        .expect("the lease is expired at that time");
    assert_eq!(thief.id, queued.id);
    wait_until(
        "the worker notices and stops its handler",
        Duration::from_secs(5),
        || async { dropped.load(Ordering::SeqCst) },
    )
    .await;
    let report = running.shut_down().await;
    assert_eq!(
        (report.lost, report.completed),
        (1, 0),
        "report: {report:?}"
    );
    let job = get(&store, queued.id).await;
    assert_eq!(job.lease_owner.as_deref(), Some("thief#1"), "untouched");
    assert_eq!(job.state, JobState::Running);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_lost_its_lease_stops_its_handler() {
    on_both(1, lost_lease).await;
}

async fn retries(env: Env) -> Env {
    let store = env.store();
    let flaky = enqueue(&store, job("flaky", 5)).await;
    let broken = enqueue(&store, job("broken", 3)).await;
    let fatal = enqueue(&store, job("fatal", 5)).await;
    let panics = enqueue(&store, job("panics", 3)).await;
    let calls: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let track = |calls: &Arc<Mutex<HashMap<String, Vec<Instant>>>>, kind: &str| -> u32 {
        let mut calls = calls.lock().unwrap();
        let v = calls.entry(kind.to_string()).or_default();
        v.push(Instant::now());
        v.len() as u32
    };
    let cfg = config(Duration::from_secs(10));
    let (c1, c2, c3, c4) = (calls.clone(), calls.clone(), calls.clone(), calls.clone());
    let worker = Worker::new(store.clone(), "retrier", cfg.clone())
        .handle("flaky", move |_| {
            let n = track(&c1, "flaky");
            async move {
                if n < 3 {
                    Err(JobError::Retry(format!("boom {n}")))
                } else {
                    Ok(())
                }
            }
        })
        .handle("broken", move |_| {
            track(&c2, "broken");
            async { Err(JobError::Retry("still broken".into())) }
        })
        .handle("fatal", move |_| {
            track(&c3, "fatal");
            async { Err(JobError::Fatal("bad payload".into())) }
        })
        .handle("panics", move |_| {
            let n = track(&c4, "panics");
            async move {
                assert!(n > 1, "first attempt fails loudly");
                Ok(())
            }
        });
    let running = start(worker);
    let ids = [flaky.id, broken.id, fatal.id, panics.id];
    wait_finished(&store, &ids, Duration::from_secs(30)).await;
    let report = running.shut_down().await;

    let state = |id| {
        let store = store.clone();
        async move {
            let j = get(&store, id).await;
            (j.state, j.attempts, j.last_error.unwrap_or_default())
        }
    };
    assert_eq!(
        state(flaky.id).await,
        (JobState::Done, 3, "boom 2".into()),
        "flaky: retried twice, then done"
    );
    assert_eq!(
        state(broken.id).await,
        (JobState::Dead, 3, "still broken".into()),
        "broken: dead after max_attempts"
    );
    assert_eq!(
        state(fatal.id).await,
        (JobState::Dead, 1, "bad payload".into()),
        "fatal: dead at once"
    );
    let (s, attempts, error) = state(panics.id).await;
    assert_eq!((s, attempts), (JobState::Done, 2), "a panic is retried");
    assert!(error.contains("panicked"), "{error}");

    let calls = calls.lock().unwrap();
    for kind in ["flaky", "broken"] {
        let times = &calls[kind];
        assert_eq!(times.len(), 3, "{kind}: one call per attempt");
        for (i, pair) in times.windows(2).enumerate() {
            let least = backoff(i as u32 + 1, cfg.backoff_base, cfg.backoff_max, 0.0);
            let gap = pair[1] - pair[0];
            assert!(
                gap >= least,
                "{kind}: retry {} came after {gap:?}, before its back-off {least:?}",
                i + 1
            );
        }
    }
    assert_eq!(calls["fatal"].len(), 1);
    assert_eq!(
        (report.completed, report.dead, report.retried, report.lost),
        (2, 2, 5, 0),
        "report: {report:?}"
    );
    drop(calls);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_back_off_and_end_in_the_dead_letters() {
    on_both(1, retries).await;
}

async fn shutdown(env: Env) -> Env {
    let store = env.store();
    let first = enqueue(&store, job("task", 3)).await;
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let worker = {
        let (started, finished) = (started.clone(), finished.clone());
        Worker::new(store.clone(), "stopper", config(Duration::from_secs(10))).handle(
            "task",
            move |_| {
                let (started, finished) = (started.clone(), finished.clone());
                async move {
                    started.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    finished.store(true, Ordering::SeqCst);
                    Ok(())
                }
            },
        )
    };
    let running = start(worker);
    wait_until("the handler runs", Duration::from_secs(10), || async {
        started.load(Ordering::SeqCst)
    })
    .await;
    let _ = running.stop.send(());
    // Enqueued after the shutdown: never claimed by this worker.
    let second = enqueue(&store, job("task", 3)).await;
    let report = tokio::time::timeout(Duration::from_secs(30), running.task)
        .await
        .expect("the worker stops")
        .expect("the worker's task");
    assert!(
        finished.load(Ordering::SeqCst),
        "run returned only after the handler finished"
    );
    assert_eq!((report.claimed, report.completed), (1, 1), "{report:?}");
    assert_eq!(get(&store, first.id).await.state, JobState::Done);
    let left = get(&store, second.id).await;
    assert_eq!((left.state, left.attempts), (JobState::Queued, 0));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_stops_claiming_and_lets_running_handlers_finish() {
    on_both(1, shutdown).await;
}

#[tokio::test]
async fn a_worker_claims_only_the_kinds_it_handles() {
    let env = Env::sqlite(1);
    let store: Arc<dyn Store> = env.store();
    let other = enqueue(&store, job("not-mine", 3)).await;
    let worker = Worker::new(store.clone(), "picky", config(Duration::from_secs(5)))
        .handle("b", |_| async { Ok(()) })
        .handle("a", |_| async { Ok(()) });
    assert_eq!(worker.kinds(), ["a", "b"]);
    let running = start(worker);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = running.shut_down().await;
    assert_eq!(report.claimed, 0);
    assert_eq!(get(&store, other.id).await.state, JobState::Queued);
    env.finish().await;
}
