//! Bindings: pure functions that turn model outputs into task values.
//!
//! Each is small and total over well-formed outputs; malformed ones (a class index past the
//! end, prototypes of another dimension, a NaN) are errors rather than a silent default,
//! because a task value computed from them would be recorded as if it were right.

use serde_json::Value;

use crate::error::VisionError;

/// How to read a classification output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scores<'a> {
    /// Raw scores; a softmax turns them into probabilities (a sigmoid when there is only one).
    Logits(&'a [f32]),
    /// Already probabilities (the model ends with a softmax or sigmoid).
    Probabilities(&'a [f32]),
}

impl Scores<'_> {
    /// The probabilities these scores stand for.
    pub fn probabilities(self) -> Vec<f32> {
        match self {
            Scores::Probabilities(p) => p.to_vec(),
            Scores::Logits([single]) => vec![sigmoid(*single)],
            Scores::Logits(l) => softmax(l),
        }
    }
}

/// Softmax, computed stably (the largest logit is subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// True when the probability of class `class` is at least `threshold`.
pub fn threshold(scores: Scores<'_>, class: usize, threshold: f32) -> Result<bool, VisionError> {
    let p = scores.probabilities();
    let prob = p.get(class).copied().ok_or_else(|| {
        VisionError::Bind(format!(
            "class {class} does not exist: the model gives {} classes; fix the class index in the application",
            p.len()
        ))
    })?;
    if prob.is_nan() {
        return Err(VisionError::Bind("the model returned NaN".into()));
    }
    Ok(prob >= threshold)
}

/// The `k` most probable classes, most probable first, as (index, probability).
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = softmax(logits).into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

/// The label of the most probable class, or `None` when the model is not confident enough
/// (its probability is under `min_confidence`) or the class has no label.
pub fn top_class<'a>(logits: &[f32], labels: &'a [String], min_confidence: f32) -> Option<&'a str> {
    let (index, prob) = top_k(logits, 1).into_iter().next()?;
    if prob >= min_confidence {
        labels.get(index).map(String::as_str)
    } else {
        None
    }
}

/// The value of the prototype nearest to `embedding` by cosine similarity, and that
/// similarity (-1..=1). Prototypes are typically the embeddings of a task group's example
/// photos, each carrying the task value it illustrates.
pub fn nearest_prototype(
    embedding: &[f32],
    prototypes: &[(Vec<f32>, Value)],
) -> Result<(Value, f32), VisionError> {
    let query = l2_normalised(embedding)
        .ok_or_else(|| VisionError::Bind("the embedding is all zeros or not finite".into()))?;
    let mut best: Option<(usize, f32)> = None;
    for (i, (proto, _)) in prototypes.iter().enumerate() {
        if proto.len() != query.len() {
            return Err(VisionError::Bind(format!(
                "prototype {} has {} dimensions but the embedding has {}: recompute the prototypes with the current model",
                i + 1,
                proto.len(),
                query.len()
            )));
        }
        let Some(p) = l2_normalised(proto) else {
            continue;
        };
        let sim: f32 = query.iter().zip(&p).map(|(a, b)| a * b).sum();
        if best.is_none_or(|(_, s)| sim > s) {
            best = Some((i, sim));
        }
    }
    let (i, sim) = best.ok_or_else(|| {
        VisionError::Bind(
            "there is no usable prototype: add example photos to the task group".into(),
        )
    })?;
    Ok((prototypes[i].1.clone(), sim.clamp(-1.0, 1.0)))
}

fn l2_normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| v.iter().map(|x| x / norm).collect())
}

/// A count output as a whole number: rounded, negative values clamped to 0.
pub fn count(output: &[f32]) -> Result<u32, VisionError> {
    let [value] = output else {
        return Err(VisionError::Bind(format!(
            "a count output must be one number, the model gives {}",
            output.len()
        )));
    };
    if value.is_nan() {
        return Err(VisionError::Bind(
            "the model returned NaN as a count".into(),
        ));
    }
    // `as` saturates: +inf and anything over u32::MAX become u32::MAX.
    Ok(value.round().max(0.0) as u32)
}

#[cfg(test)]
#[path = "bind_tests.rs"]
mod tests;
