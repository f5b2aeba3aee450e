//! The model manifest (`models/manifest.toml`): which ONNX files to load and how to feed them.
//!
//! Parsing is strict (unknown keys are refused and named) because a misspelt key such as
//! `lables` would otherwise silently change what a model means. Cross-entry rules (unique
//! names, an embedding input naming an earlier model's embedding output) are checked here, so
//! that loading only deals with files and the inference engine.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::VisionError;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

/// One `[[models]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Unique name; outputs are published as `name.output`.
    pub name: String,
    /// ONNX file, relative to the manifest.
    pub file: PathBuf,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub input: InputSpec,
    pub outputs: Vec<OutputSpec>,
}

/// What a model takes as input. It serialises as it is written in the manifest, so that an
/// analysis can record how each model was fed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSpec {
    /// The photo, resized and normalised.
    Image(ImageInput),
    /// Another model's output, fed as a `[1, D]` f32 tensor.
    Embedding {
        /// The model whose output is taken; it must come earlier in the manifest.
        of: String,
        /// That model's output name.
        output: String,
    },
}

/// How a photo becomes an image model's input tensor.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    /// Per-channel (R, G, B) mean subtracted after scaling pixels to 0..1.
    #[serde(default = "zeros", serialize_with = "short_decimals")]
    pub mean: [f32; 3],
    /// Per-channel (R, G, B) standard deviation divided by after subtracting the mean.
    #[serde(default = "ones", serialize_with = "short_decimals")]
    pub std: [f32; 3],
    pub resize: Resize,
}

fn zeros() -> [f32; 3] {
    [0.0; 3]
}

fn ones() -> [f32; 3] {
    [1.0; 3]
}

/// Writes each value as the shortest decimal that reads back as the same f32, as the manifest
/// has it: 0.485 rather than 0.48500001430511475, which a record would otherwise show.
fn short_decimals<S: serde::Serializer>(values: &[f32; 3], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeTuple;
    let mut t = s.serialize_tuple(values.len())?;
    for v in values {
        let short = v.to_string().parse::<f64>().unwrap_or(f64::from(*v));
        t.serialize_element(&short)?;
    }
    t.end()
}

/// Tensor layout of an image input (batch of one, RGB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `[1, 3, height, width]`
    Nchw,
    /// `[1, height, width, 3]`
    Nhwc,
}

/// How the photo is brought to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// The whole photo resized to width x height (aspect ratio not kept), bilinear with
    /// area averaging when shrinking.
    Stretch,
}

/// One output a model publishes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The ONNX graph output (or tensor) name.
    pub name: String,
    pub kind: OutputKind,
    /// Optional labels file (one per line), relative to the manifest; classification only.
    pub labels: Option<PathBuf>,
}

/// What an output means, which decides the bindings that may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Classification,
    Embedding,
    Count,
    Regression,
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, VisionError> {
        let text = std::fs::read_to_string(path).map_err(|e| VisionError::Manifest {
            path: path.to_owned(),
            message: format!("cannot read it ({e}); check the path given to the server"),
        })?;
        Manifest::parse(&text, path)
    }

    /// The input of the first model that takes an image, in manifest order (the backbone, in
    /// the demo's manifest).
    pub fn first_image_input(&self) -> Option<&ImageInput> {
        self.models.iter().find_map(|m| match &m.input {
            InputSpec::Image(spec) => Some(spec),
            _ => None,
        })
    }

    /// Parses and validates manifest text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, VisionError> {
        let invalid = |message: String| VisionError::Manifest {
            path: path.to_owned(),
            message,
        };
        let manifest: Manifest = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        manifest.validate().map_err(invalid)?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() {
            return Err("it declares no model; add a [[models]] entry".into());
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let what = format!("model {:?} (entry {})", m.name, i + 1);
            if m.name.is_empty() || m.name.contains('.') {
                return Err(format!(
                    "{what}: a model name must be non-empty and contain no '.'"
                ));
            }
            if !seen.insert(&m.name) {
                return Err(format!(
                    "{what}: the name is used twice; give each model its own name"
                ));
            }
            if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{what}: sha256 must be 64 hex digits (run `sha256sum {}`)",
                    m.file.display()
                ));
            }
            if m.outputs.is_empty() {
                return Err(format!(
                    "{what}: declares no output; add a [[models.outputs]] entry"
                ));
            }
            let mut names = HashSet::new();
            for o in &m.outputs {
                if !names.insert(&o.name) {
                    return Err(format!("{what}: output {:?} is declared twice", o.name));
                }
                if o.labels.is_some() && o.kind != OutputKind::Classification {
                    return Err(format!(
                        "{what}: output {:?} has labels but is not a classification",
                        o.name
                    ));
                }
            }
            match &m.input {
                InputSpec::Image(img) => {
                    if img.width == 0 || img.height == 0 || img.width > 4096 || img.height > 4096 {
                        return Err(format!("{what}: input width and height must be 1..=4096"));
                    }
                    if img.std.iter().any(|&s| s <= 0.0 || !s.is_finite())
                        || img.mean.iter().any(|m| !m.is_finite())
                    {
                        return Err(format!("{what}: std must be positive and mean finite"));
                    }
                }
                InputSpec::Embedding { of, output } => {
                    let source = self.models[..i].iter().find(|s| &s.name == of).ok_or_else(|| {
                        format!("{what}: its input is model {of:?}, which must be declared before it")
                    })?;
                    let out = source
                        .outputs
                        .iter()
                        .find(|o| &o.name == output)
                        .ok_or_else(|| format!("{what}: model {of:?} has no output {output:?}"))?;
                    if out.kind != OutputKind::Embedding {
                        return Err(format!(
                            "{what}: output {of}.{output} is not of kind \"embedding\""
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
