//! Shrinking photos: the one resize used by both the checks and the models.
//!
//! The reference is an antialiased bilinear (triangle) resize whose filter support grows
//! with the ratio: what PIL does when our models were exported and evaluated, and what the
//! `image` crate's `FilterType::Triangle` does. On a 12-megapixel photo it reads every source
//! pixel dozens of times, so for large ratios we first average blocks of whole pixels down to
//! at least twice the target size (each source pixel read once, no aliasing since every pixel
//! counts) and finish with the triangle filter. Below a ratio of 4 the triangle filter runs
//! alone, so photos up to four times the target give exactly the reference result.
//!
//! Both stages are written here over raw rows rather than taken from `image::imageops`
//! (`thumbnail`, `resize`), which read pixels one at a time through a generic interface and
//! convert to RGBA f32 first: the same arithmetic, several times slower. The triangle stage
//! computes the same weights as PIL and `FilterType::Triangle`, and a test holds it to the
//! latter.

use image::RgbImage;

/// `rgb` resized to exactly `tw` x `th` (see the module comment for how).
pub fn resize(rgb: &RgbImage, tw: u32, th: u32) -> RgbImage {
    resize_pausing(rgb, tw, th, &mut || {})
}

/// [`resize`], calling `pause` before each output row of each stage (every few microseconds).
pub fn resize_pausing(rgb: &RgbImage, tw: u32, th: u32, pause: &mut dyn FnMut()) -> RgbImage {
    let (w, h) = rgb.dimensions();
    if (w, h) == (tw, th) {
        return rgb.clone();
    }
    // Block sizes that leave at least twice the target; 1 (no averaging) below a ratio of 4.
    let kx = if w >= 4 * tw { w / (2 * tw) } else { 1 };
    let ky = if h >= 4 * th { h / (2 * th) } else { 1 };
    if kx > 1 || ky > 1 {
        // The averaged copy's last column and row may stand for fewer source pixels than the
        // others; the triangle stage is told the true extent so the photo is not stretched.
        let extent = (f64::from(w) / f64::from(kx), f64::from(h) / f64::from(ky));
        let averaged = block_average_pausing(rgb, kx, ky, pause);
        triangle_over(&averaged, extent, tw, th, pause)
    } else {
        let extent = (f64::from(w), f64::from(h));
        triangle_over(rgb, extent, tw, th, pause)
    }
}

/// Each `kx` x `ky` block of pixels averaged into one; the blocks on the right and bottom
/// edges may be smaller and average what they hold, so no pixel is dropped.
///
/// The block's rows are first added column by column over the full width (a loop over
/// contiguous memory, vectorised), then each block's columns are added: the per-pixel scalar
/// work is done once per output row instead of once per source row.
#[cfg(test)]
pub fn block_average(rgb: &RgbImage, kx: u32, ky: u32) -> RgbImage {
    block_average_pausing(rgb, kx, ky, &mut || {})
}

fn block_average_pausing(rgb: &RgbImage, kx: u32, ky: u32, pause: &mut dyn FnMut()) -> RgbImage {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (kx, ky) = (kx.max(1) as usize, ky.max(1) as usize);
    let (ow, oh) = (w.div_ceil(kx), h.div_ceil(ky));
    let raw = rgb.as_raw();
    let stride = w * 3;
    let mut out = vec![0u8; ow * oh * 3];
    if out.is_empty() {
        return RgbImage::new(ow as u32, oh as u32);
    }
    // Sums over the block's rows, per source column and channel. `resize` asks for blocks of
    // at most w x h / (4 x tw x th) pixels, a quarter of the pixel cap at worst, whose sums of
    // 8-bit values stay within a u32.
    let mut columns = vec![0u32; stride];
    let whole = w / kx;
    for (oy, out_row) in out.chunks_exact_mut(ow * 3).enumerate() {
        pause();
        let rows = oy * ky..((oy + 1) * ky).min(h);
        let block_h = rows.len();
        let mut source_rows = raw[rows.start * stride..rows.end * stride].chunks_exact(stride);
        let first = source_rows.next().expect("a block has at least one row");
        for (a, &v) in columns.iter_mut().zip(first) {
            *a = u32::from(v);
        }
        for row in source_rows {
            for (a, &v) in columns.iter_mut().zip(row) {
                *a += u32::from(v);
            }
        }
        let (whole_out, part_out) = out_row.split_at_mut(whole * 3);
        let full = Divisor::new(kx * block_h);
        for (o, block) in whole_out
            .chunks_exact_mut(3)
            .zip(columns.chunks_exact(kx * 3))
        {
            let sum = block_sum(block);
            o[0] = full.round(sum[0]);
            o[1] = full.round(sum[1]);
            o[2] = full.round(sum[2]);
        }
        if !part_out.is_empty() {
            let sum = block_sum(&columns[whole * kx * 3..]);
            let part = Divisor::new((w - whole * kx) * block_h);
            part_out[0] = part.round(sum[0]);
            part_out[1] = part.round(sum[1]);
            part_out[2] = part.round(sum[2]);
        }
    }
    RgbImage::from_raw(ow as u32, oh as u32, out).expect("the buffer matches the dimensions")
}

