//! The one error type of the vision layer.
//!
//! Every message is written for the person who sent the photo or installed the model: it says
//! what was wrong and what to do. [`VisionError::is_input_error`] tells the API whether the
//! caller's input was at fault (a 400) or the server's set-up (a 500, logged, never shown).

use std::path::PathBuf;

/// Everything that can go wrong while decoding a photo, loading models or binding outputs.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The encoded photo is empty.
    #[error("the photo is empty: send a JPEG or PNG photo")]
    Empty,

    /// The encoded photo is larger than the byte limit.
    #[error(
        "the photo is {} ({bytes} bytes); at most {} are accepted: send a smaller photo",
        human_bytes(*bytes),
        human_bytes(*max)
    )]
    TooManyBytes { bytes: u64, max: u64 },

    /// The bytes are neither a JPEG nor a PNG (sniffed from the content, never from a declared
    /// content type).
    #[error("the file is not a JPEG or PNG photo: send a photo taken with the phone's camera")]
    UnsupportedFormat,

    /// The header declares more pixels than the limit allows.
    #[error(
        "the photo is {width}x{height} pixels; at most {} megapixels are accepted: lower the camera resolution and retake it",
        max_pixels / 1_000_000
    )]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },

    /// Decoding would need more memory than the allocation limit.
    #[error(
        "the photo would need more than {} of memory to decode: send a smaller photo",
        human_bytes(*max_alloc)
    )]
    TooMuchMemory { max_alloc: u64 },

    /// The file starts like a JPEG or PNG but could not be decoded (truncated or damaged).
    #[error("the {format} photo could not be read; it may be truncated or damaged ({detail}): send it again")]
    Corrupt {
        format: &'static str,
        detail: String,
    },

    /// The model manifest could not be read or is invalid.
    #[error("the model manifest {} is invalid: {message}", path.display())]
    Manifest { path: PathBuf, message: String },

    /// A model file (or its labels) is missing, unreadable or does not match its checksum.
    #[error("model file {}: {problem}", path.display())]
    ModelFile { path: PathBuf, problem: String },

    /// A model could not be loaded or run by the inference engine.
    #[error("model {model}: {message}")]
    Model { model: String, message: String },

    /// A model output could not be turned into a task value.
    #[error("cannot compute the task value: {0}")]
    Bind(String),
}

impl VisionError {
    /// True when the error comes from the photo the caller sent (answer 400), false when it
    /// comes from the server's models or configuration (answer 500 and log it).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            VisionError::Empty
                | VisionError::TooManyBytes { .. }
                | VisionError::UnsupportedFormat
                | VisionError::TooManyPixels { .. }
                | VisionError::TooMuchMemory { .. }
                | VisionError::Corrupt { .. }
        )
    }
}

/// Bytes in the unit a person reads (decimal MB, as phones and file browsers show them).
fn human_bytes(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        let mb = bytes as f64 / 1_000_000.0;
        if mb.fract() == 0.0 {
            format!("{mb:.0} MB")
        } else {
            format!("{mb:.1} MB")
        }
    } else if bytes >= 1_000 {
        format!("{} kB", bytes / 1_000)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_figures() {
        let e = VisionError::TooManyPixels {
            width: 12000,
            height: 9000,
            max_pixels: 40_000_000,
        };
        assert_eq!(
            e.to_string(),
            "the photo is 12000x9000 pixels; at most 40 megapixels are accepted: lower the camera resolution and retake it"
        );
        let e = VisionError::TooManyBytes {
            bytes: 6_200_000,
            max: 5_000_000,
        };
        assert!(e
            .to_string()
            .starts_with("the photo is 6.2 MB (6200000 bytes); at most 5 MB"));
        assert!(e.is_input_error());
        let e = VisionError::Model {
            model: "m".into(),
            message: "x".into(),
        };
        assert!(!e.is_input_error());
    }
}
