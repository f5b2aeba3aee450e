//! Listing work orders: every filter (all given must match), newest-first order with the id as
//! tie-break, counts and pages, and filters that follow updates.

use std::sync::Arc;

use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use serde_json::{json, Map, Value};

use crate::fixtures::*;
use crate::Ctx;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

#[allow(clippy::too_many_arguments)]
fn row(
    site: &Site,
    v: &AppVersion,
    name: &str,
    tags: &[&str],
    types: &[&str],
    metadata: Value,
    engineer_email: Option<&str>,
    reviewed: bool,
    progress: f64,
    create: i64,
) -> WorkOrderRow {
    WorkOrderRow {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        types: types.iter().map(|t| t.to_string()).collect(),
        metadata: obj(metadata),
        field_engineer: engineer_email.map(engineer),
        review_date: reviewed.then_some(create + 5),
        progress_score: progress,
        ..work_order(site, v, name, T0 + create)
    }
}

/// Eight work orders chosen so that each filter keeps some and drops others.
fn dataset(a: &Site, v: &AppVersion) -> Vec<WorkOrderRow> {
    vec![
        row(
            a,
            v,
            "alpha",
            &["red"],
            &["install"],
            json!({"region": "North", "floors": 3}),
            Some("ada@example.com"),
            true,
            0.0,
            10,
        ),
        row(
            a,
            v,
            "beta",
            &["red", "blue"],
            &["repair"],
            json!({"region": "South", "floors": 3.5}),
            Some("bob@example.com"),
            false,
            25.0,
            20,
        ),
        row(
            a,
            v,
            "gamma",
            &["blue"],
            &[],
            json!({"region": "North", "flag": true}),
            None,
            true,
            50.0,
            30,
        ),
        row(
            a,
            v,
            "delta",
            &[],
            &["install", "repair"],
            json!({"region": "north", "floors": "3"}),
            Some("ada@example.com"),
            false,
            100.0,
            40,
        ),
        row(
            a,
            v,
            "alpha",
            &["red", "blue", "green"],
            &["install"],
            json!({"region": "North", "list": [3]}),
            None,
            true,
            75.0,
            50,
        ),
        row(
            a,
            v,
            "eps",
            &["Red"],
            &["repair"],
            json!({}),
            Some("ada@example.com"),
            false,
            12.5,
            60,
        ),
        row(
            a,
            v,
            "zeta",
            &["red"],
            &[],
            json!({"ratio": 0.1, "big": u64::MAX}),
            Some("bob@example.com"),
            true,
            99.99,
            60,
        ),
        row(
            a,
            v,
            "eta",
            &["green"],
            &["install"],
            json!({"flag": false, "n": -2}),
            None,
            false,
            0.0,
            70,
        ),
    ]
}

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

