//! The one representation of a work order, returned by create, update, retrieve and list.

use fieldproof_domain::activation::{active_groups, active_tasks};
use fieldproof_domain::app::AppVersion;
use fieldproof_store::{TaskStates, WorkOrderRow};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::time::format_micros;

/// A stable id for an application across its versions, derived from the site and the app name.
pub fn engage_app_id(site_id: Uuid, app_name: &str) -> Uuid {
    Uuid::new_v5(&site_id, app_name.as_bytes())
}

/// A score as JSON: a whole number when it is one (`0`, `100`), else the decimal.
pub fn score(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// Renders a work order. `inputs` is `None` when they are not asked for (list results,
/// `include_inputs=false`): the key is then left out.
pub fn work_order(
    wo: &WorkOrderRow,
    version: &AppVersion,
    states: Option<&TaskStates>,
    inputs: Option<Vec<Value>>,
) -> Value {
    let active = active_tasks(version, &wo.types);
    let tasks: Vec<Value> = active
        .iter()
        .map(|(g, t)| {
            json!({
                "id": t.id,
                "name": t.name,
                "label": t.label,
                "type": t.kind.as_str(),
                "group_id": g.id,
                "group_name": g.name,
                "state": states.and_then(|s| s.get(&t.name)),
            })
        })
        .collect();
    let groups: Vec<Value> = active_groups(&active)
        .into_iter()
        .map(|g| json!({"id": g.id, "name": g.name, "display_name": g.display_name, "order": g.order}))
        .collect();
    let types: Vec<Value> = wo
        .types
        .iter()
        .filter_map(|name| version.work_order_type(name))
        .map(|t| json!({"id": t.id, "name": t.name}))
        .collect();
    let engineer = wo.field_engineer.as_ref();
    let mut out = json!({
        "id": wo.id,
        "name": wo.name,
        "site_id": wo.site_id,
        "app_version_id": wo.app_version_id,
        "engage_app_id": engage_app_id(wo.site_id, &version.app_name),
        "progress_score": score(wo.progress_score),
        "review_date": wo.review_date.map(format_micros),
        "create_date": format_micros(wo.create_date),
        "update_date": format_micros(wo.update_date),
        "tags": wo.tags,
        "parameters": wo.parameters,
        "metadata": wo.metadata,
        "types": types,
        "field_engineer_email": engineer.map(|e| &e.email),
        "field_engineer_name": engineer.map(|e| &e.name),
        "assigned_user_id": engineer.map(|e| e.user_id),
        "user_group_ids": wo.user_group_ids,
        "first_analysis_id": wo.first_analysis_id,
        "latest_analysis_id": wo.latest_analysis_id,
        "tasks": tasks,
        "task_groups": groups,
    });
    if let Some(inputs) = inputs {
        out["inputs"] = Value::Array(inputs);
    }
    out
}
