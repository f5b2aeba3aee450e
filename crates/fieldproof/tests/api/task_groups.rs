//! `GET /v0.2/task-groups/` and `GET /v0.2/task-groups/{name}/`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn lists_and_retrieves_by_name_in_both_forms() {
    let app = spawn_app().await;
    for p in both_forms("/v0.2/task-groups/") {
        let r = app.call(Method::GET, &p, None).await;
        assert_eq!(r.status, 200);
        let groups = r.body.as_array().unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "equipment-before-intervention",
                "equipment-after-intervention"
            ]
        );
        for k in [
            "id",
            "name",
            "display_name",
            "description",
            "order",
            "input_examples",
            "tasks",
        ] {
            assert!(groups[0].get(k).is_some(), "{k}");
        }
    }
    for p in both_forms("/v0.2/task-groups/equipment-after-intervention/") {
        let r = app.call(Method::GET, &p, None).await;
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.body["display_name"], "Equipment after intervention");
        assert_eq!(r.body["order"], 1);
        let tasks = r.body["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2);
        let count = &tasks[1];
        assert_eq!(count["name"], "equipment_after_intervention_degradations");
        assert_eq!(count["type"], "Number");
        assert_eq!(count["only_for_dashboard"], false);
        assert_eq!(count["conformity_status"], true);
        assert_eq!(
            count["conform_when"]["description"],
            "the value is at most 0"
        );
    }
    for p in both_forms("/v0.2/task-groups/nope/") {
        let r = app.call(Method::GET, &p, None).await;
        assert_eq!((r.status, r.body), (404, json!({"detail": "Not found."})));
    }
}

#[tokio::test]
async fn task_groups_need_a_key() {
    let app = spawn_app().await;
    let r = send(app.client.get(app.url("/v0.2/task-groups/"))).await;
    assert_eq!(
        (r.status, r.body),
        (
            401,
            json!({"detail": "Authentication credentials not provided."})
        )
    );
}
