//! Listing work orders: newest-first order with the id as tie-break, counts and pages, and
//! filters that follow updates.

use std::sync::Arc;

use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use serde_json::json;

use crate::fixtures::*;
use crate::list_filters::{meta, row, tags};
use crate::Ctx;

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
            s.update_work_order(a.id, wo_id, changes, va, None).await,
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
