//! The model runtime: a set of ONNX models declared by a manifest, run on the CPU by
//! `tract-onnx` (pure Rust; nothing is downloaded, nothing needs a GPU).
//!
//! [`ModelSet::load`] does every slow and fallible thing once at start-up (checksums, parsing,
//! optimisation, a warm-up run), so that a bad model stops the server before it answers
//! anyone. [`ModelSet::run`] is then synchronous and needs only `&self`: the set is
//! `Send + Sync` and is meant to be shared in an `Arc` and called from blocking threads, with
//! the caller bounding concurrency (each run holds the model's activations in memory).

mod load;
mod outputs;
mod preprocess;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use tract_onnx::prelude::*;

use crate::decode::DecodedImage;
use crate::error::VisionError;
use crate::manifest::{ImageInput, InputSpec, Manifest, OutputKind, OutputSpec};

pub use outputs::{ModelTiming, ModelUsed, OutputValue, Outputs};
pub use preprocess::{input_shape, resize as resize_for_model, resize_image, to_tensor};

/// Loaded, checked and warmed-up models, in manifest order.
#[derive(Debug)]
pub struct ModelSet {
    models: Vec<LoadedModel>,
    /// Labels of classification outputs, keyed `model.output`.
    labels: HashMap<String, Vec<String>>,
}

#[derive(Debug)]
struct LoadedModel {
    name: String,
    sha256: String,
    /// The manifest's input entry, as recorded with each run.
    spec: InputSpec,
    input: LoadedInput,
    outputs: Vec<OutputSpec>,
    plan: load::Plan,
}

#[derive(Debug)]
enum LoadedInput {
    Image(ImageInput),
    /// The `model.output` key of the source, flattened to `[1, dim]`.
    Embedding {
        source: String,
        dim: usize,
    },
}

impl ModelSet {
    /// Reads the manifest, checks every file against its SHA-256, prepares every model for
    /// its fixed input shape and runs each once on a blank input.
    pub fn load(manifest_path: &Path) -> Result<ModelSet, VisionError> {
        let manifest = Manifest::load(manifest_path)?;
        let mut models = Vec::with_capacity(manifest.models.len());
        let mut labels = HashMap::new();
        // Flattened size of every output loaded so far, for embedding-input models.
        let mut sizes: HashMap<String, usize> = HashMap::new();

        for entry in &manifest.models {
            let path = load::resolve(manifest_path, &entry.file);
            let bytes = load::read_checked(&path, &entry.sha256)?;
            let (input, shape) = match &entry.input {
                InputSpec::Image(spec) => (
                    LoadedInput::Image(spec.clone()),
                    preprocess::input_shape(spec).to_vec(),
                ),
                InputSpec::Embedding { of, output } => {
                    let source = format!("{of}.{output}");
                    // The manifest guarantees the source was declared (so loaded) earlier.
                    let dim = sizes[&source];
                    (LoadedInput::Embedding { source, dim }, vec![1, dim])
                }
            };
            let plan = load::prepare(entry, &bytes, &shape)?;
            for (ix, out) in entry.outputs.iter().enumerate() {
                let key = format!("{}.{}", entry.name, out.name);
                let out_shape = load::output_shape(entry, &plan, ix)?;
                let size: usize = out_shape.iter().product();
                check_output_size(entry, out, size)?;
                if let Some(file) = &out.labels {
                    let label_path = load::resolve(manifest_path, file);
                    let names = load::read_labels(&label_path)?;
                    if names.len() != size {
                        return Err(VisionError::ModelFile {
                            path: label_path,
                            problem: format!(
                                "it has {} labels but output {key} has {size} classes: use the \
                                 labels file that came with the model",
                                names.len()
                            ),
                        });
                    }
                    labels.insert(key.clone(), names);
                }
                sizes.insert(key, size);
            }
            let model = LoadedModel {
                name: entry.name.clone(),
                sha256: entry.sha256.to_ascii_lowercase(),
                spec: entry.input.clone(),
                input,
                outputs: entry.outputs.clone(),
                plan,
            };
            // Warm-up: the first run allocates scratch buffers and pages the weights in; doing
            // it now keeps it out of the first field worker's wait, and proves the model runs.
            let started = Instant::now();
            let blank = Tensor::zero::<f32>(&shape).map_err(|e| model.fail(e))?;
            model
                .plan
                .run(tvec!(blank.into_tvalue()))
                .map_err(|e| model.fail(e))?;
            tracing::info!(
                model = %model.name,
                sha256 = %model.sha256,
                input = ?shape,
                warm_up_ms = started.elapsed().as_secs_f64() * 1e3,
                "model loaded"
            );
            models.push(model);
        }
        Ok(ModelSet { models, labels })
    }

