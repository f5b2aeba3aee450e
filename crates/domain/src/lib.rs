//! Pure rules of Fieldproof.
//!
//! Everything here is deterministic and free of I/O: parsing requests into typed commands,
//! validating application files, activating tasks from work-order types, folding task states and
//! computing scores. The HTTP layer, the stores and the CLI all call into this crate, so the rules
//! exist once.
#![forbid(unsafe_code)]

pub mod activation;
pub mod app;
pub mod errors;
pub mod metadata;
pub mod names;
pub mod role;
pub mod score;
pub mod state;
pub mod work_order;

pub use errors::FieldErrors;
