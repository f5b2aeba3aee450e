//! `GET /v0.2/task-groups/` and `GET /v0.2/task-groups/{name}/`: the task groups of the site's
//! current application version, to guide field workers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use fieldproof_domain::app::{ConformRule, TaskGroup};
use fieldproof_domain::role::Action;
use serde_json::{json, Value};

use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::Caller;
use crate::AppState;

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Action::ReadTaskGroups)?;
    let groups = match state.store.current_app_version(caller.0.site_id).await? {
        Some(v) => v.task_groups.iter().map(render).collect(),
        None => Vec::new(),
    };
    Ok(json_response(StatusCode::OK, &Value::Array(groups)))
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require(Action::ReadTaskGroups)?;
    let version = state
        .store
        .current_app_version(caller.0.site_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let group = version
        .task_groups
        .iter()
        .find(|g| g.name == name || g.id.to_string() == name)
        .ok_or(ApiError::NotFound)?;
    Ok(json_response(StatusCode::OK, &render(group)))
}

fn render(g: &TaskGroup) -> Value {
    let tasks: Vec<Value> = g
        .tasks
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "label": t.label,
                "type": t.kind.as_str(),
                "outcome_type": t.kind.as_str(),
                "only_for_dashboard": t.only_for_dashboard,
                "conformity_status": t.counts_in_score,
                "values": if t.values.is_empty() { Value::Null } else { json!(t.values) },
                "conform_when": conform_when(&t.conform),
            })
        })
        .collect();
    json!({
        "id": g.id,
        "name": g.name,
        "display_name": g.display_name,
        "description": g.description,
        "order": g.order,
        // Example photos are served once the blob store holds them (analysis engine).
        "input_examples": Vec::<String>::new(),
        "tasks": tasks,
    })
}

/// How a task's value is judged, as data and as a sentence for people.
fn conform_when(rule: &ConformRule) -> Value {
    let text = match rule {
        ConformRule::Equals { value } => format!("the value is {value}"),
        ConformRule::Range {
            min: Some(a),
            max: Some(b),
        } if a == b => format!("the value is {a}"),
        ConformRule::Range {
            min: Some(a),
            max: Some(b),
        } => format!("the value is between {a} and {b}"),
        ConformRule::Range {
            min: Some(a),
            max: None,
        } => format!("the value is at least {a}"),
        ConformRule::Range {
            min: None,
            max: Some(b),
        } => format!("the value is at most {b}"),
        ConformRule::Range {
            min: None,
            max: None,
        } => "any number".to_string(),
        ConformRule::OneOf { values } => format!("the value is one of {}", values.join(", ")),
        ConformRule::NotEmpty => "the value is not empty".to_string(),
    };
    let mut v = serde_json::to_value(rule).expect("a rule serialises");
    v["description"] = json!(text);
    v
}
