//! The PostgreSQL engine of the Fieldproof store, for scale-out: several `fieldproof serve`
//! replicas and workers share one database.
//!
//! Same behaviour as the SQLite engine, checked by the same conformance suite
//! (`fieldproof-store-conformance`). Each call is one statement or one transaction on a pooled
//! connection (`pool`); writes that must see what they change (publishing a version, updating a
//! work order) lock the row they start from, so concurrent requests from any number of processes
//! serialise where they must. Commits are durable (`synchronous_commit = on`) before a call
//! returns.
//!
//! Driver: `tokio-postgres` without TLS and without its default features beyond the TCP runtime;
//! see `pool` for why there is no pool crate.
#![forbid(unsafe_code)]

mod analyses;
mod apps;
mod error;
mod list;
mod migrations;
mod people;
mod pool;
mod sites;
pub mod testing;
mod work_orders;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use tokio_postgres::config::Host;
use tokio_postgres::{Config, IsolationLevel};
use uuid::Uuid;

use error::backend;
use pool::Pool;

/// Connections in the pool unless the caller says otherwise. PostgreSQL serves each connection
/// with a process; a few per replica keep a shared server comfortable (100 connections by
/// default) while letting commits of concurrent requests overlap.
pub const DEFAULT_POOL_SIZE: usize = 8;

