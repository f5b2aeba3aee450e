//! Turning a photo into an image model's input tensor, as its manifest entry says.
//!
//! The resize itself is [`crate::resample::resize`], shared with the checks, and it starts from
//! the checks' working copy when that covers the model's input (see [`resize_image`]).

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::decode::DecodedImage;
use crate::manifest::{ImageInput, Layout, Resize};

/// The input tensor shape of an image model: a batch of one.
pub fn input_shape(spec: &ImageInput) -> [usize; 4] {
    let (w, h) = (spec.width as usize, spec.height as usize);
    match spec.layout {
        Layout::Nchw => [1, 3, h, w],
        Layout::Nhwc => [1, h, w, 3],
    }
}

/// The photo at the model's input size, resized from its working copy
/// ([`DecodedImage::working_rgb`], longest side 512, which the checks have usually made
/// already) when that is at least the input size both ways, from the full photo otherwise.
///
/// Shrinking the full photo cost 4 ms per analysis (2400x1800: 4.1 ms, against 0.8 ms from the
/// working copy; `examples/bench_vision.rs`). Both are antialiased; the two-step result is a
/// little softer. On fine stripes and noise, the worst case for it, it is within 1.5 grey
/// levels of the one-step result on average at 224x224 (2.2 against 0.9 from the exact
/// triangle filter of the full photo), 2.5 at 300x200 (a stretch), at most 9, and the test
/// below holds it under 3 and 10. The golden tests hold the models' answers on real photos, the
/// held-out test the demo's tasks.
pub fn resize_image(image: &DecodedImage, spec: &ImageInput) -> RgbImage {
    let working = image.working_rgb();
    if working.width() >= spec.width && working.height() >= spec.height {
        resize(working, spec)
    } else {
        resize(image.rgb(), spec)
    }
}

/// Resizes `rgb` to the model's input size.
pub fn resize(rgb: &RgbImage, spec: &ImageInput) -> RgbImage {
    match spec.resize {
        Resize::Stretch => crate::resample::resize(rgb, spec.width, spec.height),
    }
}

/// The normalised f32 tensor: `(pixel / 255 - mean[c]) / std[c]`, in the declared layout.
/// `rgb` must already have the model's input size.
pub fn to_tensor(rgb: &RgbImage, spec: &ImageInput) -> Tensor {
    debug_assert_eq!(rgb.dimensions(), (spec.width, spec.height));
    let scale: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * spec.std[c]));
    let offset: [f32; 3] = std::array::from_fn(|c| -spec.mean[c] / spec.std[c]);
    let norm = |v: u8, c: usize| f32::from(v) * scale[c] + offset[c];
    let (w, h) = (spec.width as usize, spec.height as usize);
    let raw = rgb.as_raw();
    let data: Vec<f32> = match spec.layout {
        Layout::Nhwc => raw
            .iter()
            .enumerate()
            .map(|(i, &v)| norm(v, i % 3))
            .collect(),
        Layout::Nchw => {
            let mut data = vec![0.0f32; 3 * w * h];
            for (i, px) in raw.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    data[c * w * h + i] = norm(px[c], c);
                }
            }
            data
        }
    };
    tract_ndarray::Array4::from_shape_vec(input_shape(spec), data)
        .expect("the buffer length is computed from the same shape")
        .into_tensor()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(layout: Layout, w: u32, h: u32) -> ImageInput {
        ImageInput {
            width: w,
            height: h,
            layout,
            mean: [0.5, 0.25, 0.0],
            std: [0.5, 0.25, 2.0],
            resize: Resize::Stretch,
        }
    }

    #[test]
    fn normalisation_and_layouts() {
        // Two pixels: pure red then white.
        let img = RgbImage::from_raw(2, 1, vec![255, 0, 0, 255, 255, 255]).unwrap();
        let nchw = to_tensor(&img, &spec(Layout::Nchw, 2, 1));
        assert_eq!(nchw.shape(), &[1, 3, 1, 2]);
        // R: (1-0.5)/0.5 = 1 for both; G: (0-0.25)/0.25 = -1 then 3; B: 0 then 0.5.
        let expected = [1.0, 1.0, -1.0, 3.0, 0.0, 0.5];
        let got = nchw.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap();
        assert!(
            got.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?}"
        );

        let nhwc = to_tensor(&img, &spec(Layout::Nhwc, 2, 1));
        assert_eq!(nhwc.shape(), &[1, 1, 2, 3]);
        let expected = [1.0, -1.0, 0.0, 1.0, 3.0, 0.5];
        let got = nhwc.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap();
        assert!(
            got.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "{got:?}"
        );
    }

    #[test]
    fn a_model_input_from_the_working_copy_is_within_a_few_levels_of_the_direct_one() {
        // A 1600x1200 photo of fine detail: stripes, a checkerboard and pseudo-random noise.
        let mut seed = 7u32;
        let photo = RgbImage::from_fn(1600, 1200, |x, y| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 27) as f32;
            let stripes = 60.0 * ((x as f32) / 3.0).sin();
            let check = if (x / 40 + y / 40) % 2 == 0 {
                150.0
            } else {
                70.0
            };
            let v = |k: f32| (check * k + stripes + noise).clamp(0.0, 255.0) as u8;
            image::Rgb([v(1.0), v(0.8), v(0.6)])
        });
        let image = DecodedImage::from_rgb(photo.clone());
        for (w, h) in [(224, 224), (512, 384), (300, 200)] {
            let spec = spec(Layout::Nchw, w, h);
            let shared = resize_image(&image, &spec);
            let direct = resize(&photo, &spec);
            assert_eq!(shared.dimensions(), (w, h));
            let diffs: Vec<u8> = shared
                .as_raw()
                .iter()
                .zip(direct.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .collect();
            let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
            let worst = diffs.iter().max().copied().unwrap_or(0);
            assert!(
                mean < 3.0 && worst <= 10,
                "{w}x{h}: mean {mean:.3}, worst {worst}"
            );
        }
        // A model larger than the working copy is resized from the full photo.
        let big = spec(Layout::Nchw, 640, 640);
        assert!(resize_image(&image, &big) == resize(&photo, &big));
    }
}
