//! Inputs, analyses, corrections and reviews: each write folds into the task states and the
//! progress score of its work order in the same transaction, with the work order's row locked
//! (`work_orders::lock`), so concurrent analyses of one work order fold one after the other.

use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::score::{progress_score, TaskState};
use fieldproof_domain::state::{after_analysis, after_correction};
use fieldproof_store::*;
use serde_json::Value;
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use crate::error::{backend, conflict_or_backend, corrupt};
use crate::pool::Db;
use crate::work_orders::{lock, task_states};

type Tx<'a, 'b> = Db<'a, Transaction<'b>>;

async fn save_state(
    db: &mut Tx<'_, '_>,
    work_order_id: Uuid,
    task_name: &str,
    state: &TaskState,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO task_states (work_order_id, task_name, state) VALUES ($1, $2, $3)
         ON CONFLICT (work_order_id, task_name) DO UPDATE SET state = excluded.state",
        &[&work_order_id, &task_name, &Json(state)],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Recomputes the progress score, moves `update_date` (and the analysis ids when given) and
/// returns the work order as stored.
async fn touch(
    db: &mut Tx<'_, '_>,
    mut wo: WorkOrderRow,
    version: &AppVersion,
    states: &TaskStates,
    now: i64,
    analysis_id: Option<Uuid>,
) -> StoreResult<WorkOrderRow> {
    wo.progress_score = progress_score(&active_tasks(version, &wo.types), states);
    wo.update_date = now.max(wo.update_date + 1);
    if let Some(id) = analysis_id {
        wo.first_analysis_id.get_or_insert(id);
        wo.latest_analysis_id = Some(id);
    }
    db.execute(
        "UPDATE work_orders SET progress_score = $2, update_date = $3, first_analysis_id = $4,
            latest_analysis_id = $5, review_date = $6 WHERE id = $1",
        &[
            &wo.id,
            &wo.progress_score,
            &wo.update_date,
            &wo.first_analysis_id,
            &wo.latest_analysis_id,
            &wo.review_date,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(wo)
}

/// Inserts an input, or with `replace` first tries to update the row of the same id on the same
/// work order (one `queue_analysis` stored). A taken id is a `Conflict`.
async fn save_input(db: &mut Tx<'_, '_>, input: &InputRow, replace: bool) -> StoreResult<()> {
    let (size, phash) = (input.size as i64, input.phash.map(|h| h as i64));
    if replace {
        // `create_date` stays: the input was received when it was queued.
        let updated = db
            .execute(
                "UPDATE inputs SET task_group_name = $4, kind = $5, content_type = $6,
                    blob_key = $7, size = $8, sha256 = $9, phash = $10, status = $11,
                    conformity_messages = $12, analysis_id = $13
                 WHERE id = $1 AND site_id = $2 AND work_order_id = $3",
                &[
                    &input.id,
                    &input.site_id,
                    &input.work_order_id,
                    &input.task_group_name,
                    &input.kind,
                    &input.content_type,
                    &input.blob_key,
                    &size,
                    &input.sha256,
                    &phash,
                    &input.status,
                    &Json(&input.conformity_messages),
                    &input.analysis_id,
                ],
            )
            .await
            .map_err(backend)?;
        if updated == 1 {
            return Ok(());
        }
    }
    db.execute(
        "INSERT INTO inputs (id, site_id, work_order_id, task_group_name, kind, content_type,
            blob_key, size, sha256, phash, status, conformity_messages, analysis_id, create_date)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            &input.id,
            &input.site_id,
            &input.work_order_id,
            &input.task_group_name,
            &input.kind,
            &input.content_type,
            &input.blob_key,
            &size,
            &input.sha256,
            &phash,
            &input.status,
            &Json(&input.conformity_messages),
            &input.analysis_id,
            &input.create_date,
        ],
    )
    .await
    .map_err(|e| conflict_or_backend(e, || format!("an input with id {} exists", input.id)))?;
    Ok(())
}

/// Stores an input to analyse later and its job in the caller's transaction: both or neither.
pub async fn queue(db: &mut Tx<'_, '_>, mut input: InputRow, job: NewJob) -> StoreResult<()> {
    lock(db, input.site_id, input.work_order_id).await?;
    input.status = "queued".into();
    save_input(db, &input, false).await?;
    crate::jobs::insert(db, &job, false).await
}

/// Stores `input` and `analysis`, folds the analysed values into the states of the active,
/// model-computed tasks of the analysed group and writes `event`, in the caller's transaction.
/// Nothing at all when the analysis is already recorded: a replay has no event.
pub async fn record(
    db: &mut Tx<'_, '_>,
    input: InputRow,
    analysis: AnalysisRow,
    version: &AppVersion,
    event: Option<&AuditEvent>,
) -> StoreResult<(WorkOrderRow, TaskStates)> {
    // The lock comes first: a concurrent record of the same analysis waits here, then sees the
    // committed one below (each READ COMMITTED statement sees what committed before it).
    let wo = lock(db, input.site_id, input.work_order_id).await?;
    let recorded: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM analyses
                WHERE site_id = $1 AND (id = $2 OR input_id = $3))",
            &[&input.site_id, &analysis.id, &input.id],
        )
        .await
        .map_err(backend)?
        .get(0);
    if recorded {
        let states = task_states(db, wo.site_id, wo.id).await?;
        return Ok((wo, states));
    }
    save_input(db, &input, true).await?;
    db.execute(
        "INSERT INTO analyses (id, site_id, work_order_id, input_id, task_group_name,
            app_version_id, user_id, status, conformity_messages, task_values, details,
            model_hashes, create_date)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            &analysis.id,
            &analysis.site_id,
            &analysis.work_order_id,
            &analysis.input_id,
            &analysis.task_group_name,
            &analysis.app_version_id,
            &analysis.user_id,
            &analysis.status,
            &Json(&analysis.conformity_messages),
            &Json(&analysis.values),
            &Json(&analysis.details),
            &Json(&analysis.model_hashes),
            &analysis.create_date,
        ],
    )
    .await
    .map_err(backend)?;
    if let Some(e) = event {
        crate::audit::insert_with_change(db, e).await?;
    }
    let mut states = task_states(db, wo.site_id, wo.id).await?;
    for (g, task) in active_tasks(version, &wo.types) {
        if g.name != analysis.task_group_name || task.binding.is_none() {
            continue;
        }
        let Some(value) = analysis.values.get(&task.name) else {
            continue; // data conformity failed: nothing was computed
        };
        let analysed = (!value.is_null()).then(|| value.clone());
        let state = after_analysis(task, states.get(&task.name), analysed);
        save_state(db, wo.id, &task.name, &state).await?;
        states.insert(task.name.clone(), state);
    }
    let wo = touch(
        db,
        wo,
        version,
        &states,
        analysis.create_date,
        Some(analysis.id),
    )
    .await?;
    Ok((wo, states))
}

