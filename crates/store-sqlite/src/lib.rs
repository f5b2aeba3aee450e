//! The embedded SQLite engine of the Fieldproof store.
//!
//! One database file in WAL mode with `synchronous = FULL`: a write is acknowledged only after
//! its transaction's commit has reached the disk. Writes go through one writer thread that
//! commits in groups (`writer`); reads use a pool of read-only connections (`readers`): lookups
//! by key run in place on the caller's thread, anything that may scan on a blocking thread.
#![forbid(unsafe_code)]

mod analyses;
mod apps;
mod audit;
mod checkpointer;
mod jobs;
mod migrations;
mod people;
mod readers;
mod sites;
mod work_orders;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use rusqlite::Connection;
use uuid::Uuid;

use readers::Readers;
use writer::Writer;

/// Read connections in the pool.
const READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    /// Joined on drop, after the writer's queue is closed: a dropped store leaves no connection
    /// on the file (a test or a tool may open it exclusively right after).
    writer_thread: Option<std::thread::JoinHandle<()>>,
    readers: Readers,
    _checkpointer: checkpointer::Checkpointer,
    /// Application versions never change once published, so they are cached by id, with the
    /// site they belong to (a version is only ever handed to its own site).
    versions: Mutex<HashMap<Uuid, (Uuid, Arc<AppVersion>)>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(|e| {
            StoreError::Backend(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        })?;
        configure(&conn).map_err(backend)?;
        migrations::run(&mut conn).map_err(backend)?;
        // The checkpointer thread copies the log back; the writer only appends to it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(backend)?;
        let checkpointer = checkpointer::Checkpointer::start(path)?;
        let readers = Readers::open(path, READERS).map_err(backend)?;
        let (writer, writer_thread) = Writer::start(conn)
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            writer_thread: Some(writer_thread),
            readers,
            _checkpointer: checkpointer,
            versions: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `PRAGMA integrity_check`: `Ok(())` when SQLite finds nothing wrong.
    pub async fn integrity_check(&self) -> StoreResult<()> {
        self.readers
            .read(|c| {
                let r: String = c
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .map_err(backend)?;
                if r == "ok" {
                    Ok(())
                } else {
                    Err(StoreError::Backend(format!("integrity check: {r}")))
                }
            })
            .await
    }

    fn cached_version(&self, site_id: Uuid, id: Uuid) -> Option<Arc<AppVersion>> {
        let cache = self.versions.lock().expect("cache lock");
        cache
            .get(&id)
            .filter(|(site, _)| *site == site_id)
            .map(|(_, v)| v.clone())
    }

    fn cache_version(&self, site_id: Uuid, v: AppVersion) -> Arc<AppVersion> {
        let v = Arc::new(v);
        let mut cache = self.versions.lock().expect("cache lock");
        cache.insert(v.id, (site_id, v.clone()));
        v
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer thread once it has answered what it holds.
        drop(std::mem::replace(&mut self.writer, Writer::closed()));
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL: readers never block the writer. FULL: the WAL is synced at every commit, so an
    // acknowledged write survives a power loss, not only a process crash.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each job of a group commit runs in a savepoint, and a savepoint journals every page it
    // first changes: in a temporary file that is a write system call per page (a third of the
    // writer thread's time under load, measured with perf); in memory it is a copy.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A log that grew past the checkpointer's cap is cut back to it when it starts over.
    conn.pragma_update(None, "journal_size_limit", checkpointer::WAL_CAP as i64)?;
    Ok(())
}

/// Maps an engine error to the store's: for logs, never for clients.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Maps a unique-constraint violation to a `Conflict` with a message for the user, a foreign-key
/// violation (the site or user referred to does not exist) to `NotFound`, anything else to
/// `Backend`. Both are "constraint violations" to SQLite; only the extended code tells them apart.
pub(crate) fn conflict_or_backend(
    e: rusqlite::Error,
    message: impl FnOnce() -> String,
) -> StoreError {
    match e.sqlite_error() {
        Some(f) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            StoreError::NotFound
        }
        Some(f) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(message())
        }
        _ => backend(e),
    }
}

