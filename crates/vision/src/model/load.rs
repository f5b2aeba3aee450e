//! Loading one manifest entry: the file checks, then the inference engine's preparation.
//!
//! The file is read once, hashed, and the model is parsed from those same bytes, so what runs
//! is exactly what was checked (a file replaced between the check and the load cannot slip
//! in). The price is that ONNX "external data" (weights in side files) is not supported; the
//! models we ship keep their weights inside the `.onnx` file.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

use crate::error::VisionError;
use crate::manifest::ModelEntry;

/// A prepared network: concrete input shape, optimised, ready to run from several threads.
pub type Plan = Arc<TypedRunnableModel>;

/// Reads `path` and checks it against the manifest's SHA-256.
pub fn read_checked(path: &Path, sha256: &str) -> Result<Vec<u8>, VisionError> {
    let bytes = std::fs::read(path).map_err(|e| VisionError::ModelFile {
        path: path.to_owned(),
        problem: if e.kind() == std::io::ErrorKind::NotFound {
            "the file is missing: fetch the model files (see models/README.md) or correct \
             `file` in the manifest"
                .into()
        } else {
            format!("cannot read it ({e})")
        },
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(VisionError::ModelFile {
            path: path.to_owned(),
            problem: format!(
                "its SHA-256 is {actual} but the manifest says {sha256}: the file is damaged or \
                 not the one the manifest names; fetch it again, or update `sha256` if you \
                 replaced the model on purpose"
            ),
        });
    }
    Ok(bytes)
}

/// Parses ONNX `bytes`, fixes the single input to `input_shape` (f32), selects `outputs` by
/// name in that order, optimises and makes it runnable.
pub fn prepare(
    entry: &ModelEntry,
    bytes: &[u8],
    input_shape: &[usize],
) -> Result<Plan, VisionError> {
    let fail = |stage: &str, e: TractError| VisionError::Model {
        model: entry.name.clone(),
        message: format!("{stage}: {e:#}"),
    };
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| fail("the file is not a valid ONNX model", e))?;
    let inputs = model
        .input_outlets()
        .map_err(|e| fail("cannot list inputs", e))?
        .len();
    if inputs != 1 {
        return Err(VisionError::Model {
            model: entry.name.clone(),
            message: format!(
                "the network has {inputs} inputs; only single-input models are supported"
            ),
        });
    }
    let names: Vec<&str> = entry.outputs.iter().map(|o| o.name.as_str()).collect();
    let model = model
        .with_input_fact(0, f32::fact(input_shape).into())
        .map_err(|e| fail(&format!("cannot set the input shape {input_shape:?}"), e))?
        .with_outputs_by_name(&names)
        .map_err(|e| {
            fail(
                &format!("the network has no output named as in the manifest ({names:?})"),
                e,
            )
        })?;
    let typed = model.into_optimized().map_err(|e| {
        fail(
            &format!("cannot be prepared for input shape {input_shape:?}"),
            e,
        )
    })?;
    typed
        .into_runnable()
        .map_err(|e| fail("cannot be made runnable", e))
}

/// The concrete shape of output `ix` of a prepared plan.
pub fn output_shape(entry: &ModelEntry, plan: &Plan, ix: usize) -> Result<Vec<usize>, VisionError> {
    let fact = plan
        .model()
        .output_fact(ix)
        .map_err(|e| VisionError::Model {
            model: entry.name.clone(),
            message: format!("{e:#}"),
        })?;
    fact.shape
        .as_concrete()
        .map(|s| s.to_vec())
        .ok_or_else(|| VisionError::Model {
            model: entry.name.clone(),
            message: format!(
                "output {:?} has no fixed shape ({:?}) even with a fixed input",
                entry.outputs[ix].name, fact.shape
            ),
        })
}

/// Reads a labels file: one label per line, trailing blank lines ignored.
pub fn read_labels(path: &Path) -> Result<Vec<String>, VisionError> {
    let text = std::fs::read_to_string(path).map_err(|e| VisionError::ModelFile {
        path: path.to_owned(),
        problem: format!("cannot read the labels file ({e}); fetch the model files again or correct `labels` in the manifest"),
    })?;
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    while labels.last().is_some_and(|l| l.is_empty()) {
        labels.pop();
    }
    Ok(labels)
}

/// `file` resolved against the manifest's folder.
pub fn resolve(manifest_path: &Path, file: &Path) -> PathBuf {
    manifest_path.parent().unwrap_or(Path::new(".")).join(file)
}
