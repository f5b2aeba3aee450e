//! Shared by the integration tests: hand-built ONNX models, generated scenes and the real
//! fixtures (model files, photos) with the skip-or-fail rule.
#![allow(dead_code)] // each test binary uses its own part

pub mod fixtures;
pub mod onnx;
pub mod scenes;
