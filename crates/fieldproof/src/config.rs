//! Layered settings of `fieldproof`: defaults, then an optional TOML file, then environment
//! variables, then command-line flags; the last one given wins. A bad value stops start-up with a
//! message that names the setting, where the value came from, and what is expected.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "the default"),
            Source::File(p) => write!(f, "the config file {}", p.display()),
            Source::Env(name) => write!(f, "the environment variable {name}"),
            Source::Flag(name) => write!(f, "the flag {name}"),
        }
    }
}

/// The settings as given on the command line (each `None` when absent).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct StorageFlags {
    /// Configuration file (TOML) [env: FIELDPROOF_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the database and stored files [env: FIELDPROOF_DATA_DIR] [default: ./fieldproof-data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<String>,
    /// Database URL: sqlite://PATH (default: fieldproof.sqlite in the data dir) or postgres://USER@HOST:PORT/DB [env: FIELDPROOF_DATABASE_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Model manifest [env: FIELDPROOF_MODELS] [default: models/manifest.toml]
    #[arg(long, value_name = "FILE", global = true)]
    pub models: Option<String>,
    /// Where files go: s3://BUCKET/PREFIX for an S3-compatible bucket [env: FIELDPROOF_BLOB_URL] [default: the data dir's blobs/]
    #[arg(long, value_name = "URL", global = true)]
    pub blob_url: Option<String>,
    /// The S3-compatible server, e.g. http://10.0.0.5:9000 [env: FIELDPROOF_BLOB_ENDPOINT] [default: AWS]
    #[arg(long, value_name = "URL", global = true)]
    pub blob_endpoint: Option<String>,
    /// The bucket's region [env: FIELDPROOF_BLOB_REGION] [default: us-east-1]
    #[arg(long, value_name = "REGION", global = true)]
    pub blob_region: Option<String>,
}

#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeFlags {
    /// Address to listen on [env: FIELDPROOF_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Create the demo site, application, users and API key on first start [env: FIELDPROOF_DEMO]
    #[arg(long)]
    pub demo: bool,
    /// Public URL of the server, for links in responses [env: FIELDPROOF_PUBLIC_URL]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Cap on JSON request bodies in bytes [env: FIELDPROOF_JSON_BODY_LIMIT] [default: 2097152]
    #[arg(long, value_name = "BYTES")]
    pub json_body_limit: Option<String>,
    /// Let analysis URLs reach this internal address range (repeatable) [env: FIELDPROOF_ALLOW_FETCH_FROM, comma-separated]
    #[arg(long, value_name = "CIDR")]
    pub allow_fetch_from: Vec<String>,
    /// Requests per API key: RATE/s,BURST or "off" [env: FIELDPROOF_RATE_LIMIT] [default: 200/s,400]
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<String>,
    /// Analyses per API key: RATE/s,BURST or "off" [env: FIELDPROOF_ANALYSIS_RATE_LIMIT] [default: 10/s,20]
    #[arg(long, value_name = "RATE")]
    pub analysis_rate_limit: Option<String>,
    /// Unknown-key attempts per client address: RATE/s,BURST or "off" [env: FIELDPROOF_FAILED_AUTH_RATE_LIMIT] [default: 1/s,10]
    #[arg(long, value_name = "RATE")]
    pub failed_auth_rate_limit: Option<String>,
    /// Analyses that run at once, one thread each [env: FIELDPROOF_ANALYSIS_THREADS] [default: the number of cores minus one, at least 1]
    #[arg(long, value_name = "N")]
    pub analysis_threads: Option<String>,
    /// How analysis threads yield the CPU to requests: "idle" (SCHED_IDLE: only cores nothing else wants) or "nice" (a lower share, never none; see --analysis-nice) [env: FIELDPROOF_ANALYSIS_PRIORITY] [default: idle]
    #[arg(long, value_name = "POLICY")]
    pub analysis_priority: Option<String>,
    /// Nice increment of the analysis threads, from 0 (the requests' priority) to 19, with --analysis-priority nice or where SCHED_IDLE is refused [env: FIELDPROOF_ANALYSIS_NICE] [default: 10]
    #[arg(long, value_name = "N")]
    pub analysis_nice: Option<String>,
    /// Milliseconds one analysis may wait in all, between its steps, while other requests are being answered; 0 never waits [env: FIELDPROOF_ANALYSIS_STEP_ASIDE_MS] [default: 0]
    #[arg(long, value_name = "MS")]
    pub analysis_step_aside_ms: Option<String>,
}

