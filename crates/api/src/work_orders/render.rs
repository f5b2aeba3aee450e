//! The one representation of a work order, returned by create, update, retrieve and list.

use fieldproof_domain::activation::{active_groups, active_tasks};
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::score::TaskState;
use fieldproof_store::{TaskStates, WorkOrderRow};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::time::format_micros;

/// A stable id for an application across its versions, derived from the site and the app name.
pub fn engage_app_id(site_id: Uuid, app_name: &str) -> Uuid {
    Uuid::new_v5(&site_id, app_name.as_bytes())
}

/// A score as JSON: a whole number when it is one (`0`, `100`), else the decimal.
pub fn score(value: f64) -> Value {
    serde_json::to_value(Score(value)).expect("a number serialises")
}

/// A score, serialised as [`score`] describes.
#[derive(Debug, Clone, Copy)]
pub struct Score(pub f64);

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 1e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
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
    serde_json::to_value(view(wo, version, states, inputs)).expect("a work order serialises")
}

/// The work order as it is serialised, borrowing from the row and the version instead of
/// copying them into a `serde_json::Value` tree first: a list page serialises 20 of these, and
/// building the tree (a map and a string per field) cost more than writing the JSON.
///
/// Fields are declared in alphabetical order, the order the earlier `Value` form had, so the
/// bytes on the wire did not change.
#[derive(Serialize)]
pub struct WorkOrderView<'a> {
    app_version_id: Uuid,
    assigned_user_id: Option<Uuid>,
    create_date: String,
    engage_app_id: Uuid,
    field_engineer_email: Option<&'a str>,
    field_engineer_name: Option<&'a str>,
    first_analysis_id: Option<Uuid>,
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    inputs: Option<Vec<Value>>,
    latest_analysis_id: Option<Uuid>,
    metadata: &'a Map<String, Value>,
    name: &'a str,
    parameters: &'a Option<Value>,
    progress_score: Score,
    review_date: Option<String>,
    site_id: Uuid,
    tags: &'a [String],
    task_groups: Vec<GroupView<'a>>,
    tasks: Vec<TaskView<'a>>,
    types: Vec<TypeView<'a>>,
    update_date: String,
    user_group_ids: &'a [Uuid],
}

#[derive(Serialize)]
pub struct GroupView<'a> {
    display_name: &'a str,
    id: Uuid,
    name: &'a str,
    order: i64,
}

#[derive(Serialize)]
pub struct TaskView<'a> {
    group_id: Uuid,
    group_name: &'a str,
    id: Uuid,
    label: &'a str,
    name: &'a str,
    state: Option<StateView<'a>>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A task's state, with its keys in alphabetical order as in the API's other representations.
#[derive(Serialize)]
pub struct StateView<'a> {
    analyzed_value: &'a Option<Value>,
    corrected_value: &'a Option<Value>,
    is_conformity_validated: bool,
    message: &'a Option<String>,
    value: &'a Option<Value>,
}

impl<'a> From<&'a TaskState> for StateView<'a> {
    fn from(s: &'a TaskState) -> Self {
        StateView {
            analyzed_value: &s.analyzed_value,
            corrected_value: &s.corrected_value,
            is_conformity_validated: s.is_conformity_validated,
            message: &s.message,
            value: &s.value,
        }
    }
}

#[derive(Serialize)]
pub struct TypeView<'a> {
    id: Uuid,
    name: &'a str,
}

/// The serialisable form of a work order (see [`work_order`]).
pub fn view<'a>(
    wo: &'a WorkOrderRow,
    version: &'a AppVersion,
    states: Option<&'a TaskStates>,
    inputs: Option<Vec<Value>>,
) -> WorkOrderView<'a> {
    let active = active_tasks(version, &wo.types);
    let tasks = active
        .iter()
        .map(|(g, t)| TaskView {
            group_id: g.id,
            group_name: &g.name,
            id: t.id,
            label: &t.label,
            name: &t.name,
            state: states.and_then(|s| s.get(&t.name)).map(StateView::from),
            kind: t.kind.as_str(),
        })
        .collect();
    let task_groups = active_groups(&active)
        .into_iter()
        .map(|g| GroupView {
            display_name: &g.display_name,
            id: g.id,
            name: &g.name,
            order: g.order,
        })
        .collect();
    let types = wo
        .types
        .iter()
        .filter_map(|name| version.work_order_type(name))
        .map(|t| TypeView {
            id: t.id,
            name: &t.name,
        })
        .collect();
    let engineer = wo.field_engineer.as_ref();
    WorkOrderView {
        app_version_id: wo.app_version_id,
        assigned_user_id: engineer.map(|e| e.user_id),
        create_date: format_micros(wo.create_date),
        engage_app_id: engage_app_id(wo.site_id, &version.app_name),
        field_engineer_email: engineer.map(|e| e.email.as_str()),
        field_engineer_name: engineer.map(|e| e.name.as_str()),
        first_analysis_id: wo.first_analysis_id,
        id: wo.id,
        inputs,
        latest_analysis_id: wo.latest_analysis_id,
        metadata: &wo.metadata,
        name: &wo.name,
        parameters: &wo.parameters,
        progress_score: Score(wo.progress_score),
        review_date: wo.review_date.map(format_micros),
        site_id: wo.site_id,
        tags: &wo.tags,
        task_groups,
        tasks,
        types,
        update_date: format_micros(wo.update_date),
        user_group_ids: &wo.user_group_ids,
    }
}
