//! Turning a photo into an image model's input tensor, as its manifest entry says.
//!
//! The resize itself is [`crate::resample::resize`], shared with the checks.

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::manifest::{ImageInput, Layout, Resize};

/// The input tensor shape of an image model: a batch of one.
pub fn input_shape(spec: &ImageInput) -> [usize; 4] {
    let (w, h) = (spec.width as usize, spec.height as usize);
    match spec.layout {
        Layout::Nchw => [1, 3, h, w],
        Layout::Nhwc => [1, h, w, 3],
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
}
