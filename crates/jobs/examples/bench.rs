//! How fast the queue moves on each engine: jobs enqueued per second (one at a time, and from
//! concurrent tasks), and jobs run per second by several workers with a handler that does
//! nothing, so what is measured is the queue (claim, complete) and not the work.
//!
//! ```text
//! FIELDPROOF_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p fieldproof-jobs --example bench -- [jobs] [workers] [concurrency]
//! ```
//!
//! PostgreSQL is measured when the variable is set: on a throwaway database, with one store
//! (one connection pool) per worker, as separate processes would have.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldproof_jobs::{now_micros, Worker, WorkerConfig};
use fieldproof_store::{JobState, NewJob, Store};
use fieldproof_store_postgres::testing::{TestDatabase, URL_VAR};
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;
use tokio::sync::oneshot;
use uuid::Uuid;

fn new_job(i: usize) -> NewJob {
    let now = now_micros();
    NewJob {
        id: Uuid::new_v4(),
        site_id: None,
        kind: "bench".into(),
        payload: serde_json::json!({ "n": i }),
        max_attempts: 3,
        run_after: now,
        create_date: now,
    }
}

async fn measure(engine: &str, stores: Vec<Arc<dyn Store>>, jobs: usize, concurrency: usize) {
    let store = stores[0].clone();
    let sequential = jobs / 10;
    let started = Instant::now();
    for i in 0..sequential {
        store.enqueue_job(new_job(i)).await.expect("enqueue");
    }
    let one_by_one = started.elapsed();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..32 {
        let store = store.clone();
        let n = (jobs - sequential) / 32 + usize::from(chunk < (jobs - sequential) % 32);
        tasks.spawn(async move {
            for i in 0..n {
                store.enqueue_job(new_job(i)).await.expect("enqueue");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let concurrent = started.elapsed();
    println!(
        "{engine}: enqueue one at a time {:>7.0} jobs/s; from 32 tasks {:>7.0} jobs/s",
        sequential as f64 / one_by_one.as_secs_f64(),
        (jobs - sequential) as f64 / concurrent.as_secs_f64()
    );

    let config = WorkerConfig {
        concurrency,
        lease: Duration::from_secs(60),
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let started = Instant::now();
    let mut running = Vec::new();
    for (w, s) in stores.iter().enumerate() {
        let worker = Worker::new(s.clone(), format!("bench-{w}"), config.clone())
            .handle("bench", |_| async { Ok(()) });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        running.push((stop, task));
    }
    // Bounded: 10 minutes at most.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = store
            .list_jobs(Some(JobState::Queued), 1)
            .await
            .expect("list")
            .len()
            + store
                .list_jobs(Some(JobState::Running), 1)
                .await
                .expect("list")
                .len();
        if left == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let mut completed = 0;
    for (stop, task) in running {
        let _ = stop.send(());
        completed += task.await.expect("worker").completed;
    }
    println!(
        "{engine}: {completed} jobs run by {} workers x {concurrency} in {elapsed:.2?}: {:>7.0} jobs/s",
        stores.len(),
        completed as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: jobs workers concurrency"))
        .collect();
    let jobs = args.first().copied().unwrap_or(5_000);
    let workers = args.get(1).copied().unwrap_or(3);
    let concurrency = args.get(2).copied().unwrap_or(8);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite")).expect("open SQLite"));
    measure("sqlite", vec![sqlite; workers], jobs, concurrency).await;

    match std::env::var(URL_VAR) {
        Ok(server) if !server.is_empty() => {
            let db = TestDatabase::create(&server).await.expect("a database");
            let mut stores: Vec<Arc<dyn Store>> = Vec::new();
            for _ in 0..workers {
                stores.push(Arc::new(
                    PostgresStore::connect(db.url()).await.expect("connect"),
                ));
            }
            measure("postgres", stores, jobs, concurrency).await;
            db.drop_database().await.expect("drop the database");
        }
        _ => println!("postgres: not measured ({URL_VAR} is not set)"),
    }
}
