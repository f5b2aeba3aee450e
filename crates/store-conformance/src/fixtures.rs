//! Rows the checks write, built in code, and the assertions they share.
//!
//! Ids are generated here (the store's callers generate them); times are microseconds, counted
//! from [`T0`] so that every check's times are distinct and readable in failure messages.

use std::fmt::Debug;
use std::sync::Arc;

use fieldproof_domain::app::{parse_and_validate, AppVersion};
use fieldproof_domain::role::Role;
use fieldproof_store::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// 2023-11-14T22:13:20Z, in microseconds.
pub const T0: i64 = 1_700_000_000_000_000;

pub fn site(name: &str) -> Site {
    Site {
        id: Uuid::new_v4(),
        name: name.to_string(),
        current_app_version_id: None,
        create_date: T0,
    }
}

pub fn user(site: &Site, email: &str, role: Role) -> User {
    User {
        id: Uuid::new_v4(),
        site_id: site.id,
        email: email.to_string(),
        first_name: "Ada".into(),
        last_name: "Field".into(),
        role,
        create_date: T0 + 1,
    }
}

pub fn group(site: &Site, name: &str) -> UserGroup {
    UserGroup {
        id: Uuid::new_v4(),
        site_id: site.id,
        name: name.to_string(),
        create_date: T0 + 2,
    }
}

/// A key record with a hash unique to this call (the suite never needs the key itself).
pub fn key(user: &User, create_date: i64) -> ApiKey {
    let id = Uuid::new_v4();
    ApiKey {
        id,
        site_id: user.site_id,
        user_id: user.id,
        hash: format!("{:064x}", id.as_u128()),
        display_prefix: "fp_test_".into(),
        label: format!("key made at {create_date}"),
        create_date,
        revoked_date: None,
    }
}

/// A valid application version named `name`, with fresh ids: two task groups of counted tasks
/// (three computed by models, one set only by corrections) and two work-order types, like a small
/// real application.
pub fn app(name: &str) -> AppVersion {
    let text = format!(
        r#"
[application]
name = "{name}"
description = "The store conformance suite's application."

[[metadata]]
name = "region"
type = "text"

[[task_groups]]
name = "before"
display_name = "Before"
order = 0

[[task_groups.tasks]]
name = "before_ok"
label = "Is it the equipment before?"
type = "Boolean"
conform = {{ equals = true }}
computed_by = {{ model = "classifier", output = "logits", rule = "class_probability", class = 1 }}

[[task_groups]]
name = "after"
display_name = "After"
order = 1

[[task_groups.tasks]]
name = "after_ok"
label = "Is it the equipment after?"
type = "Boolean"
conform = {{ equals = true }}
computed_by = {{ model = "classifier", output = "logits", rule = "class_probability", class = 2 }}

[[task_groups.tasks]]
name = "after_damage"
label = "Number of degradations"
type = "Number"
conform = {{ max = 0 }}
computed_by = {{ model = "detector", output = "boxes", rule = "count" }}

# Set by a reviewer only: analyses leave it alone.
[[task_groups.tasks]]
name = "after_signed"
label = "Did the customer sign?"
type = "Boolean"
conform = {{ equals = true }}

[[work_order_types]]
name = "install"
task_groups = ["before", "after"]

[[work_order_types]]
name = "repair"
task_groups = ["after"]
"#
    );
    parse_and_validate(&text)
        .unwrap_or_else(|e| panic!("the suite's application is invalid: {e:?}"))
}

/// The object in a `json!` literal.
pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

/// Creates a site with a published application version.
pub async fn site_with_app(store: &Arc<dyn Store>, name: &str) -> (Site, Arc<AppVersion>) {
    let s = ok(store.create_site(site(name)).await, "create_site");
    let v = ok(
        store
            .publish_app_version(s.id, app("inspection"), T0 + 3)
            .await,
        "publish_app_version",
    );
    (s, v)
}

