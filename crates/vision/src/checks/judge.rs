//! Judging measures against a task group's data-conformity settings.
//!
//! Each enabled check that fails gives one [`ConformityFailure`] with a stable code (what the
//! API and the records carry) and a message for the field worker: what is wrong with the photo
//! and what to do to take a usable one.

use serde::{Deserialize, Serialize};

use super::hash::hamming_distance;
use super::measure::Measures;

/// Which checks a task group enables, with their thresholds. `None` disables a check.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Minimum (width, height) in pixels. Compared orientation-free: the photo's longer side
    /// against the larger figure and its shorter side against the smaller one, because a
    /// field worker holds the phone either way and both are equally usable.
    pub resolution: Option<(u32, u32)>,
    /// Minimum sharpness (variance of the Laplacian at 512 pixels, see [`Measures`]).
    pub blur: Option<f32>,
    /// Accepted mean grey level, (min, max) in 0..=255.
    pub exposure: Option<(f32, f32)>,
    /// Largest Hamming distance between perceptual hashes at which a photo counts as a
    /// duplicate of an earlier one.
    pub duplicate: Option<u32>,
}

impl ChecksConfig {
    /// Every check on, with thresholds that pass ordinary phone photos. The sharpness figure
    /// was chosen on measurements (see the tests): real photos measure 250 to 620 and
    /// generated scenes 37 to 80, while the same images shaken by 15 to 31 pixels measure
    /// under 11.
    pub fn recommended() -> Self {
        ChecksConfig {
            resolution: Some((640, 480)),
            blur: Some(RECOMMENDED_MIN_SHARPNESS),
            exposure: Some((40.0, 225.0)),
            duplicate: Some(RECOMMENDED_MAX_DUPLICATE_DISTANCE),
        }
    }
}

/// Default minimum sharpness of [`ChecksConfig::recommended`].
pub const RECOMMENDED_MIN_SHARPNESS: f32 = 20.0;
/// Default duplicate distance of [`ChecksConfig::recommended`]: re-encoding and resizing
/// move a dHash by a few bits; unrelated photos differ by about 32.
pub const RECOMMENDED_MAX_DUPLICATE_DISTANCE: u32 = 6;

/// What a failed check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    ResolutionTooLow,
    Blurry,
    TooDark,
    TooBright,
    Duplicate,
}

impl FailureCode {
    /// The stable code carried by the API and the records.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::ResolutionTooLow => "resolution_too_low",
            FailureCode::Blurry => "blurry",
            FailureCode::TooDark => "too_dark",
            FailureCode::TooBright => "too_bright",
            FailureCode::Duplicate => "duplicate",
        }
    }
}

/// One failed data-conformity check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformityFailure {
    pub code: FailureCode,
    /// Says what is wrong and what to do, for the field worker.
    pub message: String,
}

