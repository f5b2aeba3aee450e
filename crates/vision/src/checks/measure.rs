//! Measuring a decoded photo: the figures the conformity rules are judged on.

use serde::{Deserialize, Serialize};

use super::grey::Grey;
use super::hash::dhash;
use crate::decode::DecodedImage;

/// Pixel statistics of one photo, all computed from the upright image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Width in pixels of the decoded, upright photo.
    pub width: u32,
    /// Height in pixels of the decoded, upright photo.
    pub height: u32,
    /// Mean grey level, 0 (black) ..= 255 (white).
    pub brightness: f32,
    /// Laplacian-variance sharpness of the grey working copy (longest side 512), taken on
    /// its blurriest axis so that a one-directional shake counts (see
    /// [`Grey::axis_sharpness`]): higher is sharper. Comparable across resolutions above
    /// 512 pixels.
    pub sharpness: f32,
    /// 64-bit difference hash (see [`crate::checks::dhash`]).
    pub hash: u64,
}

/// Measures a photo. Costs one area-averaged downscale (the photo's working copy, which the
/// models then reuse: [`DecodedImage::working_rgb`]) and two passes over 512x512 values.
pub fn measure(image: &DecodedImage) -> Measures {
    let grey = Grey::from_rgb(image.working_rgb());
    Measures {
        width: image.width(),
        height: image.height(),
        brightness: grey.mean(),
        sharpness: grey.axis_sharpness(),
        hash: dhash(&grey),
    }
}
