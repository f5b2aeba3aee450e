//! Generated photos: a textured scene with shapes and edges at many scales, and the
//! degradations a field photo suffers (motion blur, darkness, re-encoding, resizing).

use std::io::Cursor;

use fieldproof_vision::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb};

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

/// A `w` x `h` scene: a lit gradient background, 40 rectangles and discs of random colours,
/// a few thin "cables", and mild sensor noise. Different seeds give unrelated scenes.
pub fn scene(seed: u64, w: u32, h: u32) -> RgbImage {
    let mut rng = Rng::new(seed);
    let base = [
        rng.below(120) + 60,
        rng.below(120) + 60,
        rng.below(120) + 60,
    ];
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let shade = (x * 60 / w + y * 40 / h) as i32 - 50;
        Rgb(base.map(|c| (c as i32 + shade).clamp(0, 255) as u8))
    });
    for _ in 0..40 {
        let colour = Rgb([
            rng.below(256) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        ]);
        let (cx, cy) = (rng.below(w), rng.below(h));
        let (rw, rh) = (rng.below(w / 5) + 4, rng.below(h / 5) + 4);
        let disc = rng.below(2) == 0;
        for y in cy.saturating_sub(rh)..(cy + rh).min(h) {
            for x in cx.saturating_sub(rw)..(cx + rw).min(w) {
                let (dx, dy) = (f64::from(x) - f64::from(cx), f64::from(y) - f64::from(cy));
                if !disc || (dx / f64::from(rw)).powi(2) + (dy / f64::from(rh)).powi(2) <= 1.0 {
                    img.put_pixel(x, y, colour);
                }
            }
        }
    }
    for _ in 0..6 {
        let y0 = rng.below(h);
        let slope = rng.below(200) as i64 - 100;
        for x in 0..w {
            let y = y0 as i64 + slope * i64::from(x) / 400;
            for t in 0..2 {
                if (0..i64::from(h)).contains(&(y + t)) {
                    img.put_pixel(x, (y + t) as u32, Rgb([20, 20, 20]));
                }
            }
        }
    }
    for p in img.pixels_mut() {
        let n = rng.below(9) as i32 - 4;
        *p = Rgb(p.0.map(|c| (c as i32 + n).clamp(0, 255) as u8));
    }
    img
}

/// Horizontal motion blur: each pixel becomes the mean of `length` pixels along its row, as
/// when the phone moves sideways during the exposure.
pub fn motion_blur(img: &RgbImage, length: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let half = length as i64 / 2;
    let mut out = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0u32; 3];
            let mut n = 0;
            for k in -half..=half {
                let sx = (i64::from(x) + k).clamp(0, i64::from(w) - 1) as u32;
                let p = img.get_pixel(sx, y).0;
                for c in 0..3 {
                    acc[c] += u32::from(p[c]);
                }
                n += 1;
            }
            out.put_pixel(x, y, Rgb(acc.map(|a| (a / n) as u8)));
        }
    }
    out
}

/// Every channel multiplied by `factor` (0..1 darkens), as an underexposed shot.
pub fn scale_light(img: &RgbImage, factor: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        *p = Rgb(p
            .0
            .map(|c| (f32::from(c) * factor).round().clamp(0.0, 255.0) as u8));
    }
    out
}

/// JPEG bytes at `quality`.
pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out.into_inner()
}
