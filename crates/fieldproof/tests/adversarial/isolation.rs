//! The site-isolation matrix: three sites, each with work orders that have inputs (real
//! analyses), corrections and reviews. Every path of `fieldproof_api::routes()` is called with
//! every verb, with each site's key, on each other site's objects (and on mixes of the caller's
//! and another site's objects in one path). Every answer must be a 404 (405 for a verb the path
//! does not serve), and no id, name, tag or metadata value of another site may appear anywhere in
//! any answer, headers included. Paths without objects (lists) must show only the caller's data,
//! also when filtered by another site's names, tags and metadata.
//!
//! The matrix is built from the route table: a new route joins it by itself, and a route whose
//! path parameter this file cannot fill fails the test with a message saying so.

use std::collections::{BTreeMap, HashMap};

use reqwest::Method;
use serde_json::{json, Value};

use crate::corpus::{fill_with, params};
use crate::fixtures::*;
use crate::helpers::*;

const VERBS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// One site's key and the objects that exist in it.
struct SiteData {
    label: String,
    site_id: String,
    key: String,
    work_orders: Vec<String>,
    inputs: Vec<String>,
    task_ids: Vec<String>,
    group_ids: Vec<String>,
    /// Every string of this site that must never show in another site's answers.
    secrets: Vec<String>,
}

impl SiteData {
    /// The value of a path parameter naming one of this site's objects; `None` for parameters
    /// that name no object (the same for every site).
    fn object(&self, param: &str) -> Option<String> {
        match param {
            "id" => Some(self.work_orders[0].clone()),
            "input_id" => Some(self.inputs[0].clone()),
            "task_id" => Some(self.task_ids[0].clone()),
            "name" => Some(self.group_ids[0].clone()),
            "index" => None,
            other => panic!(
                "the isolation matrix does not know how to fill the path parameter {{{other}}}: \
                 teach SiteData::object (and `neutral`) in tests/adversarial/isolation.rs which \
                 object of a site it names, so the route is tested across sites"
            ),
        }
    }
}

/// The value of a parameter that names no object.
fn neutral(param: &str) -> String {
    match param {
        "index" => "0".into(),
        other => unreachable!("{other} names an object"),
    }
}

