//! `POST /v0.2/work-orders/` → 201, with `Idempotency-Key` support.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::role::Action;
use fieldproof_domain::score::progress_score;
use fieldproof_domain::work_order::parse_create;
use fieldproof_store::{actions, CreateOutcome, IdempotencyRecord, TaskStates, WorkOrderRow};
use serde_json::{json, Value};

use super::{render, resolve_references};
use crate::audit::change_event;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{Caller, JsonObject};
use crate::time::now_micros;
use crate::AppState;

/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: JsonObject,
) -> ApiResult<Response> {
    caller.require(Action::CreateWorkOrder)?;
    let site_id = caller.0.site_id;
    let idempotency_key = idempotency_key(&headers)?;
    let request_hash = body.digest();
    if let Some(key) = &idempotency_key {
        if let Some(record) = state.store.idempotency_record(site_id, key).await? {
            return replay(record, &request_hash);
        }
    }
    // The site's current version was read with the key (one trip to the store instead of two);
    // the version itself comes from the store's cache.
    let version = match caller.0.current_app_version_id {
        Some(id) => state.store.app_version(site_id, id).await?,
        None => None,
    };
    let version = version.ok_or_else(|| {
        ApiError::Conflict(
            "This site has no application yet: an administrator must publish one (fieldproof app publish FILE --site SITE).".into(),
        )
    })?;
    let command = parse_create(&body.0, &version.metadata).map_err(ApiError::Fields)?;
    let refs = resolve_references(&state, site_id, &version, &command.fields)
        .await?
        .map_err(ApiError::References)?;
    let now = now_micros();
    let types = refs.types.unwrap_or_default();
    let row = WorkOrderRow {
        id: fieldproof_store::new_id(),
        site_id,
        app_version_id: version.id,
        name: command.name.into_string(),
        metadata: command.fields.metadata.unwrap_or_default(),
        tags: command.fields.tags.unwrap_or_default(),
        parameters: None,
        progress_score: progress_score(&active_tasks(&version, &types), &TaskStates::new()),
        types,
        field_engineer: refs.field_engineer.flatten(),
        user_group_ids: refs.user_group_ids.unwrap_or_default(),
        review_date: None,
        create_date: now,
        update_date: now,
        first_analysis_id: None,
        latest_analysis_id: None,
    };
    let rendered = render::work_order(&row, &version, None, Some(Vec::new()));
    let action = actions::WORK_ORDER_CREATE;
    let event = change_event(
        &caller.0,
        action,
        "work_order",
        row.id,
        created_details(&row),
    );
    let record = idempotency_key.map(|key| IdempotencyRecord {
        key,
        request_hash: request_hash.clone(),
        status: StatusCode::CREATED.as_u16(),
        body: rendered.to_string(),
        create_date: now,
    });
    // The event commits with the work order (a replay writes neither).
    match state
        .store
        .create_work_order(row, record, Some(event))
        .await?
    {
        CreateOutcome::Created(_) => Ok(json_response(StatusCode::CREATED, &rendered)),
        // Another request with the same key won the race between our check and our write.
        CreateOutcome::Replayed(record) => replay(record, &request_hash),
    }
}

/// What the audit trail keeps of a new work order: enough to recognise it once it is deleted.
fn created_details(row: &WorkOrderRow) -> Value {
    json!({
        "name": row.name,
        "app_version_id": row.app_version_id,
        "work_order_types": row.types,
        "field_engineer_email": row.field_engineer.as_ref().map(|f| &f.email),
    })
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters."
            ))
        })?;
    Ok(Some(key.to_string()))
}

/// The first answer given under this key, when the body is the same; a 409 otherwise.
fn replay(record: IdempotencyRecord, request_hash: &str) -> ApiResult<Response> {
    if record.request_hash != request_hash {
        return Err(ApiError::Conflict(
            "This Idempotency-Key was already used with a different request body. Use a new key for a new request.".into(),
        ));
    }
    let body: Value = serde_json::from_str(&record.body)
        .map_err(|e| ApiError::Internal(format!("stored idempotent response is not JSON: {e}")))?;
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::CREATED);
    let mut response = json_response(status, &body).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
