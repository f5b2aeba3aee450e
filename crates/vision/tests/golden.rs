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
use fieldproof_vision::manifest::OutputKind;
use fieldproof_vision::{DecodedImage, ModelSet};
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