fn input_from_row(r: &Row) -> StoreResult<InputRow> {
    let bad = |e| corrupt("input", e);
    Ok(InputRow {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        work_order_id: r.try_get(2).map_err(bad)?,
        task_group_name: r.try_get(3).map_err(bad)?,
        kind: r.try_get(4).map_err(bad)?,
        content_type: r.try_get(5).map_err(bad)?,
        blob_key: r.try_get(6).map_err(bad)?,
        size: r.try_get::<_, i64>(7).map_err(bad)? as u64,
        sha256: r.try_get(8).map_err(bad)?,
        phash: r
            .try_get::<_, Option<i64>>(9)
            .map_err(bad)?
            .map(|h| h as u64),
        status: r.try_get(10).map_err(bad)?,
        conformity_messages: r.try_get::<_, Json<_>>(11).map_err(bad)?.0,
        analysis_id: r.try_get(12).map_err(bad)?,
        create_date: r.try_get(13).map_err(bad)?,
    })
}

/// The inputs of a work order, oldest first.
pub async fn list_inputs(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    work_order_id: Uuid,
) -> StoreResult<Vec<InputRow>> {
    let rows = db
        .query(
            "SELECT id, site_id, work_order_id, task_group_name, kind, content_type, blob_key,
                size, sha256, phash, status, conformity_messages, analysis_id, create_date
             FROM inputs WHERE work_order_id = $1 AND site_id = $2 ORDER BY create_date, id",
            &[&work_order_id, &site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(input_from_row).collect()
}

pub async fn get_analysis(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<AnalysisRow>> {
    let row = db
        .query_opt(
            "SELECT id, site_id, work_order_id, input_id, task_group_name, app_version_id,
                user_id, status, conformity_messages, task_values, details, model_hashes,
                create_date
             FROM analyses WHERE id = $1 AND site_id = $2",
            &[&id, &site_id],
        )
        .await
        .map_err(backend)?;
    let Some(r) = row else { return Ok(None) };
    let bad = |e| corrupt("analysis", e);
    Ok(Some(AnalysisRow {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        work_order_id: r.try_get(2).map_err(bad)?,
        input_id: r.try_get(3).map_err(bad)?,
        task_group_name: r.try_get(4).map_err(bad)?,
        app_version_id: r.try_get(5).map_err(bad)?,
        user_id: r.try_get(6).map_err(bad)?,
        status: r.try_get(7).map_err(bad)?,
        conformity_messages: r.try_get::<_, Json<_>>(8).map_err(bad)?.0,
        values: r.try_get::<_, Json<_>>(9).map_err(bad)?.0,
        details: r.try_get::<_, Json<_>>(10).map_err(bad)?.0,
        model_hashes: r.try_get::<_, Json<_>>(11).map_err(bad)?.0,
        create_date: r.try_get(12).map_err(bad)?,
    }))
}

/// Sets (or with `None` removes) the correction of a task; `NotFound` for an unknown work order
/// or a task the version does not have.
pub async fn correct(
    db: &mut Tx<'_, '_>,
    site_id: Uuid,
    work_order_id: Uuid,
    task_name: &str,
    corrected: Option<Value>,
    now: i64,
    version: &AppVersion,
) -> StoreResult<(WorkOrderRow, TaskStates)> {
    let wo = lock(db, site_id, work_order_id).await?;
    let (_, task) = version.find_task(task_name).ok_or(StoreError::NotFound)?;
    let mut states = task_states(db, site_id, work_order_id).await?;
    let state = after_correction(task, states.get(&task.name), corrected.clone());
    save_state(db, wo.id, &task.name, &state).await?;
    db.execute(
        "INSERT INTO corrections (id, site_id, work_order_id, task_name, corrected_value,
            create_date)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &Uuid::new_v4(),
            &site_id,
            &work_order_id,
            &task.name,
            &corrected.as_ref().map(Json),
            &now,
        ],
    )
    .await
    .map_err(backend)?;
    states.insert(task.name.clone(), state);
    let wo = touch(db, wo, version, &states, now, None).await?;
    Ok((wo, states))
}

pub async fn set_reviewed(
    db: &mut Tx<'_, '_>,
    site_id: Uuid,
    work_order_id: Uuid,
    reviewed: bool,
    now: i64,
) -> StoreResult<WorkOrderRow> {
    let mut wo = lock(db, site_id, work_order_id).await?;
    wo.review_date = reviewed.then_some(now);
    wo.update_date = now.max(wo.update_date + 1);
    db.execute(
        "UPDATE work_orders SET review_date = $2, update_date = $3 WHERE id = $1",
        &[&wo.id, &wo.review_date, &wo.update_date],
    )
    .await
    .map_err(backend)?;
    Ok(wo)
}
