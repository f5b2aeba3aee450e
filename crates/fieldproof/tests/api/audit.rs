//! The audit trail: every change through the API and the command line leaves its event, with the
//! right actor, readable by administrators only and only on their own site; a deleted work order
//! keeps its history; a change made through the API (a work order's, an analysis, a correction,
//! a review) and its event commit together, while the command line's changes stand even when
//! their event cannot be recorded.

use fieldproof::admin::{self, AdminCommand, GroupCommand, KeyCommand};
use fieldproof_api::extract::key_hash;
use fieldproof_domain::role::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::analyze::{body, data_uri, demo_photo};
use crate::helpers::*;

const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// The `user:<uuid>` actor of a key's user.
async fn actor_of(app: &TestApp, key: &str) -> String {
    let p = app
        .store
        .authenticate(&key_hash(key))
        .await
        .unwrap()
        .expect("a live key");
    format!("user:{}", p.user_id)
}

/// The events an administrator's key lists with `query`, asserting a 200.
async fn events(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let r = app
        .call_as(
            key,
            Method::GET,
            &format!("/v0.2/audit-events/{query}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["results"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_change_to_a_work_order_is_recorded_with_its_user() {
    let app = spawn_app().await;
    let worker = app.key_for(&app.site, Role::FieldWorker).await;
    let reviewer = app.key_for(&app.site, Role::Reviewer).await;
    let manager = app.key_for(&app.site, Role::Manager).await;

    let r = app
        .call_as(
            &worker,
            Method::POST,
            "/v0.2/work-orders/",
            Some(wo("audited")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/v0.2/work-orders/{id}/");
    let steps = [
        (
            &worker,
            Method::PATCH,
            path.clone(),
            json!({"tags": ["x", "y"], "field_engineer_email": null}),
        ),
        (
            &worker,
            Method::POST,
            format!("{path}analyze/"),
            body(
                &data_uri(&demo_photo("after"), "image/jpeg"),
                "equipment-after-intervention",
            ),
        ),
        (
            &worker,
            Method::POST,
            format!("{path}analyze/?async=true"),
            body(
                &data_uri(&demo_photo("before"), "image/jpeg"),
                "equipment-before-intervention",
            ),
        ),
        (
            &reviewer,
            Method::PATCH,
            format!("{path}tasks/equipment_after_intervention/correction/"),
            json!({"corrected_value": true}),
        ),
        (&reviewer, Method::POST, format!("{path}review/"), json!({})),
    ];
    let mut replies = Vec::new();
    for (key, method, p, b) in steps {
        let r = app.call_as(key, method.clone(), &p, Some(b)).await;
        assert!(r.status < 300, "{method} {p}: {} {}", r.status, r.body);
        replies.push(r.body);
    }
    let (analysed, queued) = (&replies[1], &replies[2]);
    let r = app.call_as(&manager, Method::DELETE, &path, None).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // The whole history of the deleted work order, newest first.
    let history = events(&app, &app.key, &format!("?object_id={id}")).await;
    assert_eq!(
        actions(&history),
        [
            "work_order.delete",
            "work_order.review",
            "task.correct",
            "analysis.create",
            "analysis.create",
            "work_order.update",
            "work_order.create",
        ],
        "{history:#?}"
    );
    let (w, rv, m) = (
        actor_of(&app, &worker).await,
        actor_of(&app, &reviewer).await,
        actor_of(&app, &manager).await,
    );
    let actors: Vec<&str> = history
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, [&m, &rv, &rv, &w, &w, &w, &w]);
    for e in &history {
        assert_eq!(e["object_type"], "work_order");
        assert_eq!(e["object_id"], id.as_str());
        assert_eq!(e["site_id"], app.site.id.to_string());
        assert!(
            e["actor_email"].as_str().unwrap().ends_with("@example.com"),
            "{e}"
        );
        assert!(e["create_date"].as_str().unwrap().ends_with('Z'), "{e}");
    }
    assert_eq!(
        history[0]["details"],
        json!({"name": "audited", "app_version_id": current_version_id(&app).await})
    );
    assert_eq!(history[1]["details"], json!({"reviewed": true}));
    assert_eq!(
        history[2]["details"]["task"],
        "equipment_after_intervention"
    );
    assert_eq!(history[2]["details"]["corrected_value"], true);
    assert_eq!(history[3]["details"]["queued"], true);
    assert_eq!(history[3]["details"]["status"], "queued");
    assert_eq!(history[3]["details"]["analysis_id"], queued["id"]);
    assert_eq!(history[3]["details"]["job_id"], queued["job_id"]);
    assert_eq!(history[4]["details"]["queued"], false);
    assert_eq!(history[4]["details"]["analysis_id"], analysed["id"]);
    assert_eq!(history[4]["details"]["status"], analysed["status"]);
    assert_eq!(
        history[4]["details"]["task_group_name"],
        "equipment-after-intervention"
    );
    assert_eq!(
        history[5]["details"],
        json!({"changes": {"tags": ["x", "y"], "field_engineer_email": null}})
    );
    assert_eq!(history[6]["details"]["name"], "audited");
}

/// The demo site's current application version id.
async fn current_version_id(app: &TestApp) -> String {
    let site = app.store.find_site("demo").await.unwrap().unwrap();
    site.current_app_version_id.unwrap().to_string()
}

#[tokio::test]
async fn changes_from_the_command_line_are_recorded_as_cli_without_secrets() {
    let app = spawn_app().await;
    // A site, its version, an administrator and its key: all through the CLI's functions.
    let (site, key) = app.add_site("audited-site").await;
    let admin_actor = actor_of(&app, &key).await;
    let run = |cmd| admin::run(app.store.as_ref(), cmd);
    run(AdminCommand::Group(GroupCommand::Create {
        site: site.name.clone(),
        name: "night shift".into(),
    }))
    .await
    .unwrap();
    let spare = app.key_for(&site, Role::ReadOnly).await;
    let spare_id = app
        .store
        .authenticate(&key_hash(&spare))
        .await
        .unwrap()
        .unwrap()
        .key_id;
    run(AdminCommand::Key(KeyCommand::Revoke {
        site: site.name.clone(),
        key_id: spare_id.to_string(),
    }))
    .await
    .unwrap();

    let all = events(&app, &key, "?page_size=100").await;
    let mut seen = actions(&all);
    seen.sort();
    assert_eq!(
        seen,
        [
            "app_version.publish",
            "group.create",
            "key.create",
            "key.create",
            "key.revoke",
            "site.create",
            "user.create",
            "user.create",
        ]
    );
    for e in &all {
        assert_eq!(e["actor"], "cli", "{e}");
        assert_eq!(e["actor_email"], Value::Null, "{e}");
    }
    let revoked = all.iter().find(|e| e["action"] == "key.revoke").unwrap();
    assert_eq!(revoked["object_type"], "key");
    assert_eq!(revoked["object_id"], spare_id.to_string());
    let site_created = all.iter().find(|e| e["action"] == "site.create").unwrap();
    assert_eq!(site_created["object_id"], site.id.to_string());
    assert_eq!(site_created["details"], json!({"name": "audited-site"}));
    let user = all
        .iter()
        .find(|e| {
            e["action"] == "user.create"
                && e["object_id"] == admin_actor.trim_start_matches("user:")
        })
        .unwrap();
    assert_eq!(user["details"]["role"], "administrator");
    // Never a key nor its hash, in any event.
    let text = serde_json::to_string(&all).unwrap();
    for secret in [&key, &spare, &key_hash(&key), &key_hash(&spare)] {
        assert!(!text.contains(secret.as_str()), "the trail holds a secret");
    }
}

#[tokio::test]
async fn only_administrators_read_the_trail() {
    let app = spawn_app().await;
    for role in Role::ALL {
        let key = app.key_for(&app.site, role).await;
        for path in both_forms("/v0.2/audit-events/") {
            let r = app.call_as(&key, Method::GET, &path, None).await;
            if role == Role::Administrator {
                assert_eq!(r.status, 200, "{role}: {}", r.body);
            } else {
                assert_eq!(
                    (r.status, r.body),
                    (403, json!({"detail": FORBIDDEN})),
                    "{role}"
                );
            }
        }
    }
    let r = send(app.client.get(app.url("/v0.2/audit-events/"))).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn another_sites_events_are_never_visible() {
    let app = spawn_app().await;
    let (other, other_key) = app.add_site("elsewhere").await;
    let r = app
        .call_as(
            &other_key,
            Method::POST,
            "/v0.2/work-orders/",
            Some(wo("theirs")),
        )
        .await;
    assert_eq!(r.status, 201);
    let theirs = r.body["id"].as_str().unwrap().to_string();
    let ours = app.create(wo("ours")).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mine = events(&app, &app.key, "?page_size=100").await;
    assert!(!mine.is_empty());
    for e in &mine {
        assert_eq!(e["site_id"], app.site.id.to_string(), "{e}");
        assert_ne!(e["object_id"], theirs.as_str());
        assert_ne!(e["object_id"], other.id.to_string());
    }
    let r = app
        .call(
            Method::GET,
            &format!("/v0.2/audit-events/?object_id={theirs}"),
            None,
        )
        .await;
    assert_eq!((r.status, &r.body["count"]), (200, &json!(0)), "{}", r.body);
    let r = app
        .call_as(
            &other_key,
            Method::GET,
            &format!("/v0.2/audit-events/?object_id={ours}"),
            None,
        )
        .await;
    assert_eq!((r.status, &r.body["count"]), (200, &json!(0)), "{}", r.body);
    for e in events(&app, &other_key, "?page_size=100").await {
        assert_eq!(e["site_id"], other.id.to_string(), "{e}");
    }
}

#[tokio::test]
async fn filters_pages_and_bad_parameters() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create(wo(&format!("wo-{i}"))).await;
    }
    let created = events(&app, &app.key, "?action=work_order.create").await;
    assert_eq!(created.len(), 3);
    let names: Vec<&str> = created
        .iter()
        .map(|e| e["details"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wo-2", "wo-1", "wo-0"], "newest first");

    // Time bounds are strict.
    let middle = created[1]["create_date"].as_str().unwrap();
    let after = events(
        &app,
        &app.key,
        &format!("?action=work_order.create&created_after={middle}"),
    )
    .await;
    assert_eq!(after, created[..1].to_vec());
    let before = events(
        &app,
        &app.key,
        &format!("?action=work_order.create&created_before={middle}"),
    )
    .await;
    assert_eq!(before, created[2..].to_vec());

    // Pages, with links that keep the filters.
    let r = app
        .call(
            Method::GET,
            "/v0.2/audit-events/?action=work_order.create&page_size=2",
            None,
        )
        .await;
    assert_eq!(
        (
            r.body["count"].as_u64(),
            r.body["results"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let next = r.body["next"].as_str().unwrap();
    assert!(
        next.contains("action=work_order.create") && next.contains("page=2"),
        "{next}"
    );
    assert_eq!(r.body["previous"], Value::Null);
    let r = app
        .call(
            Method::GET,
            "/v0.2/audit-events/?action=work_order.create&page_size=2&page=2",
            None,
        )
        .await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["next"], Value::Null);

    for (query, want) in [
        ("page=9", json!({"detail": "Invalid page."})),
        (
            "page_size=101",
            json!({"page_size": ["At most 100 events per page."]}),
        ),
        (
            "page=0",
            json!({"page": ["A positive whole number is required."]}),
        ),
        (
            "created_after=yesterday",
            json!({"created_after": ["Expected a date (2024-05-01) or an ISO-8601 date-time (2024-05-01T10:00:00Z)."]}),
        ),
    ] {
        let r = app
            .call(Method::GET, &format!("/v0.2/audit-events/?{query}"), None)
            .await;
        assert_eq!(r.body, want, "{query}");
        assert_eq!(
            r.status,
            if query == "page=9" { 404 } else { 400 },
            "{query}"
        );
    }
    let r = app
        .call(
            Method::GET,
            "/v0.2/audit-events/?action=work_order.explode",
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    let message = r.body["action"][0].as_str().unwrap();
    assert!(
        message.contains("work_order.explode") && message.contains("task.correct"),
        "{message}"
    );
}

#[tokio::test]
async fn an_api_change_and_its_event_commit_together_cli_changes_succeed_alone() {
    let app = spawn_app().await;
    let Some(db) = app.sqlite_path() else {
        eprintln!("skipped: the failure is made with a SQLite trigger (the API code is the same on both engines; the store conformance suite checks both)");
        return;
    };
    let kept = app.create(wo("kept")).await;
    let path = format!("/v0.2/work-orders/{}/", kept["id"].as_str().unwrap());
    let unchanged = app.call(Method::GET, &path, None).await.body;
    // Every insert into the trail now fails, as on a broken table.
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events
         BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END;",
    )
    .unwrap();
    let before = events(&app, &app.key, "?page_size=100").await.len();
    let count =
        || async { app.call(Method::GET, "/v0.2/work-orders/", None).await.body["count"].clone() };
    let work_orders = count().await;

    // Every change made through the API writes its event in its own transaction: when the event
    // cannot be written, the change is not made and the client is told (a 500; `call` refuses
    // any 5xx, so these go out raw).
    let status = |method: Method, path: String, body: Option<Value>| {
        let mut req = app
            .client
            .request(method, app.url(&path))
            .header("Authorization", format!("Token {}", app.key));
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move { req.send().await.expect("request sent").status().as_u16() }
    };
    let created = status(
        Method::POST,
        "/v0.2/work-orders/".into(),
        Some(wo("unrecorded")),
    )
    .await;
    assert_eq!(created, 500);
    assert_eq!(
        count().await,
        work_orders,
        "the refused create made nothing"
    );
    let photo = || {
        Some(body(
            &data_uri(&demo_photo("after"), "image/jpeg"),
            "equipment-after-intervention",
        ))
    };
    let refused = [
        (
            "update",
            Method::PATCH,
            path.clone(),
            Some(json!({"name": "renamed"})),
        ),
        ("delete", Method::DELETE, path.clone(), None),
        ("analysis", Method::POST, format!("{path}analyze/"), photo()),
        (
            "queued analysis",
            Method::POST,
            format!("{path}analyze/?async=true"),
            photo(),
        ),
        (
            "correction",
            Method::PATCH,
            format!("{path}tasks/equipment_after_intervention/correction/"),
            Some(json!({"corrected_value": true})),
        ),
        (
            "review",
            Method::POST,
            format!("{path}review/"),
            Some(json!({})),
        ),
    ];
    for (what, method, p, b) in refused {
        assert_eq!(
            status(method, p, b).await,
            500,
            "the {what} without its event"
        );
    }
    let r = app.call(Method::GET, &path, None).await;
    assert_eq!(
        r.body, unchanged,
        "the refused changes left the work order as it was: not deleted, renamed, analysed, \
         corrected nor reviewed"
    );
    assert_eq!(
        app.store.list_jobs(None, 10).await.unwrap(),
        vec![],
        "the refused queued analysis enqueued no job"
    );

    // Changes from the command line record their event in a write of their own: the change
    // stands, and the command succeeds (the failure is logged).
    admin::run(
        app.store.as_ref(),
        AdminCommand::Group(GroupCommand::Create {
            site: app.site.name.clone(),
            name: "night shift".into(),
        }),
    )
    .await
    .unwrap();
    let groups = app.store.list_groups(app.site.id).await.unwrap();
    assert!(
        groups.iter().any(|g| g.name == "night shift"),
        "the group was created: {groups:?}"
    );
    assert_eq!(events(&app, &app.key, "?page_size=100").await.len(), before);
}
