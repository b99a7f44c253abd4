//! What [`super::assemble`] hands back: the verified jar on disk, its size, SHA-256
//! and lock key. Must not know how the jar was fetched, merged or cached.

use std::path::PathBuf;

/// The assembled jar on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    /// `<cache>/connectors-<key16>.jar`.
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the jar.
    pub sha256: String,
    /// The lock key (SHA-256 of the lock file) the jar was built from.
    pub key: String,
    /// True when an earlier build was reused from the cache.
    pub reused: bool,
}
