//! The analysis of one input, synchronous and CPU-bound: decode (with limits), measure, judge
//! data conformity against the task group's checks, then (only when the photo is usable) run the
//! models and bind their outputs to the group's task values.
//!
//! The API calls [`Engine::decode_and_analyze_pausing`] off the async reactor, on a pool of
//! threads (as many as the cores minus one by default) that run at a lower priority than the
//! request threads (`fieldproof_api::cpu_pool`), pausing while other requests are answered
//! when the server is so configured (`fieldproof_api::step_aside`). [`Engine::analyze`] is the
//! same analysis of a photo already decoded, without pauses, for tests and tools.
#![forbid(unsafe_code)]

mod input;
mod verdict;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fieldproof_domain::app::{AppVersion, Binding, BindingRule, Task, TaskGroup};
use fieldproof_vision::checks::{judge, measure, ChecksConfig};
use fieldproof_vision::{decode, decode_pausing, DecodedImage, Limits, ModelSet, VisionError};
use serde_json::{json, Map, Value};

pub use input::{extract_pdf_photo, sniff, InputKind, PdfError};
pub use verdict::{Status, Timings, Verdict};

/// Labelled embeddings of a task group's example photos, for one task.
pub type Prototypes = Vec<(Vec<f32>, Value)>;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The caller's input is at fault (undecodable, too large, ...): a 400.
    #[error("{0}")]
    Input(String),
    /// The server's set-up is at fault (a model failed, a binding names a missing output): a 500.
    #[error("{0}")]
    Setup(String),
}

impl From<VisionError> for AnalysisError {
    fn from(e: VisionError) -> Self {
        if e.is_input_error() {
            AnalysisError::Input(e.to_string())
        } else {
            AnalysisError::Setup(e.to_string())
        }
    }
}

/// The models and the cache of example-photo prototypes.
pub struct Engine {
    models: Option<ModelSet>,
    limits: Limits,
    /// (version id, task name) → prototypes. Versions are immutable, so entries never go stale.
    prototypes: Mutex<HashMap<(String, String), Arc<Prototypes>>>,
}

impl Engine {
    /// An engine with the models of `manifest` (checked, loaded and warmed up).
    pub fn load(manifest: &Path) -> Result<Self, VisionError> {
        Ok(Self::with_models(Some(ModelSet::load(manifest)?)))
    }

    /// An engine without models: data conformity only; bound tasks get no value.
    pub fn with_models(models: Option<ModelSet>) -> Self {
        Self {
            models,
            limits: Limits::default(),
            prototypes: Mutex::new(HashMap::new()),
        }
    }

    pub fn models(&self) -> Option<&ModelSet> {
        self.models.as_ref()
    }

