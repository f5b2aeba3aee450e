//! `PATCH /v0.2/work-orders/{id}/` → 200. Each given field replaces the stored one.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::role::Action;
use fieldproof_domain::work_order::parse_update;
use fieldproof_store::{actions, StoreError, WorkOrderChanges};
use serde_json::{json, Map, Value};

use super::{full_representation, load, parse_id, resolve_references};
use crate::audit::change_event;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{ApiPath, Caller, JsonObject};
use crate::time::now_micros;
use crate::AppState;

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    body: JsonObject,
) -> ApiResult<Response> {
    caller.require(Action::UpdateWorkOrder)?;
    let site_id = caller.0.site_id;
    let (wo, version) = load(&state, site_id, parse_id(&id)?).await?;
    let fields = parse_update(&body.0, &version.metadata).map_err(ApiError::serialization)?;
    let refs = resolve_references(&state, site_id, &version, &fields)
        .await?
        .map_err(ApiError::Serialization)?;
    let changes = WorkOrderChanges {
        name: fields.name.map(|n| n.into_string()),
        metadata: fields.metadata,
        tags: fields.tags,
        field_engineer: refs.field_engineer,
        user_group_ids: refs.user_group_ids,
        types: refs.types,
        now: now_micros(),
    };
    let action = actions::WORK_ORDER_UPDATE;
    let event = change_event(
        &caller.0,
        action,
        "work_order",
        wo.id,
        changed_fields(&changes),
    );
    // The event commits with the change.
    let updated = match state
        .store
        .update_work_order(site_id, wo.id, changes, version.clone(), Some(event))
        .await
    {
        Err(StoreError::NotFound) => return Err(ApiError::WorkOrderNotFound),
        other => other?,
    };
    let body = full_representation(&state, &headers, &updated, &version, true).await?;
    Ok(json_response(StatusCode::OK, &body))
}

/// What the audit trail keeps of an update: each given field with its new value, under the
/// request's field names (`{}` is an update too: it moves `update_date`).
fn changed_fields(c: &WorkOrderChanges) -> Value {
    let mut m = Map::new();
    if let Some(name) = &c.name {
        m.insert("name".into(), json!(name));
    }
    if let Some(metadata) = &c.metadata {
        m.insert("metadata".into(), json!(metadata));
    }
    if let Some(tags) = &c.tags {
        m.insert("tags".into(), json!(tags));
    }
    if let Some(engineer) = &c.field_engineer {
        let email = engineer.as_ref().map(|f| &f.email);
        m.insert("field_engineer_email".into(), json!(email));
    }
    if let Some(ids) = &c.user_group_ids {
        m.insert("user_group_ids".into(), json!(ids));
    }
    if let Some(types) = &c.types {
        m.insert("work_order_types".into(), json!(types));
    }
    json!({ "changes": m })
}
