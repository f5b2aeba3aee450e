//! Guarded fetching of the URLs that clients send as analysis inputs.
//!
//! A URL from a request must never make the server reach an address the client could not reach
//! itself (SSRF): the cloud metadata service, the database, an admin port on localhost. So for
//! every hop (the URL, then each redirect):
//!
//! 1. only `http` and `https`, no credentials in the URL;
//! 2. the host is resolved once, here, and every address it resolves to is checked against the
//!    blocked ranges (`ranges`); one bad address refuses the URL (a name with a public and a
//!    private record is a rebinding attempt);
//! 3. the connection goes to the checked address, pinned in the client, so no second lookup can
//!    swap it; proxies from the environment are ignored;
//! 4. at most 3 redirects, each checked the same way; connect timeout 2 s, 10 s in all; the body
//!    is read in chunks and the download stops past the size limit.
//!
//! An operator allow-list (`--allow-fetch-from CIDR`) lets chosen internal ranges through.
#![forbid(unsafe_code)]

mod ranges;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use ranges::{blocked_reason, Cidr};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FetchError {
    #[error("the URL is not valid: {0}")]
    BadUrl(String),
    #[error("only http and https URLs can be fetched, not {0}:")]
    Scheme(String),
    #[error("URLs with a user name or password are not accepted")]
    Credentials,
    #[error("the URL's host {host} resolves to {addr}, a {why} address, which this server does not fetch from")]
    Blocked {
        host: String,
        addr: IpAddr,
        why: &'static str,
    },
    #[error("the URL's host {0} could not be resolved")]
    Resolve(String),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("the URL answered HTTP {0}")]
    Status(u16),
    #[error("the download is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the URL did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("the URL could not be fetched: {0}")]
    Connect(String),
}

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub allow: Vec<Cidr>,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(10),
            max_redirects: 3,
        }
    }
}

#[derive(Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Fetcher {
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        Self { policy }
    }

    /// Fetches `url` under the policy, reading at most `max_bytes`.
    pub async fn fetch(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
        let deadline = Instant::now() + self.policy.total_timeout;
        match tokio::time::timeout_at(deadline.into(), self.fetch_hops(url, max_bytes, deadline))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout("10 s in all")),
        }
    }

    async fn fetch_hops(
        &self,
        url: &str,
        max_bytes: usize,
        deadline: Instant,
    ) -> Result<Fetched, FetchError> {
        let mut current =
            reqwest::Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        for hop in 0..=self.policy.max_redirects {
            let (host, addr) = self.check(&current).await?;
            let client = reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.policy.connect_timeout)
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .resolve(&host, addr)
                .build()
                .map_err(|e| FetchError::Connect(e.to_string()))?;
            let mut resp = client.get(current.clone()).send().await.map_err(|e| {
                if e.is_timeout() {
                    FetchError::Timeout("connect 2 s")
                } else {
                    FetchError::Connect(without_url(&e))
                }
            })?;
            let status = resp.status();
            if status.is_redirection() {
                let Some(location) = resp.headers().get(reqwest::header::LOCATION) else {
                    return Err(FetchError::Status(status.as_u16()));
                };
                let location = location
                    .to_str()
                    .map_err(|_| FetchError::BadUrl("redirect location is not text".into()))?;
                current = current
                    .join(location)
                    .map_err(|e| FetchError::BadUrl(e.to_string()))?;
                tracing::debug!(hop, "following a redirect");
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
                return Err(FetchError::TooLarge(max_bytes));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut bytes = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    FetchError::Timeout("10 s in all")
                } else {
                    FetchError::Connect(without_url(&e))
                }
            })? {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(FetchError::TooLarge(max_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(Fetched {
                bytes,
                content_type,
            });
        }
        Err(FetchError::TooManyRedirects(self.policy.max_redirects))
    }

    /// Checks a URL and resolves its host to one address that may be connected to.
    async fn check(&self, url: &reqwest::Url) -> Result<(String, SocketAddr), FetchError> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(FetchError::Scheme(other.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Credentials);
        }
        let host = url
            .host_str()
            .ok_or_else(|| FetchError::BadUrl("no host".into()))?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| FetchError::Resolve(host.clone()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(FetchError::Resolve(host));
        }
        for a in &addrs {
            if let Some(why) = blocked_reason(a.ip()) {
                if !self.policy.allow.iter().any(|c| c.contains(a.ip())) {
                    return Err(FetchError::Blocked {
                        host,
                        addr: a.ip(),
                        why,
                    });
                }
            }
        }
        Ok((bare.to_string(), addrs[0]))
    }
}

/// A reqwest error's text without the URL (it may carry a signed query string).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "the URL");
    }
    s
}
