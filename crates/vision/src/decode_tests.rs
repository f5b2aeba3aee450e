use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb};

use super::*;

/// A scene with structure in both directions, so rotations and crops are visible.
fn scene(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x ^ y) & 0xFF) as u8,
        ])
    })
}

fn jpeg(img: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 90);
    if let Some(exif) = exif {
        enc.set_exif_metadata(exif).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A big-endian TIFF block with a single Orientation (0x0112) entry.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut t = b"MM\0\x2a\0\0\0\x08".to_vec();
    t.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
    t.extend_from_slice(&0x0112u16.to_be_bytes()); // tag
    t.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    t.extend_from_slice(&1u32.to_be_bytes()); // count
    t.extend_from_slice(&value.to_be_bytes());
    t.extend_from_slice(&[0, 0]); // padding of the 4-byte value field
    t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    t
}

/// A PNG made of its signature, an IHDR declaring `w` x `h` 8-bit RGB, one tiny IDAT and IEND:
/// a few dozen bytes whose header promises any number of pixels.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of a few zero bytes: far too little for the declared size.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn jpeg_and_png_round_trip() {
    let img = scene(120, 80);
    let d = decode(&jpeg(&img, None), &Limits::default()).unwrap();
    assert_eq!(
        (d.width(), d.height(), d.format()),
        (120, 80, Some(PhotoFormat::Jpeg))
    );
    let d = decode(&png(&img), &Limits::default()).unwrap();
    assert_eq!(d.format(), Some(PhotoFormat::Png));
    assert_eq!(d.rgb(), &img, "PNG is lossless");
}

#[test]
fn format_is_sniffed_not_trusted() {
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    assert!(matches!(
        decode(gif, &Limits::default()),
        Err(VisionError::UnsupportedFormat)
    ));
    assert!(matches!(
        decode(b"<html>", &Limits::default()),
        Err(VisionError::UnsupportedFormat)
    ));
    assert!(matches!(
        decode(b"", &Limits::default()),
        Err(VisionError::Empty)
    ));
    // A JPEG with junk after its magic bytes is a damaged JPEG, not another format.
    let err = decode(
        b"\xFF\xD8\xFF\xE0garbage\xFF\xDAxx\xFF\xD9",
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, VisionError::Corrupt { format: "JPEG", .. }),
        "{err:?}"
    );
}

#[test]
fn too_many_bytes_is_refused_before_anything_else() {
    let bytes = png(&scene(64, 64));
    let limits = Limits {
        max_bytes: bytes.len() as u64 - 1,
        ..Limits::default()
    };
    let err = decode(&bytes, &limits).unwrap_err();
    assert!(matches!(err, VisionError::TooManyBytes { .. }), "{err:?}");
}

#[test]
fn decompression_bomb_is_refused_from_the_header_quickly() {
    let bomb = png_header_only(100_000, 100_000);
    assert!(bomb.len() < 100);
    let started = Instant::now();
    let err = decode(&bomb, &Limits::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        err.to_string(),
        "the photo is 100000x100000 pixels; at most 40 megapixels are accepted: lower the camera resolution and retake it"
    );
}

