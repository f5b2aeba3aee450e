//! Sites never see each other's data: another site's work order is 404 on every verb and never
//! appears in a list; nothing it tries changes anything.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn another_sites_key_gets_404_and_never_sees_the_work_order() {
    let app = spawn_app().await;
    let (_, other_key) = app.add_site("other").await;
    let mine = app
        .create(json!({"name": "private", "tags": ["secret"], "metadata": {"region": "North"}}))
        .await;
    let theirs = app
        .call_as(
            &other_key,
            Method::POST,
            "/v0.2/work-orders/",
            Some(json!({"name": "theirs"})),
        )
        .await;
    assert_eq!(theirs.status, 201);
    let id = mine["id"].as_str().unwrap();
    let not_found = json!({"detail": "WorkOrder not found!"});
    for p in both_forms(&format!("/v0.2/work-orders/{id}/")) {
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"name": "stolen", "tags": []}))),
            (Method::DELETE, None),
        ] {
            let r = app.call_as(&other_key, method.clone(), &p, body).await;
            assert_eq!((r.status, &r.body), (404, &not_found), "{method} {p}");
        }
    }
    for q in [
        "",
        "?tag=secret",
        "?name=private",
        "?metadata.region=North",
        "?page_size=100",
    ] {
        let r = app
            .call_as(
                &other_key,
                Method::GET,
                &format!("/v0.2/work-orders/{q}"),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        let ids: Vec<&str> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap())
            .collect();
        assert!(!ids.contains(&id), "{q} leaked another site's work order");
        if !q.is_empty() && q != "?page_size=100" {
            assert_eq!(r.body["count"], 0, "{q}");
        }
    }
    // Untouched, and the owner still sees it as it was.
    let r = app
        .call(Method::GET, &format!("/v0.2/work-orders/{id}/"), None)
        .await;
    assert_eq!(r.body, mine);
    // And the other way round.
    let their_id = theirs.body["id"].as_str().unwrap();
    let r = app
        .call(Method::GET, &format!("/v0.2/work-orders/{their_id}/"), None)
        .await;
    assert_eq!(r.status, 404);
    let r = app.call(Method::GET, "/v0.2/work-orders/", None).await;
    assert_eq!(r.body["count"], 1);
}

#[tokio::test]
async fn task_groups_are_the_callers_sites() {
    let app = spawn_app().await;
    let (_, other_key) = app.add_site("other").await;
    let mine = app.call(Method::GET, "/v0.2/task-groups/", None).await.body;
    let theirs = app
        .call_as(&other_key, Method::GET, "/v0.2/task-groups/", None)
        .await
        .body;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_ne!(
        mine[0]["id"], theirs[0]["id"],
        "each site has its own version and ids"
    );
    assert_eq!(mine[0]["name"], theirs[0]["name"]);
    let by_id = app
        .call_as(
            &other_key,
            Method::GET,
            &format!("/v0.2/task-groups/{}/", mine[0]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        (by_id.status, by_id.body),
        (404, json!({"detail": "Not found."}))
    );
}

#[tokio::test]
async fn a_field_engineer_of_another_site_is_unknown() {
    let app = spawn_app().await;
    let (other, other_key) = app.add_site("other").await;
    let _ = other;
    // john.doe exists on the demo site only.
    let r = app
        .call_as(
            &other_key,
            Method::POST,
            "/v0.2/work-orders/",
            Some(json!({"name": "x", "field_engineer_email": "john.doe@example.com"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!({"detail": {"field_engineer_email": "There is no user with this email."}})
        )
    );
}
