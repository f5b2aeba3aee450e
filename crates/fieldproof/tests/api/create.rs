//! `POST /v0.2/work-orders/`: the representation, activation by types, validation errors and
//! `Idempotency-Key`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn is_iso_micros(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.'
}

fn task_names(wo: &Value) -> Vec<String> {
    wo["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_returns_the_documented_representation() {
    let app = spawn_app().await;
    let wo = app
        .create(json!({
            "name": "work-order",
            "metadata": {"region": "North", "intervention_date": "05-29-2023", "created_with": "api"},
            "tags": ["group-1", "group-2"],
            "field_engineer_email": "John.Doe@example.com",
            "work_order_types": ["one-equipment", "maintenance"],
            // Server-owned fields are never taken from a request.
            "id": "00000000-0000-0000-0000-000000000000",
            "site_id": "nope", "progress_score": 100, "tasks": [], "review_date": "2020-01-01"
        }))
        .await;
    let keys = [
        "id",
        "name",
        "site_id",
        "app_version_id",
        "engage_app_id",
        "progress_score",
        "review_date",
        "create_date",
        "update_date",
        "tags",
        "parameters",
        "metadata",
        "types",
        "field_engineer_email",
        "field_engineer_name",
        "assigned_user_id",
        "user_group_ids",
        "first_analysis_id",
        "latest_analysis_id",
        "tasks",
        "task_groups",
        "inputs",
    ];
    for k in keys {
        assert!(wo.get(k).is_some(), "missing key {k} in {wo}");
    }
    assert_eq!(wo.as_object().unwrap().len(), keys.len(), "{wo}");
    assert_ne!(wo["id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(wo["site_id"], app.site.id.to_string());
    assert_eq!(wo["name"], "work-order");
    assert_eq!(wo["progress_score"], 0);
    assert_eq!(wo["review_date"], Value::Null);
    assert!(is_iso_micros(&wo["create_date"]), "{}", wo["create_date"]);
    assert_eq!(wo["create_date"], wo["update_date"]);
    assert_eq!(wo["tags"], json!(["group-1", "group-2"]));
    assert_eq!(wo["parameters"], Value::Null);
    assert_eq!(wo["metadata"]["created_with"], "api");
    assert_eq!(wo["field_engineer_email"], "john.doe@example.com");
    assert_eq!(wo["field_engineer_name"], "John Doe");
    assert!(wo["assigned_user_id"].is_string());
    assert_eq!(wo["user_group_ids"], json!([]));
    assert_eq!(wo["inputs"], json!([]));
    let types: Vec<&str> = wo["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["one-equipment", "maintenance"]);
    assert!(wo["types"][0]["id"].is_string());
    assert_eq!(
        task_names(&wo),
        [
            "equipment_after_intervention",
            "equipment_after_intervention_degradations"
        ]
    );
    let task = &wo["tasks"][0];
    for k in [
        "id",
        "name",
        "label",
        "type",
        "group_id",
        "group_name",
        "state",
    ] {
        assert!(task.get(k).is_some(), "task key {k}");
    }
    assert_eq!(task["state"], Value::Null);
    assert_eq!(
        task["label"],
        "Is it a photo of the equipment after intervention?"
    );
    assert_eq!(wo["tasks"][1]["type"], "Number");
    assert_eq!(
        wo["task_groups"],
        json!([{
            "id": task["group_id"], "name": "equipment-after-intervention",
            "display_name": "Equipment after intervention", "order": 1
        }])
    );
}

#[tokio::test]
async fn types_activate_tasks_and_no_type_activates_all() {
    let app = spawn_app().await;
    let all = app.create(wo("a")).await;
    assert_eq!(task_names(&all).len(), 3);
    assert_eq!(all["task_groups"].as_array().unwrap().len(), 2);
    let install = app
        .create(json!({"name": "b", "work_order_types": ["installation"]}))
        .await;
    assert_eq!(task_names(&install).len(), 3);
    let maint = app
        .create(json!({"name": "c", "work_order_types": ["maintenance"]}))
        .await;
    assert_eq!(task_names(&maint).len(), 2);
    let none = app
        .create(json!({"name": "d", "work_order_types": []}))
        .await;
    assert_eq!(
        task_names(&none).len(),
        3,
        "an empty list of types filters nothing"
    );
}

#[tokio::test]
async fn both_path_forms_create() {
    let app = spawn_app().await;
    for path in both_forms("/v0.2/work-orders/") {
        let r = app.call(Method::POST, &path, Some(wo("x"))).await;
        assert_eq!(r.status, 201, "{path}: {}", r.body);
        assert!(r.headers.get("location").is_none() || r.status == 201);
    }
}

async fn expect_400(app: &TestApp, body: Value, expected: Value) {
    let before = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 1)
        .await
        .unwrap()
        .0;
    let r = app
        .call(Method::POST, "/v0.2/work-orders/", Some(body.clone()))
        .await;
    assert_eq!(r.status, 400, "{body} → {}", r.body);
    assert_eq!(r.body, expected, "for {body}");
    let after = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 1)
        .await
        .unwrap()
        .0;
    assert_eq!(before, after, "a refused create writes nothing");
}

#[tokio::test]
async fn validation_errors_are_keyed_by_field() {
    let app = spawn_app().await;
    expect_400(
        &app,
        json!({}),
        json!({"name": ["Field 'name' is missing. This field is required."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": ""}),
        json!({"name": ["This field may not be blank."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "x".repeat(129)}),
        json!({"name": ["Ensure this field has no more than 128 characters."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "has space"}),
        json!({"name": ["Only letters, numbers, underscores and hyphens are accepted; found ' '."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": 12}),
        json!({"name": ["Expected a string, got a number."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "metadata": ["region", "North"]}),
        json!({"metadata": ["The metadata must be a key-value object, got a list."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "tags": "urgent"}),
        json!({"tags": ["Expected a list of strings, got a string."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "tags": ["a", 3]}),
        json!({"tags": ["Expected a list of strings; one item is a number."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "metadata": {"region": 3}}),
        json!({"metadata": ["Key 'region' must be a text value, got a number."]}),
    )
    .await;
    // Several fields at once.
    let r = app
        .call(
            Method::POST,
            "/v0.2/work-orders/",
            Some(json!({"tags": 1, "user_group_ids": "g"})),
        )
        .await;
    assert_eq!(r.status, 400);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "tags", "user_group_ids"]);
}

#[tokio::test]
async fn unknown_references_are_reported_under_detail() {
    let app = spawn_app().await;
    expect_400(
        &app,
        json!({"name": "ok", "field_engineer_email": "nobody@example.com"}),
        json!({"detail": {"field_engineer_email": "There is no user with this email."}}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "user_group_ids": ["not-a-group"]}),
        json!({"detail": {"user_group_ids": "There is no user group with id \"not-a-group\"."}}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "work_order_types": ["maintenance", "repair"]}),
        json!({"detail": {"work_order_types": "There is no work order type named \"repair\". Known types: maintenance, one-equipment, installation."}}),
    )
    .await;
}

#[tokio::test]
async fn user_groups_of_the_site_are_accepted() {
    let app = spawn_app().await;
    let group = app
        .store
        .create_group(fieldproof_store::UserGroup {
            id: uuid::Uuid::new_v4(),
            site_id: app.site.id,
            name: "north-team".into(),
            create_date: 0,
        })
        .await
        .unwrap();
    let wo = app
        .create(json!({"name": "g", "user_group_ids": [group.id.to_string()]}))
        .await;
    assert_eq!(wo["user_group_ids"], json!([group.id.to_string()]));
}

const REQUIRED_METADATA_APP: &str = r#"
[application]
name = "strict"
[[metadata]]
name = "region"
type = "text"
required = true
[[metadata]]
name = "floors"
type = "number"
[[task_groups]]
name = "front"
[[task_groups.tasks]]
name = "front_ok"
label = "Front OK?"
type = "Boolean"
"#;

#[tokio::test]
async fn required_metadata_is_enforced_with_the_documented_message() {
    let app = spawn_app().await;
    let old = app.create(wo("before-upgrade")).await;
    app.publish_app(REQUIRED_METADATA_APP).await;
    expect_400(
        &app,
        json!({"name": "ok"}),
        json!({"metadata": ["Field 'metadata' is missing. This field is required."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "metadata": {"floors": 2}}),
        json!({"metadata": ["Key 'region' is required."]}),
    )
    .await;
    expect_400(
        &app,
        json!({"name": "ok", "metadata": {"region": "North", "floors": "two"}}),
        json!({"metadata": ["Key 'floors' must be a number value, got a string."]}),
    )
    .await;
    let new = app
        .create(json!({"name": "ok", "metadata": {"region": "North", "floors": 2}}))
        .await;
    assert_ne!(
        new["app_version_id"], old["app_version_id"],
        "new work orders use the new version"
    );
    assert_eq!(task_names(&new), ["front_ok"]);
    // The old work order stays on its version, tasks and ids included.
    let again = app
        .call(
            Method::GET,
            &format!("/v0.2/work-orders/{}/", old["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(again.body["app_version_id"], old["app_version_id"]);
    assert_eq!(again.body["tasks"], old["tasks"]);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_app().await;
    let send = |body: Value, key: &'static str| {
        let req = app
            .client
            .post(app.url("/v0.2/work-orders/"))
            .header("Authorization", format!("Token {}", app.key))
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .body(body.to_string());
        send(req)
    };
    let first = send(json!({"name": "once", "tags": ["a"]}), "k-1").await;
    assert_eq!(first.status, 201);
    // Same body, keys in another order: the same request.
    let again = send(json!({"tags": ["a"], "name": "once"}), "k-1").await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    let other = send(json!({"name": "other"}), "k-1").await;
    assert_eq!(other.status, 409);
    assert!(other.body["detail"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    let (count, _) = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 1, "a replay creates nothing");
    let fresh = send(json!({"name": "once", "tags": ["a"]}), "k-2").await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.body["id"], first.body["id"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_work_order() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let req = app
            .client
            .post(app.url("/v0.2/work-orders/"))
            .header("Authorization", format!("Token {}", app.key))
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", "burst")
            .body(json!({"name": "burst"}).to_string());
        tasks.push(tokio::spawn(send(req)));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201);
        ids.insert(r.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1);
    let (count, _) = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
