//! Work orders one at a time: exact round trip, updates (progress recomputed, `update_date`
//! always moving forward), deletion, task states, and idempotency records.

use fieldproof_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

/// A work order with every field set, and values that trip naive storage: nested JSON, integers
/// beyond `i64`, fractions, unicode, an escaped NUL, tag order.
fn rich(site: &Site, version: &fieldproof_domain::app::AppVersion) -> WorkOrderRow {
    let metadata = json!({
        "region": "Île-de-France ✓",
        "floors": 3,
        "ratio": 0.1,
        "flag": true,
        "nothing": null,
        "big": u64::MAX,
        "negative": -17,
        "nested": {"b": [1, 2, {"c": null}], "a": "x"},
        "list": ["a", "b"],
        "empty": "",
        "nul": "a\u{0}b",
    });
    WorkOrderRow {
        metadata: obj(metadata),
        tags: vec!["urgent".into(), "b".into(), "a".into()],
        parameters: Some(json!({"folder": "2024/05", "strict": false})),
        types: vec!["install".into()],
        field_engineer: Some(engineer("ada@example.com")),
        user_group_ids: vec![Uuid::new_v4(), Uuid::new_v4()],
        progress_score: 42.5,
        review_date: Some(T0 + 900),
        first_analysis_id: Some(Uuid::new_v4()),
        latest_analysis_id: Some(Uuid::new_v4()),
        ..work_order(site, version, "Rue de la Paix – n°12", T0 + 100)
    }
}

pub async fn round_trip(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let (b, _) = site_with_app(&s, "site-b").await;
    let full = rich(&a, &va);
    let bare = work_order(&a, &va, "bare", T0 + 200);
    create(&s, &full).await;
    create(&s, &bare).await;

    for wo in [&full, &bare] {
        assert_eq!(
            ok(s.get_work_order(a.id, wo.id).await, "get_work_order").as_ref(),
            Some(wo),
            "get_work_order returns exactly what was created"
        );
        assert_eq!(
            ok(s.get_work_order(b.id, wo.id).await, "get_work_order"),
            None,
            "another site's work order is not found"
        );
    }
    assert_eq!(
        ok(
            s.get_work_order(a.id, Uuid::new_v4()).await,
            "get_work_order"
        ),
        None
    );

    // Nothing writes task states yet: a new work order has none, and the batch call leaves out
    // work orders without states.
    assert!(ok(s.task_states(a.id, full.id).await, "task_states").is_empty());
    assert!(ok(s.task_states(b.id, full.id).await, "task_states").is_empty());
    assert!(ok(s.task_states(a.id, Uuid::new_v4()).await, "task_states").is_empty());
    assert!(ok(
        s.task_states_of(a.id, &[full.id, bare.id]).await,
        "task_states_of"
    )
    .is_empty());
    assert!(ok(s.task_states_of(a.id, &[]).await, "task_states_of").is_empty());

    drop(s);
    cx.reopen().await;
    assert_eq!(
        ok(
            cx.store.get_work_order(a.id, full.id).await,
            "get after reopen"
        )
        .as_ref(),
        Some(&full),
        "a created work order is in the storage"
    );
}

