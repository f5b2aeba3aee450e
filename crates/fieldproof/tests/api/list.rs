//! `GET /v0.2/work-orders/`: envelope, order, pagination and every filter.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn names(r: &Value) -> Vec<String> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Reply {
    app.call(Method::GET, &format!("/v0.2/work-orders/{query}"), None)
        .await
}

#[tokio::test]
async fn envelope_order_and_pagination() {
    let app = spawn_app().await;
    for i in 0..45 {
        app.create(json!({"name": format!("wo-{i:02}")})).await;
    }
    for p in both_forms("/v0.2/work-orders/") {
        let r = app.call(Method::GET, &p, None).await;
        assert_eq!(r.status, 200);
        let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["count", "next", "previous", "results"]);
        assert_eq!(r.body["count"], 45);
        assert_eq!(r.body["previous"], Value::Null);
        assert_eq!(names(&r.body).len(), 20, "default page size");
        assert_eq!(names(&r.body)[0], "wo-44", "newest first");
        assert!(
            r.body["results"][0].get("inputs").is_none(),
            "list results carry no inputs"
        );
    }
    let first = list(&app, "?page_size=20").await.body;
    let next = first["next"].as_str().unwrap().to_string();
    assert!(next.starts_with(&app.base), "{next}");
    assert!(
        next.contains("page=2") && next.contains("page_size=20"),
        "{next}"
    );
    let second = send(
        app.client
            .get(&next)
            .header("Authorization", format!("Token {}", app.key)),
    )
    .await
    .body;
    assert_eq!(names(&second)[0], "wo-24");
    let third = send(
        app.client
            .get(second["next"].as_str().unwrap())
            .header("Authorization", format!("Token {}", app.key)),
    )
    .await
    .body;
    assert_eq!(names(&third).len(), 5);
    assert_eq!(third["next"], Value::Null);
    assert!(third["previous"].as_str().unwrap().contains("page=2"));
    // Every work order exactly once across the pages.
    let mut all: Vec<String> = [first, second, third].iter().flat_map(names).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 45);

    let big = list(&app, "?page_size=100").await.body;
    assert_eq!(names(&big).len(), 45);
    let r = list(&app, "?page_size=101").await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!({"page_size": ["At most 100 work orders per page."]})
        )
    );
    let r = list(&app, "?page=0").await;
    assert_eq!(
        (r.status, r.body),
        (
            400,
            json!({"page": ["A positive whole number is required."]})
        )
    );
    let r = list(&app, "?page=abc&page_size=-1").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body.as_object().unwrap().len(), 2);
    let r = list(&app, "?page=4").await;
    assert_eq!(
        (r.status, r.body),
        (404, json!({"detail": "Invalid page."}))
    );
}

#[tokio::test]
async fn an_empty_site_lists_nothing() {
    let app = spawn_app().await;
    let r = list(&app, "").await;
    assert_eq!(
        r.body,
        json!({"count": 0, "next": null, "previous": null, "results": []})
    );
}

#[tokio::test]
async fn every_filter_narrows_the_list() {
    let app = spawn_app().await;
    let a = app
        .create(json!({"name": "alpha", "tags": ["north", "urgent"], "metadata": {"region": "North", "floors": 3, "ok": true},
                       "field_engineer_email": "john.doe@example.com", "work_order_types": ["maintenance"]}))
        .await;
    let b = app
        .create(json!({"name": "bravo", "tags": ["north"], "metadata": {"region": "South"},
                       "field_engineer_email": "richard.roe@example.com", "work_order_types": ["installation"]}))
        .await;
    let c = app
        .create(json!({"name": "alpha", "tags": ["urgent"]}))
        .await;
    let cases: Vec<(&str, Vec<&Value>)> = vec![
        ("?name=alpha", vec![&c, &a]),
        ("?tag=north", vec![&b, &a]),
        ("?tag=north&tag=urgent", vec![&a]),
        ("?tag=missing", vec![]),
        ("?type=installation", vec![&b]),
        ("?type=maintenance", vec![&a]),
        ("?field_engineer_email=RICHARD.ROE@example.com", vec![&b]),
        ("?metadata.region=North", vec![&a]),
        ("?metadata.floors=3", vec![&a]),
        ("?metadata.ok=true", vec![&a]),
        (
            "?metadata.region=North&tag=north&type=maintenance&name=alpha",
            vec![&a],
        ),
        ("?metadata.region=North&metadata.floors=4", vec![]),
        ("?reviewed=false", vec![&c, &b, &a]),
        ("?reviewed=true", vec![]),
        ("?min_progress=0&max_progress=0", vec![&c, &b, &a]),
        ("?min_progress=50", vec![]),
        ("?unknown_param=1", vec![&c, &b, &a]),
    ];
    for (q, expected) in cases {
        let r = list(&app, q).await;
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        let ids: Vec<&Value> = r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| &w["id"])
            .collect();
        let want: Vec<&Value> = expected.iter().map(|w| &w["id"]).collect();
        assert_eq!(ids, want, "{q}");
        assert_eq!(r.body["count"], want.len(), "{q}");
    }
    // Time filters, strict on both sides.
    let t = |v: &Value| v["create_date"].as_str().unwrap().to_string();
    let r = list(&app, &format!("?created_after={}", t(&a))).await;
    assert_eq!(r.body["count"], 2, "created_after is strict");
    let r = list(&app, &format!("?created_before={}", t(&c))).await;
    assert_eq!(r.body["count"], 2, "created_before is strict");
    let r = list(
        &app,
        &format!("?created_after={}&created_before={}", t(&a), t(&c)),
    )
    .await;
    assert_eq!(names(&r.body), ["bravo"]);
    let r = list(&app, "?created_after=2000-01-01").await;
    assert_eq!(r.body["count"], 3);
    let r = list(&app, "?created_before=2000-01-01").await;
    assert_eq!(r.body["count"], 0);
}

#[tokio::test]
async fn bad_filter_values_are_400_keyed_by_parameter() {
    let app = spawn_app().await;
    let r = list(
        &app,
        "?created_after=yesterday&reviewed=perhaps&min_progress=200&max_progress=x&metadata.=1",
    )
    .await;
    assert_eq!(r.status, 400);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_after",
            "max_progress",
            "metadata.",
            "min_progress",
            "reviewed"
        ]
    );
}
