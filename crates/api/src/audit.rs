//! The audit trail over HTTP: handlers record the changes they made here, and administrators
//! read the site's trail at `GET /v0.2/audit-events/`.
//!
//! A work order's create, update and delete build their event with [`change_event`] and hand it
//! to the store with the change: both commit in one transaction, so an acknowledged change always
//! has its event, a failed one has none, and a crash cannot separate them. This also saves a
//! second durable commit per request (half of a create's writes, measured in
//! `docs/PERFORMANCE.md`).
//!
//! Other changes (analyses, corrections, reviews) still record their event with
//! [`record_change`], after the store acknowledged the change and before the handler answers, so
//! a client that got its answer finds the event listed. There the event is a write of its own;
//! when it fails, the failure is logged with `tracing::error!` (who, what action, which object:
//! enough to find the change; not the details, which may carry metadata and emails that are never
//! logged) and the request still succeeds, because the change has committed by then: answering an
//! error would tell the client its change failed when it did not, and a retry would make it
//! twice. A crash between the change's commit and the event's loses the event. Moving these into
//! their change's transaction too, as for work orders, is the way to close that window.
//!
//! That write runs as a task of its own, awaited by the handler: a handler's future is dropped
//! when its client hangs up, and a change that committed must be recorded even then.

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

/// Records `event`; a failure is logged, never returned (see the module's documentation).
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

/// Records a change the caller made through the API, now, in a write of its own (for changes
/// whose store call does not take their event; see the module's documentation).
pub(crate) async fn record_change(
    state: &AppState,
    caller: &Principal,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    details: Value,
) {
    let event = change_event(caller, action, object_type, object_id, details);
    let store = state.store.clone();
    let task = tokio::spawn(async move { record(store.as_ref(), event).await });
    if let Err(e) = task.await {
        // `record` does not panic; a runtime shutting down cancels it.
        tracing::error!(error = %e, "the audit event's task did not finish");
    }
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
