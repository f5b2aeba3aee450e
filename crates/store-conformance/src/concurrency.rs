//! Concurrent writes, as several requests (or several processes) issue them: each is atomic,
//! each sees the ones committed before it, and every acknowledged one is durable.
//!
//! The writes are spawned as tokio tasks, so on a multi-threaded runtime they really overlap.

use std::collections::{BTreeSet, HashMap};

use fieldproof_domain::role::Role;
use fieldproof_store::*;
use serde_json::json;
use tokio::task::JoinSet;

use crate::fixtures::*;
use crate::Ctx;

const CREATES: usize = 200;

pub async fn creates(mut cx: Ctx) {
    let (a, va) = site_with_app(&cx.store, "site-a").await;
    let mut rows: Vec<WorkOrderRow> = (0..CREATES)
        .map(|i| WorkOrderRow {
            tags: vec![format!("batch-{}", i % 4)],
            // Some cannot be stored (an unknown version): each fails alone, whatever engine
            // groups concurrent creates into one transaction.
            app_version_id: if i % 20 == 3 {
                uuid::Uuid::new_v4()
            } else {
                va.id
            },
            ..work_order(&a, &va, &format!("wo-{i}"), T0 + i as i64)
        })
        .collect();
    let mut tasks = JoinSet::new();
    for (i, row) in rows.iter().cloned().enumerate() {
        let store = cx.store.clone();
        // Half of them carry an idempotency record, as API creates do.
        let record = (i % 2 == 0).then(|| IdempotencyRecord {
            key: format!("key-{i}"),
            request_hash: format!("hash-{i}"),
            status: 201,
            body: format!("{{\"id\":\"{}\"}}", row.id),
            create_date: row.create_date,
        });
        tasks.spawn(async move {
            (
                row.clone(),
                store.create_work_order(row, record, None).await,
            )
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (row, outcome) = joined.expect("a create task panicked");
        if row.app_version_id != va.id {
            assert!(
                outcome.is_err(),
                "a create on an unknown version must fail, got {outcome:?}"
            );
            continue;
        }
        assert_eq!(
            ok(outcome, "concurrent create_work_order"),
            CreateOutcome::Created(row),
            "each concurrent create creates its own work order"
        );
    }
    rows.retain(|r| r.app_version_id == va.id);
    let created = rows.len();
    newest_first(&mut rows);

    for round in ["before", "after"] {
        let (count, listed) = list_all(&cx.store, &a, &WorkOrderFilter::default()).await;
        assert_eq!(
            count, created as u64,
            "{round} reopening: every acknowledged create is listed, and no failed one"
        );
        assert_eq!(
            listed, rows,
            "{round} reopening: the listed rows are the created ones"
        );
        let batch = WorkOrderFilter {
            tags: vec!["batch-1".into()],
            ..Default::default()
        };
        assert_eq!(
            list_all(&cx.store, &a, &batch).await.0,
            (CREATES / 4) as u64,
            "{round}: index entries"
        );
        for i in (0..CREATES).step_by(2) {
            let record = ok(
                cx.store.idempotency_record(a.id, &format!("key-{i}")).await,
                "idempotency_record",
            );
            assert_eq!(
                record.map(|r| r.request_hash),
                Some(format!("hash-{i}")),
                "{round} reopening: the idempotency record of create {i}"
            );
        }
        if round == "before" {
            cx.reopen().await;
        }
    }
}

pub async fn same_idempotency_key(cx: Ctx) {
    let (a, va) = site_with_app(&cx.store, "site-a").await;
    const ATTEMPTS: usize = 20;
    let mut tasks = JoinSet::new();
    for i in 0..ATTEMPTS {
        let store = cx.store.clone();
        let row = work_order(&a, &va, "retried", T0 + i as i64);
        let record = IdempotencyRecord {
            key: "one-key".into(),
            request_hash: "same request".into(),
            status: 201,
            body: row.id.to_string(),
            create_date: row.create_date,
        };
        tasks.spawn(async move { store.create_work_order(row, Some(record), None).await });
    }
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match ok(
            joined.expect("a create task panicked"),
            "create_work_order with a shared key",
        ) {
            CreateOutcome::Created(row) => created.push(row),
            CreateOutcome::Replayed(record) => replayed.push(record),
        }
    }
    assert_eq!(
        created.len(),
        1,
        "exactly one of {ATTEMPTS} creates with one key may create"
    );
    let winner = &created[0];
    assert!(
        replayed.iter().all(|r| r.body == winner.id.to_string()),
        "every replay returns the winner's record"
    );
    let (count, listed) = list_all(&cx.store, &a, &WorkOrderFilter::default()).await;
    assert_eq!(
        (count, listed),
        (1, vec![winner.clone()]),
        "only the winner is stored"
    );
}

pub async fn updates(cx: Ctx) {
    let (a, va) = site_with_app(&cx.store, "site-a").await;
    let wo = work_order(&a, &va, "busy", T0 + 100);
    create(&cx.store, &wo).await;
    const UPDATES: i64 = 50;
    let (site_id, wo_id) = (a.id, wo.id);
    let mut tasks = JoinSet::new();
    for i in 0..UPDATES {
        let store = cx.store.clone();
        let version = va.clone();
        // Every request's clock says the creation time, so each update can only move
        // `update_date` one microsecond past the one it sees: a lost update would show.
        let changes = WorkOrderChanges {
            name: Some(format!("name-{i}")),
            now: wo.create_date,
            ..Default::default()
        };
        tasks.spawn(async move {
            store
                .update_work_order(site_id, wo_id, changes, version, None)
                .await
        });
    }
    // Offsets from the creation's update_date, sorted, so a failure reads easily.
    let mut dates = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let row = ok(
            joined.expect("an update task panicked"),
            "concurrent update_work_order",
        );
        dates.insert(row.update_date - wo.update_date);
    }
    let want: BTreeSet<i64> = (1..=UPDATES).collect();
    assert_eq!(
        dates, want,
        "each concurrent update saw the one before it (update_date +1 each)"
    );
    let last = ok(cx.store.get_work_order(a.id, wo.id).await, "get_work_order").expect("present");
    assert_eq!(last.update_date, wo.update_date + UPDATES);
}

