//! Getting the locked artifacts' bytes, verified: from labctl's cache, else from the
//! Maven repository (Maven Central, or `LABCTL_MAVEN_REPOSITORY`: an https URL, or a
//! directory in Maven layout such as `~/.m2/repository`).
//!
//! Nothing leaves this module unverified: every jar's size and SHA-256 are checked
//! against the lock before it is returned or cached, and cached copies are checked
//! again when read back. A mismatch names the artifact, both hashes and both sizes.
//!
//! This module must not know what is in a jar or how jars are merged, nor anything of
//! the CLI beyond the [`Progress`] trait.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::cache::{self, CacheError};
use super::lock::{Coord, Lock, LockedArtifact};
use super::progress::{Origin, Progress};

/// Maven Central.
pub const CENTRAL: &str = "https://repo.maven.apache.org/maven2";
/// The environment variable that names another repository.
pub const REPOSITORY_VAR: &str = "LABCTL_MAVEN_REPOSITORY";
/// Downloads at once.
pub const CONCURRENCY: usize = 4;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for response headers, and then for each piece of the body.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

/// Where artifacts are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repository {
    /// Base URL without a trailing slash: https, or plain http on a loopback host only.
    Https(String),
    /// A directory in Maven layout.
    Dir(PathBuf),
}

/// `LABCTL_MAVEN_REPOSITORY` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{REPOSITORY_VAR}={value}: {reason}")]
pub struct RepositoryError {
    pub value: String,
    pub reason: String,
}

impl Default for Repository {
    fn default() -> Self {
        Repository::Https(CENTRAL.to_string())
    }
}

impl Repository {
    /// `LABCTL_MAVEN_REPOSITORY` when set and not empty, else Maven Central.
    pub fn from_env() -> Result<Repository, RepositoryError> {
        match std::env::var_os(REPOSITORY_VAR).filter(|v| !v.is_empty()) {
            None => Ok(Repository::default()),
            Some(v) => Repository::parse(&v.to_string_lossy()),
        }
    }

    /// An https URL, `http://` on a loopback host, `file:///dir`, or a directory
    /// (`~/` is the home directory). A directory must exist.
    pub fn parse(value: &str) -> Result<Repository, RepositoryError> {
        let err = |reason: &str| RepositoryError {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let v = value.trim();
        if let Some(path) = v.strip_prefix("file://") {
            return dir_repository(Path::new(path)).map_err(|r| err(&r));
        }
        if v.contains("://") {
            check_url(v).map_err(|r| err(&r))?;
            return Ok(Repository::Https(v.trim_end_matches('/').to_string()));
        }
        let path = match v.strip_prefix("~/") {
            Some(rest) => match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                Some(home) => PathBuf::from(home).join(rest),
                None => return Err(err("HOME is not set, so `~/` means nothing")),
            },
            None => PathBuf::from(v),
        };
        dir_repository(&path).map_err(|r| err(&r))
    }

    /// Where one artifact is in this repository (a URL or a path), for messages.
    pub fn location(&self, coord: &Coord) -> String {
        match self {
            Repository::Https(base) => format!("{base}/{}", coord.layout_path()),
            Repository::Dir(root) => root.join(coord.layout_path()).display().to_string(),
        }
    }
}

fn dir_repository(path: &Path) -> Result<Repository, String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(Repository::Dir(path.to_path_buf())),
        Ok(_) => Err("not a directory (give an https URL or a directory in Maven layout, such as ~/.m2/repository)".into()),
        Err(e) => Err(format!("cannot use it as a repository directory ({e})")),
    }
}

/// `https://…`, or `http://` to a loopback host; the reason otherwise.
fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not a URL".to_string())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".into());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if is_loopback(authority) => Ok(()),
        "http" => Err("plain http is refused (artifacts would travel unprotected); use https, or http only to localhost".into()),
        _ => Err(format!("unsupported scheme `{scheme}` (use https, or a directory)")),
    }
}

fn is_loopback(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How much of an artifact was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Exactly(u64),
    /// Reading stopped past the expected size.
    MoreThan(u64),
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Exactly(n) => write!(f, "{n} bytes"),
            Seen::MoreThan(n) => write!(f, "more than {n} bytes"),
        }
    }
}

const OFFLINE_HINT: &str = "to work without the network, set LABCTL_MAVEN_REPOSITORY to a directory in Maven layout that holds the locked artifacts (such as ~/.m2/repository), or give a prebuilt connector uber jar in the application's `jars:`";