pub async fn update(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let (b, vb) = site_with_app(s, "site-b").await;
    let original = rich(&a, &va);
    create(s, &original).await;

    // Each step: the changes, and what the row must then be. Progress is recomputed from the
    // (absent) task states: 0, whatever was stored.
    let mut expected = original.clone();
    let mut step = |changes: WorkOrderChanges, apply: &dyn Fn(&mut WorkOrderRow)| {
        apply(&mut expected);
        expected.update_date = changes.now.max(expected.update_date + 1);
        expected.progress_score = 0.0;
        (changes, expected.clone())
    };
    let later = original.update_date + 1_000;
    let bob = engineer("bob@example.com");
    let steps = vec![
        step(
            WorkOrderChanges {
                name: Some("renamed".into()),
                now: later,
                ..Default::default()
            },
            &|w| w.name = "renamed".into(),
        ),
        // A clock that went back: still one microsecond after the last update.
        step(
            WorkOrderChanges {
                tags: Some(vec!["x".into()]),
                now: T0,
                ..Default::default()
            },
            &|w| w.tags = vec!["x".into()],
        ),
        step(
            WorkOrderChanges {
                field_engineer: Some(None),
                now: later,
                ..Default::default()
            },
            &|w| w.field_engineer = None,
        ),
        step(
            WorkOrderChanges {
                field_engineer: Some(Some(bob.clone())),
                metadata: Some(obj(json!({"region": "North"}))),
                now: later + 5_000,
                ..Default::default()
            },
            &|w| {
                w.field_engineer = Some(bob.clone());
                w.metadata = obj(json!({"region": "North"}));
            },
        ),
        step(
            WorkOrderChanges {
                user_group_ids: Some(vec![]),
                types: Some(vec!["repair".into(), "install".into()]),
                now: later + 5_000,
                ..Default::default()
            },
            &|w| {
                w.user_group_ids = vec![];
                w.types = vec!["repair".into(), "install".into()];
            },
        ),
        step(
            WorkOrderChanges {
                now: later + 9_000,
                ..Default::default()
            },
            &|_| {},
        ),
    ];
    for (i, (changes, want)) in steps.into_iter().enumerate() {
        let got = ok(
            s.update_work_order(a.id, original.id, changes.clone(), va.clone(), None)
                .await,
            "update_work_order",
        );
        assert_eq!(
            got, want,
            "update step {i} ({changes:?}) returns the updated row"
        );
        assert_eq!(
            ok(s.get_work_order(a.id, original.id).await, "get_work_order"),
            Some(want.clone()),
            "update step {i} is stored"
        );
    }
    let before = ok(s.get_work_order(a.id, original.id).await, "get_work_order");

    expect_not_found(
        s.update_work_order(
            b.id,
            original.id,
            WorkOrderChanges {
                name: Some("hijacked".into()),
                now: later + 10_000,
                ..Default::default()
            },
            vb.clone(),
            None,
        )
        .await,
        "site B updating site A's work order",
    );
    expect_not_found(
        s.update_work_order(
            a.id,
            Uuid::new_v4(),
            WorkOrderChanges::default(),
            va.clone(),
            None,
        )
        .await,
        "updating an unknown work order",
    );
    assert_eq!(
        ok(s.get_work_order(a.id, original.id).await, "get_work_order"),
        before,
        "refused updates change nothing"
    );
}

pub async fn delete(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let (b, _) = site_with_app(s, "site-b").await;
    let gone = rich(&a, &va);
    let kept = work_order(&a, &va, "kept", T0 + 300);
    create(s, &gone).await;
    create(s, &kept).await;

    expect_not_found(
        s.delete_work_order(b.id, gone.id, None).await,
        "site B deleting site A's work order",
    );
    assert_eq!(
        ok(s.get_work_order(a.id, gone.id).await, "get").as_ref(),
        Some(&gone)
    );

    ok(
        s.delete_work_order(a.id, gone.id, None).await,
        "delete_work_order",
    );
    assert_eq!(
        ok(s.get_work_order(a.id, gone.id).await, "get"),
        None,
        "a deleted work order is gone"
    );
    expect_not_found(
        s.delete_work_order(a.id, gone.id, None).await,
        "deleting twice",
    );
    expect_not_found(
        s.update_work_order(
            a.id,
            gone.id,
            WorkOrderChanges {
                now: T0 + 999,
                ..Default::default()
            },
            va.clone(),
            None,
        )
        .await,
        "updating a deleted work order",
    );
    let (count, rows) = list_all(s, &a, &WorkOrderFilter::default()).await;
    assert_eq!(
        (count, rows),
        (1, vec![kept.clone()]),
        "the list no longer has it"
    );
    let by_tag = WorkOrderFilter {
        tags: vec!["urgent".into()],
        ..Default::default()
    };
    assert_eq!(
        list_all(s, &a, &by_tag).await.0,
        0,
        "its tags no longer find it"
    );
    let by_meta = WorkOrderFilter {
        metadata: vec![("floors".into(), "3".into())],
        ..Default::default()
    };
    assert_eq!(
        list_all(s, &a, &by_meta).await.0,
        0,
        "its metadata no longer finds it"
    );
    assert!(ok(s.task_states(a.id, gone.id).await, "task_states").is_empty());
}