/// The failed checks of a photo, in a fixed order (resolution, exposure, blur, duplicate);
/// empty when the photo is usable.
///
/// `earlier_hashes` are the hashes of the photos already analysed for the same work order.
///
/// Blur is not judged on a photo that is too dark or too bright: the Laplacian variance falls
/// with contrast, so such a photo always also measures "blurry", and telling the worker to hold
/// still when the problem is light would send them the wrong way.
pub fn judge(
    measures: &Measures,
    config: &ChecksConfig,
    earlier_hashes: &[u64],
) -> Vec<ConformityFailure> {
    let mut failures = Vec::new();
    let mut fail = |code, message: String| failures.push(ConformityFailure { code, message });

    if let Some((min_w, min_h)) = config.resolution {
        let (long, short) = (
            measures.width.max(measures.height),
            measures.width.min(measures.height),
        );
        let (min_long, min_short) = (min_w.max(min_h), min_w.min(min_h));
        if long < min_long || short < min_short {
            fail(
                FailureCode::ResolutionTooLow,
                format!(
                    "The photo is only {}x{} pixels; at least {min_w}x{min_h} are needed: use the phone's camera at full resolution and retake it, without zooming or cropping.",
                    measures.width, measures.height
                ),
            );
        }
    }

    let mut badly_exposed = false;
    if let Some((min, max)) = config.exposure {
        if measures.brightness < min {
            badly_exposed = true;
            fail(
                FailureCode::TooDark,
                "The photo is too dark: turn on a light or the flash, then retake it.".into(),
            );
        } else if measures.brightness > max {
            badly_exposed = true;
            fail(
                FailureCode::TooBright,
                "The photo is too bright: do not point the camera at a lamp or the sun, turn off the flash if it is close, then retake it.".into(),
            );
        }
    }

    if let Some(min_sharpness) = config.blur {
        if !badly_exposed && measures.sharpness < min_sharpness {
            fail(
                FailureCode::Blurry,
                "The photo is blurry: hold the phone still and tap to focus, then retake it."
                    .into(),
            );
        }
    }

    if let Some(max_distance) = config.duplicate {
        if earlier_hashes
            .iter()
            .any(|&h| hamming_distance(h, measures.hash) <= max_distance)
        {
            fail(
                FailureCode::Duplicate,
                "This photo is the same as one already sent for this work order: take a new photo of the equipment as it is now.".into(),
            );
        }
    }

    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn good() -> Measures {
        Measures {
            width: 1600,
            height: 1200,
            brightness: 120.0,
            sharpness: 500.0,
            hash: 0xDEAD_BEEF,
        }
    }

    fn codes(f: &[ConformityFailure]) -> Vec<&'static str> {
        f.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_good_photo_passes_every_check() {
        assert!(judge(&good(), &ChecksConfig::recommended(), &[0x1234]).is_empty());
    }

    #[test]
    fn each_check_fails_on_its_own_measure() {
        let cfg = ChecksConfig::recommended();
        let m = Measures {
            width: 320,
            height: 240,
            ..good()
        };
        assert_eq!(codes(&judge(&m, &cfg, &[])), ["resolution_too_low"]);
        let m = Measures {
            brightness: 10.0,
            ..good()
        };
        assert_eq!(codes(&judge(&m, &cfg, &[])), ["too_dark"]);
        let m = Measures {
            brightness: 250.0,
            ..good()
        };
        assert_eq!(codes(&judge(&m, &cfg, &[])), ["too_bright"]);
        let m = Measures {
            sharpness: 5.0,
            ..good()
        };
        assert_eq!(codes(&judge(&m, &cfg, &[])), ["blurry"]);
        assert_eq!(
            codes(&judge(&good(), &cfg, &[0xDEAD_BEEF ^ 0b111])),
            ["duplicate"]
        );
    }

    #[test]
    fn portrait_photo_meets_a_landscape_minimum() {
        let m = Measures {
            width: 480,
            height: 640,
            ..good()
        };
        assert!(judge(&m, &ChecksConfig::recommended(), &[]).is_empty());
        let m = Measures {
            width: 479,
            height: 640,
            ..good()
        };
        assert_eq!(
            codes(&judge(&m, &ChecksConfig::recommended(), &[])),
            ["resolution_too_low"]
        );
    }

    #[test]
    fn blur_is_not_reported_on_a_dark_photo() {
        let m = Measures {
            brightness: 5.0,
            sharpness: 1.0,
            ..good()
        };
        assert_eq!(
            codes(&judge(&m, &ChecksConfig::recommended(), &[])),
            ["too_dark"]
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let m = Measures {
            width: 100,
            height: 80,
            sharpness: 0.0,
            ..good()
        };
        let f = judge(&m, &ChecksConfig::recommended(), &[]);
        assert_eq!(
            f[0].message.split(':').next().unwrap(),
            "The photo is only 100x80 pixels; at least 640x480 are needed"
        );
        assert_eq!(
            f[1].message,
            "The photo is blurry: hold the phone still and tap to focus, then retake it."
        );
        assert_eq!(serde_json::to_value(f[1].code).unwrap(), "blurry");
    }

    proptest! {
        #[test]
        fn disabled_checks_never_fail(w in 0u32..5000, h in 0u32..5000, b in 0f32..=255.0, s in 0f32..5000.0, hash: u64, earlier: Vec<u64>) {
            let m = Measures { width: w, height: h, brightness: b, sharpness: s, hash };
            prop_assert!(judge(&m, &ChecksConfig::default(), &earlier).is_empty());
        }

        #[test]
        fn a_photo_already_sent_is_always_a_duplicate(hash: u64, mut earlier: Vec<u64>, at in any::<proptest::sample::Index>()) {
            let i = at.index(earlier.len() + 1);
            earlier.insert(i, hash);
            let m = Measures { hash, ..good() };
            let cfg = ChecksConfig { duplicate: Some(0), ..ChecksConfig::default() };
            prop_assert_eq!(codes(&judge(&m, &cfg, &earlier)), ["duplicate"]);
        }
    }
}