/// Per channel, the sums of a run of column sums (R, G, B interleaved).
fn block_sum(block: &[u32]) -> [u32; 3] {
    let mut sum = [0u32; 3];
    for px in block.chunks_exact(3) {
        sum[0] += px[0];
        sum[1] += px[1];
        sum[2] += px[2];
    }
    sum
}

/// Division by a block's pixel count, rounded to nearest, as a multiplication (an integer
/// division per channel was most of the averaging's time): `(s + n/2) / n` is
/// `(s + n/2) * m >> 48` with `m` = ceil(2^48 / n). With `s` at most 255 n, that is exact for
/// blocks of fewer than 2^20 pixels (the error term stays below 1/n while 256 n^2 < 2^48), and
/// the product stays below 2^57. Larger blocks, which only absurd shapes near the pixel cap
/// could ask for, divide.
struct Divisor {
    n: u32,
    m: u64,
}

impl Divisor {
    const SHIFT: u32 = 48;
    const MAX_N: u32 = 1 << 20;

    fn new(n: usize) -> Divisor {
        let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        let m = if n < Self::MAX_N {
            (1u64 << Self::SHIFT).div_ceil(u64::from(n))
        } else {
            0
        };
        Divisor { n, m }
    }

    fn round(&self, sum: u32) -> u8 {
        let num = u64::from(sum) + u64::from(self.n / 2);
        if self.m == 0 {
            (num / u64::from(self.n)) as u8
        } else {
            ((num * self.m) >> Self::SHIFT) as u8
        }
    }
}

/// Antialiased bilinear resize: a separable triangle filter whose support is widened by the
/// shrink ratio, in f32.
///
/// The vertical pass runs first, one output row at a time: it adds whole source rows, scaled by
/// their weight, into one row of accumulators, a loop over contiguous memory that the compiler
/// vectorises. The horizontal pass, which gathers a few neighbouring pixels per output pixel and
/// cannot be vectorised so, then runs over the output's rows only instead of every source row.
/// On a 1600x1200 photo shrunk to 512x384 this order does a quarter of the scalar work of the
/// other. The two passes commute, so the result is the same up to float rounding.
#[cfg(test)]
pub fn triangle(rgb: &RgbImage, tw: u32, th: u32) -> RgbImage {
    let extent = (f64::from(rgb.width()), f64::from(rgb.height()));
    triangle_over(rgb, extent, tw, th, &mut || {})
}

