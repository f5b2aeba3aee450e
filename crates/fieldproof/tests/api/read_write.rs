//! Retrieve, update and delete of one work order, in both path forms.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn path(wo: &Value) -> String {
    format!("/v0.2/work-orders/{}/", wo["id"].as_str().unwrap())
}

#[tokio::test]
async fn retrieve_in_both_forms_and_include_inputs() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "r", "tags": ["t"]})).await;
    for p in both_forms(&path(&wo)) {
        let r = app.call(Method::GET, &p, None).await;
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.body, wo, "retrieve returns what create returned");
    }
    let r = app
        .call(
            Method::GET,
            &format!("{}?include_inputs=false", path(&wo)),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("inputs").is_none());
    let r = app
        .call(
            Method::GET,
            &format!("{}?include_inputs=true", path(&wo)),
            None,
        )
        .await;
    assert_eq!(r.body["inputs"], json!([]));
    let r = app
        .call(
            Method::GET,
            &format!("{}?include_inputs=maybe", path(&wo)),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"include_inputs": ["Must be true or false."]})
    );
}

#[tokio::test]
async fn unknown_ids_are_work_order_not_found_on_every_verb() {
    let app = spawn_app().await;
    let not_found = json!({"detail": "WorkOrder not found!"});
    for id in [
        "7b0a0b8e-3f43-4d55-9d0e-6c0a4b9f2a11",
        "not-a-uuid",
        "1",
        "%00",
    ] {
        for p in both_forms(&format!("/v0.2/work-orders/{id}/")) {
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"name": "x"}))),
                (Method::DELETE, None),
            ] {
                let r = app.call(method.clone(), &p, body).await;
                assert_eq!(r.status, 404, "{method} {p}");
                assert_eq!(r.body, not_found, "{method} {p}");
            }
        }
    }
}

#[tokio::test]
async fn update_replaces_given_fields_and_moves_update_date() {
    let app = spawn_app().await;
    let wo = app
        .create(json!({
            "name": "u", "tags": ["a", "b"], "metadata": {"region": "North", "x": 1},
            "field_engineer_email": "john.doe@example.com", "work_order_types": ["maintenance"]
        }))
        .await;
    for (i, p) in both_forms(&path(&wo)).into_iter().enumerate() {
        let r = app
            .call(
                Method::PATCH,
                &p,
                Some(json!({"tags": [format!("c{i}")], "metadata": {"region": "South"}})),
            )
            .await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert_eq!(
            r.body["tags"],
            json!([format!("c{i}")]),
            "tags are replaced whole"
        );
        assert_eq!(
            r.body["metadata"],
            json!({"region": "South"}),
            "metadata is replaced whole"
        );
        assert_eq!(r.body["name"], "u", "absent fields are kept");
        assert_eq!(r.body["field_engineer_name"], "John Doe");
        assert_eq!(r.body["create_date"], wo["create_date"]);
        assert!(r.body["update_date"].as_str() > wo["update_date"].as_str());
    }
    let before = app.call(Method::GET, &path(&wo), None).await.body;
    let r = app
        .call(
            Method::PATCH,
            &path(&wo),
            Some(json!({"name": "renamed", "field_engineer_email": "richard.roe@example.com", "work_order_types": ["installation"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "renamed");
    assert_eq!(r.body["field_engineer_email"], "richard.roe@example.com");
    assert_eq!(r.body["field_engineer_name"], "Richard Roe");
    assert_eq!(
        r.body["tasks"].as_array().unwrap().len(),
        3,
        "types re-filter the tasks"
    );
    assert_eq!(r.body["types"][0]["name"], "installation");
    assert!(r.body["update_date"].as_str() > before["update_date"].as_str());
    // An empty update is still an update.
    let r2 = app.call(Method::PATCH, &path(&wo), Some(json!({}))).await;
    assert_eq!(r2.status, 200);
    assert!(r2.body["update_date"].as_str() > r.body["update_date"].as_str());
    let r3 = app
        .call(
            Method::PATCH,
            &path(&wo),
            Some(json!({"field_engineer_email": null})),
        )
        .await;
    assert_eq!(r3.body["field_engineer_email"], Value::Null);
    assert_eq!(r3.body["field_engineer_name"], Value::Null);
    assert_eq!(r3.body["assigned_user_id"], Value::Null);
}

#[tokio::test]
async fn update_errors_use_the_serialization_shape_and_change_nothing() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "v", "tags": ["keep"]})).await;
    let cases = [
        (
            json!({"field_engineer_email": "richard.roe@deepomatic.com"}),
            json!({"error": "Serialization error", "detail": {"field_engineer_email": "There is no user with this email."}}),
        ),
        (
            json!({"name": "bad name!", "tags": ["ok"]}),
            json!({"error": "Serialization error", "detail": {"name": "Only letters, numbers, underscores and hyphens are accepted; found ' '."}}),
        ),
        (
            json!({"metadata": "x"}),
            json!({"error": "Serialization error", "detail": {"metadata": "The metadata must be a key-value object, got a string."}}),
        ),
        (
            json!({"work_order_types": ["nope"]}),
            json!({"error": "Serialization error", "detail": {"work_order_types": "There is no work order type named \"nope\". Known types: maintenance, one-equipment, installation."}}),
        ),
    ];
    for (body, expected) in cases {
        let r = app
            .call(Method::PATCH, &path(&wo), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body, expected, "{body}");
    }
    let now = app.call(Method::GET, &path(&wo), None).await.body;
    assert_eq!(now, wo, "refused updates leave the work order as it was");
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let app = spawn_app().await;
    for p in both_forms("/v0.2/work-orders/") {
        let wo = app.create(wo("d")).await;
        let target = if p.ends_with('/') {
            path(&wo)
        } else {
            path(&wo).trim_end_matches('/').to_string()
        };
        let r = app.call(Method::DELETE, &target, None).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.body, Value::Null, "204 has an empty body");
        let again = app.call(Method::DELETE, &target, None).await;
        assert_eq!(
            (again.status, again.body),
            (404, json!({"detail": "WorkOrder not found!"}))
        );
        let get = app.call(Method::GET, &target, None).await;
        assert_eq!(get.status, 404);
    }
    let (count, _) = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// The `Server-Timing` metrics of an answer, by name, in milliseconds.