pub async fn analyses(cx: Ctx) {
    let (a, va) = site_with_app(&cx.store, "site-a").await;
    let wo = work_order(&a, &va, "busy", T0 + 100);
    create(&cx.store, &wo).await;
    const ANALYSES: i64 = 20;
    let mut tasks = JoinSet::new();
    for i in 0..ANALYSES {
        let (store, version) = (cx.store.clone(), va.clone());
        // All at the creation time: each must see the one before to move update_date by one.
        let (input, analysis) = photo(&wo, "after", json!({ "after_damage": i }), wo.create_date);
        tasks.spawn(async move {
            let id = analysis.id;
            (
                id,
                i,
                store.record_analysis(input, analysis, version, None).await,
            )
        });
    }
    let mut by_date = HashMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, i, result) = joined.expect("an analysis task panicked");
        let (row, _) = ok(result, "concurrent record_analysis");
        by_date.insert(row.update_date, (id, i));
    }
    let dates: BTreeSet<i64> = by_date.keys().map(|d| d - wo.update_date).collect();
    let want: BTreeSet<i64> = (1..=ANALYSES).collect();
    assert_eq!(
        dates, want,
        "each concurrent analysis folded after the one before it"
    );
    let (first, _) = by_date[&(wo.update_date + 1)];
    let (last, last_value) = by_date[&(wo.update_date + ANALYSES)];
    let stored = ok(cx.store.get_work_order(a.id, wo.id).await, "get_work_order").expect("present");
    assert_eq!(
        stored.first_analysis_id,
        Some(first),
        "the first analysis committed stays first"
    );
    assert_eq!(
        stored.latest_analysis_id,
        Some(last),
        "the last analysis committed is the latest"
    );
    let states = ok(cx.store.task_states(a.id, wo.id).await, "task_states");
    assert_eq!(
        states
            .get("after_damage")
            .and_then(|s| s.analyzed_value.clone()),
        Some(json!(last_value)),
        "the state holds the last analysis's value"
    );
    let inputs = ok(cx.store.list_inputs(a.id, wo.id).await, "list_inputs");
    assert_eq!(inputs.len(), ANALYSES as usize, "every input is kept");
}

pub async fn publishes(cx: Ctx) {
    let s = ok(cx.store.create_site(site("site-a")).await, "create_site");
    const PUBLISHES: u32 = 20;
    let site_id = s.id;
    let mut tasks = JoinSet::new();
    for i in 0..PUBLISHES {
        let store = cx.store.clone();
        tasks.spawn(async move {
            store
                .publish_app_version(site_id, app("inspection"), T0 + i as i64)
                .await
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        let v = ok(
            joined.expect("a publish task panicked"),
            "concurrent publish_app_version",
        );
        numbers.insert(v.version);
    }
    assert_eq!(
        numbers,
        (1..=PUBLISHES).collect(),
        "concurrent publishes get distinct numbers 1..={PUBLISHES}"
    );
    let current = ok(
        cx.store.current_app_version(s.id).await,
        "current_app_version",
    )
    .expect("a current version");
    assert_eq!(
        current.version, PUBLISHES,
        "the last publication committed is current"
    );
    assert_eq!(
        ok(cx.store.list_app_versions(s.id).await, "list_app_versions").len(),
        PUBLISHES as usize
    );
}

pub async fn same_email(cx: Ctx) {
    let s = ok(cx.store.create_site(site("site-a")).await, "create_site");
    const ATTEMPTS: usize = 20;
    let mut tasks = JoinSet::new();
    for i in 0..ATTEMPTS {
        let store = cx.store.clone();
        let email = if i % 2 == 0 {
            "Same@Example.com"
        } else {
            "same@example.COM"
        };
        let u = user(&s, email, Role::FieldWorker);
        tasks.spawn(async move { store.create_user(u).await });
    }
    let (mut created, mut conflicts) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("a create task panicked") {
            Ok(_) => created += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("a concurrent duplicate user must be a Conflict, got {e:?}"),
        }
    }
    assert_eq!(
        (created, conflicts),
        (1, ATTEMPTS - 1),
        "one user per email, whatever the case"
    );
    assert_eq!(ok(cx.store.list_users(s.id).await, "list_users").len(), 1);
}
