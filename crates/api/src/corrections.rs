//! `PATCH /v0.2/work-orders/{id}/tasks/{task_id}/correction/` (a human override of a task value)
//! and `POST /v0.2/work-orders/{id}/review/` (marking a work order reviewed).
//!
//! Each hands its audit event to the store with the change, so both commit in one transaction
//! (see `audit`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::errors::missing_field;
use fieldproof_domain::role::Action;
use fieldproof_domain::state::parse_correction;
use fieldproof_domain::FieldErrors;
use fieldproof_store::{actions, StoreError};
use serde_json::{json, Value};

use crate::audit::change_event;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{ApiPath, Caller, JsonObject, OptionalJsonObject};
use crate::time::now_micros;
use crate::work_orders::{full_representation, load, parse_id};
use crate::AppState;

pub async fn correct(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, task_id)): ApiPath<(String, String)>,
    body: JsonObject,
) -> ApiResult<Response> {
    caller.require(Action::Correct)?;
    let site_id = caller.0.site_id;
    let (wo, version) = load(&state, site_id, parse_id(&id)?).await?;
    // By id or by name, among the work order's active tasks.
    let active = active_tasks(&version, &wo.types);
    let (_, task) = active
        .iter()
        .find(|(_, t)| t.id.to_string() == task_id || t.name == task_id)
        .ok_or(ApiError::NotFound)?;
    let Some(raw) = body.0.get("corrected_value") else {
        let mut e = FieldErrors::new();
        e.add("corrected_value", missing_field("corrected_value"));
        return Err(ApiError::Fields(e));
    };
    let corrected = parse_correction(task, raw).map_err(|m| {
        let mut e = FieldErrors::new();
        e.add("corrected_value", m);
        ApiError::Fields(e)
    })?;
    let details = json!({"task": task.name, "task_id": task.id, "corrected_value": corrected});
    let event = change_event(
        &caller.0,
        actions::TASK_CORRECT,
        "work_order",
        wo.id,
        details,
    );
    // The event commits with the correction.
    let (_, states) = match state
        .store
        .correct_task(
            site_id,
            wo.id,
            &task.name,
            corrected,
            now_micros(),
            version.clone(),
            Some(event),
        )
        .await
    {
        Err(StoreError::NotFound) => return Err(ApiError::WorkOrderNotFound),
        other => other?,
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"id": task.id, "name": task.name, "state": states.get(&task.name)}),
    ))
}

/// Body (optional): `{"reviewed": true}` (the default) or `{"reviewed": false}` to undo.
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    OptionalJsonObject(body): OptionalJsonObject,
) -> ApiResult<Response> {
    caller.require(Action::Review)?;
    let site_id = caller.0.site_id;
    // The body is optional: none means "reviewed".
    let reviewed = match body.as_ref().and_then(|b| b.get("reviewed")) {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            let mut e = FieldErrors::new();
            e.add("reviewed", "Must be true or false.");
            return Err(ApiError::Fields(e));
        }
    };
    let (wo, version) = load(&state, site_id, parse_id(&id)?).await?;
    let event = change_event(
        &caller.0,
        actions::WORK_ORDER_REVIEW,
        "work_order",
        wo.id,
        json!({ "reviewed": reviewed }),
    );
    // The event commits with the review.
    let wo = match state
        .store
        .set_reviewed(site_id, wo.id, reviewed, now_micros(), Some(event))
        .await
    {
        Err(StoreError::NotFound) => return Err(ApiError::WorkOrderNotFound),
        other => other?,
    };
    let body = full_representation(&state, &headers, &wo, &version, true).await?;
    Ok(json_response(StatusCode::OK, &body))
}
