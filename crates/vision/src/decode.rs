//! Decoding a photo's bytes into pixels, within limits.
//!
//! Only JPEG and PNG are accepted, recognised by their magic bytes: a declared content type or
//! file name is never trusted. The limits are checked in the cheapest order: the byte count
//! first, then the dimensions read from the header, and only then the pixels are decoded, with
//! the decoder's own allocation ceiling as a second line of defence. A decompression bomb (a
//! few hundred bytes declaring 100000x100000 pixels) is therefore refused before any large
//! allocation. The EXIF orientation is applied, so a portrait photo is upright whatever the
//! phone's sensor did; it costs one copy of the pixels and only when the tag asks for it.

use std::io::Cursor;
use std::sync::OnceLock;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::checks::{fit_within, WORKING_SIDE};
use crate::error::VisionError;

/// Ceilings applied to an untrusted photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted encoded size, in bytes.
    pub max_bytes: u64,
    /// Largest accepted width x height, read from the header before decoding.
    pub max_pixels: u64,
    /// Largest allocation the decoder may make. It is a backstop behind `max_pixels`: a
    /// 40-megapixel photo in 8-bit RGBA needs 160 MB, in 16-bit RGBA 320 MB.
    pub max_alloc_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Decimal megabytes, as phones and file browsers show sizes, so that the message
            // "at most 5 MB" matches what the field worker sees.
            max_bytes: 5_000_000,
            max_pixels: 40_000_000,
            max_alloc_bytes: 40_000_000 * 8,
        }
    }
}

/// The encoding a photo arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

impl PhotoFormat {
    /// Recognise the format from the first bytes of the file.
    pub fn sniff(bytes: &[u8]) -> Option<PhotoFormat> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        // SOI followed by the first marker's 0xFF: every JPEG variant (JFIF, EXIF, raw) starts so.
        const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
        if bytes.starts_with(PNG) {
            Some(PhotoFormat::Png)
        } else if bytes.starts_with(JPEG) {
            Some(PhotoFormat::Jpeg)
        } else {
            None
        }
    }

    /// The lower-case name used in messages and records.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "JPEG",
            PhotoFormat::Png => "PNG",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            PhotoFormat::Jpeg => ImageFormat::Jpeg,
            PhotoFormat::Png => ImageFormat::Png,
        }
    }
}

/// A photo decoded to 8-bit RGB, upright.
#[derive(Clone)]
pub struct DecodedImage {
    format: Option<PhotoFormat>,
    pixels: RgbImage,
    /// The working copy, once made ([`DecodedImage::working_rgb`]); `None` inside when the
    /// photo is already small enough to be its own.
    working: OnceLock<Option<RgbImage>>,
}

/// Dimensions and format only: the derived form would print every pixel into a log line.
impl std::fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedImage")
            .field("format", &self.format)
            .field("width", &self.width())
            .field("height", &self.height())
            .finish()
    }
}

impl DecodedImage {
    /// Wraps pixels that did not come from [`decode`] (generated images, tests, benchmarks).
    pub fn from_rgb(pixels: RgbImage) -> Self {
        DecodedImage {
            format: None,
            pixels,
            working: OnceLock::new(),
        }
    }

    /// The format the photo was decoded from; `None` for [`DecodedImage::from_rgb`].
    pub fn format(&self) -> Option<PhotoFormat> {
        self.format
    }

    pub fn width(&self) -> u32 {
        self.pixels.width()
    }

    pub fn height(&self) -> u32 {
        self.pixels.height()
    }

    /// The upright 8-bit RGB pixels.
    pub fn rgb(&self) -> &RgbImage {
        &self.pixels
    }

    pub fn into_rgb(self) -> RgbImage {
        self.pixels
    }

    /// The photo shrunk so that its longest side is at most [`WORKING_SIDE`] pixels (never
    /// enlarged; antialiased, by [`crate::resample::resize`]), made on first use and kept. The
    /// checks measure it, and an image model whose input it covers both ways is resized from it
    /// rather than from the full photo (see [`crate::model::resize_image`]): one pass over
    /// the full photo's pixels instead of one per consumer.
    pub fn working_rgb(&self) -> &RgbImage {
        self.working
            .get_or_init(|| {
                let (w, h) = self.pixels.dimensions();
                let (tw, th) = fit_within(w, h, WORKING_SIDE);
                ((tw, th) != (w, h)).then(|| crate::resample::resize(&self.pixels, tw, th))
            })
            .as_ref()
            .unwrap_or(&self.pixels)
    }
}

/// Decodes a JPEG or PNG photo within `limits`.
///
/// A truncated or damaged file is an error: a partially decoded image is never returned,
/// because checks and models on half a photo would give confident nonsense.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DecodedImage, VisionError> {
    if bytes.is_empty() {
        return Err(VisionError::Empty);
    }
    let len = bytes.len() as u64;
    if len > limits.max_bytes {
        return Err(VisionError::TooManyBytes {
            bytes: len,
            max: limits.max_bytes,
        });
    }
    let format = PhotoFormat::sniff(bytes).ok_or(VisionError::UnsupportedFormat)?;
    if format == PhotoFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a truncated scan with grey and reports success; refuse it here.
        return Err(VisionError::Corrupt {
            format: format.as_str(),
            detail: "the file ends before the end of the image".into(),
        });
    }

    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(image_limits);
    // Building the decoder reads the header only; nothing proportional to the pixel count is
    // allocated before the dimension check below.
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(format, e, limits))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(VisionError::Corrupt {
            format: format.as_str(),
            detail: format!("the header declares {width}x{height} pixels"),
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VisionError::TooManyPixels {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    // The decoder's output buffer is allocated in one piece by `from_decoder`, which does not
    // consult the limits itself (only `ImageReader::decode` does): check it here.
    if decoder.total_bytes() > limits.max_alloc_bytes {
        return Err(VisionError::TooMuchMemory {
            max_alloc: limits.max_alloc_bytes,
        });
    }
    // A missing or unreadable EXIF block is not a reason to refuse the photo: it is then
    // taken as it was stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e, limits))?;
    image.apply_orientation(orientation);
    let pixels = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };
    Ok(DecodedImage {
        format: Some(format),
        pixels,
        working: OnceLock::new(),
    })
}

/// True when the JPEG's last start-of-scan is followed by an end-of-image marker.
///
/// Inside entropy-coded data every 0xFF is followed by 0x00 or a restart marker, so 0xFFD9
/// there is always a real EOI. Looking after the *last* SOS (0xFFDA) skips an EXIF thumbnail's
/// own EOI, which comes before the main image's scan. Bytes after the EOI (some phones append
/// data there) are allowed.
///
/// Scanning back from the end, the first of the two markers met decides: an EOI follows the
/// last SOS, an SOS has none after it. On a whole photo both searches stop within a few bytes
/// (the EOI ends the file, the first SOS ends the headers) instead of reading it twice.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = bytes.windows(2).rev().find_map(|w| match w {
        [0xFF, 0xD9] => Some(Marker::Eoi),
        [0xFF, 0xDA] => Some(Marker::Sos),
        _ => None,
    });
    last == Some(Marker::Eoi) && bytes.windows(2).any(|w| w == [0xFF, 0xDA])
}

#[derive(PartialEq)]
enum Marker {
    Sos,
    Eoi,
}

fn image_error(format: PhotoFormat, error: image::ImageError, limits: &Limits) -> VisionError {
    match error {
        image::ImageError::Limits(_) => VisionError::TooMuchMemory {
            max_alloc: limits.max_alloc_bytes,
        },
        other => VisionError::Corrupt {
            format: format.as_str(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
