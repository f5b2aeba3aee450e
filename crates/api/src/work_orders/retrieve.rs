//! `GET /v0.2/work-orders/{id}/` → 200, with `include_inputs` (default `true`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use fieldproof_domain::role::Action;

use super::{load, parse_id, render};
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::Caller;
use crate::query::{parse_bool, QueryParams};
use crate::AppState;

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require(Action::ReadWorkOrders)?;
    let params = QueryParams::parse(query.as_deref());
    let include_inputs = match params.last("include_inputs") {
        None => true,
        Some(raw) => parse_bool(raw).ok_or_else(|| {
            let mut e = fieldproof_domain::FieldErrors::new();
            e.add("include_inputs", "Must be true or false.");
            ApiError::Fields(e)
        })?,
    };
    let site_id = caller.0.site_id;
    let (wo, version) = load(&state, site_id, parse_id(&id)?).await?;
    let states = state.store.task_states(site_id, wo.id).await?;
    let inputs = include_inputs.then(Vec::new);
    Ok(json_response(
        StatusCode::OK,
        &render::work_order(&wo, &version, Some(&states), inputs),
    ))
}
