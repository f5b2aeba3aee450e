//! Blobs in a local directory. A put writes a temporary file, syncs it, renames it into place
//! and syncs the directory, so an acknowledged file survives a crash or a power loss, and a
//! reader never sees half a file. A new key's file (`put_new`: an analysed photo, under its
//! input's fresh id) is written in place and synced, then its directory: no reader looks for it
//! before that, and it saves the rename and one journal commit of the file system per photo.
//!
//! A new file's bytes also bypass the page cache (`O_DIRECT` on Linux), in pieces of
//! [`PIECE`] bytes, each waited for before the next is sent. The database syncs its commits to
//! the same disk, and a commit queued behind a photo waits for what is ahead of it: a whole
//! photo (about 1 MB) when the page cache writes it back in one go, one piece at most here.
//! Measured by `fieldproof bench analyze` (docs/PERFORMANCE.md, 2026-11-29 19:29): its disk
//! probe, a 4 kB append and `fdatasync` every 10 ms beside the server, had a p99 of 3.1-3.5 ms
//! while analyses ran with buffered photos, 2.3-2.6 ms with direct pieces (0.7-0.8 ms alone).
//! The CRUD p99 ratio moved less (1.14-1.16 against 1.15-1.22). A file system that refuses
//! `O_DIRECT` gets the buffered write.

use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(target_os = "linux")]
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use async_trait::async_trait;

use crate::{check_key, BlobError, BlobResult, Blobs};

#[derive(Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Blobs under `root`, created if needed.
    pub fn open(root: &Path) -> BlobResult<Self> {
        std::fs::create_dir_all(root).map_err(|e| {
            BlobError::Backend(format!(
                "cannot create the blob directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    fn path(&self, key: &str) -> BlobResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// [`Blobs::put_new`] on the calling thread, which it blocks until the file and its
    /// directory entry are on disk: for a caller that picks the thread (and its priority) the
    /// write runs on.
    pub fn write_new(&self, key: &str, bytes: &[u8]) -> BlobResult<()> {
        let path = self.path(key)?;
        let dir = path.parent().expect("a key has a parent: the root");
        std::fs::create_dir_all(dir).map_err(io)?;
        write_new_file(&path, bytes, true).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }
}

/// A new file's bytes go to the disk in pieces of this size (see the module's doc).
pub const PIECE: usize = 128 * 1024;

/// What `O_DIRECT` needs aligned: the buffer's address, the offsets and the lengths. 4096 is a
/// multiple of every logical block size in use.
#[cfg(target_os = "linux")]
const ALIGN: usize = 4096;

/// Writes `bytes` to `path`, which must not exist, and syncs the file: directly in pieces when
/// `direct` and the file system takes it, through the page cache otherwise. On failure nothing
/// is left under `path` (nothing refers to it yet).
fn write_new_file(path: &Path, bytes: &[u8], direct: bool) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if direct {
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        match opened {
            Ok(f) => match write_pieces(&f, bytes) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // The file is ours (`create_new`) and nothing refers to it yet.
                    drop(f);
                    remove_if_there(path)?;
                    // A file system may refuse O_DIRECT at the first write: write through the
                    // page cache instead. Any other error is the caller's.
                    if e.raw_os_error() != Some(libc::EINVAL) {
                        return Err(e);
                    }
                }
            },
            // Some file systems refuse O_DIRECT at the open, some once the file is made (which
            // `create_new` proves was ours): write through the page cache instead.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => remove_if_there(path)?,
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Writes `bytes` to the start of the empty file `f`, opened with `O_DIRECT`, one aligned piece
/// at a time (the last one padded with zeros, then cut back to the true length), and syncs it.
#[cfg(target_os = "linux")]
fn write_pieces(f: &std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let mut buf = vec![0u8; PIECE.min(bytes.len().next_multiple_of(ALIGN)) + ALIGN];
    let start = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN;
    let piece = &mut buf[start..];
    for (i, chunk) in bytes.chunks(PIECE).enumerate() {
        let len = chunk.len().next_multiple_of(ALIGN);
        piece[..chunk.len()].copy_from_slice(chunk);
        piece[chunk.len()..len].fill(0);
        f.write_all_at(&piece[..len], (i * PIECE) as u64)?;
    }
    if !bytes.len().is_multiple_of(ALIGN) {
        f.set_len(bytes.len() as u64)?;
    }
    f.sync_all()
}

#[cfg(target_os = "linux")]
fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || -> BlobResult<()> {
            let dir = path.parent().expect("a key has a parent: the root");
            std::fs::create_dir_all(dir).map_err(io)?;
            let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
            drop(f);
            std::fs::rename(&tmp, &path).map_err(io)?;
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
            Ok(())
        })
        .await
        .map_err(|e| BlobError::Backend(format!("blob write task failed: {e}")))?
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        let this = self.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || this.write_new(&key, &bytes))
            .await
            .map_err(|e| BlobError::Backend(format!("blob write task failed: {e}")))?
    }

    fn as_local(&self) -> Option<LocalBlobs> {
        Some(self.clone())
    }

    async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        assert_eq!(blobs.get("a/b.jpg").await.unwrap(), None);
        blobs.put("a/b.jpg", b"photo".to_vec()).await.unwrap();
        assert_eq!(blobs.get("a/b.jpg").await.unwrap().unwrap(), b"photo");
        blobs.put("a/b.jpg", b"again".to_vec()).await.unwrap();
        assert_eq!(blobs.get("a/b.jpg").await.unwrap().unwrap(), b"again");
        blobs.delete("a/b.jpg").await.unwrap();
        blobs.delete("a/b.jpg").await.unwrap();
        assert_eq!(blobs.get("a/b.jpg").await.unwrap(), None);
        assert!(blobs.put("../escape", vec![]).await.is_err());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert!(leftovers.is_empty(), "no temporary file is left behind");
    }

    #[test]
    fn a_new_file_keeps_its_exact_bytes_written_directly_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = [
            0,
            1,
            4095,
            4096,
            4097,
            PIECE - 1,
            PIECE,
            PIECE + 1,
            3 * PIECE + 17,
        ];
        for direct in [true, false] {
            for len in lengths {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let path = dir.path().join(format!("{direct}-{len}"));
                write_new_file(&path, &bytes, direct).unwrap();
                let back = std::fs::read(&path).unwrap();
                assert_eq!(back.len(), len, "length, direct={direct}");
                assert!(back == bytes, "bytes of {len}, direct={direct}");
                let again = write_new_file(&path, b"other", direct);
                assert!(again.is_err(), "an existing file is refused");
                assert!(std::fs::read(&path).unwrap() == bytes, "and kept");
            }
        }
    }

    #[tokio::test]
    async fn put_new_writes_a_new_key_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        blobs
            .put_new("s/wo/in.jpg", b"photo".to_vec())
            .await
            .unwrap();
        assert_eq!(blobs.get("s/wo/in.jpg").await.unwrap().unwrap(), b"photo");
        let again = blobs.put_new("s/wo/in.jpg", b"other".to_vec()).await;
        assert!(again.is_err(), "a key that holds a file is refused");
        assert_eq!(
            blobs.get("s/wo/in.jpg").await.unwrap().unwrap(),
            b"photo",
            "and the file it holds is untouched"
        );
        assert!(blobs.put_new("../escape", vec![]).await.is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path().join("s/wo"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["in.jpg"], "no temporary file");
    }
}
