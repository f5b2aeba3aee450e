use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn softmax_matches_hand_computation() {
    let p = softmax(&[0.0, (2.0f32).ln()]);
    assert!(
        (p[0] - 1.0 / 3.0).abs() < 1e-6 && (p[1] - 2.0 / 3.0).abs() < 1e-6,
        "{p:?}"
    );
    // Huge logits do not overflow.
    let p = softmax(&[1000.0, 1000.0]);
    assert_eq!(p, vec![0.5, 0.5]);
}

#[test]
fn threshold_applies_softmax_to_logits_only() {
    // Logits [0, ln 3]: class 1 has probability 0.75.
    let logits = [0.0, 3.0f32.ln()];
    assert!(threshold(Scores::Logits(&logits), 1, 0.7).unwrap());
    assert!(!threshold(Scores::Logits(&logits), 1, 0.8).unwrap());
    assert!(!threshold(Scores::Logits(&logits), 0, 0.5).unwrap());
    // The same numbers read as probabilities are taken as they are.
    assert!(threshold(Scores::Probabilities(&[0.2, 0.6]), 1, 0.6).unwrap());
    assert!(!threshold(Scores::Probabilities(&[0.2, 0.59]), 1, 0.6).unwrap());
    // A single logit is a binary classifier: sigmoid(0) = 0.5.
    assert!(threshold(Scores::Logits(&[0.0]), 0, 0.5).unwrap());
    assert!(!threshold(Scores::Logits(&[-0.1]), 0, 0.5).unwrap());
    let err = threshold(Scores::Logits(&logits), 2, 0.5)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("class 2 does not exist: the model gives 2 classes"),
        "{err}"
    );
}

#[test]
fn top_class_is_none_when_uncertain() {
    let labels: Vec<String> = ["cat", "dog", "pump"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(top_class(&[0.0, 0.0, 5.0], &labels, 0.9), Some("pump"));
    // Three equal logits: 1/3 each, under the confidence asked for.
    assert_eq!(top_class(&[1.0, 1.0, 1.0], &labels, 0.5), None);
    // A class without a label is not guessed.
    assert_eq!(top_class(&[0.0, 0.0, 0.0, 9.0], &labels, 0.5), None);
    assert_eq!(top_class(&[], &labels, 0.0), None);
}

#[test]
fn top_k_orders_by_probability() {
    let ranked = top_k(&[0.1, 3.0, -1.0, 2.0], 3);
    assert_eq!(ranked.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 3, 0]);
    assert!(ranked[0].1 > ranked[1].1 && ranked[1].1 > ranked[2].1);
}

#[test]
fn nearest_prototype_uses_direction_not_length() {
    let protos = vec![
        (vec![1.0, 0.0, 0.0], json!("before")),
        (vec![0.0, 10.0, 0.0], json!("after")),
        (vec![0.0, 0.0, 0.0], json!("ignored: no direction")),
    ];
    let (value, sim) = nearest_prototype(&[0.1, 0.9, 0.0], &protos).unwrap();
    assert_eq!(value, json!("after"));
    assert!((sim - 0.9 / (0.82f32).sqrt()).abs() < 1e-5, "{sim}");
    let (value, sim) = nearest_prototype(&[5.0, 0.0, 0.0], &protos).unwrap();
    assert_eq!((value, sim), (json!("before"), 1.0));

    let err = nearest_prototype(&[1.0, 0.0], &protos)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prototype 1 has 3 dimensions but the embedding has 2"),
        "{err}"
    );
    assert!(nearest_prototype(&[1.0, 0.0, 0.0], &[]).is_err());
    assert!(nearest_prototype(&[0.0, 0.0, 0.0], &protos).is_err());
}

#[test]
fn count_rounds_and_clamps() {
    assert_eq!(count(&[2.4]).unwrap(), 2);
    assert_eq!(count(&[2.5]).unwrap(), 3);
    assert_eq!(count(&[-3.7]).unwrap(), 0);
    assert_eq!(count(&[f32::INFINITY]).unwrap(), u32::MAX);
    assert!(count(&[f32::NAN]).is_err());
    assert!(count(&[1.0, 2.0]).is_err());
    assert!(count(&[]).is_err());
}

proptest! {
    #[test]
    fn softmax_is_a_distribution(logits in proptest::collection::vec(-50f32..50.0, 1..20)) {
        let p = softmax(&logits);
        prop_assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        prop_assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
        // The order of logits is kept.
        for i in 0..logits.len() {
            for j in 0..logits.len() {
                if logits[i] > logits[j] {
                    prop_assert!(p[i] >= p[j]);
                }
            }
        }
    }

    #[test]
    fn a_prototype_is_nearest_to_itself(
        protos in proptest::collection::vec(proptest::collection::vec(-10f32..10.0, 4), 1..8),
        pick in any::<proptest::sample::Index>(),
    ) {
        let i = pick.index(protos.len());
        prop_assume!(protos[i].iter().any(|&x| x.abs() > 0.01));
        let labelled: Vec<(Vec<f32>, Value)> = protos.iter().enumerate().map(|(k, p)| (p.clone(), json!(k))).collect();
        let (_, sim) = nearest_prototype(&protos[i], &labelled).unwrap();
        prop_assert!(sim > 0.9999, "{}", sim);
    }

    #[test]
    fn count_is_the_nearest_non_negative_integer(x in -1000f32..1000.0) {
        let c = count(&[x]).unwrap();
        prop_assert!((c as f32 - x.max(0.0)).abs() <= 0.5);
    }
}
