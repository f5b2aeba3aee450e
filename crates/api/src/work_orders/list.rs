//! `GET /v0.2/work-orders/` → 200: a page of the site's work orders, newest first.
//!
//! Envelope `{"count", "next", "previous", "results"}`; `page` (from 1) and `page_size`
//! (default 20, at most 100). Filters: `name`, `tag` (repeatable, all must match), `type`,
//! `field_engineer_email`, `metadata.<key>=<value>`, `created_after`, `created_before`,
//! `reviewed`, `min_progress`, `max_progress`. Unknown parameters are ignored.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::role::Action;
use fieldproof_domain::FieldErrors;
use fieldproof_store::WorkOrderFilter;

use super::render;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::Caller;
use crate::paging::{envelope, Page};
use crate::query::{parse_bool, QueryParams};
use crate::time::parse_time;
use crate::AppState;

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
    let (filter, page) = parse_params(&params).map_err(ApiError::Fields)?;
    let (count, rows) = state
        .store
        .list_work_orders(site_id, &filter, page.offset(), page.size)
        .await?;
    if rows.is_empty() && page.number > 1 {
        return Err(ApiError::InvalidPage);
    }
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let states = state.store.task_states_of(site_id, &ids).await?;
    // Every version the page needs, loaded once; the views then borrow from them.
    let mut versions = HashMap::new();
    for row in &rows {
        if let Entry::Vacant(slot) = versions.entry(row.app_version_id) {
            let v = state
                .store
                .app_version(site_id, row.app_version_id)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(format!("work order {} has no version", row.id))
                })?;
            slot.insert(v);
        }
    }
    let no_states = Default::default();
    let results: Vec<_> = rows
        .iter()
        .map(|row| {
            render::view(
                row,
                &versions[&row.app_version_id],
                Some(states.get(&row.id).unwrap_or(&no_states)),
                None,
            )
        })
        .collect();
    let body = envelope(&state, &headers, uri.path(), &params, page, count, results);
    Ok(json_response(StatusCode::OK, &body))
}

fn parse_params(params: &QueryParams) -> Result<(WorkOrderFilter, Page), FieldErrors> {
    let mut errors = FieldErrors::new();
    let page = Page::parse(params, "work orders", &mut errors);
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
    Ok((filter, page))
}
