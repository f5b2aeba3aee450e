//! The `analyze_input` job: an input received with `?async=true` is analysed by a worker.
//!
//! The job may run more than once (a worker that dies mid-job leaves it to another after its
//! lease), so it is idempotent: the analysis id is fixed when the input is queued, and the store
//! records an input's analysis once (`record_analysis` does nothing for an input already
//! analysed).
//!
//! The job writes no audit event: the analysis's event (`analysis.create`, with `queued: true`
//! and the job's id) was written with the queued input and this job, in one transaction, when
//! the caller asked for the analysis.

use std::sync::Arc;

use fieldproof_jobs::JobError;
use fieldproof_store::{InputRow, Job, NewJob, StoreError};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::analyze::{analysis_row, evaluate, prepare};
use crate::AppState;

pub const KIND: &str = "analyze_input";

/// Attempts before an analysis job is dead-lettered.
const MAX_ATTEMPTS: u32 = 5;

pub fn new_job(input: &InputRow, user_id: Uuid, metadata: Map<String, Value>, now: i64) -> NewJob {
    NewJob {
        id: Uuid::new_v4(),
        site_id: Some(input.site_id),
        kind: KIND.into(),
        payload: json!({
            "work_order_id": input.work_order_id,
            "input_id": input.id,
            "user_id": user_id,
            "metadata": metadata,
        }),
        max_attempts: MAX_ATTEMPTS,
        run_after: now,
        create_date: now,
    }
}

fn field(job: &Job, name: &str) -> Result<Uuid, JobError> {
    job.payload
        .get(name)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| JobError::Fatal(format!("job payload has no {name}")))
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// Runs one `analyze_input` job.
pub async fn run(state: Arc<AppState>, job: Job) -> Result<(), JobError> {
    let site_id = job
        .site_id
        .ok_or_else(|| JobError::Fatal("job has no site".into()))?;
    let wo_id = field(&job, "work_order_id")?;
    let input_id = field(&job, "input_id")?;
    let user_id = field(&job, "user_id")?;
    let metadata = job
        .payload
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let Some(wo) = state
        .store
        .get_work_order(site_id, wo_id)
        .await
        .map_err(retry)?
    else {
        return Ok(()); // deleted since: nothing left to analyse
    };
    let inputs = state
        .store
        .list_inputs(site_id, wo_id)
        .await
        .map_err(retry)?;
    let Some(mut input) = inputs.into_iter().find(|i| i.id == input_id) else {
        return Err(JobError::Fatal(format!("input {input_id} is gone")));
    };
    if input.status != "queued" {
        return Ok(()); // analysed by an earlier run of this job
    }
    let version = state
        .store
        .app_version(site_id, wo.app_version_id)
        .await
        .map_err(retry)?
        .ok_or_else(|| JobError::Fatal("the work order's application version is gone".into()))?;
    let Some(group) = version.task_group(&input.task_group_name).cloned() else {
        return Err(JobError::Fatal(format!(
            "task group {} is gone",
            input.task_group_name
        )));
    };
    let bytes = state
        .blobs
        .get(&input.blob_key)
        .await
        .map_err(retry)?
        .ok_or_else(|| JobError::Fatal(format!("the file of input {input_id} is gone")))?;
    let photo = match prepare(&bytes) {
        Ok((_, photo)) => photo,
        Err(e) => return Err(JobError::Fatal(format!("{:?}", e.body()))),
    };
    let now = crate::time::now_micros();
    let verdict = match evaluate(&state, &wo, &version, &group, photo, None).await {
        Ok(Ok(v)) => v,
        Ok(Err(why)) => return Err(JobError::Fatal(why)),
        Err(e) => return Err(retry(format!("{:?}", e.body()))),
    };
    let analysis = analysis_row(&mut input, &verdict, &version, user_id, metadata, now);
    // No audit event: the analysis's was written with the input and this job when the caller
    // asked for it (`queue_analysis`); a second one here would count one analysis twice.
    match state
        .store
        .record_analysis(input, analysis, version, None)
        .await
    {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(retry(e)),
    }
}

/// A worker that runs the API's jobs (today: `analyze_input`) with this state's store, blobs and
/// models.
pub fn worker(
    state: AppState,
    worker_id: String,
    config: fieldproof_jobs::WorkerConfig,
) -> fieldproof_jobs::Worker {
    let store = state.store.clone();
    let state = Arc::new(state);
    fieldproof_jobs::Worker::new(store, worker_id, config).handle(KIND, move |job| {
        let state = state.clone();
        async move { run(state, job).await }
    })
}
