//! Inputs, analyses, corrections and reviews: each write folds into the task states and the
//! progress score of its work order in the same transaction.

use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::score::{progress_score, TaskState};
use fieldproof_domain::state::{after_analysis, after_correction};
use fieldproof_store::*;
use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::Value;
use uuid::Uuid;

use crate::work_orders::{get, task_states};
use crate::{backend, conflict_or_backend, parse_json, parse_uuid};

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

fn save_state(
    c: &Connection,
    work_order_id: Uuid,
    task_name: &str,
    state: &TaskState,
) -> StoreResult<()> {
    c.prepare_cached(
        "INSERT INTO task_states (work_order_id, task_name, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (work_order_id, task_name) DO UPDATE SET state = excluded.state",
    )
    .map_err(backend)?
    .execute((work_order_id.to_string(), task_name, json(state)))
    .map_err(backend)?;
    Ok(())
}

/// Recomputes the progress score, moves `update_date` (and the analysis ids when given) and
/// returns the work order as stored.
fn touch(
    c: &Connection,
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
    c.prepare_cached(
        "UPDATE work_orders SET progress_score = ?2, update_date = ?3, first_analysis_id = ?4,
            latest_analysis_id = ?5, review_date = ?6 WHERE id = ?1",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        wo.id.to_string(),
        wo.progress_score,
        wo.update_date,
        wo.first_analysis_id.map(|u| u.to_string()),
        wo.latest_analysis_id.map(|u| u.to_string()),
        wo.review_date,
    ])
    .map_err(backend)?;
    Ok(wo)
}

/// Inserts an input, or with `replace` updates the row of the same id on the same work order
/// (one `queue_analysis` stored). A taken id is a `Conflict`.
fn save_input(c: &Connection, input: &InputRow, replace: bool) -> StoreResult<()> {
    let (id, site_id, work_order_id) = (
        input.id.to_string(),
        input.site_id.to_string(),
        input.work_order_id.to_string(),
    );
    let (messages, analysis_id) = (
        json(&input.conformity_messages),
        input.analysis_id.to_string(),
    );
    let (size, phash) = (input.size as i64, input.phash.map(|h| h as i64));
    if replace {
        // `create_date` stays: the input was received when it was queued.
        let updated = c
            .prepare_cached(
                "UPDATE inputs SET task_group_name = ?4, kind = ?5, content_type = ?6,
                    blob_key = ?7, size = ?8, sha256 = ?9, phash = ?10, status = ?11,
                    conformity_messages = ?12, analysis_id = ?13
                 WHERE id = ?1 AND site_id = ?2 AND work_order_id = ?3",
            )
            .map_err(backend)?
            .execute(rusqlite::params![
                id,
                site_id,
                work_order_id,
                input.task_group_name,
                input.kind,
                input.content_type,
                input.blob_key,
                size,
                input.sha256,
                phash,
                input.status,
                messages,
                analysis_id,
            ])
            .map_err(backend)?;
        if updated == 1 {
            return Ok(());
        }
    }
    c.prepare_cached(
        "INSERT INTO inputs (id, site_id, work_order_id, task_group_name, kind, content_type,
            blob_key, size, sha256, phash, status, conformity_messages, analysis_id, create_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        id,
        site_id,
        work_order_id,
        input.task_group_name,
        input.kind,
        input.content_type,
        input.blob_key,
        size,
        input.sha256,
        phash,
        input.status,
        messages,
        analysis_id,
        input.create_date,
    ])
    .map_err(|e| conflict_or_backend(e, || format!("an input with id {} exists", input.id)))?;
    Ok(())
}

/// Stores an input to analyse later and its job, both or neither (the writer's savepoint undoes
/// the input when the job cannot be inserted).
pub fn queue(c: &Connection, mut input: InputRow, job: NewJob) -> StoreResult<()> {
    get(c, input.site_id, input.work_order_id)?.ok_or(StoreError::NotFound)?;
    input.status = "queued".into();
    save_input(c, &input, false)?;
    crate::jobs::insert(c, &job, false)
}

/// Stores `input` and `analysis`, folds the analysed values into the states of the active,
/// model-computed tasks of the analysed group and writes `event` (in the writer's savepoint: all
/// or nothing). Nothing at all when the analysis is already recorded: a replay has no event.
pub fn record(
    c: &Connection,
    input: InputRow,
    analysis: AnalysisRow,
    version: &AppVersion,
    event: Option<&AuditEvent>,
) -> StoreResult<(WorkOrderRow, TaskStates)> {
    let wo = get(c, input.site_id, input.work_order_id)?.ok_or(StoreError::NotFound)?;
    // Idempotent: a job that ran twice, or a retried request, records one analysis.
    let recorded: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM analyses
                WHERE site_id = ?1 AND (id = ?2 OR input_id = ?3))",
        )
        .map_err(backend)?
        .query_row(
            (
                input.site_id.to_string(),
                analysis.id.to_string(),
                input.id.to_string(),
            ),
            |r| r.get(0),
        )
        .map_err(backend)?;
    if recorded {
        let states = task_states(c, wo.site_id, wo.id)?;
        return Ok((wo, states));
    }
    save_input(c, &input, true)?;
    c.prepare_cached(
        "INSERT INTO analyses (id, site_id, work_order_id, input_id, task_group_name,
            app_version_id, user_id, status, conformity_messages, task_values, details,
            model_hashes, create_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        analysis.id.to_string(),
        analysis.site_id.to_string(),
        analysis.work_order_id.to_string(),
        analysis.input_id.to_string(),
        analysis.task_group_name,
        analysis.app_version_id.to_string(),
        analysis.user_id.to_string(),
        analysis.status,
        json(&analysis.conformity_messages),
        json(&analysis.values),
        json(&analysis.details),
        json(&analysis.model_hashes),
        analysis.create_date,
    ])
    .map_err(backend)?;
    if let Some(e) = event {
        crate::audit::insert_with_change(c, e)?;
    }
    let mut states = task_states(c, wo.site_id, wo.id)?;
    let active = active_tasks(version, &wo.types);
    for (g, task) in active {
        if g.name != analysis.task_group_name || task.binding.is_none() {
            continue;
        }
        let Some(value) = analysis.values.get(&task.name) else {
            continue; // data conformity failed: nothing was computed
        };
        let analysed = (!value.is_null()).then(|| value.clone());
        let state = after_analysis(task, states.get(&task.name), analysed);
        save_state(c, wo.id, &task.name, &state)?;
        states.insert(task.name.clone(), state);
    }
    let wo = touch(
        c,
        wo,
        version,
        &states,
        analysis.create_date,
        Some(analysis.id),
    )?;
    Ok((wo, states))
}