/// The config file's keys: the same names as the flags, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    demo: Option<bool>,
    public_url: Option<String>,
    json_body_limit: Option<u64>,
    models: Option<String>,
    allow_fetch_from: Option<Vec<String>>,
    rate_limit: Option<String>,
    analysis_rate_limit: Option<String>,
    failed_auth_rate_limit: Option<String>,
    analysis_threads: Option<u64>,
    analysis_priority: Option<String>,
    analysis_nice: Option<i64>,
    analysis_step_aside_ms: Option<u64>,
    blob_url: Option<String>,
    blob_endpoint: Option<String>,
    blob_region: Option<String>,
}

/// Where files go.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobSettings {
    /// A directory (the data dir's `blobs/`).
    Local(PathBuf),
    /// An S3-compatible bucket. Credentials come from `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (never from a file or a flag: they would end up in shell
    /// histories and process listings).
    S3 {
        url: String,
        endpoint: Option<String>,
        region: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub demo: bool,
    pub public_url: Option<String>,
    pub json_body_limit: usize,
    /// The model manifest, and whether it was named explicitly (a default that is missing is
    /// looked for in the source checkout too).
    pub models: PathBuf,
    pub models_source: Source,
    pub allow_fetch_from: Vec<fieldproof_fetch::Cidr>,
    pub rate_limits: fieldproof_api::limits::RateLimits,
    /// Threads that run analyses, and how they yield the CPU to requests.
    pub analysis_threads: usize,
    pub analysis_priority: fieldproof_api::cpu_pool::Priority,
    /// How long one analysis may wait in all for the other requests (see the API's
    /// `step_aside`).
    pub analysis_step_aside: std::time::Duration,
    pub blobs: BlobSettings,
}

/// One raw value and where it came from.
struct Raw {
    value: Option<String>,
    source: Source,
}

impl Raw {
    fn new() -> Self {
        Self {
            value: None,
            source: Source::Default,
        }
    }

    fn layer(&mut self, value: Option<String>, source: Source) {
        if let Some(v) = value {
            self.value = Some(v);
            self.source = source;
        }
    }
}