fn record(key: &str, body: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_string(),
        request_hash: format!("hash of {body}"),
        status: 201,
        body: body.to_string(),
        create_date: T0 + 500,
    }
}

pub async fn idempotency(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let (b, vb) = site_with_app(&s, "site-b").await;
    assert_eq!(
        ok(s.idempotency_record(a.id, "k1").await, "idempotency_record"),
        None
    );

    let first = work_order(&a, &va, "first", T0 + 100);
    let r1 = record("k1", "{\"id\":\"first\"}");
    match ok(
        s.create_work_order(first.clone(), Some(r1.clone()), None)
            .await,
        "create",
    ) {
        CreateOutcome::Created(row) => assert_eq!(row, first),
        other => panic!("the first use of a key must create, got {other:?}"),
    }
    assert_eq!(
        ok(s.idempotency_record(a.id, "k1").await, "idempotency_record"),
        Some(r1.clone()),
        "the record is stored with the work order"
    );
    assert_eq!(
        ok(s.idempotency_record(b.id, "k1").await, "idempotency_record"),
        None,
        "keys are per site"
    );

    let second = work_order(&a, &va, "second", T0 + 200);
    let r2 = record("k1", "{\"id\":\"second\"}");
    match ok(
        s.create_work_order(second.clone(), Some(r2), None).await,
        "create",
    ) {
        CreateOutcome::Replayed(stored) => {
            assert_eq!(stored, r1, "a replay returns the first record")
        }
        other => panic!("a reused key must replay, got {other:?}"),
    }
    assert_eq!(
        ok(s.get_work_order(a.id, second.id).await, "get"),
        None,
        "a replay writes nothing"
    );
    assert_eq!(
        ok(s.idempotency_record(a.id, "k1").await, "idempotency_record"),
        Some(r1.clone()),
        "a replay leaves the record as it was"
    );

    let on_b = work_order(&b, &vb, "on b", T0 + 300);
    let rb = record("k1", "{\"id\":\"b\"}");
    assert_eq!(
        ok(
            s.create_work_order(on_b.clone(), Some(rb.clone()), None)
                .await,
            "create"
        ),
        CreateOutcome::Created(on_b),
        "the same key on another site creates"
    );
    let plain = work_order(&a, &va, "plain", T0 + 400);
    create(&s, &plain).await;
    let (count, _) = list_all(&s, &a, &WorkOrderFilter::default()).await;
    assert_eq!(
        count, 2,
        "site A has the first and the plain work order only"
    );

    // A create whose work order cannot be stored leaves no record behind.
    let broken = WorkOrderRow {
        app_version_id: Uuid::new_v4(),
        ..work_order(&a, &va, "broken", T0 + 450)
    };
    let failed = s
        .create_work_order(broken, Some(record("k-broken", "{}")), None)
        .await;
    assert!(
        failed.is_err(),
        "a work order on an unknown application version must be refused, got {failed:?}"
    );
    assert_eq!(
        ok(
            s.idempotency_record(a.id, "k-broken").await,
            "idempotency_record"
        ),
        None,
        "a failed create keeps no idempotency record"
    );

    drop(s);
    cx.reopen().await;
    assert_eq!(
        ok(
            cx.store.idempotency_record(a.id, "k1").await,
            "idempotency_record after reopen"
        ),
        Some(r1),
        "records are in the storage"
    );
    assert_eq!(
        ok(
            cx.store.idempotency_record(b.id, "k1").await,
            "after reopen"
        ),
        Some(rb)
    );
}