fn meta(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn filters(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let (b, vb) = site_with_app(s, "site-b").await;
    let rows = dataset(&a, &va);
    for r in &rows {
        create(s, r).await;
    }
    // Site B has look-alikes of everything: no filter may bring them into site A's list.
    for r in dataset(&b, &vb) {
        create(s, &r).await;
    }

    let f = WorkOrderFilter::default;
    let cases: Vec<(&str, WorkOrderFilter, Vec<usize>)> = vec![
        ("no filter", f(), (0..8).collect()),
        (
            "tag red (case matters)",
            WorkOrderFilter {
                tags: tags(&["red"]),
                ..f()
            },
            vec![0, 1, 4, 6],
        ),
        (
            "tags red and blue",
            WorkOrderFilter {
                tags: tags(&["red", "blue"]),
                ..f()
            },
            vec![1, 4],
        ),
        (
            "three tags",
            WorkOrderFilter {
                tags: tags(&["blue", "red", "green"]),
                ..f()
            },
            vec![4],
        ),
        (
            "a tag nobody has",
            WorkOrderFilter {
                tags: tags(&["red", "nope"]),
                ..f()
            },
            vec![],
        ),
        (
            "type install",
            WorkOrderFilter {
                type_name: Some("install".into()),
                ..f()
            },
            vec![0, 3, 4, 7],
        ),
        (
            "type repair",
            WorkOrderFilter {
                type_name: Some("repair".into()),
                ..f()
            },
            vec![1, 3, 5],
        ),
        (
            "unknown type",
            WorkOrderFilter {
                type_name: Some("nope".into()),
                ..f()
            },
            vec![],
        ),
        (
            "region North",
            WorkOrderFilter {
                metadata: meta(&[("region", "North")]),
                ..f()
            },
            vec![0, 2, 4],
        ),
        (
            "floors 3, number or text",
            WorkOrderFilter {
                metadata: meta(&[("floors", "3")]),
                ..f()
            },
            vec![0, 3],
        ),
        (
            "floors 3.5",
            WorkOrderFilter {
                metadata: meta(&[("floors", "3.5")]),
                ..f()
            },
            vec![1],
        ),
        (
            "flag true",
            WorkOrderFilter {
                metadata: meta(&[("flag", "true")]),
                ..f()
            },
            vec![2],
        ),
        (
            "flag false",
            WorkOrderFilter {
                metadata: meta(&[("flag", "false")]),
                ..f()
            },
            vec![7],
        ),
        (
            "ratio 0.1",
            WorkOrderFilter {
                metadata: meta(&[("ratio", "0.1")]),
                ..f()
            },
            vec![6],
        ),
        (
            "big integer",
            WorkOrderFilter {
                metadata: meta(&[("big", "18446744073709551615")]),
                ..f()
            },
            vec![6],
        ),
        (
            "negative",
            WorkOrderFilter {
                metadata: meta(&[("n", "-2")]),
                ..f()
            },
            vec![7],
        ),
        (
            "lists are not indexed",
            WorkOrderFilter {
                metadata: meta(&[("list", "[3]")]),
                ..f()
            },
            vec![],
        ),
        (
            "value under another key",
            WorkOrderFilter {
                metadata: meta(&[("floors", "North")]),
                ..f()
            },
            vec![],
        ),
        (
            "two metadata keys",
            WorkOrderFilter {
                metadata: meta(&[("region", "North"), ("floors", "3")]),
                ..f()
            },
            vec![0],
        ),
        (
            "name",
            WorkOrderFilter {
                name: Some("alpha".into()),
                ..f()
            },
            vec![0, 4],
        ),
        (
            "unknown name",
            WorkOrderFilter {
                name: Some("Alpha".into()),
                ..f()
            },
            vec![],
        ),
        (
            "engineer email in any case",
            WorkOrderFilter {
                field_engineer_email: Some("ADA@Example.com".into()),
                ..f()
            },
            vec![0, 3, 5],
        ),
        (
            "created after (strict)",
            WorkOrderFilter {
                created_after: Some(T0 + 50),
                ..f()
            },
            vec![5, 6, 7],
        ),
        (
            "created before (strict)",
            WorkOrderFilter {
                created_before: Some(T0 + 30),
                ..f()
            },
            vec![0, 1],
        ),
        (
            "created between",
            WorkOrderFilter {
                created_after: Some(T0 + 10),
                created_before: Some(T0 + 40),
                ..f()
            },
            vec![1, 2],
        ),
        (
            "reviewed",
            WorkOrderFilter {
                reviewed: Some(true),
                ..f()
            },
            vec![0, 2, 4, 6],
        ),
        (
            "not reviewed",
            WorkOrderFilter {
                reviewed: Some(false),
                ..f()
            },
            vec![1, 3, 5, 7],
        ),
        (
            "min progress (inclusive)",
            WorkOrderFilter {
                min_progress: Some(50.0),
                ..f()
            },
            vec![2, 3, 4, 6],
        ),
        (
            "max progress (inclusive)",
            WorkOrderFilter {
                max_progress: Some(25.0),
                ..f()
            },
            vec![0, 1, 5, 7],
        ),
        (
            "progress between",
            WorkOrderFilter {
                min_progress: Some(12.5),
                max_progress: Some(75.0),
                ..f()
            },
            vec![1, 2, 4, 5],
        ),
        (
            "tag, review and progress",
            WorkOrderFilter {
                tags: tags(&["red"]),
                reviewed: Some(true),
                min_progress: Some(50.0),
                ..f()
            },
            vec![4, 6],
        ),
        (
            "type and engineer",
            WorkOrderFilter {
                type_name: Some("install".into()),
                field_engineer_email: Some("ada@example.com".into()),
                ..f()
            },
            vec![0, 3],
        ),
    ];
    for (what, filter, picks) in cases {
        let mut want: Vec<WorkOrderRow> = picks.iter().map(|i| rows[*i].clone()).collect();
        newest_first(&mut want);
        let (count, got) = list_all(s, &a, &filter).await;
        let names = |rs: &[WorkOrderRow]| {
            rs.iter()
                .map(|r| format!("{}@{}", r.name, r.create_date - T0))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&got),
            names(&want),
            "list filter {what:?} ({filter:?}): wrong work orders or order"
        );
        assert_eq!(
            got, want,
            "list filter {what:?}: rows must be returned exactly as stored"
        );
        assert_eq!(count, want.len() as u64, "list filter {what:?}: count");
    }
}