pub struct PostgresStore {
    pool: Pool,
    target: String,
    /// Application versions never change once published, so they are cached by id, with the
    /// site they belong to (a version is only ever handed to its own site).
    versions: Mutex<HashMap<Uuid, (Uuid, Arc<AppVersion>)>>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`, or libpq's
    /// `key=value` form), runs the migrations, and keeps up to [`DEFAULT_POOL_SIZE`] connections.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// [`connect`](Self::connect) with at most `pool_size` connections.
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: Config = url.parse().map_err(|e| {
            // The parser's message names the bad part, never echoes the URL (no password leak).
            StoreError::Backend(format!(
                "the PostgreSQL URL is not valid ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        let target = describe_target(&config);
        let pool = Pool::new(config, target.clone(), pool_size);
        {
            // The first connection checks the URL now rather than at the first request, and
            // brings the schema up to date.
            let mut conn = pool.get().await?;
            migrations::run(&mut conn.client).await.map_err(|e| {
                StoreError::Backend(format!("cannot migrate the database at {target}: {e}"))
            })?;
        }
        Ok(Self {
            pool,
            target,
            versions: Mutex::new(HashMap::new()),
        })
    }

    /// Where the store is, for logs: `user@host:port/database`, never the password.
    pub fn target(&self) -> &str {
        &self.target
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

/// `user@host:port/database` of a parsed URL, never the password; PostgreSQL's defaults where
/// the URL says nothing (port 5432, the database named like the user).
fn describe_target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user();
    let database = config.get_dbname().or(user).unwrap_or("(default database)");
    match user {
        Some(user) => format!("{user}@{host}:{port}/{database}"),
        None => format!("{host}:{port}/{database}"),
    }
}

/// Runs `$body` with `$db` bound to a [`pool::Db`] on a pooled connection, outside any explicit
/// transaction: for single statements, which PostgreSQL runs as a transaction of their own.
macro_rules! with_db {
    ($self:ident, |$db:ident| $body:expr) => {{
        let mut conn = $self.pool.get().await?;
        let conn = &mut *conn;
        let mut $db = conn.db();
        $body
    }};
}

/// Runs `$body` with `$db` bound to a [`pool::Db`] in a transaction, committed when `$body`
/// returns `Ok` and rolled back otherwise.
macro_rules! in_transaction {
    ($self:ident, $isolation:expr, read_only = $ro:expr, |$db:ident| $body:expr) => {{
        let mut conn = $self.pool.get().await?;
        let conn = &mut *conn;
        let tx = conn
            .client
            .build_transaction()
            .isolation_level($isolation)
            .read_only($ro)
            .start()
            .await
            .map_err(backend)?;
        #[allow(unused_braces)] // rustfmt wraps a long `|db| ...` body in braces
        let result = {
            let mut $db = pool::Db {
                client: &tx,
                statements: &mut conn.statements,
            };
            $body
        };
        match result {
            Ok(v) => {
                tx.commit().await.map_err(backend)?;
                Ok(v)
            }
            // Dropping `tx` queues the rollback.
            Err(e) => Err(e),
        }
    }};
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        with_db!(self, |db| db
            .execute("SELECT 1", &[])
            .await
            .map(|_| ())
            .map_err(backend))
    }

    async fn create_site(&self, site: Site) -> StoreResult<Site> {
        with_db!(self, |db| sites::insert(&mut db, &site).await.map(|_| site))
    }

    async fn list_sites(&self) -> StoreResult<Vec<Site>> {
        with_db!(self, |db| sites::list(&mut db).await)
    }

    async fn find_site(&self, name_or_id: &str) -> StoreResult<Option<Site>> {
        with_db!(self, |db| sites::find(&mut db, name_or_id).await)
    }

    async fn create_user(&self, mut user: User) -> StoreResult<User> {
        user.email = user.email.to_lowercase();
        with_db!(self, |db| people::insert_user(&mut db, &user)
            .await
            .map(|_| user))
    }

    async fn list_users(&self, site_id: Uuid) -> StoreResult<Vec<User>> {
        with_db!(self, |db| people::list_users(&mut db, site_id).await)
    }

    async fn find_user_by_email(&self, site_id: Uuid, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_lowercase();
        with_db!(self, |db| people::find_user_by_email(
            &mut db, site_id, &email
        )
        .await)
    }

    async fn create_group(&self, group: UserGroup) -> StoreResult<UserGroup> {
        with_db!(self, |db| people::insert_group(&mut db, &group)
            .await
            .map(|_| group))
    }

    async fn list_groups(&self, site_id: Uuid) -> StoreResult<Vec<UserGroup>> {
        with_db!(self, |db| people::list_groups(&mut db, site_id).await)
    }

    async fn create_key(&self, key: ApiKey) -> StoreResult<ApiKey> {
        with_db!(self, |db| people::insert_key(&mut db, &key)
            .await
            .map(|_| key))
    }

    async fn list_keys(&self, site_id: Uuid) -> StoreResult<Vec<ApiKey>> {
        with_db!(self, |db| people::list_keys(&mut db, site_id).await)
    }

    async fn revoke_key(&self, site_id: Uuid, key_id: Uuid, now: i64) -> StoreResult<ApiKey> {
        with_db!(self, |db| people::revoke_key(&mut db, site_id, key_id, now)
            .await)
    }

    async fn authenticate(&self, key_hash: &str) -> StoreResult<Option<Principal>> {
        with_db!(self, |db| people::authenticate(&mut db, key_hash).await)
    }

    async fn publish_app_version(
        &self,
        site_id: Uuid,
        version: AppVersion,
        now: i64,
    ) -> StoreResult<Arc<AppVersion>> {
        let v = in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| apps::publish(&mut db, site_id, version, now).await
        )?;
        Ok(self.cache_version(site_id, v))
    }

    async fn app_version(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<Arc<AppVersion>>> {
        if let Some(v) = self.cached_version(site_id, id) {
            return Ok(Some(v));
        }
        let found = with_db!(self, |db| apps::get(&mut db, site_id, id).await)?;
        Ok(found.map(|v| self.cache_version(site_id, v)))
    }

    async fn current_app_version(&self, site_id: Uuid) -> StoreResult<Option<Arc<AppVersion>>> {
        let id = with_db!(self, |db| apps::current_id(&mut db, site_id).await)?;
        match id {
            None => Ok(None),
            Some(id) => self.app_version(site_id, id).await,
        }
    }

    async fn list_app_versions(&self, site_id: Uuid) -> StoreResult<Vec<AppVersionSummary>> {
        with_db!(self, |db| apps::list(&mut db, site_id).await)
    }

    async fn create_work_order(
        &self,
        work_order: WorkOrderRow,
        idempotency: Option<IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome> {
        let Some(record) = idempotency else {
            // One statement: its own transaction.
            with_db!(self, |db| work_orders::insert(&mut db, &work_order).await)?;
            return Ok(CreateOutcome::Created(work_order));
        };
        let site_id = work_order.site_id;
        let claimed = in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                if work_orders::claim_idempotency_key(&mut db, site_id, &record).await? {
                    work_orders::insert(&mut db, &work_order)
                        .await
                        .map(|_| true)
                } else {
                    Ok(false)
                }
            }
        )?;
        if claimed {
            return Ok(CreateOutcome::Created(work_order));
        }
        // The key was taken by a committed create (a running one is waited for by the claim);
        // records are never deleted, so it is there to read.
        with_db!(self, |db| work_orders::idempotency_record(
            &mut db,
            site_id,
            &record.key
        )
        .await)?
        .map(CreateOutcome::Replayed)
        .ok_or_else(|| StoreError::Backend("idempotency record vanished after a conflict".into()))
    }

    async fn get_work_order(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<WorkOrderRow>> {
        with_db!(self, |db| work_orders::get(&mut db, site_id, id).await)
    }

    async fn update_work_order(
        &self,
        site_id: Uuid,
        id: Uuid,
        changes: WorkOrderChanges,
        version: Arc<AppVersion>,
    ) -> StoreResult<WorkOrderRow> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| work_orders::update(&mut db, site_id, id, changes, &version).await
        )
    }

    async fn delete_work_order(&self, site_id: Uuid, id: Uuid) -> StoreResult<()> {
        with_db!(self, |db| work_orders::delete(&mut db, site_id, id).await)
    }

    async fn list_work_orders(
        &self,
        site_id: Uuid,
        filter: &WorkOrderFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(u64, Vec<WorkOrderRow>)> {
        in_transaction!(
            self,
            IsolationLevel::RepeatableRead,
            read_only = true,
            |db| list::list(&mut db, site_id, filter, offset, limit).await
        )
    }

    async fn task_states(&self, site_id: Uuid, work_order_id: Uuid) -> StoreResult<TaskStates> {
        with_db!(self, |db| work_orders::task_states(
            &mut db,
            site_id,
            work_order_id
        )
        .await)
    }

    async fn record_analysis(
        &self,
        input: InputRow,
        analysis: AnalysisRow,
        version: Arc<AppVersion>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| { analyses::record(&mut db, input, analysis, &version).await }
        )
    }

    async fn list_inputs(&self, site_id: Uuid, work_order_id: Uuid) -> StoreResult<Vec<InputRow>> {
        with_db!(self, |db| analyses::list_inputs(
            &mut db,
            site_id,
            work_order_id
        )
        .await)
    }

    async fn get_analysis(&self, site_id: Uuid, id: Uuid) -> StoreResult<Option<AnalysisRow>> {
        with_db!(self, |db| analyses::get_analysis(&mut db, site_id, id)
            .await)
    }

    async fn correct_task(
        &self,
        site_id: Uuid,
        work_order_id: Uuid,
        task_name: &str,
        corrected: Option<serde_json::Value>,
        now: i64,
        version: Arc<AppVersion>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                analyses::correct(
                    &mut db,
                    site_id,
                    work_order_id,
                    task_name,
                    corrected,
                    now,
                    &version,
                )
                .await
            }
        )
    }

    async fn set_reviewed(
        &self,
        site_id: Uuid,
        work_order_id: Uuid,
        reviewed: bool,
        now: i64,
    ) -> StoreResult<WorkOrderRow> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| { analyses::set_reviewed(&mut db, site_id, work_order_id, reviewed, now).await }
        )
    }

    async fn task_states_of(
        &self,
        site_id: Uuid,
        work_order_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, TaskStates>> {
        with_db!(self, |db| work_orders::task_states_of(
            &mut db,
            site_id,
            work_order_ids
        )
        .await)
    }

    async fn idempotency_record(
        &self,
        site_id: Uuid,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        with_db!(self, |db| work_orders::idempotency_record(
            &mut db, site_id, key
        )
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_user_host_port_and_database_but_not_the_password() {
        let cases = [
            (
                "postgres://ann:s3cret@db.local:5433/fieldproof",
                "ann@db.local:5433/fieldproof",
            ),
            ("postgres://ann@127.0.0.1/test", "ann@127.0.0.1:5432/test"),
            ("postgres://ann:s3cret@db.local", "ann@db.local:5432/ann"),
            (
                "host=/run/postgresql user=ann password=s3cret",
                "ann@/run/postgresql:5432/ann",
            ),
            ("postgres://db.local/x", "db.local:5432/x"),
        ];
        for (url, want) in cases {
            let config: Config = url.parse().expect("a valid URL");
            assert_eq!(describe_target(&config), want, "for {url}");
        }
    }
}
