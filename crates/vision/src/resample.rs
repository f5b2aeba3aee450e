//! Shrinking photos: the one resize used by both the checks and the models.
//!
//! The reference is an antialiased bilinear (triangle) resize whose filter support grows
//! with the ratio: what PIL does when our models were exported and evaluated, and what the
//! `image` crate's `FilterType::Triangle` does. On a 12-megapixel photo it reads every source
//! pixel dozens of times, so for large ratios we first area-average to twice the target size
//! (`imageops::thumbnail`: each source pixel read once, a ratio of at least 2 so no aliasing)
//! and finish with the triangle filter. Below a ratio of 4 the triangle filter runs alone, so
//! photos up to four times the target give exactly the reference result.

use image::imageops::{self, FilterType};
use image::RgbImage;

/// `rgb` resized to exactly `tw` x `th` (see the module comment for how).
pub fn resize(rgb: &RgbImage, tw: u32, th: u32) -> RgbImage {
    let (w, h) = rgb.dimensions();
    if (w, h) == (tw, th) {
        return rgb.clone();
    }
    let iw = if w >= 4 * tw { 2 * tw } else { w };
    let ih = if h >= 4 * th { 2 * th } else { h };
    if (iw, ih) != (w, h) {
        let shrunk = imageops::thumbnail(rgb, iw, ih);
        imageops::resize(&shrunk, tw, th, FilterType::Triangle)
    } else {
        imageops::resize(rgb, tw, th, FilterType::Triangle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn halves_stay_apart_at_any_ratio() {
        // Left half red, right half blue: resized to 8x8 the outer columns keep their colour,
        // through the two-stage path (3000 -> 16 -> 8) and the direct one (20 -> 8).
        for w in [3000, 20] {
            let img = RgbImage::from_fn(w, 1000, |x, _| {
                if x < w / 2 {
                    Rgb([255, 0, 0])
                } else {
                    Rgb([0, 0, 255])
                }
            });
            let out = resize(&img, 8, 8);
            assert_eq!(out.dimensions(), (8, 8));
            for y in 0..8 {
                for x in [0, 1, 2] {
                    assert_eq!(out.get_pixel(x, y).0, [255, 0, 0], "w={w} x={x}");
                    assert_eq!(out.get_pixel(7 - x, y).0, [0, 0, 255], "w={w} x={}", 7 - x);
                }
            }
        }
    }

    #[test]
    fn the_two_stage_path_stays_close_to_the_reference() {
        // Gradients and a texture whose period (70 to 95 pixels) survives the shrink, 2000x1500
        // to 224x224: compare with one triangle pass. (Texture finer than the target's pixels
        // is averaged away differently by the two filters; neither keeps it.)
        let img = RgbImage::from_fn(2000, 1500, |x, y| {
            let wave = (x as f32 / 15.0).sin() * (y as f32 / 11.0).cos();
            Rgb([(x / 8) as u8, (y / 6) as u8, (128.0 + 100.0 * wave) as u8])
        });
        let fast = resize(&img, 224, 224);
        let reference = imageops::resize(&img, 224, 224, FilterType::Triangle);
        let mean_abs: f64 = fast
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / fast.as_raw().len() as f64;
        assert!(mean_abs < 1.0, "mean absolute difference {mean_abs}");
    }
}
