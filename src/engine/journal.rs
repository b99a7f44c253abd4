//! The create journal: the one piece of local state labctl keeps. Before a create
//! call, the resource's kind and name are written to a small file beside the spec;
//! after the resource carries its ownership tag, the entry is removed. Some creates
//! are two calls on some endpoints (S3 CreateBucket then PutBucketTagging; Kinesis
//! streams on the local emulator), so a run killed between them leaves an untagged
//! resource; the journal is how the next `up` or `down` knows it is labctl's own.
//! Without the journal (deleted, another machine) such a resource is treated as
//! someone else's: never changed, never deleted.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: Mutex<BTreeSet<String>>,
}

fn key(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

impl Journal {
    /// The journal for one pipeline in one account and region, in `<spec dir>/.labctl/journal/`.
    pub fn open(spec_dir: &Path, pipeline: &str, account: &str, region: &str) -> Journal {
        let path = spec_dir
            .join(".labctl")
            .join("journal")
            .join(format!("{pipeline}-{account}-{region}.json"));
        let entries = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<BTreeSet<String>>(&t).ok())
            .unwrap_or_default();
        Journal {
            path,
            entries: Mutex::new(entries),
        }
    }

    pub fn contains(&self, kind: &str, name: &str) -> bool {
        self.entries
            .lock()
            .map(|e| e.contains(&key(kind, name)))
            .unwrap_or(false)
    }

    /// Record that a create is about to start. Written to disk before returning.
    pub fn begin(&self, kind: &str, name: &str) {
        self.change(|e| {
            e.insert(key(kind, name));
        });
    }

    /// The resource is tagged (or gone): forget it.
    pub fn end(&self, kind: &str, name: &str) {
        self.change(|e| {
            e.remove(&key(kind, name));
        });
    }

    fn change(&self, f: impl FnOnce(&mut BTreeSet<String>)) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let before = entries.clone();
        f(&mut entries);
        if *entries == before {
            return;
        }
        if let Err(e) = self.write(&entries) {
            tracing::warn!(
                "cannot write the create journal {}: {e}",
                self.path.display()
            );
        }
    }

    fn write(&self, entries: &BTreeSet<String>) -> std::io::Result<()> {
        if entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => return Ok(()),
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(
            serde_json::to_string(entries)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_vanish_when_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", "1", "r");
        j.begin("bucket", "b");
        assert!(Journal::open(dir.path(), "p", "1", "r").contains("bucket", "b"));
        j.end("bucket", "b");
        assert!(!Journal::open(dir.path(), "p", "1", "r").contains("bucket", "b"));
        assert!(!dir.path().join(".labctl/journal/p-1-r.json").exists());
    }
}
