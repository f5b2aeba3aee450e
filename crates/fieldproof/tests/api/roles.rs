//! Every route with every role, from the route table: a role the table forbids gets 403 with the
//! exact body; a role it allows is never refused. A new route joins this sweep by itself; a route
//! whose path parameters the sweep cannot fill fails it, asking to be taught.

use fieldproof_domain::role::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::analyze::{body, data_uri, demo_photo};
use crate::helpers::*;

/// A request for `spec` on fresh objects: the path with its parameters filled, and a body.
async fn request_for(
    app: &TestApp,
    spec: &fieldproof_api::RouteSpec,
    input: &(String, String),
) -> (String, Option<Value>) {
    let wo = app.create(json!({"name": "role-sweep"})).await;
    let wo_id = wo["id"].as_str().unwrap().to_string();
    let mut path = spec.path.to_string();
    for (param, value) in [
        (
            "{id}",
            if spec.path.contains("{input_id}") {
                input.0.clone()
            } else {
                wo_id.clone()
            },
        ),
        ("{input_id}", input.1.clone()),
        ("{task_id}", "equipment_after_intervention".to_string()),
        ("{name}", "equipment-after-intervention".to_string()),
        ("{index}", "0".to_string()),
    ] {
        path = path.replace(param, &value);
    }
    assert!(
        !path.contains('{'),
        "the role sweep does not know how to fill the parameters of {} {}: teach it in tests/api/roles.rs",
        spec.method,
        spec.path
    );
    let body = match (spec.method.as_str(), spec.path) {
        ("POST", "/v0.2/work-orders") => Some(json!({"name": "made-by-role"})),
        ("PATCH", "/v0.2/work-orders/{id}") => Some(json!({"tags": ["by-role"]})),
        ("POST", p) if p.ends_with("/analyze") => Some(body(
            &data_uri(&demo_photo("after"), "image/jpeg"),
            "equipment-after-intervention",
        )),
        ("PATCH", p) if p.ends_with("/correction") => Some(json!({"corrected_value": true})),
        _ => None,
    };
    (format!("{path}/"), body)
}

#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let app = spawn_app().await;
    // A work order with a stored input, for the routes that read one.
    let wo = app.create(json!({"name": "with-input"})).await;
    let wo_id = wo["id"].as_str().unwrap().to_string();
    let r = app
        .call(
            Method::POST,
            &format!("/v0.2/work-orders/{wo_id}/analyze/"),
            Some(body(
                &data_uri(&demo_photo("before"), "image/jpeg"),
                "equipment-after-intervention",
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let input = (wo_id, r.body["input_id"].as_str().unwrap().to_string());
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, app.key_for(&app.site, role).await));
    }
    let mut checked = 0;
    for spec in fieldproof_api::routes() {
        let Some(action) = spec.action else { continue };
        for (role, key) in &keys {
            let (path, body) = request_for(&app, &spec, &input).await;
            // Raw: some routes answer with a photo, not JSON.
            let mut req = app
                .client
                .request(spec.method.clone(), app.url(&path))
                .header("Authorization", format!("Token {key}"))
                .header("Content-Type", "application/json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap();
            if role.allows(action) {
                assert!(
                    status < 300,
                    "{role} on {} {path}: {status} {}",
                    spec.method,
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                );
            } else {
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(
                    (status, &body),
                    (403, &forbidden),
                    "{role} must not {} {}",
                    spec.method,
                    spec.path
                );
            }
            checked += 1;
        }
    }
    println!("role sweep: {checked} route × role pairs checked");
    assert!(checked >= 60);
}