/// A work order with nothing optional set.
pub fn work_order(site: &Site, version: &AppVersion, name: &str, create_date: i64) -> WorkOrderRow {
    WorkOrderRow {
        id: Uuid::new_v4(),
        site_id: site.id,
        app_version_id: version.id,
        name: name.to_string(),
        metadata: Map::new(),
        tags: Vec::new(),
        parameters: None,
        types: Vec::new(),
        field_engineer: None,
        user_group_ids: Vec::new(),
        progress_score: 0.0,
        review_date: None,
        create_date,
        update_date: create_date,
        first_analysis_id: None,
        latest_analysis_id: None,
    }
}

pub fn engineer(email: &str) -> FieldEngineer {
    FieldEngineer {
        user_id: Uuid::new_v4(),
        email: email.to_string(),
        name: "Ada Field".into(),
    }
}

/// Stores a work order and checks that the store says it created it, as given.
pub async fn create(store: &Arc<dyn Store>, wo: &WorkOrderRow) {
    match ok(
        store.create_work_order(wo.clone(), None, None).await,
        "create_work_order",
    ) {
        CreateOutcome::Created(row) => {
            assert_eq!(&row, wo, "create_work_order must return the row")
        }
        other => panic!("create_work_order without an idempotency key answered {other:?}"),
    }
}

/// Sorts as listings must: newest first, the larger id first between equal dates.
pub fn newest_first(rows: &mut [WorkOrderRow]) {
    rows.sort_by_key(|w| std::cmp::Reverse((w.create_date, w.id)));
}

/// The whole list of a site's work orders matching `filter`.
pub async fn list_all(
    store: &Arc<dyn Store>,
    site: &Site,
    filter: &WorkOrderFilter,
) -> (u64, Vec<WorkOrderRow>) {
    ok(
        store.list_work_orders(site.id, filter, 0, 10_000).await,
        "list_work_orders",
    )
}

/// The value of an `Ok`, or a panic naming the call.
#[track_caller]
pub fn ok<T>(result: StoreResult<T>, call: &str) -> T {
    result.unwrap_or_else(|e| panic!("{call} failed: {e:?}"))
}

#[track_caller]
pub fn expect_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Checks the result is a `Conflict` whose message mentions `mentions` (the user must learn
/// what clashed), ignoring case.
#[track_caller]
pub fn expect_conflict<T: Debug>(result: StoreResult<T>, mentions: &str, what: &str) {
    match result {
        Err(StoreError::Conflict(message)) => assert!(
            message.to_lowercase().contains(&mentions.to_lowercase()),
            "{what}: the conflict message {message:?} should mention {mentions:?}"
        ),
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

/// An input and its analysis of `group` on `wo`, at `at`, with the given analysed values.
pub fn photo(wo: &WorkOrderRow, group: &str, values: Value, at: i64) -> (InputRow, AnalysisRow) {
    let (input_id, analysis_id) = (Uuid::new_v4(), Uuid::new_v4());
    let values: Map<String, Value> = values.as_object().expect("an object").clone();
    let status = if values.is_empty() {
        "conformity_error"
    } else {
        "analysis_ok"
    };
    let messages = if values.is_empty() {
        vec!["The photo is blurred.".to_string()]
    } else {
        vec![]
    };
    let input = InputRow {
        id: input_id,
        site_id: wo.site_id,
        work_order_id: wo.id,
        task_group_name: group.to_string(),
        kind: "image".into(),
        content_type: "image/jpeg".into(),
        blob_key: format!("inputs/{input_id}.jpg"),
        // Beyond i64: must come back bit for bit.
        size: u64::MAX - 1,
        sha256: format!("{:064x}", input_id.as_u128()),
        phash: Some(0xF0F0_0000_0000_0001),
        status: status.into(),
        conformity_messages: messages.clone(),
        analysis_id,
        create_date: at,
    };
    let analysis = AnalysisRow {
        id: analysis_id,
        site_id: wo.site_id,
        work_order_id: wo.id,
        input_id,
        task_group_name: group.to_string(),
        app_version_id: wo.app_version_id,
        user_id: Uuid::new_v4(),
        status: status.into(),
        conformity_messages: messages,
        values,
        details: json!({"sharpness": 120.5, "probabilities": [0.1, 0.9], "note": "ok"}),
        model_hashes: json!({"classifier": "ab12", "detector": "cd34"})
            .as_object()
            .expect("an object")
            .clone(),
        create_date: at,
    };
    (input, analysis)
}
