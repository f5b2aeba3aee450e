//! Analyses that go through the job queue: `queue_analysis` stores an input and its job both or
//! neither, and `record_analysis` is idempotent (a job may run twice), so the job's eventual
//! record turns the queued input into an analysed one exactly once.

use std::sync::Arc;

use fieldproof_store::*;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::fixtures::*;
use crate::jobs::new_job;
use crate::Ctx;

/// The `analyze_input` job of a queued input.
pub(crate) fn analysis_job(input: &InputRow) -> NewJob {
    NewJob {
        site_id: Some(input.site_id),
        payload: json!({"input_id": input.id}),
        ..new_job("analyze_input", input.create_date, input.create_date)
    }
}

async fn inputs(s: &Arc<dyn Store>, wo: &WorkOrderRow) -> Vec<InputRow> {
    ok(s.list_inputs(wo.site_id, wo.id).await, "list_inputs")
}

pub async fn queue_is_atomic(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let wo = work_order(&a, &va, "bulk", T0 + 100);
    create(&s, &wo).await;

    let (input, analysis) = photo(&wo, "after", json!({"after_damage": 1}), T0 + 200);
    let job = analysis_job(&input);
    ok(
        s.queue_analysis(input.clone(), job.clone(), None).await,
        "queue_analysis",
    );
    let queued_input = InputRow {
        status: "queued".into(),
        ..input.clone()
    };
    let stored_job = ok(s.get_job(Some(a.id), job.id).await, "get_job").expect("the job");
    assert_eq!(
        (
            stored_job.state,
            stored_job.kind.as_str(),
            &stored_job.payload
        ),
        (JobState::Queued, "analyze_input", &job.payload)
    );

    // A second input whose job id is taken: the job insert fails after the input's, and the
    // input must go with it.
    let (other, _) = photo(&wo, "after", json!({}), T0 + 300);
    let clash = NewJob {
        id: job.id,
        ..analysis_job(&other)
    };
    expect_conflict(
        s.queue_analysis(other.clone(), clash, None).await,
        &job.id.to_string(),
        "queue_analysis with a taken job id",
    );
    // An input id taken: nothing either.
    let retaken_job = analysis_job(&input);
    expect_conflict(
        s.queue_analysis(input.clone(), retaken_job.clone(), None)
            .await,
        &input.id.to_string(),
        "queue_analysis with a taken input id",
    );
    // No such work order: nothing either.
    let mut lost = work_order(&a, &va, "never created", T0);
    lost.id = Uuid::new_v4();
    let (orphan, _) = photo(&lost, "after", json!({}), T0 + 400);
    let orphan_job = analysis_job(&orphan);
    expect_not_found(
        s.queue_analysis(orphan, orphan_job.clone(), None).await,
        "queue_analysis on a missing work order",
    );
    for (id, what) in [
        (retaken_job.id, "a taken input's job"),
        (orphan_job.id, "a missing work order's job"),
    ] {
        assert_eq!(
            ok(s.get_job(None, id).await, "get_job"),
            None,
            "{what} was not enqueued"
        );
    }
    for round in ["before reopening", "after reopening"] {
        assert_eq!(
            inputs(&cx.store, &wo).await,
            vec![queued_input.clone()],
            "{round}: only the first input is stored, as queued"
        );
        if round == "before reopening" {
            cx.reopen().await;
        }
    }
    let s = cx.store.clone();

    // The job runs: its record updates the queued input instead of adding one.
    let worker = "analyser#1";
    let claimed = ok(
        s.claim_job(worker, &["analyze_input".to_string()], T0 + 500, 1_000_000)
            .await,
        "claim_job",
    )
    .expect("the analysis job is due");
    assert_eq!(claimed.id, job.id);
    let analysed = InputRow {
        create_date: T0 + 500, // what the worker says is ignored: received when queued
        ..input.clone()
    };
    let analysis = AnalysisRow {
        create_date: T0 + 500,
        ..analysis
    };
    let (row, states) = ok(
        s.record_analysis(analysed, analysis.clone(), va.clone(), None)
            .await,
        "record_analysis of a queued input",
    );
    assert_eq!(row.latest_analysis_id, Some(analysis.id));
    assert!(states.contains_key("after_damage"));
    assert_eq!(
        inputs(&s, &wo).await,
        vec![input.clone()],
        "the queued input now holds the analysis's status, and its reception date"
    );
    assert!(ok(
        s.complete_job(job.id, worker, T0 + 600).await,
        "complete_job"
    ));
}

pub async fn record_is_idempotent(cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let wo = work_order(&a, &va, "twice", T0 + 100);
    create(&s, &wo).await;
    let (input, analysis) = photo(&wo, "after", json!({"after_damage": 2}), T0 + 200);
    let first = ok(
        s.record_analysis(input.clone(), analysis.clone(), va.clone(), None)
            .await,
        "record_analysis",
    );

    // The same call again, then the same input under a new analysis id, then the same analysis
    // id with a new input: each answers the current state and writes nothing.
    let (other_input, other_analysis) = photo(&wo, "after", json!({"after_damage": 9}), T0 + 900);
    let replays = [
        (input.clone(), analysis.clone()),
        (
            input.clone(),
            AnalysisRow {
                id: Uuid::new_v4(),
                ..other_analysis.clone()
            },
        ),
        (
            InputRow {
                analysis_id: analysis.id,
                ..other_input.clone()
            },
            AnalysisRow {
                id: analysis.id,
                input_id: other_input.id,
                ..other_analysis.clone()
            },
        ),
    ];
    for (i, (inp, ana)) in replays.into_iter().enumerate() {
        let got = ok(
            s.record_analysis(inp, ana.clone(), va.clone(), None).await,
            "record_analysis again",
        );
        assert_eq!(got, first, "replay {i}: the current work order and states");
        if ana.id != analysis.id {
            assert_eq!(
                ok(s.get_analysis(a.id, ana.id).await, "get_analysis"),
                None,
                "replay {i}: no second analysis of one input"
            );
        }
    }
    assert_eq!(inputs(&s, &wo).await, vec![input.clone()], "one input");
    assert_eq!(
        ok(s.get_analysis(a.id, analysis.id).await, "get_analysis"),
        Some(analysis.clone()),
        "the first analysis is kept as it was"
    );

    // Racing duplicates (a job run twice at once): one analysis, folded once.
    let (input, analysis) = photo(&wo, "after", json!({"after_damage": 0}), T0 + 1_000);
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (s, i, an, v) = (s.clone(), input.clone(), analysis.clone(), va.clone());
        tasks.spawn(async move { s.record_analysis(i, an, v, None).await });
    }
    let mut dates = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (row, _) = ok(joined.expect("a record task panicked"), "record_analysis");
        dates.push(row.update_date);
    }
    assert!(
        dates.iter().all(|d| *d == T0 + 1_000),
        "every duplicate answers the state after the one fold: {dates:?}"
    );
    assert_eq!(inputs(&s, &wo).await.len(), 2, "one input per analysis");
}
