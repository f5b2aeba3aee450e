//! Blobs in a local directory. A put writes a temporary file, syncs it, renames it into place
//! and syncs the directory, so an acknowledged file survives a crash or a power loss, and a
//! reader never sees half a file. A new key's file (`put_new`: an analysed photo, under its
//! input's fresh id) is written in place and synced, then its directory: no reader looks for it
//! before that, and it saves the rename and one journal commit of the file system per photo.

use std::io::Write;
use std::path::{Path, PathBuf};

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
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        drop(f);
        if let Err(e) = written {
            // Nothing refers to the key yet: what was written of it goes.
            let _ = std::fs::remove_file(&path);
            return Err(io(e));
        }
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
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
