//! The real fixtures: the model files in `models/` and the photos extracted by
//! `scripts/fetch_test_photos.sh` into `$FIELDPROOF_TEST_PHOTOS`.
//!
//! A missing fixture fails the test under CI (`CI=true`), where the pipeline must have
//! provided it, and skips it with a note elsewhere, so a fresh checkout can run the fast
//! tests without fetching anything.

use std::path::{Path, PathBuf};

use fieldproof_vision::{decode, DecodedImage, Limits};

/// Fails under CI, otherwise prints why the test is skipped. Call `return` after it.
pub fn skip(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}: required when CI=true");
    }
    eprintln!("skipped: {what}");
}

/// The project's `models/manifest.toml` (or `$FIELDPROOF_MODELS_MANIFEST`), if present.
pub fn models_manifest() -> Option<PathBuf> {
    let path = std::env::var_os("FIELDPROOF_MODELS_MANIFEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/manifest.toml")
        });
    if path.is_file() {
        Some(path)
    } else {
        skip(&format!(
            "model manifest {} not found (fetch the models first)",
            path.display()
        ));
        None
    }
}

/// The folder of real test photos, if `$FIELDPROOF_TEST_PHOTOS` names one.
pub fn photos_dir() -> Option<PathBuf> {
    match std::env::var_os("FIELDPROOF_TEST_PHOTOS").map(PathBuf::from) {
        Some(dir) if dir.is_dir() => Some(dir),
        Some(dir) => {
            skip(&format!(
                "FIELDPROOF_TEST_PHOTOS={} is not a folder",
                dir.display()
            ));
            None
        }
        None => {
            skip("FIELDPROOF_TEST_PHOTOS is not set (run scripts/fetch_test_photos.sh)");
            None
        }
    }
}

/// Decodes the photo `name` (a file in `dir`, any of the given extensions) if present.
pub fn photo(dir: &Path, stem: &str) -> Option<DecodedImage> {
    for ext in ["png", "jpg", "jpeg"] {
        let path = dir.join(format!("{stem}.{ext}"));
        if let Ok(bytes) = std::fs::read(&path) {
            let limits = Limits {
                max_bytes: 50_000_000,
                ..Limits::default()
            };
            return Some(
                decode(&bytes, &limits).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            );
        }
    }
    skip(&format!("test photo {stem} not found in {}", dir.display()));
    None
}
