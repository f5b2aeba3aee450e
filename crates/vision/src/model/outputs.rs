//! What one run of the model set returns: every output by `model.output` name, the model
//! hashes that produced them (recorded with each analysis) and where the time went.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::manifest::{InputSpec, OutputKind};

/// One output tensor, flattened to f32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputValue {
    pub kind: OutputKind,
    /// The tensor's shape as the model produced it (batch of one first).
    pub shape: Vec<usize>,
    /// The values in row-major order.
    pub data: Vec<f32>,
}

/// A model that took part in a run: the SHA-256 of its file, and how it was fed. The same file
/// run at another input size gives other outputs, so the hash alone does not say what ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsed {
    pub name: String,
    pub sha256: String,
    pub input: InputSpec,
}

/// Time spent on one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelTiming {
    pub model: String,
    /// Resizing and normalising the photo (zero for embedding-input models).
    pub preprocess: Duration,
    /// Running the network and copying its outputs.
    pub inference: Duration,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outputs {
    /// Keyed `model.output`, e.g. `mobilenet_v2.logits`.
    pub values: BTreeMap<String, OutputValue>,
    /// In the order they ran.
    pub models: Vec<ModelUsed>,
    /// In the order they ran.
    pub timings: Vec<ModelTiming>,
}

impl Outputs {
    /// The output `model.output`, if the set has it.
    pub fn get(&self, key: &str) -> Option<&OutputValue> {
        self.values.get(key)
    }

    /// Total preprocessing time over all models.
    pub fn preprocess_time(&self) -> Duration {
        self.timings.iter().map(|t| t.preprocess).sum()
    }

    /// Total inference time over all models.
    pub fn inference_time(&self) -> Duration {
        self.timings.iter().map(|t| t.inference).sum()
    }
}
