//! Files and bodies the adversarial tests send: a real photo, and broken or hostile variants of
//! it (a truncated JPEG, headers declaring 100000x100000 pixels), generated in code.

use base64::Engine as _;
use serde_json::{json, Value};

/// A task group of the demo application that every demo work order has.
pub const GROUP: &str = "equipment-after-intervention";
/// A Boolean task of that group.
pub const TASK: &str = "equipment_after_intervention";

/// A photo: a sharp, well-exposed textured scene of 640x480 (a JPEG generated in code, so the
/// tests do not depend on the demo's example files).
pub fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        let v = ((x * 7 + y * 13) % 64) as f32 * 2.0
            + if (x / 40 + y / 40) % 2 == 0 {
                60.0
            } else {
                0.0
            };
        let v = (v + 40.0).clamp(0.0, 255.0) as u8;
        image::Rgb([v, v.saturating_add(17), v / 2 + 20])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

pub fn data_uri(bytes: &[u8], media: &str) -> String {
    format!(
        "data:{media};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The JSON analysis body clients send.
pub fn analysis(image: &str, group: &str) -> Value {
    json!({"inputs": [
        {"name": "image_input", "data": {"type": "image", "value": image}},
        {"name": "context", "data": {"type": "text", "value": group}}
    ]})
}

/// A small real JPEG (64x48), for patching.
pub fn small_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

/// A JPEG whose frame header (SOF) declares `width`x`height`, followed by the small image's
/// few bytes of data: a decompression bomb in a few hundred bytes.
pub fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = small_jpeg();
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && (0xC0..=0xC2).contains(&w[1]))
        .expect("a SOF marker");
    // FF Cx, length (2), precision (1), height (2), width (2)
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// The first `keep` of a real photo's bytes.
pub fn truncated_jpeg(keep: f64) -> Vec<u8> {
    let p = photo();
    p[..(p.len() as f64 * keep) as usize].to_vec()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
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

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out
}

/// A PNG whose header declares `width`x`height` (8-bit RGB) with a tiny compressed stream: valid
/// chunks and CRCs, so only the declared size gives it away.
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // zlib stream of a few zero bytes (stored block).
    png.extend(chunk(
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0, 0x04, 0x00, 0x01,
        ],
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A PDF with text only, no page image.
pub fn pdf_without_image() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}