    /// Runs every image model on `image`, then every embedding-input model on its source's
    /// output, and returns all outputs keyed `model.output`.
    pub fn run(&self, image: &DecodedImage) -> Result<Outputs, VisionError> {
        self.run_pausing(image, &mut || {})
    }

    /// [`ModelSet::run`], calling `pause` before each model and between a model's layers (a
    /// few hundred microseconds apart): where a caller that leaves the CPU to more urgent work
    /// now and then waits.
    pub fn run_pausing(
        &self,
        image: &DecodedImage,
        pause: &mut dyn FnMut(),
    ) -> Result<Outputs, VisionError> {
        let mut values: BTreeMap<String, OutputValue> = BTreeMap::new();
        let mut used = Vec::with_capacity(self.models.len());
        let mut timings = Vec::with_capacity(self.models.len());
        // Manifest order is a valid run order: an embedding model's source is declared, and
        // so run, before it.
        for model in &self.models {
            pause();
            let started = Instant::now();
            let input = match &model.input {
                LoadedInput::Image(spec) => {
                    let resized = preprocess::resize_image(image, spec);
                    preprocess::to_tensor(&resized, spec)
                }
                LoadedInput::Embedding { source, dim } => {
                    let data = &values[source].data;
                    debug_assert_eq!(data.len(), *dim);
                    Tensor::from_shape(&[1, *dim], data).map_err(|e| model.fail(e))?
                }
            };
            let preprocess = match model.input {
                LoadedInput::Image(_) => started.elapsed(),
                LoadedInput::Embedding { .. } => std::time::Duration::ZERO,
            };
            let started = Instant::now();
            let results = model
                .plan
                .spawn()
                .and_then(|mut state| {
                    state.run_plan_with_eval(tvec!(input.into_tvalue()), |ctx, op, node, inputs| {
                        pause();
                        tract_onnx::tract_hir::tract_core::plan::eval(ctx, op, node, inputs)
                    })
                })
                .map_err(|e| model.fail(e))?;
            for (out, value) in model.outputs.iter().zip(results.iter()) {
                let shape = value.shape().to_vec();
                let floats = value.cast_to::<f32>().map_err(|e| model.fail(e))?;
                let data = floats
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
                    .map_err(|e| model.fail(e))?;
                values.insert(
                    format!("{}.{}", model.name, out.name),
                    OutputValue {
                        kind: out.kind,
                        shape,
                        data,
                    },
                );
            }
            timings.push(ModelTiming {
                model: model.name.clone(),
                preprocess,
                inference: started.elapsed(),
            });
            used.push(model.used());
        }
        Ok(Outputs {
            values,
            models: used,
            timings,
        })
    }

    /// The labels of a classification output (`model.output`), when its manifest entry has a
    /// labels file.
    pub fn labels(&self, key: &str) -> Option<&[String]> {
        self.labels.get(key).map(Vec::as_slice)
    }

    /// The models of the set, in run order, with their file hashes and input specs.
    pub fn models(&self) -> Vec<ModelUsed> {
        self.models.iter().map(LoadedModel::used).collect()
    }

    /// Every output key (`model.output`) the set produces, with its kind.
    pub fn output_kinds(&self) -> Vec<(String, OutputKind)> {
        self.models
            .iter()
            .flat_map(|m| {
                m.outputs
                    .iter()
                    .map(move |o| (format!("{}.{}", m.name, o.name), o.kind))
            })
            .collect()
    }
}

impl LoadedModel {
    fn used(&self) -> ModelUsed {
        ModelUsed {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            input: self.spec.clone(),
        }
    }

    fn fail(&self, e: TractError) -> VisionError {
        VisionError::Model {
            model: self.name.clone(),
            message: format!("{e:#}"),
        }
    }
}

/// A count or regression output is one number; anything else there is a manifest mistake
/// that would otherwise surface as a wrong task value much later.
fn check_output_size(
    entry: &crate::manifest::ModelEntry,
    out: &OutputSpec,
    size: usize,
) -> Result<(), VisionError> {
    let ok = match out.kind {
        OutputKind::Count | OutputKind::Regression => size == 1,
        OutputKind::Classification | OutputKind::Embedding => size >= 1,
    };
    if ok {
        Ok(())
    } else {
        Err(VisionError::Model {
            model: entry.name.clone(),
            message: format!(
                "output {:?} is declared {:?} but has {size} values; a count or regression \
                 output must be a single number",
                out.name, out.kind
            ),
        })
    }
}