fn input_from_row(r: &Row) -> rusqlite::Result<InputRow> {
    Ok(InputRow {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: parse_uuid(&r.get::<_, String>(1)?)?,
        work_order_id: parse_uuid(&r.get::<_, String>(2)?)?,
        task_group_name: r.get(3)?,
        kind: r.get(4)?,
        content_type: r.get(5)?,
        blob_key: r.get(6)?,
        size: r.get::<_, i64>(7)? as u64,
        sha256: r.get(8)?,
        phash: r.get::<_, Option<i64>>(9)?.map(|h| h as u64),
        status: r.get(10)?,
        conformity_messages: parse_json(&r.get::<_, String>(11)?)?,
        analysis_id: parse_uuid(&r.get::<_, String>(12)?)?,
        create_date: r.get(13)?,
    })
}

pub fn list_inputs(
    c: &Connection,
    site_id: Uuid,
    work_order_id: Uuid,
) -> StoreResult<Vec<InputRow>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, site_id, work_order_id, task_group_name, kind, content_type, blob_key,
                size, sha256, phash, status, conformity_messages, analysis_id, create_date
             FROM inputs WHERE work_order_id = ?1 AND site_id = ?2 ORDER BY create_date, id",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(
            (work_order_id.to_string(), site_id.to_string()),
            input_from_row,
        )
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn get_analysis(c: &Connection, site_id: Uuid, id: Uuid) -> StoreResult<Option<AnalysisRow>> {
    c.prepare_cached(
        "SELECT id, site_id, work_order_id, input_id, task_group_name, app_version_id, user_id,
            status, conformity_messages, task_values, details, model_hashes, create_date
         FROM analyses WHERE id = ?1 AND site_id = ?2",
    )
    .map_err(backend)?
    .query_row((id.to_string(), site_id.to_string()), |r| {
        Ok(AnalysisRow {
            id: parse_uuid(&r.get::<_, String>(0)?)?,
            site_id: parse_uuid(&r.get::<_, String>(1)?)?,
            work_order_id: parse_uuid(&r.get::<_, String>(2)?)?,
            input_id: parse_uuid(&r.get::<_, String>(3)?)?,
            task_group_name: r.get(4)?,
            app_version_id: parse_uuid(&r.get::<_, String>(5)?)?,
            user_id: parse_uuid(&r.get::<_, String>(6)?)?,
            status: r.get(7)?,
            conformity_messages: parse_json(&r.get::<_, String>(8)?)?,
            values: parse_json(&r.get::<_, String>(9)?)?,
            details: parse_json(&r.get::<_, String>(10)?)?,
            model_hashes: parse_json(&r.get::<_, String>(11)?)?,
            create_date: r.get(12)?,
        })
    })
    .optional()
    .map_err(backend)
}

#[allow(clippy::too_many_arguments)]
pub fn correct(
    c: &Connection,
    site_id: Uuid,
    work_order_id: Uuid,
    task_name: &str,
    corrected: Option<Value>,
    now: i64,
    version: &AppVersion,
) -> StoreResult<(WorkOrderRow, TaskStates)> {
    let wo = get(c, site_id, work_order_id)?.ok_or(StoreError::NotFound)?;
    let (_, task) = version.find_task(task_name).ok_or(StoreError::NotFound)?;
    let mut states = task_states(c, site_id, work_order_id)?;
    let state = after_correction(task, states.get(&task.name), corrected.clone());
    save_state(c, wo.id, &task.name, &state)?;
    c.prepare_cached(
        "INSERT INTO corrections (id, site_id, work_order_id, task_name, corrected_value, create_date)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(backend)?
    .execute((
        Uuid::new_v4().to_string(),
        site_id.to_string(),
        work_order_id.to_string(),
        &task.name,
        corrected.map(|v| json(&v)),
        now,
    ))
    .map_err(backend)?;
    states.insert(task.name.clone(), state);
    let wo = touch(c, wo, version, &states, now, None)?;
    Ok((wo, states))
}

pub fn set_reviewed(
    c: &Connection,
    site_id: Uuid,
    work_order_id: Uuid,
    reviewed: bool,
    now: i64,
) -> StoreResult<WorkOrderRow> {
    let mut wo = get(c, site_id, work_order_id)?.ok_or(StoreError::NotFound)?;
    wo.review_date = reviewed.then_some(now);
    wo.update_date = now.max(wo.update_date + 1);
    c.prepare_cached("UPDATE work_orders SET review_date = ?2, update_date = ?3 WHERE id = ?1")
        .map_err(backend)?
        .execute((wo.id.to_string(), wo.review_date, wo.update_date))
        .map_err(backend)?;
    Ok(wo)
}
