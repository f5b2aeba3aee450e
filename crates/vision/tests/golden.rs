//! Golden tests on the real models and real photographs.
//!
//! Needs `models/manifest.toml` with its files, and `$FIELDPROOF_TEST_PHOTOS` filled by
//! `scripts/fetch_test_photos.sh` (photos from the pinned scikit-image wheel and an
//! `expected.tsv` of acceptable ImageNet classes). Without them the tests fail under CI and
//! are skipped elsewhere (see `support::fixtures`).

mod support;

use std::path::Path;

use fieldproof_vision::bind::top_k;
use fieldproof_vision::checks::{judge, measure, ChecksConfig, ConformityFailure};
use fieldproof_vision::manifest::{Manifest, OutputKind};
use fieldproof_vision::model::resize_for_model;
use fieldproof_vision::{DecodedImage, ModelSet};
use image::imageops::FilterType::Triangle;
use support::fixtures::{models_manifest, photo, photos_dir, skip};
use support::scenes::{motion_blur, scale_light};

/// (photo stem, acceptable top-1 class indices) from `expected.tsv`.
fn expected(dir: &Path) -> Option<Vec<(String, Vec<usize>)>> {
    let Ok(text) = std::fs::read_to_string(dir.join("expected.tsv")) else {
        skip(&format!("{}/expected.tsv not found", dir.display()));
        return None;
    };
    let rows = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let stem = cols[0]
                .rsplit_once('.')
                .map_or(cols[0], |(s, _)| s)
                .to_string();
            let classes = cols[1]
                .split(',')
                .map(|c| c.trim().parse().expect("class index"))
                .collect();
            (stem, classes)
        })
        .collect::<Vec<_>>();
    assert!(!rows.is_empty(), "expected.tsv lists no photo");
    Some(rows)
}

fn codes(f: &[ConformityFailure]) -> Vec<&'static str> {
    f.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn the_backbone_recognises_real_photos() {
    let Some(manifest) = models_manifest() else {
        return;
    };
    let Some(dir) = photos_dir() else { return };
    let Some(rows) = expected(&dir) else { return };
    let set = ModelSet::load(&manifest).unwrap();
    let (key, _) = set
        .output_kinds()
        .into_iter()
        .find(|(_, kind)| *kind == OutputKind::Classification)
        .expect("the manifest declares a classification output");
    let labels = set.labels(&key);

    for (stem, classes) in rows {
        let Some(image) = photo(&dir, &stem) else {
            return;
        };
        let out = set.run(&image).unwrap();
        let top5 = top_k(&out.get(&key).unwrap().data, 5);
        let named: Vec<String> = top5
            .iter()
            .map(|(i, p)| {
                let label = labels.and_then(|l| l.get(*i)).map_or("?", String::as_str);
                format!("{i} {label} {p:.2}")
            })
            .collect();
        eprintln!(
            "{stem}: {named:?} (preprocess {:?}, inference {:?})",
            out.preprocess_time(),
            out.inference_time()
        );
        assert!(
            top5.iter().any(|(i, _)| classes.contains(i)),
            "{stem}: none of {classes:?} in the top 5 {named:?}"
        );
        assert_eq!(out.models, set.models(), "every model of the set ran");
        // Every other output is there and usable: counts bind to whole numbers, embeddings
        // have a direction.
        for (key, kind) in set.output_kinds() {
            let value = out
                .get(&key)
                .unwrap_or_else(|| panic!("{stem}: no output {key}"));
            assert!(
                value.data.iter().all(|v| v.is_finite()),
                "{stem}: {key} is not finite"
            );
            match kind {
                OutputKind::Count => {
                    let n = fieldproof_vision::bind::count(&value.data).unwrap();
                    eprintln!("{stem}: {key} = {} -> {n}", value.data[0]);
                }
                OutputKind::Embedding => {
                    assert!(
                        value.data.iter().any(|v| *v != 0.0),
                        "{stem}: {key} is all zeros"
                    )
                }
                OutputKind::Classification | OutputKind::Regression => {}
            }
        }
    }
}

