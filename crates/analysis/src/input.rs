//! What kind of file an input is (sniffed from its bytes, never from a declared type), and the
//! photo a scanned PDF page carries.
//!
//! Supported PDFs are the ones scanners and phone apps produce: a page that is one JPEG image
//! (a `DCTDecode` image stream). The largest such image is analysed. Not supported, each with
//! its own message: encrypted PDFs, page images in other encodings (Flate, JPEG 2000, CCITT,
//! JBIG2), and PDFs without any image (text or vector drawings), since there is no photo to
//! judge. Rendering PDF pages would need a PDF engine; we do not ship one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Jpeg,
    Png,
    Pdf,
}

impl InputKind {
    pub fn content_type(self) -> &'static str {
        match self {
            InputKind::Jpeg => "image/jpeg",
            InputKind::Png => "image/png",
            InputKind::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            InputKind::Jpeg => "jpg",
            InputKind::Png => "png",
            InputKind::Pdf => "pdf",
        }
    }
}

/// The kind of file from its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<InputKind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(InputKind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(InputKind::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(InputKind::Pdf)
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("the PDF is encrypted: send an unprotected PDF or the photo itself")]
    Encrypted,
    #[error("the PDF's page image is {0}-encoded; only PDFs whose pages are JPEG scans are supported: send the photo itself")]
    UnsupportedEncoding(String),
    #[error("the PDF contains no photo (text or drawings only), so there is nothing to analyse: send the photo itself")]
    NoImage,
}

/// The bytes of the largest JPEG image in a PDF.
pub fn extract_pdf_photo(pdf: &[u8]) -> Result<Vec<u8>, PdfError> {
    if find(pdf, b"/Encrypt", 0).is_some() {
        return Err(PdfError::Encrypted);
    }
    let mut best: Option<&[u8]> = None;
    let mut other_encoding: Option<String> = None;
    let mut at = 0;
    while let Some(pos) = find(pdf, b"stream", at) {
        at = pos + 6;
        if pos >= 3 && &pdf[pos - 3..pos] == b"end" {
            continue;
        }
        // The stream's dictionary: from the last "obj" before the keyword.
        let window_start = pos.saturating_sub(2048);
        let window = &pdf[window_start..pos];
        let dict_start = rfind(window, b"obj").map(|i| i + 3).unwrap_or(0);
        let dict = &window[dict_start..];
        let is_image = contains(dict, b"/Image") && contains(dict, b"/Subtype");
        if !is_image {
            continue;
        }
        let mut data_start = pos + 6;
        if pdf.get(data_start) == Some(&b'\r') {
            data_start += 1;
        }
        if pdf.get(data_start) == Some(&b'\n') {
            data_start += 1;
        }
        let filters = [
            "/DCTDecode",
            "/FlateDecode",
            "/JPXDecode",
            "/CCITTFaxDecode",
            "/JBIG2Decode",
            "/LZWDecode",
            "/RunLengthDecode",
        ];
        let used: Vec<&str> = filters
            .iter()
            .copied()
            .filter(|f| contains(dict, f.as_bytes()))
            .collect();
        if used != ["/DCTDecode"] {
            let name = used
                .iter()
                .find(|f| **f != "/DCTDecode")
                .map(|f| {
                    f.trim_start_matches('/')
                        .trim_end_matches("Decode")
                        .to_string()
                })
                .unwrap_or_else(|| "raw".into());
            other_encoding.get_or_insert(name);
            continue;
        }
        let end = direct_length(dict)
            .map(|n| data_start + n)
            .filter(|e| *e <= pdf.len())
            .or_else(|| find(pdf, b"endstream", data_start))
            .unwrap_or(pdf.len());
        let data = trim_eol(&pdf[data_start..end]);
        if data.starts_with(&[0xFF, 0xD8]) && best.is_none_or(|b| data.len() > b.len()) {
            best = Some(data);
        }
    }
    match (best, other_encoding) {
        (Some(jpeg), _) => Ok(jpeg.to_vec()),
        (None, Some(enc)) => Err(PdfError::UnsupportedEncoding(enc)),
        (None, None) => Err(PdfError::NoImage),
    }
}

/// `/Length N` when N is a direct integer (not an indirect `N 0 R` reference).
fn direct_length(dict: &[u8]) -> Option<usize> {
    let i = find(dict, b"/Length", 0)? + 7;
    let rest = std::str::from_utf8(&dict[i..dict.len().min(i + 40)]).ok()?;
    let mut parts = rest
        .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .filter(|s| !s.is_empty());
    let n: usize = parts.next()?.parse().ok()?;
    let next = parts.next();
    let after = parts.next();
    if next.is_some_and(|s| s.chars().all(|c| c.is_ascii_digit())) && after == Some("R") {
        return None;
    }
    Some(n)
}

fn trim_eol(data: &[u8]) -> &[u8] {
    let mut d = data;
    while let [rest @ .., b'\r' | b'\n'] = d {
        d = rest;
    }
    d
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle, 0).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let img = image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .unwrap();
        out.into_inner()
    }

    /// A one-page PDF whose page is one image stream with `filter`.
    pub fn pdf_with(image: &[u8], filter: &str, direct_length: bool) -> Vec<u8> {
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
        pdf.extend_from_slice(b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n");
        pdf.extend_from_slice(b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 64 48] /Resources << /XObject << /Im0 4 0 R >> >> >> endobj\n");
        let length = if direct_length {
            image.len().to_string()
        } else {
            "5 0 R".to_string()
        };
        pdf.extend_from_slice(
            format!("4 0 obj << /Type /XObject /Subtype /Image /Width 64 /Height 48 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter {filter} /Length {length} >>\nstream\n").as_bytes(),
        );
        pdf.extend_from_slice(image);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        pdf.extend_from_slice(
            format!(
                "5 0 obj {} endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
                image.len()
            )
            .as_bytes(),
        );
        pdf
    }

    #[test]
    fn the_jpeg_of_a_scanned_page_is_extracted() {
        let j = jpeg();
        for direct in [true, false] {
            let pdf = pdf_with(&j, "/DCTDecode", direct);
            assert_eq!(sniff(&pdf), Some(InputKind::Pdf));
            assert_eq!(
                extract_pdf_photo(&pdf).unwrap(),
                j,
                "direct length: {direct}"
            );
        }
    }

    #[test]
    fn unsupported_pdfs_say_why() {
        let j = jpeg();
        assert_eq!(
            extract_pdf_photo(&pdf_with(&j, "/FlateDecode", true)),
            Err(PdfError::UnsupportedEncoding("Flate".into()))
        );
        assert_eq!(
            extract_pdf_photo(&pdf_with(&j, "/JPXDecode", true)),
            Err(PdfError::UnsupportedEncoding("JPX".into()))
        );
        let text_only = b"%PDF-1.4\n1 0 obj << /Length 20 >>\nstream\nBT /F1 12 Tf (hi) ET\nendstream\nendobj\n%%EOF";
        assert_eq!(extract_pdf_photo(text_only), Err(PdfError::NoImage));
        let mut enc = pdf_with(&j, "/DCTDecode", true);
        enc.extend_from_slice(b"trailer << /Encrypt 9 0 R >>");
        assert_eq!(extract_pdf_photo(&enc), Err(PdfError::Encrypted));
    }

    #[test]
    fn sniffing_ignores_declared_types() {
        assert_eq!(sniff(&jpeg()), Some(InputKind::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(InputKind::Png));
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }
}
