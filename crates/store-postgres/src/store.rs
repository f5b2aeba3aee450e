//! `Store` for `PostgresStore`: each call is one statement on a pooled connection, or one
//! transaction when it writes more than one row or must see what it changes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use tokio_postgres::IsolationLevel;
use uuid::Uuid;

use crate::error::backend;
use crate::{analyses, apps, audit, jobs, list, people, pool, sites, work_orders, PostgresStore};

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
        if let Some(user) = self.cached_user(site_id, &email) {
            return Ok(Some(user));
        }
        let found = with_db!(self, |db| people::find_user_by_email(
            &mut db, site_id, &email
        )
        .await)?;
        if let Some(user) = &found {
            self.cache_user(user);
        }
        Ok(found)
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
        event: Option<AuditEvent>,
    ) -> StoreResult<CreateOutcome> {
        let Some(record) = idempotency else {
            // Committed with the creates of concurrent requests (`creates`).
            let created = self.creates.create(work_order, event).await?;
            return Ok(CreateOutcome::Created(created));
        };
        let site_id = work_order.site_id;
        let claimed = in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                if work_orders::claim_idempotency_key(&mut db, site_id, &record).await? {
                    work_orders::insert(&mut db, &work_order, event.as_ref())
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
        event: Option<AuditEvent>,
    ) -> StoreResult<WorkOrderRow> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                let row = work_orders::update(&mut db, site_id, id, changes, &version).await?;
                if let Some(e) = &event {
                    audit::insert_with_change(&mut db, e).await?;
                }
                Ok(row)
            }
        )
    }

    async fn delete_work_order(
        &self,
        site_id: Uuid,
        id: Uuid,
        event: Option<AuditEvent>,
    ) -> StoreResult<()> {
        // One statement (the event in a `WITH`): its own transaction.
        with_db!(self, |db| work_orders::delete(
            &mut db,
            site_id,
            id,
            event.as_ref()
        )
        .await)
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
        event: Option<AuditEvent>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        // `record` writes the event itself: only it knows whether the analysis was recorded or
        // replayed (a replay writes nothing, the event neither).
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| { analyses::record(&mut db, input, analysis, &version, event.as_ref()).await }
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
        event: Option<AuditEvent>,
    ) -> StoreResult<(WorkOrderRow, TaskStates)> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                let corrected = analyses::correct(
                    &mut db,
                    site_id,
                    work_order_id,
                    task_name,
                    corrected,
                    now,
                    &version,
                )
                .await?;
                if let Some(e) = &event {
                    audit::insert_with_change(&mut db, e).await?;
                }
                Ok(corrected)
            }
        )
    }

    async fn set_reviewed(
        &self,
        site_id: Uuid,
        work_order_id: Uuid,
        reviewed: bool,
        now: i64,
        event: Option<AuditEvent>,
    ) -> StoreResult<WorkOrderRow> {
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                let row =
                    analyses::set_reviewed(&mut db, site_id, work_order_id, reviewed, now).await?;
                if let Some(e) = &event {
                    audit::insert_with_change(&mut db, e).await?;
                }
                Ok(row)
            }
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

    async fn enqueue_job(&self, job: NewJob) -> StoreResult<Job> {
        with_db!(self, |db| {
            jobs::insert(&mut db, &job, true).await?;
            jobs::get(&mut db, None, job.id)
                .await?
                .ok_or_else(|| StoreError::Backend("an enqueued job vanished".into()))
        })
    }

    async fn claim_job(
        &self,
        worker: &str,
        kinds: &[String],
        now: i64,
        lease_micros: i64,
    ) -> StoreResult<Option<Job>> {
        with_db!(self, |db| jobs::claim(
            &mut db,
            worker,
            kinds,
            now,
            lease_micros
        )
        .await)
    }

    async fn heartbeat_job(
        &self,
        id: Uuid,
        worker: &str,
        now: i64,
        lease_micros: i64,
    ) -> StoreResult<bool> {
        with_db!(self, |db| jobs::heartbeat(
            &mut db,
            id,
            worker,
            now,
            lease_micros
        )
        .await)
    }

    async fn complete_job(&self, id: Uuid, worker: &str, now: i64) -> StoreResult<bool> {
        with_db!(self, |db| jobs::complete(&mut db, id, worker, now).await)
    }

    async fn fail_job(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        now: i64,
        retry_at: Option<i64>,
    ) -> StoreResult<Option<Job>> {
        with_db!(self, |db| jobs::fail(
            &mut db, id, worker, error, now, retry_at
        )
        .await)
    }

    async fn get_job(&self, site_id: Option<Uuid>, id: Uuid) -> StoreResult<Option<Job>> {
        with_db!(self, |db| jobs::get(&mut db, site_id, id).await)
    }

    async fn list_jobs(&self, state: Option<JobState>, limit: u64) -> StoreResult<Vec<Job>> {
        with_db!(self, |db| jobs::list(&mut db, state, limit).await)
    }

    async fn requeue_dead_job(&self, id: Uuid, now: i64) -> StoreResult<Option<Job>> {
        with_db!(self, |db| jobs::requeue_dead(&mut db, id, now).await)
    }

    async fn queue_analysis(
        &self,
        input: InputRow,
        job: NewJob,
        event: Option<AuditEvent>,
    ) -> StoreResult<()> {
        // The input, its job and the event in one transaction: all or nothing.
        in_transaction!(
            self,
            IsolationLevel::ReadCommitted,
            read_only = false,
            |db| {
                analyses::queue(&mut db, input, job).await?;
                if let Some(e) = &event {
                    audit::insert_with_change(&mut db, e).await?;
                }
                Ok(())
            }
        )
    }

    async fn record_audit(&self, event: AuditEvent) -> StoreResult<()> {
        with_db!(self, |db| audit::insert(&mut db, &event).await)
    }

    async fn list_audit(
        &self,
        site_id: Uuid,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> StoreResult<(u64, Vec<AuditEvent>)> {
        in_transaction!(
            self,
            IsolationLevel::RepeatableRead,
            read_only = true,
            |db| audit::list(&mut db, site_id, filter, offset, limit).await
        )
    }
}
