//! The audit events of analyses (recorded, or queued for a worker), corrections and reviews:
//! like a work order's (`audit::with_changes`), each is written in its change's transaction. An
//! acknowledged change has its event, in the storage; a refused one (`NotFound`) has none; an
//! analysis replayed (a job that ran twice) writes no second event; and an event that cannot be
//! written takes its change down with it.

use std::sync::Arc;

use fieldproof_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{event, list};
use crate::fixtures::*;
use crate::queued_analyses::analysis_job;
use crate::Ctx;

/// What a refused change must leave as it was: the work order, its task states and its inputs.
type Snapshot = (Option<WorkOrderRow>, TaskStates, Vec<InputRow>);

async fn snapshot(s: &Arc<dyn Store>, wo: &WorkOrderRow) -> Snapshot {
    (
        ok(s.get_work_order(wo.site_id, wo.id).await, "get_work_order"),
        ok(s.task_states(wo.site_id, wo.id).await, "task_states"),
        ok(s.list_inputs(wo.site_id, wo.id).await, "list_inputs"),
    )
}

/// A change whose event could not be written fails as the engine's fault: the caller made the
/// event, so it is never the client's `Conflict` or `NotFound`.
#[track_caller]
fn expect_backend<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Backend(_)) => {}
        other => panic!("{what}: expected Backend, got {other:?}"),
    }
}

