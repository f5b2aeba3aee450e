//! Inputs, analyses, corrections and reviews: what each folds into the task states, the progress
//! score and the work order's dates, site scoping, and survival across a reopen.
//!
//! Task states themselves are the domain's (`fieldproof_domain::state`); what the suite pins is
//! which tasks a write touches, that the store keeps and returns them, and the work order's
//! bookkeeping.

use std::sync::Arc;

use fieldproof_domain::app::{AppVersion, Task};
use fieldproof_domain::state::{after_analysis, after_correction};
use fieldproof_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

fn task<'v>(version: &'v AppVersion, name: &str) -> &'v Task {
    version
        .find_task(name)
        .expect("the suite's application has the task")
        .1
}

/// Checks a write's answer against what was expected and against what the store then reads.
async fn expect_stored(
    s: &Arc<dyn Store>,
    step: &str,
    got: (WorkOrderRow, TaskStates),
    wo: &WorkOrderRow,
    states: &TaskStates,
) {
    assert_eq!(&got.0, wo, "{step}: the work order returned");
    assert_eq!(&got.1, states, "{step}: the task states returned");
    let stored = ok(s.get_work_order(wo.site_id, wo.id).await, "get_work_order");
    assert_eq!(stored.as_ref(), Some(wo), "{step}: the work order stored");
    let stored_states = ok(s.task_states(wo.site_id, wo.id).await, "task_states");
    assert_eq!(&stored_states, states, "{step}: the task states stored");
}

