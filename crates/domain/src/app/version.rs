//! A published application version: immutable, every part carrying the id it was given at
//! publication. Stored as JSON by the stores and cached freely (it never changes).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::metadata::MetadataField;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppVersion {
    pub id: Uuid,
    pub app_name: String,
    /// 1 for the first version a site publishes of this application, then 2, 3, ...
    pub version: u32,
    pub description: String,
    pub metadata: Vec<MetadataField>,
    /// Sorted by `order`, then name.
    pub task_groups: Vec<TaskGroup>,
    pub work_order_types: Vec<WorkOrderType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskGroup {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub order: i64,
    pub examples: Vec<ExamplePhoto>,
    pub checks: ConformityChecks,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplePhoto {
    /// The file name as written in the application file, relative to it.
    pub file: String,
    /// Task name → the value this photo shows for it.
    pub values: serde_json::Map<String, Value>,
}

/// The data-conformity checks of a task group; a check that is `None` is off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConformityChecks {
    pub resolution: Option<ResolutionCheck>,
    pub blur: Option<BlurCheck>,
    pub exposure: Option<ExposureCheck>,
    pub duplicate: Option<DuplicateCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolutionCheck {
    pub min_width: u32,
    pub min_height: u32,
}

/// Blur: the variance of the Laplacian of the grey image must reach `min_sharpness`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlurCheck {
    pub min_sharpness: f64,
}

/// Exposure: the mean brightness (0 to 255) must lie within the bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExposureCheck {
    pub min_brightness: f64,
    pub max_brightness: f64,
}

/// Duplicate: a photo whose perceptual hash is within `max_distance` bits of an earlier input of
/// the same work order is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCheck {
    pub max_distance: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskType {
    Boolean,
    Number,
    Text,
    Enum,
}

impl TaskType {
    pub const NAMES: &'static str = "Boolean, Number, Text, Enum";

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "Boolean" => Some(Self::Boolean),
            "Number" => Some(Self::Number),
            "Text" => Some(Self::Text),
            "Enum" => Some(Self::Enum),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Boolean => "Boolean",
            Self::Number => "Number",
            Self::Text => "Text",
            Self::Enum => "Enum",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: Uuid,
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: TaskType,
    /// Counted in the conformity score (`conformity_status` in the API).
    pub counts_in_score: bool,
    /// Shown only on dashboards, not to the field worker.
    pub only_for_dashboard: bool,
    /// The allowed values of an `Enum` task; empty for other types.
    pub values: Vec<String>,
    pub conform: ConformRule,
    /// How the value is computed from a photo; `None`: only a correction sets it.
    #[serde(default)]
    pub binding: Option<Binding>,
}

/// A task's value from a model output: which model, which of its outputs, and the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub model: String,
    pub output: String,
    pub rule: BindingRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum BindingRule {
    /// The value of the most similar labelled example photo of the task group, in the output's
    /// embedding space (Boolean, Text, Enum).
    NearestExample,
    /// Boolean: the probability of class `class` (softmax of the output) reaches `threshold`.
    ClassProbability { class: usize, threshold: f64 },
    /// Number: the output rounded to a whole count, at least 0.
    Count,
    /// Number: the output as it is.
    Regression,
    /// Enum: the value at the index of the most probable class, when its probability reaches
    /// `min_confidence`; else the value is "uncertain" (no value).
    TopClass {
        classes: Vec<String>,
        min_confidence: f64,
    },
}

impl BindingRule {
    pub fn name(&self) -> &'static str {
        match self {
            BindingRule::NearestExample => "nearest_example",
            BindingRule::ClassProbability { .. } => "class_probability",
            BindingRule::Count => "count",
            BindingRule::Regression => "regression",
            BindingRule::TopClass { .. } => "top_class",
        }
    }
}

/// Which values of a task are conform. Built by validation so that it always fits the task type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ConformRule {
    /// Boolean: the value must equal this.
    Equals { value: bool },
    /// Number: the value must lie within the bounds (each optional, inclusive).
    Range { min: Option<f64>, max: Option<f64> },
    /// Text or Enum: the value must be one of these.
    OneOf { values: Vec<String> },
    /// Text: any non-empty value is conform.
    NotEmpty,
}

impl ConformRule {
    /// How a value is judged, in words for people.
    pub fn describe(&self) -> String {
        match self {
            ConformRule::Equals { value } => format!("the value is {value}"),
            ConformRule::Range {
                min: Some(a),
                max: Some(b),
            } if a == b => format!("the value is {a}"),
            ConformRule::Range {
                min: Some(a),
                max: Some(b),
            } => {
                format!("the value is between {a} and {b}")
            }
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
            } => "the value is a number".to_string(),
            ConformRule::OneOf { values } => format!("the value is one of {}", values.join(", ")),
            ConformRule::NotEmpty => "the value is not empty".to_string(),
        }
    }

    /// Whether `value` (already of the task's type) is conform.
    pub fn judge(&self, value: &Value) -> bool {
        match (self, value) {
            (ConformRule::Equals { value: want }, Value::Bool(b)) => b == want,
            (ConformRule::Range { min, max }, Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m)
            }
            (ConformRule::OneOf { values }, Value::String(s)) => values.contains(s),
            (ConformRule::NotEmpty, Value::String(s)) => !s.trim().is_empty(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkOrderType {
    pub id: Uuid,
    pub name: String,
    /// Every task of these groups is activated by the type...
    pub task_groups: Vec<String>,
    /// ...and so are these tasks, by name.
    pub tasks: Vec<String>,
}

impl AppVersion {
    pub fn task_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }

    pub fn work_order_type(&self, name: &str) -> Option<&WorkOrderType> {
        self.work_order_types.iter().find(|t| t.name == name)
    }

    /// Every task with its group, in group order then file order.
    pub fn tasks(&self) -> impl Iterator<Item = (&TaskGroup, &Task)> {
        self.task_groups
            .iter()
            .flat_map(|g| g.tasks.iter().map(move |t| (g, t)))
    }

    /// A task by id or by name (ids change between versions, names do not).
    pub fn find_task(&self, id_or_name: &str) -> Option<(&TaskGroup, &Task)> {
        self.tasks()
            .find(|(_, t)| t.name == id_or_name || t.id.to_string() == id_or_name)
    }
}
