//! `DELETE /v0.2/work-orders/{id}/` → 204 with an empty body.
//!
//! The audit trail keeps the work order's events, and this one says what was deleted (its name
//! and version), read just before: afterwards there is nothing left to read it from. It commits
//! with the deletion.

use axum::extract::State;
use axum::http::StatusCode;
use fieldproof_domain::role::Action;
use fieldproof_store::{actions, StoreError};
use serde_json::json;

use super::parse_id;
use crate::audit::change_event;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};
use crate::AppState;

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::DeleteWorkOrder)?;
    let site_id = caller.0.site_id;
    let wo = state
        .store
        .get_work_order(site_id, parse_id(&id)?)
        .await?
        .ok_or(ApiError::WorkOrderNotFound)?;
    let details = json!({"name": wo.name, "app_version_id": wo.app_version_id});
    let event = change_event(
        &caller.0,
        actions::WORK_ORDER_DELETE,
        "work_order",
        wo.id,
        details,
    );
    // The event commits with the deletion.
    match state
        .store
        .delete_work_order(site_id, wo.id, Some(event))
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // Deleted by another request meanwhile: that request recorded it.
        Err(StoreError::NotFound) => Err(ApiError::WorkOrderNotFound),
        Err(e) => Err(e.into()),
    }
}
