//! `GET /v0.2/work-orders/` → 200: a page of the site's work orders, newest first.
//!
//! Envelope `{"count", "next", "previous", "results"}`; `page` (from 1) and `page_size`
//! (default 20, at most 100). Filters: `name`, `tag` (repeatable, all must match), `type`,
//! `field_engineer_email`, `metadata.<key>=<value>`, `created_after`, `created_before`,
//! `reviewed`, `min_progress`, `max_progress`. Unknown parameters are ignored.

use std::collections::HashMap;

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::role::Action;
use fieldproof_domain::FieldErrors;
use fieldproof_store::WorkOrderFilter;
use serde_json::{json, Value};

use super::render;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::Caller;
use crate::query::{parse_bool, QueryParams};
use crate::time::parse_time;
use crate::AppState;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require(Action::ReadWorkOrders)?;
    let site_id = caller.0.site_id;
    let params = QueryParams::parse(query.as_deref());
    let (filter, page, page_size) = parse_params(&params).map_err(ApiError::Fields)?;
    let offset = (page - 1).saturating_mul(page_size);
    let (count, rows) = state
        .store
        .list_work_orders(site_id, &filter, offset, page_size)
        .await?;
    if rows.is_empty() && page > 1 {
        return Err(ApiError::InvalidPage);
    }
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let states = state.store.task_states_of(site_id, &ids).await?;
    let mut versions = HashMap::new();
    let mut results = Vec::with_capacity(rows.len());
    for row in &rows {
        let version = match versions.get(&row.app_version_id) {
            Some(v) => std::sync::Arc::clone(v),
            None => {
                let v = state
                    .store
                    .app_version(site_id, row.app_version_id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Internal(format!("work order {} has no version", row.id))
                    })?;
                versions.insert(row.app_version_id, v.clone());
                v
            }
        };
        let no_states = Default::default();
        results.push(render::work_order(
            row,
            &version,
            Some(states.get(&row.id).unwrap_or(&no_states)),
            None,
        ));
    }
    let base = format!("{}{}", super::base_url(&state, &headers), uri.path());
    let link = |p: u64| -> Value {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.pairs().iter().filter(|(k, _)| k != "page") {
            q.append_pair(k, v);
        }
        q.append_pair("page", &p.to_string());
        json!(format!("{base}?{}", q.finish()))
    };
    let next = if offset + (rows.len() as u64) < count {
        link(page + 1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": count, "next": next, "previous": previous, "results": results}),
    ))
}

fn parse_params(params: &QueryParams) -> Result<(WorkOrderFilter, u64, u64), FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut positive = |key: &str, default: u64| -> u64 {
        match params.last(key) {
            None => default,
            Some(raw) => match raw.parse::<u64>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errors.add(key, "A positive whole number is required.");
                    default
                }
            },
        }
    };
    let page = positive("page", 1);
    let page_size = positive("page_size", DEFAULT_PAGE_SIZE);
    if page_size > MAX_PAGE_SIZE {
        errors.add(
            "page_size",
            format!("At most {MAX_PAGE_SIZE} work orders per page."),
        );
    }
    let mut filter = WorkOrderFilter {
        name: params.last("name").map(str::to_string),
        tags: params.all("tag").map(str::to_string).collect(),
        type_name: params.last("type").map(str::to_string),
        field_engineer_email: params.last("field_engineer_email").map(str::to_string),
        ..Default::default()
    };
    for (k, v) in params.pairs() {
        if let Some(key) = k.strip_prefix("metadata.") {
            if key.is_empty() {
                errors.add(k, "Name a metadata key: metadata.<key>=<value>.");
            } else {
                filter.metadata.push((key.to_string(), v.clone()));
            }
        }
    }
    for (key, slot) in [
        ("created_after", &mut filter.created_after),
        ("created_before", &mut filter.created_before),
    ] {
        if let Some(raw) = params.last(key) {
            match parse_time(raw) {
                Some(t) => *slot = Some(t),
                None => errors.add(
                    key,
                    "Expected a date (2024-05-01) or an ISO-8601 date-time (2024-05-01T10:00:00Z).",
                ),
            }
        }
    }
    if let Some(raw) = params.last("reviewed") {
        match parse_bool(raw) {
            Some(b) => filter.reviewed = Some(b),
            None => errors.add("reviewed", "Must be true or false."),
        }
    }
    for (key, slot) in [
        ("min_progress", &mut filter.min_progress),
        ("max_progress", &mut filter.max_progress),
    ] {
        if let Some(raw) = params.last(key) {
            match raw.parse::<f64>() {
                Ok(x) if (0.0..=100.0).contains(&x) => *slot = Some(x),
                _ => errors.add(key, "A number from 0 to 100 is required."),
            }
        }
    }
    errors.into_result()?;
    Ok((filter, page, page_size))
}