#[test]
fn motion_blur_and_darkness_are_flagged_on_real_photos() {
    let Some(dir) = photos_dir() else { return };
    let Some(rows) = expected(&dir) else { return };
    // The photos are small (about 500 pixels wide), so the resolution check is left out here.
    let config = ChecksConfig {
        resolution: None,
        ..ChecksConfig::recommended()
    };
    for (stem, _) in rows {
        let Some(image) = photo(&dir, &stem) else {
            return;
        };
        let original = measure(&image);
        let blurred = DecodedImage::from_rgb(motion_blur(image.rgb(), 15));
        let blurred = measure(&blurred);
        let dark = measure(&DecodedImage::from_rgb(scale_light(image.rgb(), 0.12)));
        eprintln!(
            "{stem}: {}x{}, sharpness {:.0} -> blurred {:.0}; brightness {:.0} -> darkened {:.0}",
            original.width,
            original.height,
            original.sharpness,
            blurred.sharpness,
            original.brightness,
            dark.brightness
        );
        assert_eq!(
            codes(&judge(&original, &config, &[])),
            Vec::<&str>::new(),
            "{stem} original"
        );
        assert_eq!(
            codes(&judge(&blurred, &config, &[])),
            ["blurry"],
            "{stem} blurred"
        );
        assert_eq!(
            codes(&judge(&dark, &config, &[])),
            ["too_dark"],
            "{stem} darkened"
        );
        // The blurred copy is still the same photo: a re-send is caught.
        assert_eq!(
            codes(&judge(
                &blurred,
                &ChecksConfig {
                    blur: None,
                    ..config
                },
                &[original.hash]
            )),
            ["duplicate"]
        );
    }
}

/// The models resize a photo from its working copy (longest side 512) rather than from the full
/// photo (`model::resize_image`). On real photos, and on the same photos enlarged to phone sizes,
/// the embedding must stay that of the full photo's one-step resize, and the top class with it.
#[test]
fn the_models_see_the_working_copy_as_they_see_the_full_photo() {
    let Some(manifest) = models_manifest() else {
        return;
    };
    let Some(dir) = photos_dir() else { return };
    let Some(rows) = expected(&dir) else { return };
    let set = ModelSet::load(&manifest).unwrap();
    let kinds = set.output_kinds();
    let find = |wanted: OutputKind| {
        kinds
            .iter()
            .find(|(_, kind)| *kind == wanted)
            .map(|(key, _)| key.clone())
            .expect("the manifest declares that kind of output")
    };
    let (classes, embedding) = (
        find(OutputKind::Classification),
        find(OutputKind::Embedding),
    );
    // The first image model's input, as the manifest declares it.
    let spec = Manifest::load(&manifest)
        .unwrap()
        .first_image_input()
        .cloned()
        .expect("the manifest declares an image model");
    for (stem, _) in rows {
        let Some(image) = photo(&dir, &stem) else {
            return;
        };
        let (w, h) = (image.width(), image.height());
        for scale in [1, 4] {
            let rgb = image::imageops::resize(image.rgb(), w * scale, h * scale, Triangle);
            let photo = DecodedImage::from_rgb(rgb);
            let shared = set.run(&photo).unwrap();
            // A photo already at the input size is its own working copy: the one-step resize.
            let one_step = DecodedImage::from_rgb(resize_for_model(photo.rgb(), &spec));
            let direct = set.run(&one_step).unwrap();
            let (a, b) = (
                &shared.get(&embedding).unwrap().data,
                &direct.get(&embedding).unwrap().data,
            );
            let dot: f32 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let cosine = dot / (norm(a) * norm(b));
            let top = |o: &fieldproof_vision::Outputs| top_k(&o.get(&classes).unwrap().data, 3);
            let (top_shared, top_direct) = (top(&shared), top(&direct));
            eprintln!(
                "{stem} x{scale} ({}x{}): cosine {cosine:.4}, top-3 {:?} against {:?}",
                photo.width(),
                photo.height(),
                top_shared.iter().map(|(i, _)| i).collect::<Vec<_>>(),
                top_direct.iter().map(|(i, _)| i).collect::<Vec<_>>()
            );
            assert!(cosine > 0.99, "{stem} x{scale}: cosine {cosine}");
            // The top class is the same, or a near tie (the motorbike's moped and scooter).
            let (first, p) = top_shared[0];
            assert!(
                top_direct[..2].iter().any(|(i, _)| *i == first)
                    && (first == top_direct[0].0 || (p - top_direct[0].1).abs() < 0.05),
                "{stem} x{scale}: top {top_shared:?} against {top_direct:?}"
            );
        }
    }
}
