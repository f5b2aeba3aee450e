//! Blob storage: the files Fieldproof keeps (analysed photos and PDFs, example photos).
//!
//! One trait, [`Blobs`], and its engines: [`LocalBlobs`] (a directory, the default) and, for
//! scale-out, an S3-compatible bucket (`S3Blobs`, behind the cargo feature `s3`). Keys are
//! relative paths made of `[A-Za-z0-9._-]` segments joined by `/`; they are built by Fieldproof,
//! never taken from a request.
#![forbid(unsafe_code)]

mod local;
#[cfg(feature = "s3")]
mod s3;

use async_trait::async_trait;

pub use local::LocalBlobs;
#[cfg(feature = "s3")]
pub use s3::{S3Blobs, S3Config};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob key {0:?} is not a safe relative path")]
    BadKey(String),
    #[error("blob storage error: {0}")]
    Backend(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Stores `bytes` under `key`, durably: once this returns, the file survives a crash.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()>;
    /// Stores `bytes` under a key that has never held a file (one made with a fresh id), as
    /// durably as [`put`](Blobs::put), where the engine can do it for less: a directory writes
    /// the file in place, without the temporary file and rename that `put` needs so that a reader
    /// of a replaced file never sees half of it. Nothing may refer to the key before this
    /// returns: a crash meanwhile can leave part of a file under it, referred to by nothing. Fails
    /// when the key already holds a file.
    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        self.put(key, bytes).await
    }
    /// The engine as a directory on this machine, for a caller that writes with
    /// [`LocalBlobs::write_new`] on a thread of its choosing; `None` for a remote engine.
    fn as_local(&self) -> Option<LocalBlobs> {
        None
    }
    /// The bytes under `key`, or `None` when there are none.
    async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> BlobResult<()>;
}

/// Checks that a key is a relative path of safe segments: no `..`, no absolute path, no empty
/// segment, nothing outside `[A-Za-z0-9._-]`.
pub fn check_key(key: &str) -> BlobResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(BlobError::BadKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        for ok in ["a", "sites/1/inputs/x.jpg", "a-b_c.d/e"] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a\\b",
            "a b",
            "é",
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
