//! The 64-bit perceptual hash used to spot a photo sent twice.
//!
//! It is a difference hash (dHash): the grey image is area-averaged to 9x8 cells and each bit
//! says whether a cell is brighter than its right-hand neighbour (row by row, most significant
//! bit first). It survives re-encoding, resizing and small exposure changes, because those
//! keep the coarse gradient directions, and it costs nothing once the grey working copy
//! exists. A DCT-based pHash was considered: a little more robust to heavy edits, but slower
//! and not needed to catch a field worker re-sending the same shot.
//!
//! A flat image (no gradient at all) hashes to 0; any two flat images then look identical,
//! which is right for the purpose: a blank photo is useless however many times it is sent.

use super::grey::Grey;

/// The dHash of a grey image.
pub fn dhash(grey: &Grey) -> u64 {
    let cells = grey.box_resize(9, 8);
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            hash <<= 1;
            if cells.get(x, y) > cells.get(x + 1, y) {
                hash |= 1;
            }
        }
    }
    hash
}

/// Number of differing bits between two hashes: 0 for the same picture, about 32 for
/// unrelated ones.
pub fn hamming_distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn distance_is_a_metric(a: u64, b: u64, c: u64) {
            prop_assert_eq!(hamming_distance(a, a), 0);
            prop_assert_eq!(hamming_distance(a, b), hamming_distance(b, a));
            prop_assert!(hamming_distance(a, b) <= 64);
            prop_assert!(hamming_distance(a, c) <= hamming_distance(a, b) + hamming_distance(b, c));
            prop_assert_eq!(hamming_distance(a, b) == 0, a == b);
        }

        #[test]
        fn same_pixels_same_hash(seed in proptest::collection::vec(any::<u8>(), 3 * 40 * 30)) {
            let img = image::RgbImage::from_raw(40, 30, seed).unwrap();
            let a = dhash(&Grey::from_rgb(&img));
            let b = dhash(&Grey::from_rgb(&img.clone()));
            prop_assert_eq!(hamming_distance(a, b), 0);
        }
    }

    #[test]
    fn left_to_right_ramp_hashes_to_all_ones_and_its_mirror_to_zero() {
        let ramp = image::RgbImage::from_fn(90, 80, |x, _| {
            let v = (255 - x * 255 / 89) as u8;
            image::Rgb([v, v, v])
        });
        assert_eq!(dhash(&Grey::from_rgb(&ramp)), u64::MAX);
        let mirrored = image::imageops::flip_horizontal(&ramp);
        assert_eq!(dhash(&Grey::from_rgb(&mirrored)), 0);
    }
}
