//! What an analysis concludes.

use std::time::Duration;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Usable, and every model-computed task of the group is conform.
    AnalysisOk,
    /// Usable, and some model-computed task is not conform (or could not be decided).
    AnalysisKo,
    /// Not usable: a data-conformity check failed; task values were not computed.
    ConformityError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AnalysisOk => "analysis_ok",
            Status::AnalysisKo => "analysis_ko",
            Status::ConformityError => "conformity_error",
        }
    }
}

/// Where the time of one analysis went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub decode: Duration,
    pub checks: Duration,
    /// The models' time, less the waits between their layers.
    pub model: Duration,
    /// Waiting between the steps, for more urgent work (see
    /// [`crate::Engine::decode_and_analyze_pausing`]).
    pub waited: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    /// For the field worker, one per failed check.
    pub conformity_messages: Vec<String>,
    /// Stable codes of the failed checks (`blurry`, `too_dark`, ...).
    pub conformity_codes: Vec<String>,
    /// Task name → computed value (`null`: uncertain). Empty on a conformity error.
    pub values: Map<String, Value>,
    /// Measures and what each value rested on, kept with the analysis.
    pub details: Value,
    /// Model name → sha256 of the file used; how each was fed is in `details.model_inputs`.
    pub model_hashes: Map<String, Value>,
    pub phash: u64,
    pub timings: Timings,
}
