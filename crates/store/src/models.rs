//! The rows the store reads and writes.

use std::collections::HashMap;

use fieldproof_domain::role::Role;
use fieldproof_domain::score::TaskState;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: Uuid,
    pub name: String,
    pub current_app_version_id: Option<Uuid>,
    pub create_date: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub site_id: Uuid,
    /// Stored lower-cased: emails are matched without regard to case.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    pub create_date: i64,
}

impl User {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserGroup {
    pub id: Uuid,
    pub site_id: Uuid,
    pub name: String,
    pub create_date: i64,
}

/// An API key as stored: its hash, never the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub site_id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
    /// The first characters of the key, to recognise it in listings.
    pub display_prefix: String,
    pub label: String,
    pub create_date: i64,
    pub revoked_date: Option<i64>,
}

/// Who is calling: the key, its user and the user's role on the key's site.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub key_id: Uuid,
    pub site_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    /// The site's current application version when the key was checked, read with it: a create
    /// needs it, and reading both at once saves the request a second trip to the store (the
    /// version itself is cached by id, see `Store::app_version`).
    pub current_app_version_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppVersionSummary {
    pub id: Uuid,
    pub app_name: String,
    pub version: u32,
    pub create_date: i64,
    pub is_current: bool,
}

/// The field engineer assigned to a work order, copied from the user at assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldEngineer {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkOrderRow {
    pub id: Uuid,
    pub site_id: Uuid,
    pub app_version_id: Uuid,
    pub name: String,
    pub metadata: Map<String, Value>,
    pub tags: Vec<String>,
    /// Legacy `parameters` object (old-style batch folders); `None` otherwise.
    pub parameters: Option<Value>,
    /// Work-order type names (names are stable; the version gives their ids).
    pub types: Vec<String>,
    pub field_engineer: Option<FieldEngineer>,
    pub user_group_ids: Vec<Uuid>,
    pub progress_score: f64,
    pub review_date: Option<i64>,
    pub create_date: i64,
    pub update_date: i64,
    pub first_analysis_id: Option<Uuid>,
    pub latest_analysis_id: Option<Uuid>,
}

/// The fields an update replaces; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkOrderChanges {
    pub name: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
    /// `Some(None)` unassigns the field engineer.
    pub field_engineer: Option<Option<FieldEngineer>>,
    pub user_group_ids: Option<Vec<Uuid>>,
    pub types: Option<Vec<String>>,
    /// The time of the update; the stored `update_date` becomes at least one microsecond later
    /// than the previous one even if the clock went back.
    pub now: i64,
}

/// The list filters of `GET /v0.2/work-orders/`; every given filter must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkOrderFilter {
    pub name: Option<String>,
    /// Every tag listed must be on the work order.
    pub tags: Vec<String>,
    pub type_name: Option<String>,
    pub field_engineer_email: Option<String>,
    /// `(key, value)`: the metadata key's value, as text (see `metadata::index_text`), equals.
    pub metadata: Vec<(String, String)>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    pub reviewed: Option<bool>,
    pub min_progress: Option<f64>,
    pub max_progress: Option<f64>,
}

/// What a create stored under an `Idempotency-Key`: a hash of the request and the answer given.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub create_date: i64,
}

/// Returned once per create and never kept in collections, so the size gap between the variants
/// costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(WorkOrderRow),
    /// The idempotency key was used before; nothing was written.
    Replayed(IdempotencyRecord),
}

pub type TaskStates = HashMap<String, TaskState>;

/// One photo or PDF received for analysis, as stored (the file itself is in the blob store).
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    pub id: Uuid,
    pub site_id: Uuid,
    pub work_order_id: Uuid,
    pub task_group_name: String,
    /// `image` or `pdf`.
    pub kind: String,
    pub content_type: String,
    /// Where the file is in the blob store.
    pub blob_key: String,
    pub size: u64,
    pub sha256: String,
    /// 64-bit perceptual hash of the photo, for the duplicate check.
    pub phash: Option<u64>,
    /// `analysis_ok`, `analysis_ko` or `conformity_error`.
    pub status: String,
    pub conformity_messages: Vec<String>,
    /// The analysis this input was received with.
    pub analysis_id: Uuid,
    pub create_date: i64,
}

/// One analysis: who ran what, with which version and models, and what came out.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRow {
    pub id: Uuid,
    pub site_id: Uuid,
    pub work_order_id: Uuid,
    pub input_id: Uuid,
    pub task_group_name: String,
    pub app_version_id: Uuid,
    pub user_id: Uuid,
    pub status: String,
    pub conformity_messages: Vec<String>,
    /// Task name → analysed value (`null`: the model could not decide). Empty when data
    /// conformity failed.
    pub values: Map<String, Value>,
    /// Measures and raw outputs kept for audit (sharpness, brightness, similarities, ...).
    pub details: Value,
    /// Model name → sha256 of the file that produced the values.
    pub model_hashes: Map<String, Value>,
    pub create_date: i64,
}
