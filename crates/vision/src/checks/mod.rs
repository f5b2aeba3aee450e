//! Data conformity: is the photo usable at all (resolution, blur, exposure, duplicate)?
//!
//! Measuring ([`measure`]) is separate from judging ([`judge`]) so that the measures can be
//! stored with the analysis and re-judged when a task group's settings change.

mod grey;
mod hash;
mod judge;
mod measure;

pub use grey::{fit_within, Grey, WORKING_SIDE};
pub use hash::{dhash, hamming_distance};
pub use judge::{
    judge, ChecksConfig, ConformityFailure, FailureCode, RECOMMENDED_MAX_DUPLICATE_DISTANCE,
    RECOMMENDED_MIN_SHARPNESS,
};
pub use measure::{measure, Measures};