pub async fn order_and_pages(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let (b, vb) = site_with_app(s, "site-b").await;
    // 25 work orders, three to a creation date, created in no particular order.
    let mut all: Vec<WorkOrderRow> = (0..25)
        .map(|i| {
            let mut w = work_order(&a, &va, &format!("wo-{i}"), T0 + (i * 7 % 25) / 3);
            if i % 2 == 0 {
                w.tags = vec!["even".into()];
            }
            w
        })
        .collect();
    for w in &all {
        create(s, w).await;
    }
    for i in 0..5 {
        create(s, &work_order(&b, &vb, &format!("b-{i}"), T0 + i)).await;
    }
    newest_first(&mut all);

    let everything = WorkOrderFilter::default();
    let (count, listed) = list_all(s, &a, &everything).await;
    assert_eq!(count, 25);
    assert_eq!(
        listed.iter().map(|w| &w.name).collect::<Vec<_>>(),
        all.iter().map(|w| &w.name).collect::<Vec<_>>(),
        "newest first, then by id descending between equal dates"
    );

    let page = |offset: u64, limit: u64, filter: WorkOrderFilter| async move {
        ok(
            s.list_work_orders(a.id, &filter, offset, limit).await,
            "list_work_orders",
        )
    };
    let mut paged = Vec::new();
    for offset in (0..25).step_by(7) {
        let (count, rows) = page(offset, 7, everything.clone()).await;
        assert_eq!(count, 25, "the count is of all matches, whatever the page");
        assert_eq!(
            rows.len(),
            7.min(25 - offset as usize),
            "page at offset {offset}"
        );
        paged.extend(rows);
    }
    assert_eq!(
        paged, all,
        "pages put together are the whole list, each once"
    );
    for (offset, limit) in [(25, 10), (1000, 10), (u64::MAX, 10), (0, 0), (3, 0)] {
        assert_eq!(
            page(offset, limit, everything.clone()).await,
            (25, vec![]),
            "offset {offset}, limit {limit}: an empty page, the full count"
        );
    }
    assert_eq!(
        page(0, u64::MAX, everything.clone()).await,
        (25, all.clone()),
        "a limit beyond everything"
    );
    assert_eq!(
        page(24, 10, everything.clone()).await,
        (25, vec![all[24].clone()]),
        "the last one"
    );

    let even = WorkOrderFilter {
        tags: vec!["even".into()],
        ..Default::default()
    };
    let want: Vec<WorkOrderRow> = all.iter().filter(|w| w.tags == ["even"]).cloned().collect();
    assert_eq!(want.len(), 13);
    let first = page(0, 5, even.clone()).await;
    let rest = page(5, 100, even.clone()).await;
    assert_eq!((first.0, rest.0), (13, 13), "a filtered count");
    assert_eq!([first.1, rest.1].concat(), want, "filtered pages");

    let (count_b, rows_b) = list_all(s, &b, &everything).await;
    assert_eq!(count_b, 5);
    assert!(
        rows_b.iter().all(|w| w.site_id == b.id),
        "site B lists only its own work orders"
    );
}