fn timing(r: &Reply) -> std::collections::HashMap<String, f64> {
    let value = r.headers["server-timing"].to_str().unwrap();
    value
        .split(',')
        .map(|m| {
            let (name, dur) = m.trim().split_once(";dur=").expect("name;dur=ms");
            (name.to_string(), dur.parse().expect("milliseconds"))
        })
        .collect()
}

#[tokio::test]
async fn answers_say_where_the_server_spent_its_time() {
    let app = spawn_app().await;
    let created = app
        .call(
            Method::POST,
            "/v0.2/work-orders/",
            Some(json!({"name": "timed"})),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    let read = app
        .call(Method::GET, &format!("/v0.2/work-orders/{id}/"), None)
        .await;
    let missing = app.call(Method::GET, "/v0.2/nowhere/", None).await;
    assert_eq!(missing.status, 404);
    let (write, read, missing) = (timing(&created), timing(&read), timing(&missing));
    // A route that touches no store says only the whole.
    assert_eq!(missing.keys().collect::<Vec<_>>(), ["app"]);
    if std::env::var("FIELDPROOF_TEST_ENGINE").as_deref() == Ok("postgres") {
        // The PostgreSQL store does not report its share.
        assert_eq!(write.keys().collect::<Vec<_>>(), ["app"]);
        return;
    }
    // The write waited for its commit, which is part of the store's time, which is part of
    // the whole.
    assert!(write["db-commit"] > 0.0, "{write:?}");
    assert!(
        write["db-queue"] + write["db-commit"] <= write["db"] + 1e-3,
        "{write:?}"
    );
    assert!(write["db"] <= write["app"] + 1e-3, "{write:?}");
    // A read awaits the store but commits nothing.
    assert!(
        read["db"] > 0.0 && read["db"] <= read["app"] + 1e-3,
        "{read:?}"
    );
    assert!(!read.contains_key("db-commit"), "{read:?}");
}
