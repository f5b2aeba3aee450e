//! The wire format of an application file (TOML), exactly as an author writes it.
//!
//! Structural mistakes (an unknown key, a string where a number belongs) are caught by serde with
//! the line and column; everything that needs the whole file to judge (duplicate names, unknown
//! references, rules that do not fit a task type) is checked in `validate`, which reports every
//! mistake at once.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationFile {
    pub application: ApplicationHeader,
    #[serde(default)]
    pub metadata: Vec<MetadataEntry>,
    #[serde(default)]
    pub task_groups: Vec<TaskGroupEntry>,
    #[serde(default)]
    pub work_order_types: Vec<WorkOrderTypeEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationHeader {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGroupEntry {
    pub name: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub order: Option<i64>,
    #[serde(default)]
    pub examples: Vec<ExampleEntry>,
    #[serde(default)]
    pub checks: ChecksEntry,
    #[serde(default)]
    pub tasks: Vec<TaskEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleEntry {
    /// Path of the photo, relative to the application file.
    pub file: String,
    /// Which task value this photo shows, by task name (`{ equipment_after_intervention = true }`).
    #[serde(default)]
    pub values: toml::Table,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksEntry {
    pub resolution: Option<ResolutionEntry>,
    pub blur: Option<BlurEntry>,
    pub exposure: Option<ExposureEntry>,
    pub duplicate: Option<DuplicateEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionEntry {
    pub min_width: u32,
    pub min_height: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlurEntry {
    pub min_sharpness: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureEntry {
    pub min_brightness: f64,
    pub max_brightness: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateEntry {
    pub max_distance: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "yes")]
    pub counts_in_score: bool,
    #[serde(default)]
    pub only_for_dashboard: bool,
    /// The allowed values of an `Enum` task.
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub conform: ConformEntry,
    /// How the value is computed from a photo.
    pub computed_by: Option<BindingEntry>,
}

/// `computed_by = { model = "...", output = "...", rule = "...", ... }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingEntry {
    pub model: String,
    pub output: String,
    pub rule: String,
    pub class: Option<usize>,
    pub threshold: Option<f64>,
    pub classes: Option<Vec<String>>,
    pub min_confidence: Option<f64>,
}

fn yes() -> bool {
    true
}

/// Which values of a task are conform. Which keys make sense depends on the task type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConformEntry {
    pub equals: Option<bool>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub one_of: Option<Vec<String>>,
    pub not_empty: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderTypeEntry {
    pub name: String,
    #[serde(default)]
    pub task_groups: Vec<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
}
