//! Real stores for the worker tests: a SQLite file in a temporary directory, or a throwaway
//! PostgreSQL database on the server named by `FIELDPROOF_TEST_POSTGRES_URL` (skipped with a
//! note when it is unset, a failure on CI), with one store per simulated process.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fieldproof_jobs::now_micros;
use fieldproof_store::{Job, JobState, NewJob, Store};
use fieldproof_store_postgres::testing::{server_url_from_env, TestDatabase, URL_VAR};
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;
use uuid::Uuid;

/// Stores on one storage, and what keeps the storage alive until the test is over.
pub struct Env {
    pub engine: &'static str,
    pub stores: Vec<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
    database: Option<TestDatabase>,
}

impl Env {
    /// `processes` handles on one SQLite file. SQLite serves one process; the workers of that
    /// process share its one store, as `fieldproof serve` does.
    pub fn sqlite(processes: usize) -> Env {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("jobs.sqlite")).expect("open SQLite"));
        Env {
            engine: "sqlite",
            stores: vec![store; processes],
            _dir: Some(dir),
            database: None,
        }
    }

    /// `processes` stores, each with its own connection pool, on one new PostgreSQL database:
    /// as many worker processes sharing one server. `None` (with a note) when skipped.
    pub async fn postgres(processes: usize) -> Option<Env> {
        let Some(server) = server_url_from_env() else {
            eprintln!("skipped: {URL_VAR} is not set (PostgreSQL tests need a server)");
            return None;
        };
        let database = TestDatabase::create(&server)
            .await
            .expect("a test database");
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..processes {
            let store = PostgresStore::connect(database.url())
                .await
                .expect("connect to the test database");
            stores.push(Arc::new(store));
        }
        Some(Env {
            engine: "postgres",
            stores,
            _dir: None,
            database: Some(database),
        })
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.stores[0].clone()
    }

    /// Closes the stores and drops the database (a panicking test leaves that to `Drop`).
    pub async fn finish(mut self) {
        self.stores.clear();
        if let Some(db) = self.database.take() {
            db.drop_database().await.expect("drop the test database");
        }
    }
}

/// Runs `scenario` on SQLite, then on PostgreSQL (when there is a server).
pub async fn on_both<F, Fut>(processes: usize, scenario: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = Env>,
{
    scenario(Env::sqlite(processes)).await.finish().await;
    if let Some(env) = Env::postgres(processes).await {
        scenario(env).await.finish().await;
    }
}

pub fn job(kind: &str, max_attempts: u32) -> NewJob {
    let now = now_micros();
    NewJob {
        id: Uuid::new_v4(),
        site_id: None,
        kind: kind.to_string(),
        payload: serde_json::json!({ "kind": kind }),
        max_attempts,
        run_after: now,
        create_date: now,
    }
}

pub async fn enqueue(store: &Arc<dyn Store>, new: NewJob) -> Job {
    store.enqueue_job(new).await.expect("enqueue_job")
}

pub async fn get(store: &Arc<dyn Store>, id: Uuid) -> Job {
    store
        .get_job(None, id)
        .await
        .expect("get_job")
        .expect("the job exists")
}

/// Polls every 10 ms until `done` holds, for at most `limit`; panics naming `what` if not.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until every job in `ids` is done or dead.
pub async fn wait_finished(store: &Arc<dyn Store>, ids: &[Uuid], limit: Duration) {
    wait_until("every job is finished", limit, || async {
        for id in ids {
            if !matches!(get(store, *id).await.state, JobState::Done | JobState::Dead) {
                return false;
            }
        }
        true
    })
    .await
}
