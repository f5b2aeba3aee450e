//! Data-conformity checks on generated photos: each degradation a field photo suffers is
//! flagged on the degraded copy and not on the original.

mod support;

use fieldproof_vision::checks::{
    hamming_distance, judge, measure, ChecksConfig, ConformityFailure, Grey, WORKING_SIDE,
};
use fieldproof_vision::{decode, DecodedImage, Limits, RgbImage};
use image::imageops::{self, FilterType};
use proptest::prelude::*;
use support::scenes::{jpeg, motion_blur, scale_light, scene};

fn codes(f: &[ConformityFailure]) -> Vec<&'static str> {
    f.iter().map(|f| f.code.as_str()).collect()
}

fn judged(img: &RgbImage, earlier: &[u64]) -> Vec<&'static str> {
    let m = measure(&DecodedImage::from_rgb(img.clone()));
    codes(&judge(&m, &ChecksConfig::recommended(), earlier))
}

fn decoded_jpeg(img: &RgbImage, quality: u8) -> DecodedImage {
    decode(&jpeg(img, quality), &Limits::default()).unwrap()
}

#[test]
fn the_sharp_scene_passes_and_its_motion_blurred_copy_is_blurry() {
    let sharp = scene(1, 1600, 1200);
    let blurred = motion_blur(&sharp, 31);
    let (ms, mb) = (
        measure(&DecodedImage::from_rgb(sharp.clone())),
        measure(&DecodedImage::from_rgb(blurred.clone())),
    );
    let plain = |img: &RgbImage| Grey::working_copy(img, WORKING_SIDE).laplacian_variance();
    eprintln!(
        "sharpness: sharp {:.1}, blurred {:.1} (plain Laplacian variance: {:.1}, {:.1})",
        ms.sharpness,
        mb.sharpness,
        plain(&sharp),
        plain(&blurred)
    );
    assert_eq!(judged(&sharp, &[]), Vec::<&str>::new());
    assert_eq!(judged(&blurred, &[]), ["blurry"]);
}

#[test]
fn sharpness_does_not_depend_on_the_resolution() {
    // The same scene rendered at two resolutions measures about the same.
    let big = scene(2, 3200, 2400);
    let small = imageops::resize(&big, 1024, 768, FilterType::Triangle);
    let (a, b) = (
        measure(&DecodedImage::from_rgb(big)).sharpness,
        measure(&DecodedImage::from_rgb(small)).sharpness,
    );
    eprintln!("sharpness at 3200: {a:.1}, at 1024: {b:.1}");
    assert!((a / b - 1.0).abs() < 0.35, "{a} vs {b}");
}

#[test]
fn a_darkened_copy_is_too_dark_and_a_washed_out_one_too_bright() {
    let img = scene(3, 1280, 960);
    assert_eq!(judged(&scale_light(&img, 0.15), &[]), ["too_dark"]);
    let washed = RgbImage::from_fn(1280, 960, |x, y| {
        let p = img.get_pixel(x, y).0;
        image::Rgb(p.map(|c| 235 + c / 13))
    });
    assert_eq!(judged(&washed, &[]), ["too_bright"]);
}

#[test]
fn a_tiny_photo_is_flagged() {
    let tiny = scene(4, 320, 240);
    assert!(judged(&tiny, &[]).contains(&"resolution_too_low"));
}

#[test]
fn the_same_photo_re_encoded_or_resized_is_a_duplicate_and_another_scene_is_not() {
    let original = scene(5, 1600, 1200);
    let first = measure(&DecodedImage::from_rgb(original.clone())).hash;

    let recoded = measure(&decoded_jpeg(&original, 60)).hash;
    let resized = imageops::resize(&original, 1440, 1080, FilterType::Triangle);
    let resized = measure(&decoded_jpeg(&resized, 85)).hash;
    let other = measure(&DecodedImage::from_rgb(scene(6, 1600, 1200))).hash;
    eprintln!(
        "distances: re-encoded {}, resized {}, other scene {}",
        hamming_distance(first, recoded),
        hamming_distance(first, resized),
        hamming_distance(first, other)
    );
    assert_eq!(
        judged(&decoded_jpeg(&original, 60).into_rgb(), &[first]),
        ["duplicate"]
    );
    assert!(
        hamming_distance(first, resized)
            <= fieldproof_vision::checks::RECOMMENDED_MAX_DUPLICATE_DISTANCE
    );
    assert_eq!(
        judged(&scene(6, 1600, 1200), &[first, recoded, resized]),
        Vec::<&str>::new()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn re_encoding_keeps_the_hash_close_and_other_scenes_far(seed in 0u64..10_000) {
        let img = scene(seed, 640, 480);
        let a = measure(&DecodedImage::from_rgb(img.clone()));
        let b = measure(&decoded_jpeg(&img, 75));
        let c = measure(&DecodedImage::from_rgb(scene(seed + 10_000, 640, 480)));
        prop_assert_eq!(measure(&DecodedImage::from_rgb(img)), a, "measuring is deterministic");
        prop_assert!(hamming_distance(a.hash, b.hash) <= 6, "re-encoded: {}", hamming_distance(a.hash, b.hash));
        prop_assert!(hamming_distance(a.hash, c.hash) > 6, "other scene: {}", hamming_distance(a.hash, c.hash));
    }
}
