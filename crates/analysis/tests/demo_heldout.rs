//! Golden test: the demo application's tasks on held-out generated photos, with the real models.
//!
//! The photos in tests/heldout/ come from `scripts/generate_demo_images.py /tmp/ho
//! --train-per-class 0 --heldout-per-class 6` (the held-out split: seeds the demo examples and
//! the counter's training never used). The prototypes are the demo's example photos, as the
//! server embeds them. A missing model or fixture fails the test: it never skips.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fieldproof_analysis::{Engine, Prototypes};
use fieldproof_domain::app::parse_and_validate;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_demo_tasks_are_right_on_held_out_photos() {
    let manifest = std::env::var("FIELDPROOF_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("models/manifest.toml"));
    let engine = Engine::load(&manifest)
        .unwrap_or_else(|e| panic!("the real models are required ({}): {e}", manifest.display()));
    let demo = std::fs::read_to_string(repo().join("demo/equipment-check.toml")).unwrap();
    let version = parse_and_validate(&demo).unwrap();
    let mut prototypes: HashMap<String, HashMap<String, Arc<Prototypes>>> = HashMap::new();
    for group in &version.task_groups {
        let examples: Vec<Option<Vec<u8>>> = group
            .examples
            .iter()
            .map(|e| {
                Some(std::fs::read(repo().join("demo").join(&e.file)).expect("demo example photo"))
            })
            .collect();
        let mut by_task = HashMap::new();
        for task in &group.tasks {
            if let Some(b) = task
                .binding
                .as_ref()
                .filter(|b| b.rule.name() == "nearest_example")
            {
                by_task.insert(
                    task.name.clone(),
                    engine
                        .compute_prototypes(&version, group, task, b, &examples)
                        .unwrap(),
                );
            }
        }
        prototypes.insert(group.name.clone(), by_task);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/heldout");
    let labels = std::fs::read_to_string(dir.join("labels.csv")).expect("tests/heldout/labels.csv");
    let (mut before_ok, mut after_ok, mut judged) = (0, 0, 0);
    let (mut count_exact, mut count_abs_err, mut counted) = (0, 0.0, 0);
    let mut rows = Vec::new();
    let mut unusable = Vec::new();
    for line in labels.lines().skip(1) {
        let mut f = line.split(',');
        let (file, situation, degradations) =
            (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let image = engine.decode(&bytes).unwrap();
        let mut answers = HashMap::new();
        for group in &version.task_groups {
            // Data conformity is judged and reported; the task values are judged on every photo.
            let v = engine
                .analyze(&image, group, &[], &prototypes[&group.name], Duration::ZERO)
                .unwrap();
            if v.status.as_str() == "conformity_error" {
                unusable.push(format!(
                    "{file} ({}): {:?} sharpness {}",
                    group.name, v.conformity_codes, v.details["sharpness"]
                ));
            }
            let mut unchecked = group.clone();
            unchecked.checks = Default::default();
            let v = engine
                .analyze(
                    &image,
                    &unchecked,
                    &[],
                    &prototypes[&group.name],
                    Duration::ZERO,
                )
                .unwrap();
            answers.extend(v.values);
        }
        let is_before = answers["equipment_before_intervention"] == json!(true);
        let is_after = answers["equipment_after_intervention"] == json!(true);
        judged += 1;
        before_ok += usize::from(is_before == (situation == "before"));
        after_ok += usize::from(is_after == matches!(situation, "after" | "degraded"));
        if let Ok(truth) = degradations.parse::<f64>() {
            let got = answers["equipment_after_intervention_degradations"]
                .as_f64()
                .unwrap();
            counted += 1;
            count_exact += usize::from(got == truth);
            count_abs_err += (got - truth).abs();
        }
        rows.push(format!(
            "{file}: before={is_before} after={is_after} degradations={}",
            answers["equipment_after_intervention_degradations"]
        ));
    }
    let before_acc = before_ok as f64 / judged as f64;
    let after_acc = after_ok as f64 / judged as f64;
    let mae = count_abs_err / counted as f64;
    println!(
        "held-out demo photos: {judged}; is-before accuracy {before_acc:.3}, is-after accuracy {after_acc:.3}; degradations exact {count_exact}/{counted}, MAE {mae:.2}"
    );
    println!(
        "refused by the demo's data-conformity checks: {}",
        unusable.len()
    );
    for u in &unusable {
        println!("  {u}");
    }
    assert!(
        unusable.len() * 10 <= judged * 2,
        "the demo's checks refuse too many of its own kind of photo"
    );
    assert!(judged >= 20, "the held-out set is too small");
    assert!(
        before_acc >= 0.85,
        "is-before accuracy {before_acc:.3}:\n{}",
        rows.join("\n")
    );
    assert!(
        after_acc >= 0.85,
        "is-after accuracy {after_acc:.3}:\n{}",
        rows.join("\n")
    );
    assert!(
        mae <= 1.0,
        "degradation count MAE {mae:.2}:\n{}",
        rows.join("\n")
    );
}
