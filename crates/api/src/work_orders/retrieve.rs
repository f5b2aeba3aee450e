//! `GET /v0.2/work-orders/{id}/` → 200, with `include_inputs` (default `true`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::role::Action;

use super::{full_representation, load, parse_id};
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};
use crate::query::{parse_bool, QueryParams};
use crate::AppState;

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
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
    let body = full_representation(&state, &headers, &wo, &version, include_inputs).await?;
    Ok(json_response(StatusCode::OK, &body))
}