#[test]
fn allocation_ceiling_backs_up_the_pixel_limit() {
    // 6000x6000 RGB is under 40 megapixels but needs 108 MB; allow 10 MB.
    let bytes = png_header_only(6000, 6000);
    let limits = Limits {
        max_alloc_bytes: 10_000_000,
        ..Limits::default()
    };
    let err = decode(&bytes, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            VisionError::TooMuchMemory {
                max_alloc: 10_000_000
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pixel_limit_is_exact() {
    let bytes = png(&scene(100, 50));
    assert!(decode(
        &bytes,
        &Limits {
            max_pixels: 5000,
            ..Limits::default()
        }
    )
    .is_ok());
    let err = decode(
        &bytes,
        &Limits {
            max_pixels: 4999,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            VisionError::TooManyPixels {
                width: 100,
                height: 50,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_files_are_errors_not_partial_images() {
    let img = scene(256, 256);
    // Cut in the pixel data, and just before the end marker: a JPEG without its EOI (the
    // JPEG decoder alone would accept it, filling the rest with grey), a PNG without its IEND
    // chunk. (A PNG missing only the CRC of IEND still has every pixel and is accepted.)
    for (bytes, tail) in [(jpeg(&img, None), 2), (png(&img), 8)] {
        for keep in [bytes.len() / 3, bytes.len() / 2, bytes.len() - tail] {
            let err = decode(&bytes[..keep], &Limits::default()).unwrap_err();
            assert!(
                matches!(err, VisionError::Corrupt { .. }),
                "{keep}/{}: {err:?}",
                bytes.len()
            );
            assert!(err.is_input_error());
        }
    }
}

#[test]
fn corrupt_png_data_is_an_error() {
    let mut bytes = png(&scene(64, 64));
    // Flip bytes in the middle of the compressed data: the chunk CRC no longer matches.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    bytes[mid + 1] ^= 0xFF;
    assert!(matches!(
        decode(&bytes, &Limits::default()),
        Err(VisionError::Corrupt { format: "PNG", .. })
    ));
}

#[test]
fn exif_orientation_is_applied() {
    // A 40x20 landscape photo tagged "rotate 90 degrees clockwise to display" (value 6).
    let img = scene(40, 20);
    let d = decode(&jpeg(&img, Some(exif_orientation(6))), &Limits::default()).unwrap();
    assert_eq!((d.width(), d.height()), (20, 40));
    // After a clockwise rotation the stored top-left corner (dark red and green) is at the
    // top-right.
    let stored_top_left = img.get_pixel(0, 0).0;
    let shown = d.rgb().get_pixel(19, 0).0;
    for c in 0..3 {
        assert!(
            shown[c].abs_diff(stored_top_left[c]) < 24,
            "{shown:?} vs {stored_top_left:?}"
        );
    }
    // Value 1 (normal) keeps the stored orientation.
    let d = decode(&jpeg(&img, Some(exif_orientation(1))), &Limits::default()).unwrap();
    assert_eq!((d.width(), d.height()), (40, 20));
}

#[test]
fn trailing_data_after_the_image_is_allowed() {
    let mut bytes = jpeg(&scene(64, 48), None);
    bytes.extend_from_slice(b"vendor trailer");
    assert!(decode(&bytes, &Limits::default()).is_ok());
}

#[test]
fn grey_and_16_bit_photos_become_8_bit_rgb() {
    let mut grey = Vec::new();
    let levels: Vec<u8> = (0..64u32 * 32).map(|i| (i % 64 * 4) as u8).collect();
    PngEncoder::new(&mut grey)
        .write_image(&levels, 64, 32, ExtendedColorType::L8)
        .unwrap();
    let d = decode(&grey, &Limits::default()).unwrap();
    assert_eq!(d.rgb().get_pixel(10, 5).0, [40, 40, 40]);

    // 16-bit RGBA: full red, 0x8080 green (128 in 8 bits, whatever the byte order), opaque.
    let mut deep = Vec::new();
    let pixel: [u8; 8] = [0xFF, 0xFF, 0x80, 0x80, 0, 0, 0xFF, 0xFF];
    let raw: Vec<u8> = pixel.iter().copied().cycle().take(8 * 16 * 16).collect();
    PngEncoder::new(&mut deep)
        .write_image(&raw, 16, 16, ExtendedColorType::Rgba16)
        .unwrap();
    let d = decode(&deep, &Limits::default()).unwrap();
    assert_eq!(d.rgb().get_pixel(3, 3).0, [255, 128, 0]);
}

#[test]
fn completeness_is_decided_by_the_markers_after_the_last_scan() {
    // (bytes, complete?): SOI, an EXIF thumbnail with its own scan and EOI, then the main scan.
    let thumb = b"\xFF\xD8\xFF\xE1\xFF\xD8\xFF\xDAtt\xFF\xD9";
    let cases: [(&[u8], bool); 7] = [
        (b"\xFF\xD8\xFF\xDAdata\xFF\xD9", true),
        (b"\xFF\xD8\xFF\xDAdata", false),
        (b"\xFF\xD8\xFF\xD9", false), // an end, but no scan at all
        (&[thumb.as_slice(), b"\xFF\xDAmain"].concat(), false), // only the thumbnail ends
        (&[thumb.as_slice(), b"\xFF\xDAmain\xFF\xD9"].concat(), true),
        (b"\xFF\xD8\xFF\xDAdata\xFF\xD9appended", true),
        // A second image appended after the EOI (as some phones do), itself complete.
        (
            b"\xFF\xD8\xFF\xDAdata\xFF\xD9\xFF\xD8\xFF\xDAdepth\xFF\xD9",
            true,
        ),
    ];
    for (bytes, complete) in cases {
        assert_eq!(jpeg_is_complete(bytes), complete, "{bytes:?}");
    }
}

#[test]
fn a_jpeg_decode_pauses_as_it_reads_and_makes_the_same_pixels() {
    // A photo of megabytes, as phones send: noise keeps the JPEG large.
    let img = RgbImage::from_fn(1600, 1200, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 7;
        Rgb([(n % 251) as u8, (x % 256) as u8, ((n >> 8) % 256) as u8])
    });
    let bytes = jpeg(&img, Some(exif_orientation(6)));
    assert!(
        bytes.len() as u64 > 8 * PAUSE_EVERY,
        "{} bytes",
        bytes.len()
    );
    let mut pauses = 0u64;
    let paused = decode_pausing(&bytes, &Limits::default(), &mut || pauses += 1).unwrap();
    // About one pause per PAUSE_EVERY bytes of data.
    let expected = bytes.len() as u64 / PAUSE_EVERY;
    assert!(
        (expected.saturating_sub(2)..=expected + 1).contains(&pauses),
        "{pauses} pauses for {} bytes",
        bytes.len()
    );
    // The same pixels as `image`'s own decoding, turned upright as the EXIF tag says (6: the
    // stored image turned 90 degrees clockwise).
    let mut reference = image::load_from_memory(&bytes).unwrap();
    reference.apply_orientation(image::metadata::Orientation::Rotate90);
    assert_eq!(paused.rgb(), &reference.to_rgb8());
    assert_eq!((paused.width(), paused.height()), (1200, 1600));
    assert_eq!(
        decode(&bytes, &Limits::default()).unwrap().rgb(),
        paused.rgb()
    );
}

#[test]
fn a_grey_jpeg_becomes_rgb_and_the_jpeg_path_keeps_the_limits() {
    let levels: Vec<u8> = (0..64u32 * 32).map(|i| (i % 64 * 4) as u8).collect();
    let mut grey = Vec::new();
    JpegEncoder::new_with_quality(&mut grey, 95)
        .write_image(&levels, 64, 32, ExtendedColorType::L8)
        .unwrap();
    let d = decode(&grey, &Limits::default()).unwrap();
    let reference = image::load_from_memory(&grey).unwrap().to_rgb8();
    assert_eq!(d.rgb(), &reference);
    let [r, g, b] = d.rgb().get_pixel(10, 5).0;
    assert!(r == g && g == b, "grey stays grey: {r} {g} {b}");

    let bytes = jpeg(&scene(256, 256), None);
    let err = decode(
        &bytes,
        &Limits {
            max_alloc_bytes: 256 * 256 * 3 - 1,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, VisionError::TooMuchMemory { .. }), "{err:?}");
    let err = decode(
        &bytes,
        &Limits {
            max_pixels: 256 * 256 - 1,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, VisionError::TooManyPixels { .. }), "{err:?}");
}