/// Why an artifact could not be had, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "cannot get {coord} from {location} ({reason}) and it is not in the cache; {OFFLINE_HINT}"
    )]
    Unavailable {
        coord: String,
        location: String,
        reason: String,
    },
    #[error("{coord} from {location} has SHA-256 {actual_sha256}, but the lock says {expected_sha256} (size {size} bytes as locked); refused, nothing was used. The repository or a proxy serves a different file: check it, or regenerate the lock if the pom changed")]
    HashMismatch {
        coord: String,
        location: String,
        size: u64,
        expected_sha256: String,
        actual_sha256: String,
    },
    #[error("{coord} from {location} is {actual}, but the lock says {expected_size} bytes (SHA-256 {expected_sha256}, found {}); refused, nothing was used. The repository or a proxy serves a different file: check it, or regenerate the lock if the pom changed", actual_sha256.as_deref().unwrap_or("not computed"))]
    SizeMismatch {
        coord: String,
        location: String,
        expected_size: u64,
        actual: Seen,
        expected_sha256: String,
        actual_sha256: Option<String>,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("internal error while fetching {coord}: {reason}")]
    Internal { coord: String, reason: String },
}

/// Check bytes against the lock: size first, then SHA-256.
pub fn verify(
    artifact: &LockedArtifact,
    location: &str,
    bytes: &[u8],
    more: bool,
) -> Result<(), FetchError> {
    let len = bytes.len() as u64;
    if more || len != artifact.size {
        return Err(FetchError::SizeMismatch {
            coord: artifact.coord.to_string(),
            location: location.to_string(),
            expected_size: artifact.size,
            actual: if more {
                Seen::MoreThan(artifact.size)
            } else {
                Seen::Exactly(len)
            },
            expected_sha256: artifact.sha256.clone(),
            actual_sha256: (!more).then(|| super::digest::sha256_hex(bytes)),
        });
    }
    let actual = super::digest::sha256_hex(bytes);
    if actual != artifact.sha256 {
        return Err(FetchError::HashMismatch {
            coord: artifact.coord.to_string(),
            location: location.to_string(),
            size: artifact.size,
            expected_sha256: artifact.sha256.clone(),
            actual_sha256: actual,
        });
    }
    Ok(())
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn http_client() -> Result<HttpClient, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("no usable CA certificates on this machine: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Download `url`, reading at most `limit + 1` bytes; returns the bytes and whether
/// there was more than `limit`.
async fn download(
    client: &HttpClient,
    url: &str,
    limit: u64,
    name: &str,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, bool), String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        check_url(&url)?;
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let req = hyper::Request::get(uri)
            .header(
                hyper::header::USER_AGENT,
                concat!("labctl/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(READ_TIMEOUT, client.request(req))
            .await
            .map_err(|_| format!("no answer within {}s", READ_TIMEOUT.as_secs()))?
            .map_err(|e| error_chain(&e))?;
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("HTTP {status} without a Location"))?;
            url = resolve(&url, loc);
            continue;
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let mut body = resp.into_body();
        let cap = usize::try_from(limit.min(1 << 30)).unwrap_or(0);
        let mut out: Vec<u8> = Vec::with_capacity(cap);
        while let Some(frame) = tokio::time::timeout(READ_TIMEOUT, body.frame())
            .await
            .map_err(|_| format!("the download stalled for {}s", READ_TIMEOUT.as_secs()))?
        {
            let frame = frame.map_err(|e| error_chain(&e))?;
            if let Ok(data) = frame.into_data() {
                out.extend_from_slice(&data);
                if out.len() as u64 > limit {
                    out.truncate(usize::try_from(limit).unwrap_or(out.len()));
                    return Ok((out, true));
                }
                progress.advanced(name, out.len() as u64, limit);
            }
        }
        return Ok((out, false));
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A Location against the URL it answered.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{location}")
    }
}

/// An error with its causes ("connection refused" is usually a cause, not the top).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

async fn blocking<T: Send + 'static>(
    coord: &Coord,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FetchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FetchError::Internal {
            coord: coord.to_string(),
            reason: e.to_string(),
        })
}

/// Read at most `limit + 1` bytes of a file; `(bytes, more than limit)`.
fn read_capped(path: &Path, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    let more = out.len() as u64 > limit;
    out.truncate(usize::try_from(limit).unwrap_or(out.len()));
    Ok((out, more))
}

/// The cache path of a verified artifact.
pub fn cache_path(cache_root: &Path, coord: &Coord) -> PathBuf {
    cache_root.join("maven").join(coord.layout_path())
}