pub async fn follows_writes(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let w = row(
        &a,
        &va,
        "one",
        &["red"],
        &["install"],
        json!({"region": "North"}),
        Some("ada@example.com"),
        false,
        80.0,
        10,
    );
    create(s, &w).await;
    let (a, wo_id) = (&a, w.id);
    let finds = |filter: WorkOrderFilter| async move { list_all(s, a, &filter).await.0 == 1 };
    let by_tag = |t: &str| WorkOrderFilter {
        tags: tags(&[t]),
        ..Default::default()
    };
    let by_type = |t: &str| WorkOrderFilter {
        type_name: Some(t.into()),
        ..Default::default()
    };
    let by_region = |r: &str| WorkOrderFilter {
        metadata: meta(&[("region", r)]),
        ..Default::default()
    };
    let by_engineer = WorkOrderFilter {
        field_engineer_email: Some("ada@example.com".into()),
        ..Default::default()
    };
    let by_name = |n: &str| WorkOrderFilter {
        name: Some(n.into()),
        ..Default::default()
    };
    let min_50 = WorkOrderFilter {
        min_progress: Some(50.0),
        ..Default::default()
    };
    assert!(finds(min_50.clone()).await, "progress as created");

    let update = |changes: WorkOrderChanges, va: Arc<AppVersion>| async move {
        ok(
            s.update_work_order(a.id, wo_id, changes, va).await,
            "update_work_order",
        )
    };
    // Changing the name only: what indexes tags, types and metadata must stay.
    update(
        WorkOrderChanges {
            name: Some("two".into()),
            now: T0 + 100,
            ..Default::default()
        },
        va.clone(),
    )
    .await;
    assert!(
        finds(by_name("two")).await && !finds(by_name("one")).await,
        "name filter after a rename"
    );
    assert!(
        finds(by_tag("red")).await,
        "a rename keeps the tags findable"
    );
    assert!(
        finds(by_type("install")).await,
        "a rename keeps the types findable"
    );
    assert!(
        finds(by_region("North")).await,
        "a rename keeps the metadata findable"
    );
    assert!(
        finds(by_engineer.clone()).await,
        "a rename keeps the engineer findable"
    );
    assert!(
        !finds(min_50.clone()).await,
        "the update recomputed the progress (no task validated)"
    );
    assert!(
        finds(WorkOrderFilter {
            max_progress: Some(0.0),
            ..Default::default()
        })
        .await
    );

    update(
        WorkOrderChanges {
            tags: Some(tags(&["green"])),
            now: T0 + 200,
            ..Default::default()
        },
        va.clone(),
    )
    .await;
    assert!(
        !finds(by_tag("red")).await && finds(by_tag("green")).await,
        "tag filter after new tags"
    );
    update(
        WorkOrderChanges {
            types: Some(tags(&["repair"])),
            now: T0 + 300,
            ..Default::default()
        },
        va.clone(),
    )
    .await;
    assert!(
        !finds(by_type("install")).await && finds(by_type("repair")).await,
        "type filter after new types"
    );
    update(
        WorkOrderChanges {
            metadata: Some(obj(json!({"region": "South"}))),
            now: T0 + 400,
            ..Default::default()
        },
        va.clone(),
    )
    .await;
    assert!(
        !finds(by_region("North")).await && finds(by_region("South")).await,
        "metadata filter after new metadata"
    );
    update(
        WorkOrderChanges {
            field_engineer: Some(None),
            now: T0 + 500,
            ..Default::default()
        },
        va.clone(),
    )
    .await;
    assert!(
        !finds(by_engineer).await,
        "engineer filter after unassigning"
    );
    assert!(
        finds(by_tag("green")).await
            && finds(by_type("repair")).await
            && finds(by_region("South")).await
    );
}