pub fn resolve(
    storage: &StorageFlags,
    serve: Option<&ServeFlags>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings> {
    let file_path = storage
        .config
        .clone()
        .map(|p| (p, Source::Flag("--config")))
        .or_else(|| {
            env("FIELDPROOF_CONFIG").map(|p| (PathBuf::from(p), Source::Env("FIELDPROOF_CONFIG")))
        });
    let (file, file_source) = match &file_path {
        Some((path, source)) => (read_file(path, source)?, Source::File(path.clone())),
        None => (FileSettings::default(), Source::Default),
    };

    // Each setting, from lowest to highest priority: the config file, the environment, the flag.
    let layered = |from_file: Option<String>,
                   env_name: &'static str,
                   from_flag: Option<String>,
                   flag_name: &'static str| {
        let mut raw = Raw::new();
        raw.layer(from_file, file_source.clone());
        raw.layer(env(env_name), Source::Env(env_name));
        raw.layer(from_flag, Source::Flag(flag_name));
        raw
    };
    // Serve-only flags are absent for the other commands.
    let serve_flag = |f: fn(&ServeFlags) -> Option<String>| serve.and_then(f);
    let listen = layered(
        file.listen,
        "FIELDPROOF_LISTEN",
        serve_flag(|s| s.listen.clone()),
        "--listen",
    );
    let data_dir = layered(
        file.data_dir,
        "FIELDPROOF_DATA_DIR",
        storage.data_dir.clone(),
        "--data-dir",
    );
    let database_url = layered(
        file.database_url,
        "FIELDPROOF_DATABASE_URL",
        storage.database_url.clone(),
        "--database-url",
    );
    let demo = layered(
        file.demo.map(|b| b.to_string()),
        "FIELDPROOF_DEMO",
        serve_flag(|s| s.demo.then(|| "true".to_string())),
        "--demo",
    );
    let public_url = layered(
        file.public_url,
        "FIELDPROOF_PUBLIC_URL",
        serve_flag(|s| s.public_url.clone()),
        "--public-url",
    );
    let body_limit = layered(
        file.json_body_limit.map(|n| n.to_string()),
        "FIELDPROOF_JSON_BODY_LIMIT",
        serve_flag(|s| s.json_body_limit.clone()),
        "--json-body-limit",
    );
    let models = layered(
        file.models,
        "FIELDPROOF_MODELS",
        storage.models.clone(),
        "--models",
    );
    let allow = layered(
        file.allow_fetch_from.map(|v| v.join(",")),
        "FIELDPROOF_ALLOW_FETCH_FROM",
        serve_flag(|s| (!s.allow_fetch_from.is_empty()).then(|| s.allow_fetch_from.join(","))),
        "--allow-fetch-from",
    );
    let rate = layered(
        file.rate_limit,
        "FIELDPROOF_RATE_LIMIT",
        serve_flag(|s| s.rate_limit.clone()),
        "--rate-limit",
    );
    let analysis_rate = layered(
        file.analysis_rate_limit,
        "FIELDPROOF_ANALYSIS_RATE_LIMIT",
        serve_flag(|s| s.analysis_rate_limit.clone()),
        "--analysis-rate-limit",
    );
    let failed_auth_rate = layered(
        file.failed_auth_rate_limit,
        "FIELDPROOF_FAILED_AUTH_RATE_LIMIT",
        serve_flag(|s| s.failed_auth_rate_limit.clone()),
        "--failed-auth-rate-limit",
    );
    let analysis_threads = layered(
        file.analysis_threads.map(|n| n.to_string()),
        "FIELDPROOF_ANALYSIS_THREADS",
        serve_flag(|s| s.analysis_threads.clone()),
        "--analysis-threads",
    );
    let analysis_priority = layered(
        file.analysis_priority,
        "FIELDPROOF_ANALYSIS_PRIORITY",
        serve_flag(|s| s.analysis_priority.clone()),
        "--analysis-priority",
    );
    let analysis_nice = layered(
        file.analysis_nice.map(|n| n.to_string()),
        "FIELDPROOF_ANALYSIS_NICE",
        serve_flag(|s| s.analysis_nice.clone()),
        "--analysis-nice",
    );
    let analysis_step_aside = layered(
        file.analysis_step_aside_ms.map(|n| n.to_string()),
        "FIELDPROOF_ANALYSIS_STEP_ASIDE_MS",
        serve_flag(|s| s.analysis_step_aside_ms.clone()),
        "--analysis-step-aside-ms",
    );
    let blob_url = layered(
        file.blob_url,
        "FIELDPROOF_BLOB_URL",
        storage.blob_url.clone(),
        "--blob-url",
    );
    let blob_endpoint = layered(
        file.blob_endpoint,
        "FIELDPROOF_BLOB_ENDPOINT",
        storage.blob_endpoint.clone(),
        "--blob-endpoint",
    );
    let blob_region = layered(
        file.blob_region,
        "FIELDPROOF_BLOB_REGION",
        storage.blob_region.clone(),
        "--blob-region",
    );

    let listen_addr = match &listen.value {
        None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        Some(v) => v.trim().parse().map_err(|_| {
            bad(
                "listen",
                v,
                &listen.source,
                "an address with a port, such as 127.0.0.1:8080 or [::1]:8080",
            )
        })?,
    };
    let data_dir_path = match &data_dir.value {
        None => PathBuf::from("./fieldproof-data"),
        Some(v) if v.trim().is_empty() => {
            return Err(bad("data_dir", v, &data_dir.source, "a directory path"))
        }
        Some(v) => PathBuf::from(v),
    };
    let database = match &database_url.value {
        None => DatabaseUrl::Sqlite(data_dir_path.join("fieldproof.sqlite")),
        Some(v) => parse_database_url(v)
            .map_err(|why| bad("database_url", v, &database_url.source, &why))?,
    };
    let demo_on = match &demo.value {
        None => false,
        Some(v) => parse_bool(v).ok_or_else(|| bad("demo", v, &demo.source, "true or false"))?,
    };
    let public = match &public_url.value {
        None => None,
        Some(v) if v.starts_with("http://") || v.starts_with("https://") => {
            Some(v.trim_end_matches('/').to_string())
        }
        Some(v) => {
            return Err(bad(
                "public_url",
                v,
                &public_url.source,
                "an http:// or https:// URL",
            ))
        }
    };
    let limit = number_in(
        &body_limit,
        "json_body_limit",
        1024..=usize::MAX,
        "a number of bytes, at least 1024",
    )?
    .unwrap_or(fieldproof_api::DEFAULT_JSON_BODY_LIMIT);
    let mut allow_fetch_from = Vec::new();
    if let Some(v) = &allow.value {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            allow_fetch_from.push(part.parse().map_err(|why: String| {
                bad(
                    "allow_fetch_from",
                    part,
                    &allow.source,
                    &format!("address ranges such as 10.1.0.0/16 ({why})"),
                )
            })?);
        }
    }
    let recommended = fieldproof_api::limits::RateLimits::recommended();
    let parse_rate =
        |raw: &Raw, name: &str, default| -> Result<Option<fieldproof_api::limits::Rate>> {
            match raw.value.as_deref().map(str::trim) {
                None => Ok(default),
                Some("off") | Some("none") => Ok(None),
                Some(v) => fieldproof_api::limits::Rate::parse(v)
                    .map(Some)
                    .map_err(|why| {
                        bad(
                            name,
                            v,
                            &raw.source,
                            &format!("RATE/s,BURST or off ({why})"),
                        )
                    }),
            }
        };
    let rate_limits = fieldproof_api::limits::RateLimits {
        per_key: parse_rate(&rate, "rate_limit", recommended.per_key)?,
        analyses_per_key: parse_rate(
            &analysis_rate,
            "analysis_rate_limit",
            recommended.analyses_per_key,
        )?,
        failed_auth_per_address: parse_rate(
            &failed_auth_rate,
            "failed_auth_rate_limit",
            recommended.failed_auth_per_address,
        )?,
    };
    let analysis_threads_n = number_in(
        &analysis_threads,
        "analysis_threads",
        1..=256,
        "a number of threads from 1 to 256",
    )?
    .unwrap_or_else(fieldproof_api::cpu_pool::default_threads);
    let analysis_nice_n = number_in(
        &analysis_nice,
        "analysis_nice",
        0..=19,
        "a nice increment from 0 (the requests' priority) to 19 (the lowest)",
    )?
    .unwrap_or(fieldproof_api::cpu_pool::DEFAULT_NICE_INCREMENT);
    let analysis_step_aside_ms = number_in(
        &analysis_step_aside,
        "analysis_step_aside_ms",
        0..=10_000,
        "a number of milliseconds from 0 (never wait) to 10000",
    )?
    .unwrap_or(fieldproof_api::step_aside::DEFAULT_BUDGET.as_millis() as u64);
    let analysis_priority_p = match analysis_priority.value.as_deref() {
        None => fieldproof_api::cpu_pool::Priority::Idle {
            fallback: analysis_nice_n,
        },
        Some(v) => fieldproof_api::cpu_pool::Priority::from_setting(v, analysis_nice_n)
            .ok_or_else(|| {
                bad(
                    "analysis_priority",
                    v,
                    &analysis_priority.source,
                    "\"idle\" or \"nice\"",
                )
            })?,
    };
    let blobs = match blob_url.value.as_deref().map(str::trim) {
        None | Some("") => BlobSettings::Local(data_dir_path.join("blobs")),
        Some(u) if u.starts_with("s3://") && u.len() > 5 => BlobSettings::S3 {
            url: u.to_string(),
            endpoint: match &blob_endpoint.value {
                Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                    Some(e.trim_end_matches('/').to_string())
                }
                Some(e) => {
                    return Err(bad(
                        "blob_endpoint",
                        e,
                        &blob_endpoint.source,
                        "an http:// or https:// URL",
                    ))
                }
                None => None,
            },
            region: blob_region
                .value
                .clone()
                .unwrap_or_else(|| "us-east-1".into()),
        },
        Some(u) => {
            return Err(bad(
                "blob_url",
                u,
                &blob_url.source,
                "s3://BUCKET or s3://BUCKET/PREFIX",
            ))
        }
    };
    Ok(Settings {
        blobs,
        rate_limits,
        analysis_threads: analysis_threads_n,
        analysis_priority: analysis_priority_p,
        analysis_step_aside: std::time::Duration::from_millis(analysis_step_aside_ms),
        models: PathBuf::from(
            models
                .value
                .clone()
                .unwrap_or_else(|| "models/manifest.toml".into()),
        ),
        models_source: models.source.clone(),
        allow_fetch_from,
        listen: listen_addr,
        data_dir: data_dir_path,
        database,
        demo: demo_on,
        public_url: public,
        json_body_limit: limit,
    })
}

