//! `GET /v0.2/task-groups/` and `GET /v0.2/task-groups/{name}/`: the task groups of the site's
//! current application version, to guide field workers; and
//! `GET /v0.2/task-groups/{name}/examples/{index}`, an example photo.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldproof_domain::app::{AppVersion, ConformRule, TaskGroup};
use fieldproof_domain::role::Action;
use serde_json::{json, Value};

use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};
use crate::work_orders::base_url;
use crate::{blob_keys, AppState};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Action::ReadTaskGroups)?;
    let base = base_url(&state, &headers);
    let groups = match state.store.current_app_version(caller.0.site_id).await? {
        Some(v) => v.task_groups.iter().map(|g| render(&base, g)).collect(),
        None => Vec::new(),
    };
    Ok(json_response(StatusCode::OK, &Value::Array(groups)))
}

async fn find(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<(std::sync::Arc<AppVersion>, usize)> {
    let version = state
        .store
        .current_app_version(caller.0.site_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let index = version
        .task_groups
        .iter()
        .position(|g| g.name == name || g.id.to_string() == name)
        .ok_or(ApiError::NotFound)?;
    Ok((version, index))
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Response> {
    caller.require(Action::ReadTaskGroups)?;
    let (version, index) = find(&state, &caller, &name).await?;
    Ok(json_response(
        StatusCode::OK,
        &render(&base_url(&state, &headers), &version.task_groups[index]),
    ))
}

pub async fn example(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((name, example)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    caller.require(Action::ReadTaskGroups)?;
    let (version, index) = find(&state, &caller, &name).await?;
    let group = &version.task_groups[index];
    let i: usize = example.parse().map_err(|_| ApiError::NotFound)?;
    let photo = group.examples.get(i).ok_or(ApiError::NotFound)?;
    let key = blob_keys::example(caller.0.site_id, version.id, index, i, &photo.file);
    let bytes = state
        .blobs
        .get(&key)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or(ApiError::NotFound)?;
    let content_type = match fieldproof_analysis::sniff(&bytes) {
        Some(kind) => kind.content_type(),
        None => "application/octet-stream",
    };
    let mut resp = (StatusCode::OK, Body::from(bytes)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

fn render(base: &str, g: &TaskGroup) -> Value {
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
                "computed_by": t.binding.as_ref().map(|b| {
                    let mut v = serde_json::to_value(&b.rule).expect("a rule serialises");
                    v["model"] = json!(b.model);
                    v["output"] = json!(b.output);
                    v
                }),
            })
        })
        .collect();
    // Field workers are shown the examples of a good photo: those whose labelled values are all
    // conform. The others (counter-examples) only teach the models.
    let examples: Vec<String> = g
        .examples
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            !e.values.is_empty()
                && e.values.iter().all(|(task, v)| {
                    g.tasks
                        .iter()
                        .find(|t| &t.name == task)
                        .is_some_and(|t| t.conform.judge(v))
                })
        })
        .map(|(i, _)| format!("{base}/v0.2/task-groups/{}/examples/{i}", g.name))
        .collect();
    json!({
        "id": g.id,
        "name": g.name,
        "display_name": g.display_name,
        "description": g.description,
        "order": g.order,
        "input_examples": examples,
        "tasks": tasks,
    })
}

/// How a task's value is judged, as data and as a sentence for people.
fn conform_when(rule: &ConformRule) -> Value {
    let mut v = serde_json::to_value(rule).expect("a rule serialises");
    v["description"] = json!(rule.describe());
    v
}
