//! Listing work orders by filter: each filter alone and together (all given must match), on a
//! dataset built so that each keeps some work orders and drops others.

use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use serde_json::{json, Value};

use crate::fixtures::*;
use crate::Ctx;

#[allow(clippy::too_many_arguments)]
pub fn row(
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

pub fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

pub fn meta(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
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