async fn populate(app: &TestApp, label: &str, key: &str, site_id: String) -> SiteData {
    let mut data = SiteData {
        label: label.to_string(),
        site_id: site_id.clone(),
        key: key.to_string(),
        work_orders: Vec::new(),
        inputs: Vec::new(),
        task_ids: Vec::new(),
        group_ids: Vec::new(),
        secrets: vec![site_id],
    };
    let photo = data_uri(&photo(), "image/jpeg");
    for k in 0..2 {
        let name = format!("iso-{label}-{k}");
        let tag = format!("secret-{label}");
        let region = format!("region-{label}");
        let r = app
            .call_as(
                key,
                Method::POST,
                "/v0.2/work-orders/",
                Some(
                    json!({"name": name, "tags": [tag], "metadata": {"region": region},
                            "work_order_types": ["installation"]}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let base = format!("/v0.2/work-orders/{id}");
        let a = app
            .call_as(
                key,
                Method::POST,
                &format!("{base}/analyze/"),
                Some(analysis(&photo, GROUP)),
            )
            .await;
        assert_eq!(a.status, 200, "analysis: {}", a.body);
        let c = app
            .call_as(
                key,
                Method::PATCH,
                &format!("{base}/tasks/{TASK}/correction/"),
                Some(json!({"corrected_value": true})),
            )
            .await;
        assert_eq!(c.status, 200, "correction: {}", c.body);
        let v = app
            .call_as(key, Method::POST, &format!("{base}/review/"), None)
            .await;
        assert_eq!(v.status, 200, "review: {}", v.body);
        let wo = &v.body;
        assert!(!wo["review_date"].is_null());
        let input = wo["inputs"][0]["id"].as_str().unwrap().to_string();
        let task = wo["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == TASK)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        for s in [
            &wo["app_version_id"],
            &wo["engage_app_id"],
            &wo["first_analysis_id"],
            &a.body["id"],
        ] {
            data.secrets.push(s.as_str().unwrap().to_string());
        }
        for t in wo["tasks"].as_array().unwrap() {
            data.secrets.push(t["id"].as_str().unwrap().to_string());
        }
        data.secrets
            .extend([id.clone(), input.clone(), name, tag, region]);
        data.work_orders.push(id);
        data.inputs.push(input);
        data.task_ids.push(task);
    }
    let groups = app
        .call_as(key, Method::GET, "/v0.2/task-groups/", None)
        .await;
    for g in groups.body.as_array().unwrap() {
        let id = g["id"].as_str().unwrap().to_string();
        data.secrets.push(id.clone());
        data.group_ids.push(id);
        for t in g["tasks"].as_array().unwrap() {
            data.secrets.push(t["id"].as_str().unwrap().to_string());
        }
    }
    data.secrets.sort();
    data.secrets.dedup();
    data
}

/// Every way to fill `path` for `caller` with at least one of `owner`'s objects.
fn fillings(path: &str, caller: &SiteData, owner: &SiteData) -> Vec<String> {
    let ps = params(path);
    let choices: Vec<Vec<(String, bool)>> = ps
        .iter()
        .map(|p| match (caller.object(p), owner.object(p)) {
            (Some(mine), Some(theirs)) => vec![(mine, false), (theirs, true)],
            _ => vec![(neutral(p), false)],
        })
        .collect();
    let mut out = Vec::new();
    let total: usize = choices.iter().map(Vec::len).product();
    for n in 0..total {
        let mut rest = n;
        let mut values = Vec::new();
        let mut foreign = false;
        for c in &choices {
            let (v, f) = &c[rest % c.len()];
            rest /= c.len();
            values.push(v.clone());
            foreign |= f;
        }
        if !foreign {
            continue;
        }
        let mut it = values.into_iter();
        out.push(fill_with(path, |_| it.next().unwrap()));
    }
    out
}

/// A body that the route would act on if it reached the object (so a leak would show as a
/// change): a rename, an analysis, a correction, an un-review.
fn body_for(verb: &str, path: &str) -> Option<Value> {
    match (verb, path) {
        ("PATCH", "/v0.2/work-orders/{id}") => Some(json!({"name": "stolen", "tags": ["stolen"]})),
        ("POST", "/v0.2/work-orders/{id}/analyze") => {
            Some(analysis(&data_uri(&photo(), "image/jpeg"), GROUP))
        }
        ("PATCH", "/v0.2/work-orders/{id}/tasks/{task_id}/correction") => {
            Some(json!({"corrected_value": false}))
        }
        ("POST", "/v0.2/work-orders/{id}/review") => Some(json!({"reviewed": false})),
        ("POST", "/v0.2/work-orders") => Some(json!({"name": "matrix"})),
        ("POST" | "PUT" | "PATCH", _) => Some(json!({})),
        _ => None,
    }
}

struct Answer {
    status: u16,
    text: String,
}

async fn call(app: &TestApp, key: &str, verb: &str, path: &str, body: Option<Value>) -> Answer {
    let method = Method::from_bytes(verb.as_bytes()).unwrap();
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("Authorization", format!("Token {key}"))
        .header("Content-Type", "application/json");
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let mut text = String::new();
    for (k, v) in resp.headers() {
        text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    text.push_str(&String::from_utf8_lossy(&resp.bytes().await.unwrap()));
    Answer { status, text }
}

#[tokio::test]
async fn no_route_and_no_verb_shows_or_touches_another_sites_objects() {
    let app = spawn_app().await;
    let (b, b_key) = app.add_site("site-b").await;
    let (c, c_key) = app.add_site("site-c").await;
    let sites = vec![
        populate(&app, "a", &app.key, app.site.id.to_string()).await,
        populate(&app, "b", &b_key, b.id.to_string()).await,
        populate(&app, "c", &c_key, c.id.to_string()).await,
    ];
    // The premise: no two sites share an id.
    for (i, s) in sites.iter().enumerate() {
        for t in &sites[i + 1..] {
            for secret in &s.secrets {
                assert!(
                    !t.secrets.contains(secret),
                    "{} and {} share {secret}",
                    s.label,
                    t.label
                );
            }
        }
    }
    let mut before = HashMap::new();
    for s in &sites {
        for id in &s.work_orders {
            let r = app
                .call_as(
                    &s.key,
                    Method::GET,
                    &format!("/v0.2/work-orders/{id}/"),
                    None,
                )
                .await;
            before.insert(id.clone(), r.body);
        }
    }

    let routes = fieldproof_api::routes();
    let mut paths: Vec<&str> = routes.iter().map(|r| r.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let serves = |verb: &str, path: &str| {
        routes.iter().any(|r| {
            r.path == path
                && (r.method.as_str() == verb || (verb == "HEAD" && r.method == Method::GET))
        })
    };
    let mut requests = 0usize;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut created: HashMap<String, usize> = HashMap::new();
    let mut failures = Vec::new();
    for path in &paths {
        for verb in VERBS {
            for caller in &sites {
                for owner in sites.iter().filter(|o| o.label != caller.label) {
                    let targets = if params(path).is_empty() {
                        vec![path.to_string()]
                    } else {
                        fillings(path, caller, owner)
                            .into_iter()
                            .flat_map(|p| [p.clone(), format!("{p}/")])
                            .collect()
                    };
                    for target in targets {
                        let answer =
                            call(&app, &caller.key, verb, &target, body_for(verb, path)).await;
                        requests += 1;
                        *statuses.entry(answer.status).or_default() += 1;
                        let what = format!(
                            "{verb} {target} with site {}'s key (objects of site {})",
                            caller.label, owner.label
                        );
                        if let Some(leak) = owner
                            .secrets
                            .iter()
                            .find(|s| answer.text.contains(s.as_str()))
                        {
                            failures.push(format!(
                                "{what}: the answer shows site {}'s {leak}: {}",
                                owner.label, answer.text
                            ));
                        }
                        if answer.status >= 500 {
                            failures.push(format!("{what}: {} {}", answer.status, answer.text));
                        }
                        if !params(path).is_empty() {
                            let expected = if serves(verb, path) { 404 } else { 405 };
                            if answer.status != expected {
                                failures.push(format!(
                                    "{what}: {} ({expected} expected): {}",
                                    answer.status, answer.text
                                ));
                            }
                        } else if answer.status == 201 {
                            *created.entry(caller.label.clone()).or_default() += 1;
                        }
                    }
                }
            }
        }
    }

    // Lists filtered by another site's names, tags and metadata find nothing.
    let mut list_checks = 0usize;
    for caller in &sites {
        for owner in sites.iter().filter(|o| o.label != caller.label) {
            let l = &owner.label;
            for q in [
                format!("name=iso-{l}-0"),
                format!("tag=secret-{l}"),
                format!("metadata.region=region-{l}"),
                "page_size=100".to_string(),
                "reviewed=true&page_size=100".to_string(),
            ] {
                let r = app
                    .call_as(
                        &caller.key,
                        Method::GET,
                        &format!("/v0.2/work-orders/?{q}"),
                        None,
                    )
                    .await;
                list_checks += 1;
                let text = r.body.to_string();
                if let Some(leak) = owner.secrets.iter().find(|s| text.contains(s.as_str())) {
                    failures.push(format!(
                        "list ?{q} by site {}: shows site {l}'s {leak}",
                        caller.label
                    ));
                }
                for wo in r.body["results"].as_array().unwrap() {
                    if wo["site_id"] != json!(caller.site_id) {
                        failures.push(format!("list ?{q} by site {}: {wo}", caller.label));
                    }
                }
                if !q.starts_with("page_size") && !q.starts_with("reviewed") && r.body["count"] != 0
                {
                    failures.push(format!(
                        "list ?{q} by site {}: count {}",
                        caller.label, r.body["count"]
                    ));
                }
            }
        }
    }

    // Nothing of any site changed, and each site has only what its own key created.
    for s in &sites {
        for id in &s.work_orders {
            let r = app
                .call_as(
                    &s.key,
                    Method::GET,
                    &format!("/v0.2/work-orders/{id}/"),
                    None,
                )
                .await;
            if r.body != before[id] {
                failures.push(format!(
                    "site {}'s work order {id} changed: {} → {}",
                    s.label, before[id], r.body
                ));
            }
        }
        let r = app
            .call_as(
                &s.key,
                Method::GET,
                "/v0.2/work-orders/?page_size=100",
                None,
            )
            .await;
        let expected = s.work_orders.len() + created.get(&s.label).copied().unwrap_or(0);
        if r.body["count"] != json!(expected) {
            failures.push(format!(
                "site {} has {} work orders, {expected} expected",
                s.label, r.body["count"]
            ));
        }
    }

    let histogram: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    report!(
        "isolation matrix: {} paths x {} verbs x 3 sites x 2 other sites: {requests} requests, {list_checks} filtered lists, {} failures",
        paths.len(),
        VERBS.len(),
        failures.len()
    );
    report!("  statuses {}", histogram.join(", "));
    assert!(
        failures.is_empty(),
        "{} isolation failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