pub async fn analyses_with_changes(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let wo = work_order(&a, &va, "audited", T0 + 100);
    create(&s, &wo).await;
    // Never stored: every change on it is refused.
    let ghost = work_order(&a, &va, "never stored", T0);
    let of = |id: Uuid| AuditFilter {
        object_id: Some(id.to_string()),
        ..Default::default()
    };
    let change = |action: &str, id: Uuid, at: i64| event(&a, action, &id.to_string(), at);
    // Another store on the storage reads the events: they must be in the storage as soon as
    // their change is acknowledged, not only in the first store's memory.
    let other = cx.open_another().await;
    // The work order's events, newest first.
    let mut expected: Vec<AuditEvent> = Vec::new();

    // An analysis.
    let (input, analysis) = photo(&wo, "after", json!({"after_damage": 1}), T0 + 200);
    let e_analysis = change(actions::ANALYSIS_CREATE, wo.id, T0 + 200);
    let analysed = ok(
        s.record_analysis(
            input.clone(),
            analysis.clone(),
            va.clone(),
            Some(e_analysis.clone()),
        )
        .await,
        "record_analysis with an event",
    );
    expected.insert(0, e_analysis.clone());
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (1, expected.clone()),
        "an analysis's event is stored with it"
    );

    // The same analysis again, with another event: nothing is written, not the event either.
    let e_replay = change(actions::ANALYSIS_CREATE, wo.id, T0 + 210);
    assert_eq!(
        ok(
            s.record_analysis(input.clone(), analysis.clone(), va.clone(), Some(e_replay))
                .await,
            "record_analysis replayed",
        ),
        analysed,
        "a replayed analysis answers the current state"
    );
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (1, expected.clone()),
        "a replayed analysis records no second event"
    );

    // An analysis of an unknown work order: refused, no event.
    let (lost_input, lost_analysis) = photo(&ghost, "after", json!({}), T0 + 220);
    expect_not_found(
        s.record_analysis(
            lost_input,
            lost_analysis,
            va.clone(),
            Some(change(actions::ANALYSIS_CREATE, ghost.id, T0 + 220)),
        )
        .await,
        "analysing an unknown work order",
    );

    // A queued analysis: the event comes with the input and its job.
    let (queued, _) = photo(&wo, "before", json!({"before_ok": true}), T0 + 300);
    let job = analysis_job(&queued);
    let e_queued = change(actions::ANALYSIS_CREATE, wo.id, T0 + 300);
    ok(
        s.queue_analysis(queued.clone(), job.clone(), Some(e_queued.clone()))
            .await,
        "queue_analysis with an event",
    );
    expected.insert(0, e_queued);
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (2, expected.clone()),
        "a queued analysis's event is stored with its input and job"
    );
    let (lost_queued, _) = photo(&ghost, "after", json!({}), T0 + 320);
    let lost_job = analysis_job(&lost_queued);
    expect_not_found(
        s.queue_analysis(
            lost_queued,
            lost_job.clone(),
            Some(change(actions::ANALYSIS_CREATE, ghost.id, T0 + 320)),
        )
        .await,
        "queueing an analysis of an unknown work order",
    );
    assert_eq!(
        ok(s.get_job(None, lost_job.id).await, "get_job"),
        None,
        "a refused queue_analysis enqueues nothing"
    );

    // A correction: `task` of work order `id` set to `value` at `at`, with `event`.
    let correct = |id: Uuid, task: &'static str, value: bool, at: i64, event: AuditEvent| {
        let (s, va, site) = (s.clone(), va.clone(), a.id);
        async move {
            s.correct_task(site, id, task, Some(json!(value)), at, va, Some(event))
                .await
        }
    };
    let e_correct = change(actions::TASK_CORRECT, wo.id, T0 + 400);
    ok(
        correct(wo.id, "after_ok", true, T0 + 400, e_correct.clone()).await,
        "correct_task with an event",
    );
    expected.insert(0, e_correct);
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (3, expected.clone()),
        "a correction's event is stored with it"
    );
    expect_not_found(
        correct(
            ghost.id,
            "after_ok",
            true,
            T0 + 420,
            change(actions::TASK_CORRECT, ghost.id, T0 + 420),
        )
        .await,
        "correcting a task of an unknown work order",
    );
    expect_not_found(
        correct(
            wo.id,
            "no_such_task",
            true,
            T0 + 430,
            change(actions::TASK_CORRECT, wo.id, T0 + 430),
        )
        .await,
        "correcting a task the version does not have",
    );
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (3, expected.clone()),
        "a refused correction records no event"
    );

    // A review.
    let e_review = change(actions::WORK_ORDER_REVIEW, wo.id, T0 + 500);
    let reviewed = ok(
        s.set_reviewed(a.id, wo.id, true, T0 + 500, Some(e_review.clone()))
            .await,
        "set_reviewed with an event",
    );
    expected.insert(0, e_review);
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (4, expected.clone()),
        "a review's event is stored with it"
    );
    expect_not_found(
        s.set_reviewed(
            a.id,
            ghost.id,
            true,
            T0 + 520,
            Some(change(actions::WORK_ORDER_REVIEW, ghost.id, T0 + 520)),
        )
        .await,
        "reviewing an unknown work order",
    );
    assert_eq!(
        list(&other, &a, of(ghost.id)).await,
        (0, vec![]),
        "no refused change on an unknown work order records an event"
    );

    // Events that cannot be written (their id is taken): each change fails, and nothing of it
    // is written. Each would change what the snapshot shows if it were applied.
    let before = snapshot(&s, &wo).await;
    assert_eq!(before.0.as_ref(), Some(&reviewed), "the suite's premise");
    let taken = |action: &str, at: i64| AuditEvent {
        id: e_analysis.id,
        ..change(action, wo.id, at)
    };
    let (twin_input, twin_analysis) = photo(
        &wo,
        "after",
        json!({"after_ok": false, "after_damage": 7}),
        T0 + 600,
    );
    expect_backend(
        s.record_analysis(
            twin_input,
            twin_analysis.clone(),
            va.clone(),
            Some(taken(actions::ANALYSIS_CREATE, T0 + 600)),
        )
        .await,
        "an analysis whose event id is taken",
    );
    assert_eq!(
        ok(s.get_analysis(a.id, twin_analysis.id).await, "get_analysis"),
        None,
        "an analysis whose event failed is not stored"
    );
    let (twin_queued, _) = photo(&wo, "after", json!({}), T0 + 610);
    let twin_job = analysis_job(&twin_queued);
    expect_backend(
        s.queue_analysis(
            twin_queued,
            twin_job.clone(),
            Some(taken(actions::ANALYSIS_CREATE, T0 + 610)),
        )
        .await,
        "a queued analysis whose event id is taken",
    );
    assert_eq!(
        ok(s.get_job(None, twin_job.id).await, "get_job"),
        None,
        "a queued analysis whose event failed enqueues no job"
    );
    expect_backend(
        correct(
            wo.id,
            "after_ok",
            false,
            T0 + 620,
            taken(actions::TASK_CORRECT, T0 + 620),
        )
        .await,
        "a correction whose event id is taken",
    );
    expect_backend(
        s.set_reviewed(
            a.id,
            wo.id,
            false,
            T0 + 630,
            Some(taken(actions::WORK_ORDER_REVIEW, T0 + 630)),
        )
        .await,
        "a review whose event id is taken",
    );
    assert_eq!(
        snapshot(&s, &wo).await,
        before,
        "changes whose event failed leave the work order, its task states and its inputs as they were"
    );

    // Everything acknowledged is in the storage, and nothing else.
    drop(other);
    cx.reopen().await;
    assert_eq!(
        list(&cx.store, &a, AuditFilter::default()).await,
        (4, expected),
        "the events of an analysis, a queued analysis, a correction and a review, and nothing \
         else, survive a reopen"
    );
    assert_eq!(
        snapshot(&cx.store, &wo).await,
        before,
        "the work order after a reopen"
    );
}
