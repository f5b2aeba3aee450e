//! Blobs in an S3-compatible bucket (AWS S3, MinIO, Garage, Ceph RGW, ...), under a prefix, for
//! scale-out: every replica and worker sees the same files.
//!
//! Client: `object_store` with its `aws` feature only: request signing (SigV4), retries with
//! back-off, path-style or virtual-hosted addressing, over the reqwest/rustls stack the
//! workspace already builds. Rejected: the AWS SDK (a far larger build for three calls), and a
//! hand-written SigV4 client (signing is easy to get subtly wrong, and object_store is the crate
//! `DESIGN.md` names for both blob engines).
//!
//! Durability: S3 acknowledges a `PUT` once the object is stored durably, and a reader sees
//! either the old object or the new one, never a part; so `put` is one `PutObject`. Objects are
//! sent whole (the `Blobs` API hands over a `Vec`): S3 takes up to 5 GiB in one `PUT`, far above
//! any photo, PDF or export Fieldproof makes.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};

use crate::{check_key, BlobError, BlobResult, Blobs};

/// Where the bucket is and how to sign for it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `s3://bucket` or `s3://bucket/prefix/inside`: every key is stored under the prefix.
    pub url: String,
    /// The server, e.g. `http://127.0.0.1:9000` for a MinIO next door; `None` for AWS itself
    /// (then `region` picks the endpoint). `http://` is allowed: it is the operator's choice
    /// for a server on a private network.
    pub endpoint: Option<String>,
    pub region: String,
    /// Static credentials; `None` leaves them to the environment (`AWS_*` variables, the
    /// instance's role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key`: what most
    /// S3-compatible servers need.
    pub path_style: bool,
}

impl fmt::Debug for S3Config {
    /// Everything but the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "(hidden)"),
            )
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// `s3://bucket/prefix` → `(bucket, prefix)`, the prefix without slashes at either end.
fn parse_url(url: &str) -> BlobResult<(String, String)> {
    let bad = |why: &str| {
        BlobError::Backend(format!(
            "the S3 URL {url:?} is not valid: {why}; expected s3://bucket or s3://bucket/prefix"
        ))
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("it does not start with s3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket_ok {
        return Err(bad(
            "the bucket name must be 3 to 63 lower-case letters, digits, '-' or '.'",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        check_key(prefix).map_err(|_| {
            bad("the prefix must be '/'-separated segments of letters, digits, '.', '_' or '-'")
        })?;
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

pub struct S3Blobs {
    store: AmazonS3,
    prefix: String,
    /// `s3://bucket/prefix at endpoint`, for messages.
    target: String,
}

impl S3Blobs {
    /// A client for the bucket; nothing is sent until the first call (a wrong endpoint or
    /// credentials show then, in that call's error).
    pub fn new(config: &S3Config) -> BlobResult<Self> {
        let (bucket, prefix) = parse_url(&config.url)?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            // Bounded: a request gives up after 3 retries or 30 s, so a missing server fails
            // the caller's request instead of holding it for the default 3 minutes.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let target = format!(
            "{}{}",
            config.url,
            config
                .endpoint
                .as_deref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        );
        let store = builder.build().map_err(|e| {
            BlobError::Backend(format!("cannot set up the S3 client for {target}: {e}"))
        })?;
        Ok(Self {
            store,
            prefix,
            target,
        })
    }

    fn path(&self, key: &str) -> BlobResult<Path> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).map_err(|_| BlobError::BadKey(key.to_string()))
    }

    fn failed(&self, what: &str, key: &str, e: object_store::Error) -> BlobError {
        BlobError::Backend(format!(
            "S3 {what} of {key:?} in {} failed: {e}",
            self.target
        ))
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> BlobResult<()> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.failed("put", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> BlobResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let found = match self.store.get(&path).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.failed("get", key, e)),
        };
        let bytes = found
            .bytes()
            .await
            .map_err(|e| self.failed("get", key, e))?;
        Ok(Some(bytes.into()))
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            // S3 answers a delete of a missing key with success; some servers say 404.
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed("delete", key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let ok = |u: &str| parse_url(u).unwrap();
        assert_eq!(ok("s3://photos"), ("photos".into(), "".into()));
        assert_eq!(ok("s3://photos/"), ("photos".into(), "".into()));
        assert_eq!(
            ok("s3://photos/site-1/blobs/"),
            ("photos".into(), "site-1/blobs".into())
        );
        for bad in [
            "photos",
            "http://photos",
            "s3://",
            "s3://ab",
            "s3://Photos",
            "s3://photos/../x",
            "s3://photos/a b",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected s3://bucket"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let config = S3Config {
            url: "s3://photos".into(),
            endpoint: None,
            region: "eu-west-3".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
            path_style: false,
        };
        let shown = format!("{config:?}");
        assert!(
            shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI"),
            "{shown}"
        );
    }

    #[test]
    fn keys_go_under_the_prefix_and_stay_checked() {
        let blobs = S3Blobs::new(&S3Config {
            url: "s3://photos/a/b".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            path_style: true,
        })
        .unwrap();
        assert_eq!(blobs.path("x/y.jpg").unwrap().as_ref(), "a/b/x/y.jpg");
        assert!(matches!(blobs.path("../x"), Err(BlobError::BadKey(_))));
    }
}