fn bad(setting: &str, value: &str, source: &Source, expected: &str) -> anyhow::Error {
    anyhow::anyhow!("invalid setting `{setting}` = {value:?} (from {source}): expected {expected}")
}

/// A whole number within `range`, or `None` when the setting is not given.
fn number_in<T>(
    raw: &Raw,
    setting: &str,
    range: std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<Option<T>>
where
    T: std::str::FromStr + PartialOrd,
{
    match &raw.value {
        None => Ok(None),
        Some(v) => match v.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(bad(setting, v, &raw.source, expected)),
        },
    }
}

fn read_file(path: &Path, source: &Source) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the config file {} (named by {source})",
            path.display()
        )
    })?;
    match toml::from_str(&text) {
        Ok(f) => Ok(f),
        Err(e) => bail!(
            "invalid config file {}: {}",
            path.display(),
            e.to_string().trim_end()
        ),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn parse_database_url(v: &str) -> Result<DatabaseUrl, String> {
    let v = v.trim();
    if let Some(path) = v
        .strip_prefix("sqlite://")
        .or_else(|| v.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(
                "a file path after sqlite://, such as sqlite://./fieldproof-data/fieldproof.sqlite"
                    .into(),
            );
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
        return Ok(DatabaseUrl::Postgres(v.to_string()));
    }
    Err("sqlite://PATH or postgres://USER@HOST:PORT/DATABASE".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldproof_api::cpu_pool::Priority;
    use std::collections::HashMap;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let s = resolve(
            &StorageFlags::default(),
            Some(&ServeFlags::default()),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite(PathBuf::from("./fieldproof-data/fieldproof.sqlite"))
        );
        assert!(!s.demo);
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\ndata_dir = \"/from-file\"\ndemo = true\n",
        )
        .unwrap();
        let storage = StorageFlags {
            config: Some(file),
            ..Default::default()
        };
        let serve = ServeFlags {
            listen: Some("127.0.0.1:3".into()),
            ..Default::default()
        };
        let s = resolve(
            &storage,
            Some(&serve),
            &env(&[
                ("FIELDPROOF_LISTEN", "127.0.0.1:2"),
                ("FIELDPROOF_DATA_DIR", "/from-env"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 3);
        assert_eq!(s.data_dir, PathBuf::from("/from-env"));
        assert!(s.demo);
    }

    #[test]
    fn a_bad_value_names_the_setting_and_its_source() {
        let e = resolve(
            &StorageFlags::default(),
            Some(&ServeFlags::default()),
            &env(&[("FIELDPROOF_LISTEN", "localhost")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`listen`") && e.contains("FIELDPROOF_LISTEN"),
            "{e}"
        );
        let e = resolve(
            &StorageFlags {
                database_url: Some("mysql://x".into()),
                ..Default::default()
            },
            None,
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`database_url`") && e.contains("--database-url"),
            "{e}"
        );
    }

    #[test]
    fn numbers_layer_and_are_checked_against_their_range() {
        let s = resolve(
            &StorageFlags::default(),
            Some(&ServeFlags::default()),
            &env(&[]),
        )
        .unwrap();
        // One core is left to requests, and there is always one analysis thread.
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(
            (s.analysis_threads, s.analysis_priority),
            (
                cores.saturating_sub(1).max(1),
                Priority::Idle { fallback: 10 }
            )
        );
        assert_eq!(s.analysis_step_aside, Duration::ZERO);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "analysis_threads = 3\nanalysis_nice = 5\nanalysis_priority = \"nice\"\nanalysis_step_aside_ms = 30\n",
        )
        .unwrap();
        let storage = StorageFlags {
            config: Some(file),
            ..Default::default()
        };
        let s = resolve(&storage, Some(&ServeFlags::default()), &env(&[])).unwrap();
        assert_eq!(
            (s.analysis_threads, s.analysis_priority),
            (3, Priority::Nice(5))
        );
        assert_eq!(s.analysis_step_aside, Duration::from_millis(30));
        let serve = ServeFlags {
            analysis_nice: Some("0".into()),
            analysis_priority: Some("Idle".into()),
            analysis_step_aside_ms: Some("250".into()),
            ..Default::default()
        };
        let s = resolve(
            &storage,
            Some(&serve),
            &env(&[("FIELDPROOF_ANALYSIS_THREADS", "1")]),
        )
        .unwrap();
        assert_eq!(
            (s.analysis_threads, s.analysis_priority),
            (1, Priority::Idle { fallback: 0 })
        );
        assert_eq!(s.analysis_step_aside, Duration::from_millis(250));
        for (name, value) in [
            ("FIELDPROOF_ANALYSIS_THREADS", "0"),
            ("FIELDPROOF_ANALYSIS_THREADS", "many"),
            ("FIELDPROOF_ANALYSIS_NICE", "20"),
            ("FIELDPROOF_ANALYSIS_NICE", "-5"),
            ("FIELDPROOF_ANALYSIS_PRIORITY", "realtime"),
            ("FIELDPROOF_ANALYSIS_STEP_ASIDE_MS", "-1"),
            ("FIELDPROOF_ANALYSIS_STEP_ASIDE_MS", "10001"),
            ("FIELDPROOF_ANALYSIS_STEP_ASIDE_MS", "30ms"),
            ("FIELDPROOF_JSON_BODY_LIMIT", "100"),
            ("FIELDPROOF_JSON_BODY_LIMIT", "2MB"),
        ] {
            let e = resolve(
                &StorageFlags::default(),
                Some(&ServeFlags::default()),
                &env(&[(name, value)]),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn an_unknown_file_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = resolve(
            &StorageFlags {
                config: Some(file),
                ..Default::default()
            },
            None,
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("lisen"), "{e}");
    }
}
