//! The audit trail over HTTP: handlers hand the store the event of the change they make, and
//! administrators read the site's trail at `GET /v0.2/audit-events/`.
//!
//! Every change made through the API builds its event with [`change_event`] and hands it to the
//! store with the change: a work order's create, update and delete, an analysis (answered at
//! once, or queued for a worker), a correction and a review. Both commit in one transaction, so
//! an acknowledged change always has its event, a failed one has none, and a crash cannot
//! separate them. An event that cannot be written fails its change (the client gets a 500 and
//! nothing is written) rather than leaving a change without its event. This also saves a second
//! durable commit per request (half of a create's writes, measured in `docs/PERFORMANCE.md`).
//!
//! A queued analysis (`?async=true`) has its event written with the input and its job, when the
//! caller asks for it: the worker that analyses it later acts for that caller and writes no
//! event of its own (`analysis_job`), so one analysis is one event however often its job runs.
//!
//! What is still written apart are the command line's changes (sites, users, groups, keys
//! created and revoked, application versions published; `fieldproof admin` and `fieldproof
//! app`): they go through [`record`] after their change has committed, in a write of its own.
//! When that write fails, the failure is logged with `tracing::error!` (who, what action, which
//! object: enough to find the change; not the details, which may carry emails that are never
//! logged) and the command still succeeds, because the change has committed by then: reporting
//! an error would lead the operator to make the change twice. A crash between the two writes
//! loses that event.

use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fieldproof_domain::role::Action;
use fieldproof_domain::FieldErrors;
use fieldproof_store::{actions, user_actor, AuditEvent, AuditFilter, Principal, Store};
use serde_json::{json, Value};

use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::Caller;
use crate::paging::{envelope, Page};
use crate::query::QueryParams;
use crate::time::{format_micros, now_micros, parse_time};
use crate::AppState;

/// Records `event` in a write of its own, for changes whose store call does not take their
/// event (the command line's); a failure is logged, never returned (see the module's
/// documentation).
pub async fn record(store: &dyn Store, event: AuditEvent) {
    let (id, site, actor) = (event.id, event.site_id, event.actor.clone());
    let (action, object_type, object_id) = (
        event.action.clone(),
        event.object_type.clone(),
        event.object_id.clone(),
    );
    if let Err(e) = store.record_audit(event).await {
        tracing::error!(
            error = %e,
            event = %id,
            %site,
            actor,
            action,
            object_type,
            object_id,
            "the change was made but its audit event could not be recorded"
        );
    }
}

/// The event of a change the caller makes through the API now, to hand to the store with the
/// change.
pub(crate) fn change_event(
    caller: &Principal,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    details: Value,
) -> AuditEvent {
    AuditEvent::new(
        caller.site_id,
        user_actor(caller.user_id),
        action,
        object_type,
        object_id,
        details,
        now_micros(),
    )
}

/// `GET /v0.2/audit-events/` → 200: a page of the site's events, newest first. Administrators
/// only. Filters: `object_id`, `action`, `created_after`, `created_before`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require(Action::ReadAudit)?;
    let site_id = caller.0.site_id;
    let params = QueryParams::parse(query.as_deref());
    let (filter, page) = parse_params(&params).map_err(ApiError::Fields)?;
    let (count, events) = state
        .store
        .list_audit(site_id, &filter, page.offset(), page.size)
        .await?;
    if events.is_empty() && page.number > 1 {
        return Err(ApiError::InvalidPage);
    }
    // Actors are shown with the email of their user, read once per page.
    let users = if events.is_empty() {
        Vec::new()
    } else {
        state.store.list_users(site_id).await?
    };
    let results: Vec<Value> = events
        .iter()
        .map(|e| {
            let email = users
                .iter()
                .find(|u| user_actor(u.id) == e.actor)
                .map(|u| u.email.clone());
            render(e, email)
        })
        .collect();
    let body = envelope(&state, &headers, uri.path(), &params, page, count, results);
    Ok(json_response(StatusCode::OK, &body))
}

fn parse_params(params: &QueryParams) -> Result<(AuditFilter, Page), FieldErrors> {
    let mut errors = FieldErrors::new();
    let page = Page::parse(params, "events", &mut errors);
    let mut filter = AuditFilter {
        object_id: params.last("object_id").map(str::to_string),
        ..Default::default()
    };
    if let Some(action) = params.last("action") {
        if actions::ALL.contains(&action) {
            filter.action = Some(action.to_string());
        } else {
            errors.add(
                "action",
                format!(
                    "Unknown action {action:?}. Known actions: {}.",
                    actions::ALL.join(", ")
                ),
            );
        }
    }
    for (key, slot) in [
        ("created_after", &mut filter.after),
        ("created_before", &mut filter.before),
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
    errors.into_result()?;
    Ok((filter, page))
}

/// An event as the API shows it. `actor_email`: the email of the acting user, `null` for the
/// command line.
fn render(e: &AuditEvent, actor_email: Option<String>) -> Value {
    json!({
        "id": e.id,
        "site_id": e.site_id,
        "actor": e.actor,
        "actor_email": actor_email,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "details": e.details,
        "create_date": format_micros(e.create_date),
    })
}
