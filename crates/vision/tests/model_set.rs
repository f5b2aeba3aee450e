//! The model runtime on tiny ONNX models built in code: loading, checks on files, run order,
//! preprocessing and output naming, with outputs computed by hand.

mod support;

use std::path::{Path, PathBuf};

use fieldproof_vision::bind;
use fieldproof_vision::manifest::OutputKind;
use fieldproof_vision::{DecodedImage, ModelSet, RgbImage, VisionError};
use image::Rgb;
use sha2::{Digest, Sha256};
use support::onnx;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.dir.path().join(name), bytes).unwrap();
        hex::encode(Sha256::digest(bytes))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A backbone (channel means, mean 0 / std 1 so embeddings are pixel means in 0..1) and a
/// counter fed by its embedding.
fn two_model_set(dir: &Dir) -> PathBuf {
    let backbone = dir.write("backbone.onnx", &onnx::channel_means_backbone());
    let counter = dir.write("counter.onnx", &onnx::weighted_sum_counter());
    dir.write("labels.txt", b"reddish\nbluish\n\n");
    let manifest = format!(
        r#"
[[models]]
name = "backbone"
file = "backbone.onnx"
sha256 = "{backbone}"
[models.input]
kind = "image"
width = 32
height = 24
layout = "nchw"
resize = "stretch"
[[models.outputs]]
name = "logits"
kind = "classification"
labels = "labels.txt"
[[models.outputs]]
name = "embedding"
kind = "embedding"

[[models]]
name = "counter"
file = "counter.onnx"
sha256 = "{counter}"
[models.input]
kind = "embedding"
of = "backbone"
output = "embedding"
[[models.outputs]]
name = "count"
kind = "count"
"#
    );
    dir.write("manifest.toml", manifest.as_bytes());
    dir.path("manifest.toml")
}

fn solid(w: u32, h: u32, rgb: [u8; 3]) -> DecodedImage {
    DecodedImage::from_rgb(RgbImage::from_pixel(w, h, Rgb(rgb)))
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn runs_image_models_then_embedding_models_and_names_outputs() {
    let dir = Dir::new();
    let set = ModelSet::load(&two_model_set(&dir)).unwrap();

    // Left half pure red, right half pure green, 32 times the input's 32x24 so that the
    // halves stay exact through the resize.
    let img = RgbImage::from_fn(1024, 768, |x, _| {
        if x < 512 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 255, 0])
        }
    });
    let out = set.run(&DecodedImage::from_rgb(img)).unwrap();

    let keys: Vec<&str> = out.values.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["backbone.embedding", "backbone.logits", "counter.count"]
    );
    let emb = out.get("backbone.embedding").unwrap();
    assert_eq!(
        (emb.kind, emb.shape.as_slice()),
        (OutputKind::Embedding, &[1, 3][..])
    );
    assert!(close(&emb.data, &[0.5, 0.5, 0.0]), "{:?}", emb.data);
    assert!(close(
        &out.get("backbone.logits").unwrap().data,
        &[0.5, -0.5]
    ));
    // 2 * 0.5 + 3 * 0.5 + 4 * 0 = 2.5, which the count binding rounds to 3.
    let count = &out.get("counter.count").unwrap().data;
    assert!(close(count, &[2.5]), "{count:?}");
    assert_eq!(bind::count(count).unwrap(), 3);

    let names: Vec<&str> = out.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["backbone", "counter"]);
    assert_eq!(
        out.models[0].sha256,
        hex::encode(Sha256::digest(onnx::channel_means_backbone()))
    );
    assert_eq!(out.timings.len(), 2);
    assert!(out.timings[1].preprocess.is_zero());
    assert_eq!(set.models(), out.models);
}

#[test]
fn classification_labels_feed_the_top_class_binding() {
    let dir = Dir::new();
    let set = ModelSet::load(&two_model_set(&dir)).unwrap();
    let labels = set.labels("backbone.logits").unwrap();
    assert_eq!(labels, ["reddish", "bluish"]);
    assert!(set.labels("backbone.embedding").is_none());

    let blue = set.run(&solid(50, 50, [0, 0, 255])).unwrap();
    let logits = &blue.get("backbone.logits").unwrap().data;
    assert!(close(logits, &[-1.0, 1.0]), "{logits:?}");
    // softmax([-1, 1]) = [0.12, 0.88].
    assert_eq!(bind::top_class(logits, labels, 0.8), Some("bluish"));
    assert_eq!(bind::top_class(logits, labels, 0.9), None);
}