pub(crate) fn parse_uuid(s: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.readers
            .read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }

    async fn create_site(&self, site: Site) -> StoreResult<Site> {
        self.writer
            .write(move |c| sites::insert(c, &site).map(|_| site))
            .await
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        self.readers.read(sites::list).await
    }

    async fn find_site(&self, name_or_id: &str) -> StoreResult<Option<Site>> {
        let key = name_or_id.to_string();
        self.readers.read(move |c| sites::find(c, &key)).await
    }

    async fn create_user(&self, mut user: User) -> StoreResult<User> {
        // Stored lower-cased; return what is stored, not what was given.
        user.email = user.email.to_lowercase();
        self.writer
            .write(move |c| people::insert_user(c, &user).map(|_| user))
            .await
    }

    async fn list_users(&self, site_id: Uuid) -> StoreResult<Vec<User>> {
        self.readers
            .read(move |c| people::list_users(c, site_id))
            .await
    }

    async fn find_user_by_email(&self, site_id: Uuid, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_lowercase();
        self.readers
            .read_now(|c| people::find_user_by_email(c, site_id, &email))
            .await
    }

    async fn create_group(&self, group: UserGroup) -> StoreResult<UserGroup> {
        self.writer
            .write(move |c| people::insert_group(c, &group).map(|_| group))
            .await
    }

    async fn list_groups(&self, site_id: Uuid) -> StoreResult<Vec<UserGroup>> {
        self.readers
            .read(move |c| people::list_groups(c, site_id))
            .await
    }

    async fn create_key(&self, key: ApiKey) -> StoreResult<ApiKey> {
        self.writer
            .write(move |c| people::insert_key(c, &key).map(|_| key))
            .await
    }

    async fn list_keys(&self, site_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        self.readers
            .read(move |c| people::list_keys(c, site_id))
            .await
    }

    async fn revoke_key(&self, site_id: Uuid, key_id: Uuid, now: i64) -> StoreResult<ApiKey> {
        self.writer
            .write(move |c| people::revoke_key(c, site_id, key_id, now))
            .await
    }

    async fn authenticate(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        self.readers
            .read_now(|c| people::authenticate(c, key_hash))
            .await
    }

    async fn publish_app_version(
        &self,
        site_id: Uuid,
        version: AppVersion,
        now: i64,
    ) -> StoreResult<Arc<AppVersion>> {
        let v = self
            .writer
            .write(move |c| apps::publish(c, site_id, version, now))
            .await?;
        Ok(self.cache_version(site_id, v))
    }

    async fn app_version(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<Arc<AppVersion>>> {
        if let Some(v) = self.cached_version(site_id, id) {
            return Ok(Some(v));
        }
        let found = self
            .readers
            .read(move |c| apps::get(c, site_id, id))
            .await?;
        Ok(found.map(|v| self.cache_version(site_id, v)))
    }

    async fn current_app_version(&self, site_id: Uuid) -> StoreResult<Option<Arc<AppVersion>>> {
        let id = self
            .readers
            .read_now(|c| apps::current_id(c, site_id))
            .await?;
        match id {
            None => Ok(None),
            Some(id) => self.app_version(site_id, id).await,
        }
    }

    async fn list_app_versions(&self, site_id: Uuid) -> StoreResult<Vec<AppVersionSummary>> {
        self.readers.read(move |c| apps::list(c, site_id)).await
    }

    async fn create_work_order(
        &self,
        work_order: WorkOrderRow,
        idempotency: Option<IdempotencyRecord>,
        event: Option<AuditEvent>,
    ) -> StoreResult<CreateOutcome> {
        // One job, so one savepoint: the event is written with the work order or not at all.
        self.writer
            .write(move |c| {
                let outcome = work_orders::create(c, work_order, idempotency)?;
                if let (CreateOutcome::Created(_), Some(e)) = (&outcome, &event) {
                    audit::insert_with_change(c, e)?;
                }
                Ok(outcome)
            })
            .await
    }

    async fn get_work_order(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<WorkOrderRow>> {
        self.readers
            .read_now(|c| work_orders::get(c, site_id, id))
            .await
    }

    async fn update_work_order(
        &self,
        site_id: Uuid,
        id: Uuid,
        changes: WorkOrderChanges,
        version: Arc<AppVersion>,
        event: Option<AuditEvent>,
    ) -> StoreResult<WorkOrderRow> {
        self.writer
            .write(move |c| {
                let row = work_orders::update(c, site_id, id, changes, &version)?;
                event
                    .iter()
                    .try_for_each(|e| audit::insert_with_change(c, e))?;
                Ok(row)
            })
            .await
    }

    async fn delete_work_order(
        &self,
        site_id: Uuid,
        id: Uuid,
        event: Option<AuditEvent>,
    ) -> StoreResult<()> {
        self.writer
            .write(move |c| {
                work_orders::delete(c, site_id, id)?;
                event
                    .iter()
                    .try_for_each(|e| audit::insert_with_change(c, e))
            })
            .await
    }

    async fn list_work_orders(
        &self,
        site_id: Uuid,
        filter: &WorkOrderFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(u64, Vec<WorkOrderRow>)> {
        let filter = filter.clone();
        self.readers
            .read_in_place(move |c| work_orders::list(c, site_id, &filter, offset, limit))
            .await
    }

    async fn task_states(&self, site_id: Uuid, work_order_id: Uuid) -> StoreResult<TaskStates> {
        self.readers
            .read_now(|c| work_orders::task_states(c, site_id, work_order_id))
            .await
    }

    async fn record_analysis(
        &self,
        input: InputRow,
        analysis: AnalysisRow,
        version: Arc<AppVersion>,
        event: Option<AuditEvent>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        // `record` writes the event itself: only it knows whether the analysis was recorded or
        // replayed (a replay writes nothing, the event neither).
        self.writer
            .write(move |c| analyses::record(c, input, analysis, &version, event.as_ref()))
            .await
    }

    async fn list_inputs(&self, site_id: Uuid, work_order_id: Uuid) -> StoreResult<Vec<InputRow>> {
        self.readers
            .read_now(|c| analyses::list_inputs(c, site_id, work_order_id))
            .await
    }

    async fn get_analysis(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<AnalysisRow>> {
        self.readers
            .read_now(|c| analyses::get_analysis(c, site_id, id))
            .await
    }

    async fn correct_task(
        &self,
        site_id: Uuid,
        work_order_id: Uuid,
        task_name: &str,
        corrected: Option<serde_json::Value>,
        now: i64,
        version: Arc<AppVersion>,
        event: Option<AuditEvent>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        let task_name = task_name.to_string();
        // One job, so one savepoint: the event is written with the correction or not at all.
        self.writer
            .write(move |c| {
                let corrected = analyses::correct(
                    c,
                    site_id,
                    work_order_id,
                    &task_name,
                    corrected,
                    now,
                    &version,
                )?;
                event
                    .iter()
                    .try_for_each(|e| audit::insert_with_change(c, e))?;
                Ok(corrected)
            })
            .await
    }

    async fn set_reviewed(
        &self,
        site_id: Uuid,
        work_order_id: Uuid,
        reviewed: bool,
        now: i64,
        event: Option<AuditEvent>,
    ) -> StoreResult<WorkOrderRow> {
        self.writer
            .write(move |c| {
                let row = analyses::set_reviewed(c, site_id, work_order_id, reviewed, now)?;
                event
                    .iter()
                    .try_for_each(|e| audit::insert_with_change(c, e))?;
                Ok(row)
            })
            .await
    }

    async fn task_states_of(
        &self,
        site_id: Uuid,
        work_order_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, TaskStates>> {
        let ids = work_order_ids.to_vec();
        self.readers
            .read(move |c| work_orders::task_states_of(c, site_id, &ids))
            .await
    }

    async fn idempotency_record(
        &self,
        site_id: Uuid,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        self.readers
            .read_now(|c| work_orders::idempotency_record(c, site_id, key))
            .await
    }

    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
        self.writer.write(move |c| jobs::enqueue(c, &job)).await
    }

    async fn claim_job(
        &self,
        worker: &str,
        kinds: &[String],
        now: i64,
        lease_micros: i64,
    ) -> StoreResult<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let kinds = kinds.to_vec();
        // A reader answers "nothing due" without taking the writer's time (see `jobs`).
        let probe = kinds.clone();
        if !self
            .readers
            .read(move |c| jobs::any_due(c, &probe, now))
            .await?
        {
            return Ok(None);
        }
        let worker = worker.to_string();
        self.writer
            .write(move |c| jobs::claim(c, &worker, &kinds, now, lease_micros))
            .await
    }

    async fn heartbeat_job(
        &self,
        id: Uuid,
        worker: &str,
        now: i64,
        lease_micros: i64,
    ) -> StoreResult<bool> {
        let worker = worker.to_string();
        self.writer
            .write(move |c| jobs::heartbeat(c, id, &worker, now, lease_micros))
            .await
    }

    async fn complete_job(&self, id: Uuid, worker: &str, now: i64) -> StoreResult<bool> {
        let worker = worker.to_string();
        self.writer
            .write(move |c| jobs::complete(c, id, &worker, now))
            .await
    }

    async fn fail_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        now: i64,
        retry_at: Option<i64>,
    ) -> StoreResult<Option<Job>> {
        let (worker, error) = (worker.to_string(), error.to_string());
        self.writer
            .write(move |c| jobs::fail(c, id, &worker, &error, now, retry_at))
            .await
    }

    async fn get_job(&self, site_id: Option<Uuid>, id: Uuid) -> StoreResult<Option<Job>> {
        self.readers.read(move |c| jobs::get(c, site_id, id)).await
    }

    async fn list_jobs(&self, state: Option<JobState>, limit: u64) -> StoreResult<Vec<Job>> {
        self.readers
            .read(move |c| jobs::list(c, state, limit))
            .await
    }

    async fn requeue_dead_job(&self, id: Uuid, now: i64) -> StoreResult<Option<Job>> {
        self.writer
            .write(move |c| jobs::requeue_dead(c, id, now))
            .await
    }

    async fn queue_analysis(
        &self,
        input: InputRow,
        job: NewJob,
        event: Option<AuditEvent>,
    ) -> StoreResult<()> {
        // The input, its job and the event in one savepoint: all or nothing.
        self.writer
            .write(move |c| {
                analyses::queue(c, input, job)?;
                event
                    .iter()
                    .try_for_each(|e| audit::insert_with_change(c, e))
            })
            .await
    }

    async fn record_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.writer.write(move |c| audit::insert(c, &event)).await
    }

    async fn list_audit(
        &self,
        site_id: Uuid,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(u64, Vec<AuditEvent>)> {
        let filter = filter.clone();
        self.readers
            .read(move |c| audit::list(c, site_id, &filter, offset, limit))
            .await
    }
}
