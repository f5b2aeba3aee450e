//! `DELETE /v0.2/work-orders/{id}/` → 204 with an empty body.

use axum::extract::State;
use axum::http::StatusCode;
use fieldproof_domain::role::Action;
use fieldproof_store::StoreError;

use super::parse_id;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};
use crate::AppState;

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require(Action::DeleteWorkOrder)?;
    match state
        .store
        .delete_work_order(caller.0.site_id, parse_id(&id)?)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ApiError::WorkOrderNotFound),
        Err(e) => Err(e.into()),
    }
}