#[test]
fn normalisation_from_the_manifest_is_applied() {
    let dir = Dir::new();
    let sha = dir.write("nhwc.onnx", &onnx::channel_means_backbone_nhwc());
    let manifest = format!(
        r#"[[models]]
name = "nhwc"
file = "nhwc.onnx"
sha256 = "{sha}"
[models.input]
kind = "image"
width = 16
height = 16
layout = "nhwc"
mean = [0.5, 0.5, 0.5]
std = [0.25, 0.5, 1.0]
resize = "stretch"
[[models.outputs]]
name = "embedding"
kind = "embedding"
"#
    );
    dir.write("manifest.toml", manifest.as_bytes());
    let set = ModelSet::load(&dir.path("manifest.toml")).unwrap();
    // White: (1 - 0.5) / std = [2, 1, 0.5].
    let out = set.run(&solid(40, 30, [255, 255, 255])).unwrap();
    let emb = &out.get("nhwc.embedding").unwrap().data;
    assert!(close(emb, &[2.0, 1.0, 0.5]), "{emb:?}");
}

#[test]
fn a_corrupt_or_missing_file_is_refused_and_named() {
    let dir = Dir::new();
    let manifest = two_model_set(&dir);

    // One byte changed after the manifest was written.
    let mut bytes = onnx::weighted_sum_counter();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.path("counter.onnx"), &bytes).unwrap();
    let err = ModelSet::load(&manifest).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VisionError::ModelFile { .. }));
    assert!(
        msg.contains("counter.onnx")
            && msg.contains("the file is damaged or not the one the manifest names"),
        "{msg}"
    );

    std::fs::remove_file(dir.path("counter.onnx")).unwrap();
    let msg = ModelSet::load(&manifest).unwrap_err().to_string();
    assert!(msg.contains("counter.onnx: the file is missing"), "{msg}");
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let dir = Dir::new();
    let manifest = two_model_set(&dir);
    let text = std::fs::read_to_string(&manifest).unwrap();
    let junk_sha = dir.write("junk.onnx", b"this is not a protobuf \xFF\xFF\xFF");
    let old_sha = hex::encode(Sha256::digest(onnx::channel_means_backbone()));
    let text = text
        .replace("backbone.onnx", "junk.onnx")
        .replace(&old_sha, &junk_sha);
    dir.write("manifest.toml", text.as_bytes());
    let err = ModelSet::load(&manifest).unwrap_err();
    assert!(
        matches!(&err, VisionError::Model { model, .. } if model == "backbone"),
        "{err}"
    );
}

#[test]
fn wrong_labels_or_output_names_are_refused() {
    let dir = Dir::new();
    let manifest = two_model_set(&dir);
    dir.write("labels.txt", b"one\ntwo\nthree\n");
    let msg = ModelSet::load(&manifest).unwrap_err().to_string();
    assert!(
        msg.contains("it has 3 labels but output backbone.logits has 2 classes"),
        "{msg}"
    );

    dir.write("labels.txt", b"reddish\nbluish\n");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("name = \"count\"", "name = \"total\"");
    dir.write("manifest.toml", text.as_bytes());
    let msg = ModelSet::load(&manifest).unwrap_err().to_string();
    assert!(
        msg.starts_with("model counter: the network has no output named as in the manifest"),
        "{msg}"
    );
}

#[test]
fn count_outputs_must_be_single_numbers() {
    let dir = Dir::new();
    let manifest = two_model_set(&dir);
    // Declare the 3-value embedding as a count.
    let text = std::fs::read_to_string(&manifest).unwrap().replacen(
        "kind = \"embedding\"\n",
        "kind = \"count\"\n",
        1,
    );
    // The counter can no longer take it as an embedding: drop the counter.
    let text = text
        .split("[[models]]\nname = \"counter\"")
        .next()
        .unwrap()
        .to_string();
    dir.write("manifest.toml", text.as_bytes());
    let msg = ModelSet::load(&manifest).unwrap_err().to_string();
    assert!(msg.contains("is declared Count but has 3 values"), "{msg}");
}

#[test]
fn the_set_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ModelSet>();

    let dir = Dir::new();
    let set = std::sync::Arc::new(ModelSet::load(&two_model_set(&dir)).unwrap());
    let handles: Vec<_> = (0..4u8)
        .map(|i| {
            let set = set.clone();
            std::thread::spawn(move || {
                let v = i * 60;
                let out = set.run(&solid(64, 48, [v, 0, 0])).unwrap();
                (v, out.get("backbone.embedding").unwrap().data[0])
            })
        })
        .collect();
    for h in handles {
        let (v, r) = h.join().unwrap();
        assert!((r - f32::from(v) / 255.0).abs() < 1e-4);
    }
}

#[test]
fn manifest_path_errors_name_the_file() {
    let err = ModelSet::load(Path::new("/nonexistent/models/manifest.toml")).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/models/manifest.toml"),
        "{err}"
    );
}