/// One artifact, verified: from the cache, else from the repository (cached after
/// verification when downloaded).
pub async fn fetch_one(
    artifact: &LockedArtifact,
    repo: &Repository,
    client: Option<&Result<HttpClient, String>>,
    cache_root: &Path,
    progress: &dyn Progress,
) -> Result<Vec<u8>, FetchError> {
    let coord = &artifact.coord;
    let name = coord.to_string();
    let cached = cache_path(cache_root, coord);
    let p = cached.clone();
    if let Some(bytes) = blocking(coord, move || cache::read(&p)).await?? {
        let location = cached.display().to_string();
        match verify(artifact, &location, &bytes, false) {
            Ok(()) => {
                progress.finished(&name, artifact.size, Origin::Cache);
                return Ok(bytes);
            }
            Err(e) => {
                tracing::warn!("discarding a cached artifact that fails verification: {e}");
                let p = cached.clone();
                blocking(coord, move || cache::remove(&p)).await??;
            }
        }
    }
    let location = repo.location(coord);
    let (bytes, more, origin) = match repo {
        Repository::Dir(_) => {
            progress.started(&name, artifact.size, Origin::Directory);
            let path = PathBuf::from(&location);
            let limit = artifact.size;
            let read = blocking(coord, move || read_capped(&path, limit)).await?;
            let (bytes, more) = read.map_err(|e| FetchError::Unavailable {
                coord: coord.to_string(),
                location: location.clone(),
                reason: e.to_string(),
            })?;
            (bytes, more, Origin::Directory)
        }
        Repository::Https(_) => {
            let client = match client {
                Some(Ok(c)) => c,
                Some(Err(reason)) => {
                    return Err(FetchError::Unavailable {
                        coord: coord.to_string(),
                        location,
                        reason: reason.clone(),
                    })
                }
                None => {
                    return Err(FetchError::Internal {
                        coord: coord.to_string(),
                        reason: "no HTTP client".into(),
                    })
                }
            };
            progress.started(&name, artifact.size, Origin::Network);
            let (bytes, more) = download(client, &location, artifact.size, &name, progress)
                .await
                .map_err(|reason| FetchError::Unavailable {
                    coord: coord.to_string(),
                    location: location.clone(),
                    reason,
                })?;
            (bytes, more, Origin::Network)
        }
    };
    verify(artifact, &location, &bytes, more)?;
    if origin == Origin::Network {
        // The bytes are verified; failing to cache them only costs a later download.
        let (p, b) = (cached.clone(), bytes.clone());
        if let Err(e) = blocking(coord, move || cache::write_atomic(&p, &b)).await? {
            tracing::warn!("cannot cache {name}: {e}");
        }
    }
    progress.finished(&name, artifact.size, origin);
    Ok(bytes)
}

/// Every artifact of the lock, verified, in the lock's order; at most [`CONCURRENCY`]
/// at once. When several fail, the error is the first failing artifact's in lock order.
pub async fn fetch_all(
    lock: &Lock,
    repo: &Repository,
    cache_root: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Vec<u8>>, FetchError> {
    let client = matches!(repo, Repository::Https(_)).then(http_client);
    let client = client.as_ref();
    // Boxed futures, not a `map` closure over the stream: a closure returning an async
    // block that borrows its argument trips rustc's Send check in callers' futures
    // ("implementation of FnOnce is not general enough").
    type One<'a> = futures::future::BoxFuture<'a, (usize, Result<Vec<u8>, FetchError>)>;
    let jobs: Vec<One<'_>> = lock
        .artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| -> One<'_> {
            Box::pin(async move { (i, fetch_one(a, repo, client, cache_root, progress).await) })
        })
        .collect();
    let mut results: Vec<(usize, Result<Vec<u8>, FetchError>)> = futures::stream::iter(jobs)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_from_values() {
        assert_eq!(
            Repository::parse("https://repo.example.com/maven2/").expect("https"),
            Repository::Https("https://repo.example.com/maven2".into())
        );
        for ok in [
            "http://localhost:8081/m2",
            "http://127.0.0.1/m2",
            "http://[::1]:9/x",
        ] {
            assert!(Repository::parse(ok).is_ok(), "{ok}");
        }
        let e = Repository::parse("http://repo.example.com/m2").expect_err("plain http");
        assert!(
            e.to_string().starts_with(
                "LABCTL_MAVEN_REPOSITORY=http://repo.example.com/m2: plain http is refused"
            ),
            "{e}"
        );
        assert!(Repository::parse("http://localhost.evil.com/m2").is_err());
        assert!(Repository::parse("ftp://x/y").is_err());
        assert!(Repository::parse("https://user:pw@x/y").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_string_lossy().into_owned();
        assert_eq!(
            Repository::parse(&d).expect("dir"),
            Repository::Dir(dir.path().to_path_buf())
        );
        assert_eq!(
            Repository::parse(&format!("file://{d}")).expect("file url"),
            Repository::Dir(dir.path().to_path_buf())
        );
        let e = Repository::parse(&format!("{d}/missing")).expect_err("missing dir");
        assert!(
            e.to_string()
                .contains("cannot use it as a repository directory"),
            "{e}"
        );
        assert_eq!(Repository::default(), Repository::Https(CENTRAL.into()));
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(resolve("https://a/b/c.jar", "https://d/e"), "https://d/e");
        assert_eq!(
            resolve("https://a:1/b/c.jar", "/x/y.jar"),
            "https://a:1/x/y.jar"
        );
        assert_eq!(resolve("https://a/b/c.jar", "d.jar"), "https://a/b/d.jar");
    }
}
