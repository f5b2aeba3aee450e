//! Decoding a photo's bytes into pixels, within limits.
//!
//! Only JPEG and PNG are accepted, recognised by their magic bytes: a declared content type or
//! file name is never trusted. The limits are checked in the cheapest order: the byte count
//! first, then the dimensions read from the header, and only then the pixels are decoded, with
//! the decoder's own allocation ceiling as a second line of defence. A decompression bomb (a
//! few hundred bytes declaring 100000x100000 pixels) is therefore refused before any large
//! allocation. The EXIF orientation is applied, so a portrait photo is upright whatever the
//! phone's sensor did; it costs one copy of the pixels and only when the tag asks for it.
//!
//! A JPEG is decoded by `zune-jpeg` (the decoder `image` uses) called directly, through a reader
//! that can pause the decoding every [`PAUSE_EVERY`] bytes it reads ([`decode_pausing`]): the
//! decoder makes the pixels as it reads the data, so the pauses fall about evenly over the
//! decoding, which is most of an analysis's time.

use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::sync::OnceLock;

use image::metadata::Orientation;
use image::{DynamicImage, GrayAlphaImage, GrayImage, ImageDecoder, ImageFormat, ImageReader};
use image::{RgbImage, RgbaImage};
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

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
        self.working_rgb_pausing(&mut || {})
    }

    /// [`DecodedImage::working_rgb`], calling `pause` now and then while the copy is made (see
    /// [`crate::resample::resize_pausing`]).
    pub fn working_rgb_pausing(&self, pause: &mut dyn FnMut()) -> &RgbImage {
        self.working
            .get_or_init(|| {
                let (w, h) = self.pixels.dimensions();
                let (tw, th) = fit_within(w, h, WORKING_SIDE);
                ((tw, th) != (w, h))
                    .then(|| crate::resample::resize_pausing(&self.pixels, tw, th, pause))
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
    decode_pausing(bytes, limits, &mut || {})
}

/// How many bytes of a JPEG's data the decoder reads between two calls of the `pause` of
/// [`decode_pausing`]: a 1 MB photo from a phone calls it about 250 times, every 60
/// microseconds or so of decoding on a recent core, a fraction of a request's time. A call that
/// has nothing to wait for costs a few nanoseconds.
pub const PAUSE_EVERY: u64 = 4 * 1024;

/// [`decode`], calling `pause` every [`PAUSE_EVERY`] bytes a JPEG's decoder reads: where a
/// caller that leaves the CPU to more urgent work now and then waits. A PNG does not pause.
pub fn decode_pausing(
    bytes: &[u8],
    limits: &Limits,
    pause: &mut dyn FnMut(),
) -> Result<DecodedImage, VisionError> {
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

    if format == PhotoFormat::Jpeg {
        return decode_jpeg(bytes, limits, pause);
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
    check_dimensions(format, width, height, limits)?;
    // The decoder's output buffer is allocated in one piece by `from_decoder`, which does not
    // consult the limits itself (only `ImageReader::decode` does): check it here.
    if decoder.total_bytes() > limits.max_alloc_bytes {
        return Err(VisionError::TooMuchMemory {
            max_alloc: limits.max_alloc_bytes,
        });
    }
    // A missing or unreadable EXIF block is not a reason to refuse the photo: it is then
    // taken as it was stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(format, e, limits))?;
    Ok(upright(format, image, orientation))
}

/// The decoded photo as it should be seen, in 8-bit RGB.
fn upright(format: PhotoFormat, mut image: DynamicImage, orientation: Orientation) -> DecodedImage {
    image.apply_orientation(orientation);
    let pixels = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };
    DecodedImage {
        format: Some(format),
        pixels,
        working: OnceLock::new(),
    }
}

/// Refuses a header's dimensions that are empty or above the pixel limit.
fn check_dimensions(
    format: PhotoFormat,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<(), VisionError> {
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
    Ok(())
}

/// A JPEG, by `zune-jpeg` with the options and output colours `image` gives it, the limits
/// checked on the header first as for any photo.
fn decode_jpeg(
    bytes: &[u8],
    limits: &Limits,
    pause: &mut dyn FnMut(),
) -> Result<DecodedImage, VisionError> {
    let corrupt = |e: zune_jpeg::errors::DecodeErrors| VisionError::Corrupt {
        format: PhotoFormat::Jpeg.as_str(),
        detail: e.to_string(),
    };
    // The dimensions are checked below, against the limits, before any pixel is decoded.
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(PausingReader::new(bytes, pause), options);
    decoder.decode_headers().map_err(corrupt)?;
    let (width, height) = decoder.dimensions().unwrap_or((0, 0));
    let (width, height) = (width as u32, height as u32);
    check_dimensions(PhotoFormat::Jpeg, width, height, limits)?;
    let input = decoder.input_colorspace().unwrap_or(ColorSpace::RGB);
    // Grey and RGB(A) stay as they are; YCbCr, CMYK and the rest become RGB.
    let output = match input {
        ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA => input,
        _ => ColorSpace::RGB,
    };
    let total = u64::from(width) * u64::from(height) * output.num_components() as u64;
    if total > limits.max_alloc_bytes {
        return Err(VisionError::TooMuchMemory {
            max_alloc: limits.max_alloc_bytes,
        });
    }
    // A missing or unreadable EXIF block is not a reason to refuse the photo: it is then
    // taken as it was stored.
    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(output));
    let pixels = decoder.decode().map_err(corrupt)?;
    let wrong_size = || VisionError::Corrupt {
        format: PhotoFormat::Jpeg.as_str(),
        detail: "the decoder made fewer pixels than the header declares".into(),
    };
    let image = match output {
        ColorSpace::Luma => DynamicImage::ImageLuma8(
            GrayImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
        ),
        ColorSpace::LumaA => DynamicImage::ImageLumaA8(
            GrayAlphaImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
        ),
        ColorSpace::RGBA => DynamicImage::ImageRgba8(
            RgbaImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
        ),
        _ => DynamicImage::ImageRgb8(
            RgbImage::from_raw(width, height, pixels).ok_or_else(wrong_size)?,
        ),
    };
    Ok(upright(PhotoFormat::Jpeg, image, orientation))
}

/// A photo's bytes, read by the JPEG decoder, which calls `pause` each time the reading
/// crosses a multiple of [`PAUSE_EVERY`] bytes.
struct PausingReader<'a, 'p> {
    bytes: Cursor<&'a [u8]>,
    next_pause: u64,
    pause: &'p mut dyn FnMut(),
}

impl<'a, 'p> PausingReader<'a, 'p> {
    fn new(bytes: &'a [u8], pause: &'p mut dyn FnMut()) -> Self {
        Self {
            bytes: Cursor::new(bytes),
            next_pause: PAUSE_EVERY,
            pause,
        }
    }

    #[inline]
    fn after_read(&mut self) {
        if self.bytes.position() >= self.next_pause {
            self.next_pause = self.bytes.position() + PAUSE_EVERY;
            (self.pause)();
        }
    }
}

impl Read for PausingReader<'_, '_> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buf)?;
        self.after_read();
        Ok(n)
    }
}

impl BufRead for PausingReader<'_, '_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.bytes.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.bytes.consume(amount);
        self.after_read();
    }
}

impl Seek for PausingReader<'_, '_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let at = self.bytes.seek(to)?;
        // A seek back (the decoder peeks ahead) moves the next pause no further.
        self.next_pause = self.next_pause.min(at + PAUSE_EVERY);
        Ok(at)
    }
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
