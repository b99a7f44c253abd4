//! The Flink application's connector uber jar, assembled by labctl itself from
//! `flink/connectors.lock` — no JDK or Maven on the user's machine.
//!
//! [`assemble`] fetches every locked artifact (cache, then the repository), checks
//! its size and SHA-256 against the lock before any use, merges the jars the way the
//! maven-shade-plugin does without relocation ([`merge`]), and stores the result as
//! `<cache>/connectors-<first 16 hex of the lock key>.jar` with its SHA-256 beside it
//! (`….jar.sha256`, in `sha256sum` format). A later run with the same lock re-hashes
//! that jar and reuses it, so it needs no network. The jar's bytes depend only on the
//! set of locked artifacts (and their filters), not on their order in the lock.
//!
//! Submodules: [`lock`] (the lock file), [`fetch`] (repositories, downloads,
//! verification), [`merge`] (the shade rules), [`cache`] (safe files on disk),
//! [`progress`] (events and a stderr renderer), `digest` (SHA-256 in hex),
//! `assembled` (what [`assemble`] returns).
//!
//! This module must not know about specs, AWS, the application zip or the CLI: it
//! turns a lock into a verified jar on disk. It uses nothing from the rest of the crate
//! (only `super::`/`self::` paths), so the folder can move as it is.

mod assembled;
pub mod cache;
mod digest;
pub mod fetch;
pub mod lock;
pub mod merge;
pub mod progress;

use std::path::{Path, PathBuf};

pub use assembled::Assembled;
pub use cache::{default_cache_dir, CacheError};
pub use digest::{sha256_hex, sha256_of_reader};
pub use fetch::{FetchError, Repository, RepositoryError, CENTRAL, REPOSITORY_VAR};
pub use lock::{
    load_lock, lock_key, parse_lock, Coord, Filter, Glob, Lock, LockError, LockErrorKind,
    LockedArtifact,
};
pub use merge::{Limits, MergeError};
pub use progress::{human_size, NoProgress, Origin, Progress, StderrProgress};

/// Why the jar could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("the lock key `{0}` is not a SHA-256 (64 lowercase hex digits)")]
    BadKey(String),
    #[error("internal error while assembling the connector jar: {0}")]
    Internal(String),
}

fn is_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn jar_name(key: &str) -> String {
    format!("connectors-{}.jar", key.get(..16).unwrap_or(key))
}

/// Where the jar for a lock key lives in the cache (whether or not it exists).
pub fn jar_path(cache: &Path, lock_key: &str) -> PathBuf {
    cache.join(jar_name(lock_key))
}

fn sidecar(jar: &Path) -> PathBuf {
    let mut s = jar.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AssembleError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AssembleError::Internal(e.to_string()))
}

/// The cached jar for `key`, when it is there and its bytes still hash to the recorded
/// SHA-256. A jar that does not is logged and ignored (it gets rebuilt).
fn cached_jar(cache: &Path, key: &str) -> Result<Option<Assembled>, CacheError> {
    let path = jar_path(cache, key);
    let Some(recorded) = cache::read(&sidecar(&path))? else {
        return Ok(None);
    };
    let recorded = String::from_utf8_lossy(&recorded);
    let Some(want) = recorded.split_whitespace().next().filter(|h| is_key(h)) else {
        tracing::warn!(
            "ignoring {}: not a SHA-256 record",
            sidecar(&path).display()
        );
        return Ok(None);
    };
    let Some(f) = cache::open(&path)? else {
        return Ok(None);
    };
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let got = sha256_of_reader(f).map_err(|source| CacheError::Io {
        path: path.clone(),
        action: "reading",
        source,
    })?;
    if got != want {
        tracing::warn!(
            "rebuilding {}: its SHA-256 is {got}, {want} was recorded",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(Assembled {
        path,
        size,
        sha256: got,
        key: key.to_string(),
        reused: true,
    }))
}

/// The connector jar for a lock: reused from `cache` when an intact build for
/// `lock_key` is there, else fetched, verified, merged and stored (atomically).
/// Nothing unverified is ever merged; errors name the artifact at fault.
pub async fn assemble(
    lock: &Lock,
    lock_key: &str,
    repo: &Repository,
    cache: &Path,
    progress: &dyn Progress,
) -> Result<Assembled, AssembleError> {
    assemble_with_limits(lock, lock_key, repo, cache, progress, Limits::default()).await
}

/// [`assemble`] with explicit caps on decompression.
pub async fn assemble_with_limits(
    lock: &Lock,
    lock_key: &str,
    repo: &Repository,
    cache: &Path,
    progress: &dyn Progress,
    limits: Limits,
) -> Result<Assembled, AssembleError> {
    if !is_key(lock_key) {
        return Err(AssembleError::BadKey(lock_key.to_string()));
    }
    let root = cache.to_path_buf();
    blocking(move || cache::ensure_dir(&root)).await??;
    let (root, key) = (cache.to_path_buf(), lock_key.to_string());
    if let Some(found) = blocking(move || cached_jar(&root, &key)).await?? {
        progress.assembled(&found);
        return Ok(found);
    }

    progress.begin(lock.artifacts.len(), lock.total_size());
    let jars = fetch::fetch_all(lock, repo, cache, progress).await?;
    progress.merging(jars.len());
    let owned: Vec<(Coord, Vec<u8>, Vec<Glob>)> = lock
        .artifacts
        .iter()
        .zip(jars)
        .map(|(a, bytes)| {
            let globs = lock.filters_for(&a.coord).cloned().collect();
            (a.coord.clone(), bytes, globs)
        })
        .collect();
    let path = jar_path(cache, lock_key);
    let out = path.clone();
    let (size, sha256) = blocking(move || -> Result<(u64, String), AssembleError> {
        let inputs: Vec<merge::Input<'_>> = owned
            .iter()
            .map(|(coord, bytes, globs)| merge::Input {
                coord,
                bytes,
                drop: globs.iter().collect(),
            })
            .collect();
        let jar = merge::merge(&inputs, &limits)?;
        let sha = sha256_hex(&jar);
        cache::write_atomic(&out, &jar)?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        cache::write_atomic(&sidecar(&out), format!("{sha}  {name}\n").as_bytes())?;
        Ok((jar.len() as u64, sha))
    })
    .await??;
    let built = Assembled {
        path,
        size,
        sha256,
        key: lock_key.to_string(),
        reused: false,
    };
    progress.assembled(&built);
    Ok(built)
}

/// Fetch and verify every locked artifact (size and SHA-256) without merging; verified
/// downloads are cached. Returns the total size. For `validate`, to fail early on a
/// tampered or unreachable artifact.
pub async fn verify_only(
    lock: &Lock,
    repo: &Repository,
    cache: &Path,
    progress: &dyn Progress,
) -> Result<u64, AssembleError> {
    let root = cache.to_path_buf();
    blocking(move || cache::ensure_dir(&root)).await??;
    progress.begin(lock.artifacts.len(), lock.total_size());
    let jars = fetch::fetch_all(lock, repo, cache, progress).await?;
    Ok(jars.iter().map(|j| j.len() as u64).sum())
}

#[cfg(test)]
mod tests;