    /// Checks that every binding of `version` names an output the models produce, of a kind that
    /// fits the rule. Called when an application is published.
    pub fn check_bindings(&self, version: &AppVersion) -> Result<(), Vec<String>> {
        let outputs: HashMap<String, String> = self
            .models
            .as_ref()
            .map(|m| {
                m.output_kinds()
                    .into_iter()
                    .map(|(k, kind)| (k, format!("{kind:?}").to_lowercase()))
                    .collect()
            })
            .unwrap_or_default();
        let mut errors = Vec::new();
        for (_, task) in version.tasks() {
            let Some(b) = &task.binding else { continue };
            let key = format!("{}.{}", b.model, b.output);
            match outputs.get(&key) {
                None => errors.push(format!(
                    "task {:?}: the models have no output {key:?} (known: {})",
                    task.name,
                    {
                        let mut k: Vec<&String> = outputs.keys().collect();
                        k.sort();
                        k.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    }
                )),
                Some(kind) => {
                    let wanted = match b.rule {
                        BindingRule::NearestExample => "embedding",
                        BindingRule::ClassProbability { .. } | BindingRule::TopClass { .. } => {
                            "classification"
                        }
                        BindingRule::Count | BindingRule::Regression => "count|regression",
                    };
                    if !wanted.split('|').any(|w| w == kind) {
                        errors.push(format!(
                            "task {:?}: rule {} needs a {wanted} output; {key} is a {kind} output",
                            task.name,
                            b.rule.name()
                        ));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Decodes a photo within the limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<DecodedImage, AnalysisError> {
        Ok(decode(bytes, &self.limits)?)
    }

    /// The prototypes of a nearest-example task, if already computed for this version.
    pub fn cached_prototypes(&self, version: &AppVersion, task: &Task) -> Option<Arc<Prototypes>> {
        let key = (version.id.to_string(), task.name.clone());
        self.prototypes
            .lock()
            .expect("cache lock")
            .get(&key)
            .cloned()
    }

    /// Embeds the example photos of `group` labelled for `task` (CPU-bound: call it off the
    /// reactor) and caches them for this version. `examples[i]` holds the bytes of the group's
    /// i-th example photo.
    pub fn compute_prototypes(
        &self,
        version: &AppVersion,
        group: &TaskGroup,
        task: &Task,
        binding: &Binding,
        examples: &[Option<Vec<u8>>],
    ) -> Result<Arc<Prototypes>, AnalysisError> {
        let models = self.models.as_ref().ok_or_else(no_models)?;
        let output = format!("{}.{}", binding.model, binding.output);
        let mut protos = Vec::new();
        for (i, example) in group.examples.iter().enumerate() {
            let Some(value) = example.values.get(&task.name) else {
                continue;
            };
            let bytes = examples.get(i).and_then(|b| b.as_ref()).ok_or_else(|| {
                AnalysisError::Setup(format!(
                    "example photo {} of task group {:?} is missing from storage",
                    example.file, group.name
                ))
            })?;
            let image = decode(bytes, &self.limits).map_err(|e| {
                AnalysisError::Setup(format!("example photo {}: {e}", example.file))
            })?;
            let out = models.run(&image)?;
            let emb = out.get(&output).ok_or_else(|| missing_output(&output))?;
            protos.push((emb.data.clone(), value.clone()));
        }
        let protos = Arc::new(protos);
        let key = (version.id.to_string(), task.name.clone());
        self.prototypes
            .lock()
            .expect("cache lock")
            .insert(key, protos.clone());
        Ok(protos)
    }

    /// Analyses one decoded photo in the context of `group`.
    ///
    /// `earlier_hashes`: perceptual hashes of the work order's earlier inputs (duplicate check).
    /// `prototypes`: the prototypes of each nearest-example task, by task name (see
    /// [`Engine::prototypes`]).
    pub fn analyze(
        &self,
        image: &DecodedImage,
        group: &TaskGroup,
        earlier_hashes: &[u64],
        prototypes: &HashMap<String, Arc<Prototypes>>,
        decode_time: Duration,
    ) -> Result<Verdict, AnalysisError> {
        self.analyze_paced(
            image,
            group,
            earlier_hashes,
            prototypes,
            decode_time,
            &mut Paced::new(&mut || Duration::ZERO),
        )
    }

    /// Decodes `bytes` and analyses the photo ([`Engine::decode`], [`Engine::analyze`]),
    /// calling `pause` between small steps of both: every few kB of a JPEG's data, every row of
    /// the checks' working copy, between a model's layers. `pause` returns how long it waited:
    /// their sum is the verdict's `timings.waited`, and no step's time.
    pub fn decode_and_analyze_pausing(
        &self,
        bytes: &[u8],
        group: &TaskGroup,
        earlier_hashes: &[u64],
        prototypes: &HashMap<String, Arc<Prototypes>>,
        pause: &mut dyn FnMut() -> Duration,
    ) -> Result<Verdict, AnalysisError> {
        let mut paced = Paced::new(pause);
        paced.pause();
        let (image, decode_time) = paced.step(|p| decode_pausing(bytes, &self.limits, p));
        self.analyze_paced(
            &image?,
            group,
            earlier_hashes,
            prototypes,
            decode_time,
            &mut paced,
        )
    }

    fn analyze_paced(
        &self,
        image: &DecodedImage,
        group: &TaskGroup,
        earlier_hashes: &[u64],
        prototypes: &HashMap<String, Arc<Prototypes>>,
        decode_time: Duration,
        paced: &mut Paced,
    ) -> Result<Verdict, AnalysisError> {
        paced.pause();
        let ((measures, failures), checks_time) = paced.step(|p| {
            // The working copy the checks measure, made here where it can pause.
            image.working_rgb_pausing(p);
            let measures = measure(image);
            let failures = judge(&measures, &checks_config(group), earlier_hashes);
            (measures, failures)
        });
        let mut details = json!({
            "width": measures.width,
            "height": measures.height,
            "brightness": measures.brightness,
            "sharpness": measures.sharpness,
        });
        let mut timings = Timings {
            decode: decode_time,
            checks: checks_time,
            model: Duration::ZERO,
            waited: Duration::ZERO,
        };
        if !failures.is_empty() {
            timings.waited = paced.waited;
            return Ok(Verdict {
                status: Status::ConformityError,
                conformity_messages: failures.iter().map(|f| f.message.clone()).collect(),
                conformity_codes: failures
                    .iter()
                    .map(|f| f.code.as_str().to_string())
                    .collect(),
                values: Map::new(),
                details,
                model_hashes: Map::new(),
                phash: measures.hash,
                timings,
            });
        }
        let bound: Vec<(&Task, &Binding)> = group
            .tasks
            .iter()
            .filter_map(|t| t.binding.as_ref().map(|b| (t, b)))
            .collect();
        let mut values = Map::new();
        let mut model_hashes = Map::new();
        if !bound.is_empty() {
            let models = self.models.as_ref().ok_or_else(no_models)?;
            let (outputs, model_time) = paced.step(|p| models.run_pausing(image, p));
            let outputs = outputs?;
            timings.model = model_time;
            let mut inputs = Map::new();
            for m in &outputs.models {
                model_hashes.insert(m.name.clone(), json!(m.sha256));
                inputs.insert(m.name.clone(), json!(m.input));
            }
            // The file's hash does not say what the model saw: the same file runs at whatever
            // size the manifest gives (docs/models.md, "Input size"), so the record keeps that.
            details["model_inputs"] = Value::Object(inputs);
            let mut bindings = Map::new();
            for (task, binding) in bound {
                let key = format!("{}.{}", binding.model, binding.output);
                let out = outputs.get(&key).ok_or_else(|| missing_output(&key))?;
                let (value, detail) =
                    bind(task, binding, &out.data, prototypes, models.labels(&key))?;
                values.insert(task.name.clone(), value);
                bindings.insert(task.name.clone(), detail);
            }
            details["bindings"] = Value::Object(bindings);
        }
        timings.waited = paced.waited;
        let all_conform = group.tasks.iter().filter(|t| t.binding.is_some()).all(|t| {
            values
                .get(&t.name)
                .is_some_and(|v| !v.is_null() && t.conform.judge(v))
        });
        Ok(Verdict {
            status: if all_conform {
                Status::AnalysisOk
            } else {
                Status::AnalysisKo
            },
            conformity_messages: Vec::new(),
            conformity_codes: Vec::new(),
            values,
            details,
            model_hashes,
            phash: measures.hash,
            timings,
        })
    }
}

/// A caller's pause, and what it has waited so far, kept apart from the steps' times.
struct Paced<'a> {
    pause: &'a mut dyn FnMut() -> Duration,
    waited: Duration,
}

impl<'a> Paced<'a> {
    fn new(pause: &'a mut dyn FnMut() -> Duration) -> Self {
        Self {
            pause,
            waited: Duration::ZERO,
        }
    }

    fn pause(&mut self) {
        self.waited += (self.pause)();
    }

    /// Runs one step, handing it the pause, and returns what it made and its time less the
    /// pauses within it.
    fn step<T>(&mut self, f: impl FnOnce(&mut dyn FnMut()) -> T) -> (T, Duration) {
        let (started, before) = (Instant::now(), self.waited);
        let (pause, waited) = (&mut *self.pause, &mut self.waited);
        let out = f(&mut || *waited += pause());
        (out, started.elapsed().saturating_sub(self.waited - before))
    }
}

fn no_models() -> AnalysisError {
    AnalysisError::Setup(
        "the application binds tasks to models but the server has no models loaded".into(),
    )
}

fn missing_output(key: &str) -> AnalysisError {
    AnalysisError::Setup(format!("the models produce no output {key:?}"))
}

/// The vision checks of a task group.
pub fn checks_config(group: &TaskGroup) -> ChecksConfig {
    let c = &group.checks;
    ChecksConfig {
        resolution: c.resolution.as_ref().map(|r| (r.min_width, r.min_height)),
        blur: c.blur.as_ref().map(|b| b.min_sharpness as f32),
        exposure: c
            .exposure
            .as_ref()
            .map(|e| (e.min_brightness as f32, e.max_brightness as f32)),
        duplicate: c.duplicate.as_ref().map(|d| d.max_distance),
    }
}

/// One task's value from its model output, with what the decision rested on.
fn bind(
    task: &Task,
    binding: &Binding,
    data: &[f32],
    prototypes: &HashMap<String, Arc<Prototypes>>,
    labels: Option<&[String]>,
) -> Result<(Value, Value), AnalysisError> {
    use fieldproof_vision::bind as b;
    Ok(match &binding.rule {
        BindingRule::NearestExample => {
            let protos = prototypes.get(&task.name).ok_or_else(|| {
                AnalysisError::Setup(format!("no prototypes computed for task {:?}", task.name))
            })?;
            let (value, similarity) = b::nearest_prototype(data, protos)?;
            (
                value,
                json!({"rule": "nearest_example", "similarity": similarity}),
            )
        }
        BindingRule::ClassProbability { class, threshold } => {
            let p = b::Scores::Logits(data).probabilities();
            let ok = b::threshold(b::Scores::Logits(data), *class, *threshold as f32)?;
            (
                json!(ok),
                json!({"rule": "class_probability", "probability": p.get(*class)}),
            )
        }
        BindingRule::Count => {
            let n = b::count(data)?;
            (json!(n), json!({"rule": "count", "raw": data.first()}))
        }
        BindingRule::Regression => {
            let x = *data
                .first()
                .ok_or_else(|| missing_output("regression value"))?;
            let v = serde_json::Number::from_f64(x as f64)
                .map(Value::Number)
                .unwrap_or(Value::Null);
            (v, json!({"rule": "regression"}))
        }
        BindingRule::TopClass {
            classes,
            min_confidence,
        } => {
            let names: Vec<String> = if classes.is_empty() {
                labels.map(|l| l.to_vec()).unwrap_or_default()
            } else {
                classes.clone()
            };
            let top = b::top_class(data, &names, *min_confidence as f32);
            (
                top.map(|s| json!(s)).unwrap_or(Value::Null),
                json!({"rule": "top_class", "uncertain": top.is_none()}),
            )
        }
    })
}