/// [`triangle`] over an image whose content spans `extent` pixels (at most its size; less
/// when its last column or row is a partial block).
fn triangle_over(
    rgb: &RgbImage,
    extent: (f64, f64),
    tw: u32,
    th: u32,
    pause: &mut dyn FnMut(),
) -> RgbImage {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (tw, th) = (tw as usize, th as usize);
    if w == 0 || h == 0 || tw == 0 || th == 0 {
        return RgbImage::new(tw as u32, th as u32);
    }
    let cols = Taps::new(w, extent.0, tw);
    let rows = Taps::new(h, extent.1, th);
    let raw = rgb.as_raw();
    let stride = w * 3;

    let mut out = vec![0u8; tw * th * 3];
    let mut acc = vec![0.0f32; stride];
    for (y, row_out) in out.chunks_exact_mut(tw * 3).enumerate() {
        pause();
        // Vertical pass: this output row's source rows, weighted, summed over the full width.
        let (start, len) = rows.spans[y];
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (k, &wgt) in rows.weights(y)[..len].iter().enumerate() {
            let src = &raw[(start + k) * stride..(start + k + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += f32::from(v) * wgt;
            }
        }
        // Horizontal pass over that one row.
        for (x, px_out) in row_out.chunks_exact_mut(3).enumerate() {
            let (start, len) = cols.spans[x];
            let (mut r, mut g, mut b) = (0.0f32, 0.0f32, 0.0f32);
            let taps = acc[start * 3..(start + len) * 3].chunks_exact(3);
            for (p, &wgt) in taps.zip(&cols.weights(x)[..len]) {
                r += p[0] * wgt;
                g += p[1] * wgt;
                b += p[2] * wgt;
            }
            px_out[0] = to_u8(r);
            px_out[1] = to_u8(g);
            px_out[2] = to_u8(b);
        }
    }
    RgbImage::from_raw(tw as u32, th as u32, out).expect("the buffer matches the dimensions")
}

/// Rounds a filtered value to the nearest level. Adding a half and truncating is rounding for
/// the non-negative values the clamp leaves, without a call to `roundf` per channel.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

/// For each output index along one axis: the first source index it reads, how many, and
/// their normalised triangle weights (stored with a fixed stride).
struct Taps {
    spans: Vec<(usize, usize)>,
    stride: usize,
    weights: Vec<f32>,
}

impl Taps {
    /// Taps from `src` pixels whose content spans `extent` (<= `src`) to `dst` pixels.
    fn new(src: usize, extent: f64, dst: usize) -> Taps {
        let ratio = extent / dst as f64;
        let scale = ratio.max(1.0);
        let support = scale; // the triangle kernel's support is 1, widened when shrinking
        let stride = (2.0 * support).ceil() as usize + 2;
        let mut spans = Vec::with_capacity(dst);
        let mut weights = vec![0.0f32; dst * stride];
        for i in 0..dst {
            let centre = (i as f64 + 0.5) * ratio;
            let left = ((centre - support).floor().max(0.0) as usize).min(src - 1);
            let right = ((centre + support).ceil() as usize).clamp(left + 1, src);
            let ws = &mut weights[i * stride..i * stride + (right - left)];
            let mut sum = 0.0f64;
            let raw: Vec<f64> = (left..right)
                .map(|x| {
                    let t = (x as f64 + 0.5 - centre) / scale;
                    let v = (1.0 - t.abs()).max(0.0);
                    sum += v;
                    v
                })
                .collect();
            for (w, v) in ws.iter_mut().zip(raw) {
                *w = if sum > 0.0 { (v / sum) as f32 } else { 0.0 };
            }
            if sum == 0.0 {
                ws[0] = 1.0;
            }
            spans.push((left, right - left));
        }
        Taps {
            spans,
            stride,
            weights,
        }
    }

    fn weights(&self, i: usize) -> &[f32] {
        &self.weights[i * self.stride..(i + 1) * self.stride]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};
    use image::Rgb;

    #[test]
    fn block_average_rounds_and_keeps_partial_edge_blocks() {
        // 5x3 with kx = ky = 2: blocks of 2x2, 1x2, 2x1 and 1x1.
        let img = RgbImage::from_fn(5, 3, |x, y| {
            let v = (10 * x + 100 * y) as u8;
            Rgb([v, 255 - v, 7])
        });
        let out = block_average(&img, 2, 2);
        assert_eq!(out.dimensions(), (3, 2));
        // Top-left block: 0, 10, 100, 110 -> 55.
        assert_eq!(out.get_pixel(0, 0).0, [55, 200, 7]);
        // Right column, top: 40 and 140 -> 90.
        assert_eq!(out.get_pixel(2, 0).0, [90, 165, 7]);
        // Bottom row, middle: 220 and 230 -> 225.
        assert_eq!(out.get_pixel(1, 1).0, [225, 30, 7]);
        // Bottom-right corner alone: 240.
        assert_eq!(out.get_pixel(2, 1).0, [240, 15, 7]);
    }

    #[test]
    fn the_divisor_rounds_as_integer_division_does() {
        let check = |n: usize, sum: u32| {
            let exact = (u64::from(sum) + n as u64 / 2) / n as u64;
            assert_eq!(u64::from(Divisor::new(n).round(sum)), exact, "{sum} / {n}");
        };
        // Every sum of every block of up to 400 pixels, and the ends of the range beyond.
        for n in 1..=400 {
            for sum in 0..=255 * n as u32 {
                check(n, sum);
            }
        }
        // Larger blocks on either side of the switch to a plain division, at the sums where
        // rounding turns (k n + n/2 and one less) and at the ends.
        for n in [
            401,
            1_000,
            4_096,
            65_537,
            (1 << 20) - 1,
            1 << 20,
            10_000_000,
        ] {
            let n32 = n as u32;
            let mut sums = vec![0, 1, 255 * n32 - 1, 255 * n32];
            for k in [0, 1, 127, 254] {
                sums.extend([k * n32 + n32 / 2 - 1, k * n32 + n32 / 2, k * n32 + n32]);
            }
            for sum in sums {
                check(n, sum);
            }
        }
    }

    #[test]
    fn block_average_is_the_rounded_mean_of_each_block() {
        // Against the definition, for block shapes that divide the image and shapes that leave
        // partial blocks on the right and at the bottom.
        let img = RgbImage::from_fn(37, 23, |x, y| {
            Rgb([
                (x * 7 + y * 3) as u8,
                (x * y % 256) as u8,
                ((x ^ y) * 11 % 256) as u8,
            ])
        });
        for (kx, ky) in [(1, 1), (2, 2), (3, 2), (5, 7), (37, 23), (40, 30), (1, 23)] {
            let out = block_average(&img, kx, ky);
            let (ow, oh) = (37u32.div_ceil(kx), 23u32.div_ceil(ky));
            assert_eq!(out.dimensions(), (ow, oh));
            for (ox, oy, px) in out.enumerate_pixels() {
                for c in 0..3 {
                    let (mut sum, mut n) = (0u32, 0u32);
                    for y in oy * ky..((oy + 1) * ky).min(23) {
                        for x in ox * kx..((ox + 1) * kx).min(37) {
                            sum += u32::from(img.get_pixel(x, y)[c]);
                            n += 1;
                        }
                    }
                    assert_eq!(px[c], ((sum + n / 2) / n) as u8, "{kx}x{ky} at {ox},{oy}");
                }
            }
        }
    }

    #[test]
    fn triangle_matches_the_image_crate() {
        // Shrinking by various ratios, stretching, and enlarging: within rounding of the
        // reference implementation.
        let img = RgbImage::from_fn(301, 203, |x, y| {
            let wave = (x as f32 / 9.0).sin() * (y as f32 / 7.0).cos();
            Rgb([
                (x % 256) as u8,
                (y * 255 / 202) as u8,
                (128.0 + 120.0 * wave) as u8,
            ])
        });
        for (tw, th) in [
            (224, 224),
            (100, 50),
            (33, 201),
            (301, 203),
            (400, 300),
            (1, 1),
        ] {
            let ours = triangle(&img, tw, th);
            let reference = imageops::resize(&img, tw, th, FilterType::Triangle);
            let worst = ours
                .as_raw()
                .iter()
                .zip(reference.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(worst <= 1, "{tw}x{th}: differs by up to {worst}");
        }
    }

    #[test]
    fn a_partial_last_block_does_not_stretch_the_photo() {
        // 1000 columns in blocks of 15 leave a last block of 10. Left half red, right half
        // green: each half still covers half of the output.
        let img = RgbImage::from_fn(1000, 700, |x, _| {
            if x < 500 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 255, 0])
            }
        });
        let out = resize(&img, 32, 24);
        let mean =
            |c: usize| out.pixels().map(|p| f64::from(p[c])).sum::<f64>() / (32.0 * 24.0 * 255.0);
        assert!((mean(0) - 0.5).abs() < 0.002, "red {}", mean(0));
        assert!((mean(1) - 0.5).abs() < 0.002, "green {}", mean(1));
    }

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