pub async fn fold(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let (b, vb) = site_with_app(&s, "site-b").await;
    let mut wo = work_order(&a, &va, "analysed", T0 + 100);
    let quiet = work_order(&a, &va, "never analysed", T0 + 110);
    create(&s, &wo).await;
    create(&s, &quiet).await;
    let mut states = TaskStates::new();
    let mut photos: Vec<(InputRow, AnalysisRow)> = Vec::new();
    let record = |(input, analysis): (InputRow, AnalysisRow)| {
        let (s, va) = (s.clone(), va.clone());
        async move {
            ok(
                s.record_analysis(input, analysis, va, None).await,
                "record_analysis",
            )
        }
    };

    // 1. A photo of "before": only the group's model-computed tasks take its values.
    let p = photo(
        &wo,
        "before",
        json!({"before_ok": true, "after_ok": true}),
        T0 + 200,
    );
    let got = record(p.clone()).await;
    states.insert(
        "before_ok".into(),
        after_analysis(task(&va, "before_ok"), None, Some(json!(true))),
    );
    wo.first_analysis_id = Some(p.1.id);
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date = T0 + 200;
    wo.progress_score = 25.0; // 1 of 4 counted tasks validated
    expect_stored(&s, "first analysis", got, &wo, &states).await;
    photos.push(p);

    // 2. A photo of "after": a number and a refusal; an unbound task and another group's task
    //    in the values are ignored. The clock went back: update_date still moves forward.
    let values =
        json!({"after_ok": false, "after_damage": 2, "after_signed": true, "before_ok": false});
    let p = photo(&wo, "after", values, T0 + 150);
    let got = record(p.clone()).await;
    states.insert(
        "after_ok".into(),
        after_analysis(task(&va, "after_ok"), None, Some(json!(false))),
    );
    states.insert(
        "after_damage".into(),
        after_analysis(task(&va, "after_damage"), None, Some(json!(2))),
    );
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date += 1;
    expect_stored(&s, "second analysis", got, &wo, &states).await;
    photos.push(p);

    // 3. A photo that failed data conformity computes nothing but is kept.
    let p = photo(&wo, "after", json!({}), T0 + 300);
    let got = record(p.clone()).await;
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date = T0 + 300;
    expect_stored(&s, "non-conform photo", got, &wo, &states).await;
    photos.push(p);

    // 4. A correction overrides the analysis.
    let got = ok(
        s.correct_task(
            a.id,
            wo.id,
            "after_ok",
            Some(json!(true)),
            T0 + 400,
            va.clone(),
            None,
        )
        .await,
        "correct_task",
    );
    let corrected = after_correction(
        task(&va, "after_ok"),
        states.get("after_ok"),
        Some(json!(true)),
    );
    states.insert("after_ok".into(), corrected);
    wo.update_date = T0 + 400;
    wo.progress_score = 50.0;
    expect_stored(&s, "correction", got, &wo, &states).await;

    // 5. A later analysis does not undo the correction; "null" is an undecided value.
    let p = photo(
        &wo,
        "after",
        json!({"after_ok": null, "after_damage": 0}),
        T0 + 500,
    );
    let got = record(p.clone()).await;
    let after_ok = after_analysis(task(&va, "after_ok"), states.get("after_ok"), None);
    assert_eq!(
        after_ok.value,
        Some(json!(true)),
        "the suite's premise: corrections win"
    );
    states.insert("after_ok".into(), after_ok);
    states.insert(
        "after_damage".into(),
        after_analysis(
            task(&va, "after_damage"),
            states.get("after_damage"),
            Some(json!(0)),
        ),
    );
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date = T0 + 500;
    wo.progress_score = 75.0;
    expect_stored(&s, "analysis after a correction", got, &wo, &states).await;
    photos.push(p);

    // 6. A task no model computes is set by correction only.
    let got = ok(
        s.correct_task(
            a.id,
            wo.id,
            "after_signed",
            Some(json!(true)),
            T0 + 600,
            va.clone(),
            None,
        )
        .await,
        "correct_task",
    );
    states.insert(
        "after_signed".into(),
        after_correction(task(&va, "after_signed"), None, Some(json!(true))),
    );
    wo.update_date = T0 + 600;
    wo.progress_score = 100.0;
    expect_stored(&s, "correction of an unbound task", got, &wo, &states).await;

    // 7. Removing a correction falls back to the analysis (undecided here).
    let got = ok(
        s.correct_task(a.id, wo.id, "after_ok", None, T0 + 700, va.clone(), None)
            .await,
        "correct_task",
    );
    states.insert(
        "after_ok".into(),
        after_correction(task(&va, "after_ok"), states.get("after_ok"), None),
    );
    wo.update_date = T0 + 700;
    wo.progress_score = 75.0;
    expect_stored(&s, "removed correction", got, &wo, &states).await;

    // 8. Refused corrections change nothing.
    expect_not_found(
        s.correct_task(
            a.id,
            wo.id,
            "no_such_task",
            Some(json!(true)),
            T0 + 800,
            va.clone(),
            None,
        )
        .await,
        "correcting a task the version does not have",
    );
    expect_not_found(
        s.correct_task(
            b.id,
            wo.id,
            "after_ok",
            Some(json!(true)),
            T0 + 800,
            vb.clone(),
            None,
        )
        .await,
        "site B correcting site A's work order",
    );
    expect_not_found(
        s.correct_task(
            a.id,
            Uuid::new_v4(),
            "after_ok",
            Some(json!(true)),
            T0 + 800,
            va.clone(),
            None,
        )
        .await,
        "correcting an unknown work order",
    );
    let unchanged = (wo.clone(), states.clone());
    expect_stored(&s, "after refused corrections", unchanged, &wo, &states).await;

    // 9. Updates recompute the progress from the states, with the new types.
    let changes = WorkOrderChanges {
        name: Some("renamed".into()),
        now: T0 + 900,
        ..Default::default()
    };
    let got = ok(
        s.update_work_order(a.id, wo.id, changes, va.clone(), None)
            .await,
        "update_work_order",
    );
    wo.name = "renamed".into();
    wo.update_date = T0 + 900;
    assert_eq!(got, wo, "an update keeps the progress the states give (75)");
    let changes = WorkOrderChanges {
        types: Some(vec!["repair".into()]),
        now: T0 + 1000,
        ..Default::default()
    };
    let got = ok(
        s.update_work_order(a.id, wo.id, changes, va.clone(), None)
            .await,
        "update_work_order",
    );
    wo.types = vec!["repair".into()];
    wo.update_date = T0 + 1000;
    wo.progress_score = 66.67; // "repair" keeps the after group: 2 of 3 validated
    assert_eq!(
        got, wo,
        "an update recomputes the progress over the new types' tasks"
    );

    // 10. A group the types no longer activate takes no values.
    let p = photo(&wo, "before", json!({"before_ok": false}), T0 + 1100);
    let got = record(p.clone()).await;
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date = T0 + 1100;
    expect_stored(&s, "analysis of an inactive group", got, &wo, &states).await;
    photos.push(p);

    // 11. Reviews.
    let reviewed = ok(
        s.set_reviewed(a.id, wo.id, true, T0 + 1200, None).await,
        "set_reviewed",
    );
    wo.review_date = Some(T0 + 1200);
    wo.update_date = T0 + 1200;
    assert_eq!(reviewed, wo, "set_reviewed returns the reviewed work order");
    let by_review = WorkOrderFilter {
        reviewed: Some(true),
        ..Default::default()
    };
    assert_eq!(list_all(&s, &a, &by_review).await, (1, vec![wo.clone()]));
    let p = photo(&wo, "after", json!({"after_damage": 0}), T0 + 1300);
    let got = record(p.clone()).await;
    states.insert(
        "after_damage".into(),
        after_analysis(
            task(&va, "after_damage"),
            states.get("after_damage"),
            Some(json!(0)),
        ),
    );
    wo.latest_analysis_id = Some(p.1.id);
    wo.update_date = T0 + 1300;
    expect_stored(&s, "an analysis keeps the review", got, &wo, &states).await;
    photos.push(p);
    expect_not_found(
        s.set_reviewed(b.id, wo.id, false, T0 + 1400, None).await,
        "site B un-reviewing",
    );
    expect_not_found(
        s.set_reviewed(a.id, Uuid::new_v4(), true, T0 + 1400, None)
            .await,
        "reviewing nothing",
    );
    let unreviewed = ok(
        s.set_reviewed(a.id, wo.id, false, T0 + 1400, None).await,
        "set_reviewed",
    );
    wo.review_date = None;
    wo.update_date = T0 + 1400;
    assert_eq!(unreviewed, wo, "set_reviewed(false) clears the review date");

    // Refused analyses store nothing.
    let (mut input, analysis) = photo(&wo, "after", json!({"after_damage": 5}), T0 + 1500);
    input.site_id = b.id;
    expect_not_found(
        s.record_analysis(input, analysis.clone(), vb.clone(), None)
            .await,
        "site B analysing site A's work order",
    );
    assert_eq!(
        ok(s.get_analysis(a.id, analysis.id).await, "get_analysis"),
        None
    );
    let (input, analysis) = photo(
        &work_order(&a, &va, "never stored", T0),
        "after",
        json!({}),
        T0 + 1500,
    );
    expect_not_found(
        s.record_analysis(input, analysis, va.clone(), None).await,
        "analysing an unknown work order",
    );

    // What was kept, by site.
    let inputs: Vec<InputRow> = photos.iter().map(|p| p.0.clone()).collect();
    let mut oldest_first = inputs.clone();
    oldest_first.sort_by_key(|i| (i.create_date, i.id));
    let check_kept = |s: Arc<dyn Store>, when: &'static str| {
        let (photos, oldest_first, wo, states) = (
            photos.clone(),
            oldest_first.clone(),
            wo.clone(),
            states.clone(),
        );
        let (a, b, quiet) = (a.id, b.id, quiet.id);
        async move {
            assert_eq!(
                ok(s.list_inputs(a, wo.id).await, "list_inputs"),
                oldest_first,
                "{when}: inputs, oldest first"
            );
            assert!(
                ok(s.list_inputs(b, wo.id).await, "list_inputs").is_empty(),
                "{when}: B lists A's inputs"
            );
            assert!(ok(s.list_inputs(a, quiet).await, "list_inputs").is_empty());
            for (_, analysis) in &photos {
                assert_eq!(
                    ok(s.get_analysis(a, analysis.id).await, "get_analysis").as_ref(),
                    Some(analysis),
                    "{when}: an analysis reads back exactly"
                );
                assert_eq!(
                    ok(s.get_analysis(b, analysis.id).await, "get_analysis"),
                    None,
                    "{when}: B reads A's analysis"
                );
            }
            let batch = ok(
                s.task_states_of(a, &[wo.id, quiet, Uuid::new_v4()]).await,
                "task_states_of",
            );
            assert_eq!(
                batch.len(),
                1,
                "{when}: task_states_of has entries for work orders with states only"
            );
            assert_eq!(batch.get(&wo.id), Some(&states), "{when}: task_states_of");
            assert!(ok(s.task_states_of(b, &[wo.id]).await, "task_states_of").is_empty());
            assert_eq!(
                ok(s.get_work_order(a, wo.id).await, "get_work_order"),
                Some(wo)
            );
        }
    };
    check_kept(s.clone(), "before reopening").await;
    drop(s);
    cx.reopen().await;
    let s = cx.store.clone();
    check_kept(s.clone(), "after reopening").await;

    // Everything goes with the work order.
    ok(
        s.delete_work_order(a.id, wo.id, None).await,
        "delete_work_order",
    );
    assert!(
        ok(s.list_inputs(a.id, wo.id).await, "list_inputs").is_empty(),
        "inputs go with their work order"
    );
    for (_, analysis) in &photos {
        assert_eq!(
            ok(s.get_analysis(a.id, analysis.id).await, "get_analysis"),
            None,
            "analyses go too"
        );
    }
    assert!(
        ok(s.task_states(a.id, wo.id).await, "task_states").is_empty(),
        "states go too"
    );
}
