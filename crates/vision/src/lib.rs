//! Fieldproof's vision layer: pure functions and a model runtime, no async, HTTP or storage.
//!
//! - [`decode`]: bytes to upright RGB pixels, JPEG and PNG only, within size and pixel limits.
//! - [`checks`]: data conformity (resolution, blur, exposure, duplicate) from pixel statistics.
//! - [`manifest`] and [`model`]: ONNX models declared by `models/manifest.toml`, run on the
//!   CPU by `tract-onnx`.
//! - [`bind`]: model outputs to task values (threshold, top class, nearest prototype, count).
#![forbid(unsafe_code)]

pub mod bind;
pub mod checks;
pub mod decode;
mod error;
pub mod manifest;
pub mod model;
mod resample;

pub use decode::{decode, decode_pausing, DecodedImage, Limits, PhotoFormat};
pub use error::VisionError;
pub use image::RgbImage;
pub use model::{ModelSet, Outputs};
