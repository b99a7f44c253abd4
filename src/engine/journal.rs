//! The create journal: the one piece of local state labctl keeps. Before a create
//! call, the resource's kind, name and the time are written down; once the resource
//! carries its ownership tag, the entry is removed. Some creates are two calls on some
//! endpoints (S3 CreateBucket then PutBucketTagging; Kinesis streams on the local
//! emulator), so a run killed between them leaves an untagged resource; the journal is
//! how the next `up` or `down` knows it is labctl's own.
//!
//! An entry never overrides the ownership tag by name alone: it vouches for an untagged
//! resource only when the resource found is the one that create made — its creation
//! time, as the service reports it, falls between the entry's start and a few minutes
//! after (or equals the time and ARN recorded after the create call returned). A
//! resource whose creation time is unknown, or that existed before the create began, is
//! someone else's: never changed, never deleted. Without the journal (deleted, another
//! machine) such a resource is treated the same way.
//!
//! The file lives in an owner-only directory (see [`crate::fsafe`]): beside the spec in
//! `.labctl/journal/` when only this user can write the spec's directory, else in the
//! per-user state directory. A file labctl did not write (a link, another user's, or not
//! mode 0600 — a checked-out file, say) is ignored, never trusted. This module knows
//! nothing of AWS: callers give it what they observed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fsafe::{self, FsError, PrivateDir};

/// How far the service's clock may be behind this machine's when it stamps a creation.
const SKEW_SECONDS: i64 = 300;
/// How long after an entry's start the create it records may have happened.
const WINDOW_SECONDS: i64 = 900;
/// The file format's version; files of another version are ignored.
const VERSION: u32 = 2;

/// One create in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: String,
    pub name: String,
    /// When the first create attempt began (seconds since the epoch).
    pub first_began: i64,
    /// When the latest create attempt began.
    pub began: i64,
    /// The ARN the create returned, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The creation time the service reported right after the create, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
}

impl Entry {
    /// Whether the resource found with `arn` and creation time `created` is the one
    /// this entry's create made.
    fn binds(&self, arn: Option<&str>, created: Option<i64>) -> bool {
        let Some(created) = created else {
            return false;
        };
        if let (Some(want), Some(have)) = (self.arn.as_deref(), arn) {
            if want != have {
                return false;
            }
        }
        match self.created {
            Some(c) => (created - c).abs() <= 2,
            // Just after one of the attempts: the first (a create that went through
            // before the kill) or the latest.
            None => {
                let near = |t: i64| created >= t - SKEW_SECONDS && created <= t + WINDOW_SECONDS;
                near(self.first_began) || near(self.began)
            }
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalFile {
    version: u32,
    entries: Vec<Entry>,
}

#[derive(Debug)]
pub struct Journal {
    /// The spec's directory; None for a [`Journal::detached`] one.
    base: Option<PathBuf>,
    file: String,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Every create begun by this process (kept after it ends; never written): see
    /// [`Journal::begun_here`].
    begun_here: Mutex<std::collections::BTreeSet<String>>,
}

fn key(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Journal {
    /// The journal for one pipeline in one account and region, for a spec in
    /// `spec_dir` (see the module doc for where it lives). The account id, region and
    /// pipeline are checked before they become a file name.
    pub fn open(spec_dir: &Path, pipeline: &str, account: &str, region: &str) -> Result<Journal> {
        let file = file_name(pipeline, account, region)?;
        let dir = fsafe::existing_state_dir(spec_dir, "journal")
            .context("cannot keep the create journal safely")?;
        Journal::load(Some(spec_dir.to_path_buf()), dir, file)
    }

    /// A journal that vouches for nothing and is never written: for commands that only
    /// delete what carries the ownership tag (`leftovers --delete`).
    pub fn detached() -> Journal {
        Journal {
            base: None,
            file: String::new(),
            entries: Mutex::new(BTreeMap::new()),

            begun_here: Mutex::default(),
        }
    }

    fn load(base: Option<PathBuf>, dir: Option<PrivateDir>, file: String) -> Result<Journal> {
        let Some(dir) = dir else {
            return Ok(Journal {
                base,
                file,
                entries: Mutex::new(BTreeMap::new()),

                begun_here: Mutex::default(),
            });
        };
        let entries = match dir.read(&file) {
            Ok(Some(bytes)) => parse(&bytes).unwrap_or_else(|| {
                tracing::warn!(
                    "ignoring the create journal {}: not a journal this labctl wrote",
                    dir.path().join(&file).display()
                );
                BTreeMap::new()
            }),
            Ok(None) => BTreeMap::new(),
            Err(e @ FsError::NotPrivate { .. }) => {
                tracing::warn!("ignoring the create journal: {e}");
                BTreeMap::new()
            }
            Err(e) => return Err(e).context("cannot read the create journal"),
        };
        Ok(Journal {
            base,
            file,
            entries: Mutex::new(entries),

            begun_here: Mutex::default(),
        })
    }

    /// The directory the journal lives in, created (0700) and checked: for files kept
    /// beside it, like a run lock (see [`crate::fsafe`]). A detached journal has none.
    pub fn dir(&self) -> Result<Option<PrivateDir>, FsError> {
        match &self.base {
            Some(b) => fsafe::state_dir(b, "journal").map(Some),
            None => Ok(None),
        }
    }

    /// [`Journal::dir`] without creating it: `None` when it does not exist yet or the
    /// journal is detached (for reading files kept beside it, e.g. [`crate::engine::refusals`]).
    pub fn existing_dir(&self) -> Result<Option<PrivateDir>, FsError> {
        match &self.base {
            Some(b) => fsafe::existing_state_dir(b, "journal"),
            None => Ok(None),
        }
    }

    /// The journal file's name in [`Journal::dir`]: `<pipeline>-<account>-<region>.json`.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// The entry for a resource, if a create of it is recorded.
    pub fn entry(&self, kind: &str, name: &str) -> Option<Entry> {
        self.entries
            .lock()
            .ok()
            .and_then(|e| e.get(&key(kind, name)).cloned())
    }

    /// Whether the journal vouches that a resource found without the ownership tag, with
    /// this ARN and creation time (as observed), is what a create of labctl's made (see
    /// the module doc). Callers ask only about untagged resources: a tag always wins.
    pub fn vouches(&self, kind: &str, name: &str, arn: Option<&str>, created: Option<i64>) -> bool {
        self.entry(kind, name)
            .is_some_and(|e| e.binds(arn, created))
    }

    /// Whether this process began a create of the resource (still under way or done).
    /// A resource seen without the ownership tag while its create is under way (it exists,
    /// not yet tagged) is labctl's own, and that create re-checks ownership; asked after
    /// the look, this cannot miss a create that began and ended during it, as
    /// [`Journal::entry`] (forgotten at the end) can.
    pub fn begun_here(&self, kind: &str, name: &str) -> bool {
        self.begun_here
            .lock()
            .map(|b| b.contains(&key(kind, name)))
            .unwrap_or(false)
    }

    /// Record that a create is about to start. Written to disk before returning.
    pub fn begin(&self, kind: &str, name: &str) {
        if let Ok(mut b) = self.begun_here.lock() {
            b.insert(key(kind, name));
        }
        let t = now();
        self.change(|e| {
            let entry = e.entry(key(kind, name)).or_insert_with(|| Entry {
                kind: kind.to_string(),
                name: name.to_string(),
                first_began: t,
                began: t,
                arn: None,
                created: None,
            });
            entry.began = t;
        });
    }

    /// Record what the create call returned: the resource's ARN and creation time.
    pub fn created(&self, kind: &str, name: &str, arn: Option<&str>, created: Option<i64>) {
        self.change(|e| {
            if let Some(entry) = e.get_mut(&key(kind, name)) {
                entry.arn = arn.map(str::to_string).or(entry.arn.take());
                entry.created = created.or(entry.created);
            }
        });
    }

    /// The resource is tagged (or gone): forget it.
    pub fn end(&self, kind: &str, name: &str) {
        self.change(|e| {
            e.remove(&key(kind, name));
        });
    }

    fn change(&self, f: impl FnOnce(&mut BTreeMap<String, Entry>)) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let before = entries.clone();
        f(&mut entries);
        if *entries == before {
            return;
        }
        if let Err(e) = self.write(&entries) {
            tracing::warn!("cannot write the create journal {}: {e}", self.file);
        }
    }

    fn write(&self, entries: &BTreeMap<String, Entry>) -> Result<(), FsError> {
        let Some(dir) = self.dir()? else {
            return Ok(());
        };
        if entries.is_empty() {
            return dir.remove(&self.file);
        }
        let doc = JournalFile {
            version: VERSION,
            entries: entries.values().cloned().collect(),
        };
        dir.write(
            &self.file,
            serde_json::to_string(&doc).unwrap_or_default().as_bytes(),
        )
    }
}

/// `<pipeline>-<account>-<region>.json`, each part checked first.
fn file_name(pipeline: &str, account: &str, region: &str) -> Result<String> {
    fsafe::check_pipeline(pipeline)?;
    fsafe::check_account_id(account)?;
    fsafe::check_region(region)?;
    Ok(format!("{pipeline}-{account}-{region}.json"))
}

fn parse(bytes: &[u8]) -> Option<BTreeMap<String, Entry>> {
    let f: JournalFile = serde_json::from_slice(bytes).ok()?;
    if f.version != VERSION {
        return None;
    }
    Some(
        f.entries
            .into_iter()
            .map(|e| (key(&e.kind, &e.name), e))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn a_create_begun_here_is_remembered_after_it_ends_and_only_here() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(!j.begun_here("stream", "s"));
        j.begin("stream", "s");
        j.end("stream", "s");
        // Forgotten by the journal, still known to this process (the role's grants
        // check asks after its look, which a whole create may have overtaken).
        assert!(j.entry("stream", "s").is_none());
        assert!(j.begun_here("stream", "s"));
        assert!(!j.begun_here("bucket", "s"));
        // Another process (a reopen) knows only what the file holds.
        j.begin("bucket", "b");
        let again = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(!again.begun_here("bucket", "b"));
        assert!(again.entry("bucket", "b").is_some());
    }

    #[test]
    fn entries_survive_a_reopen_and_vanish_when_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        j.begin("bucket", "b");
        let again = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(again.entry("bucket", "b").is_some());
        let file = dir
            .path()
            .join(".labctl/journal/p-123456789012-us-east-1.json");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        j.end("bucket", "b");
        let again = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(again.entry("bucket", "b").is_none());
        assert!(!file.exists());
    }

    #[test]
    fn an_entry_vouches_only_for_the_resource_its_create_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        j.begin("bucket", "b");
        let t = now();
        let arn = Some("arn:aws:s3:::b");
        assert!(j.vouches("bucket", "b", arn, Some(t + 1)));
        // Older than the create: someone else's resource of the same name.
        assert!(!j.vouches("bucket", "b", arn, Some(t - 86_400)));
        // Creation time unknown: cannot be bound.
        assert!(!j.vouches("bucket", "b", arn, None));
        // A forged entry spanning all time vouches for nothing old.
        let forged = Entry {
            kind: "bucket".into(),
            name: "b".into(),
            first_began: 0,
            began: 4_000_000_000,
            arn: None,
            created: None,
        };
        assert!(!forged.binds(arn, Some(t - 86_400)));
        // Not in the journal at all.
        assert!(!j.vouches("bucket", "c", arn, Some(t)));
        // Once the create call's answer is recorded, only that exact resource.
        j.created("bucket", "b", arn, Some(t));
        assert!(j.vouches("bucket", "b", arn, Some(t)));
        assert!(!j.vouches("bucket", "b", arn, Some(t + 60)));
        assert!(!j.vouches("bucket", "b", Some("arn:aws:s3:::other"), Some(t)));
    }

    #[test]
    fn a_shipped_or_old_format_journal_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jdir = dir.path().join(".labctl/journal");
        std::fs::create_dir_all(&jdir).expect("mkdir");
        let file = jdir.join("p-123456789012-us-east-1.json");
        // The old format: names only.
        std::fs::write(&file, r#"["bucket:b","role:r"]"#).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(j.entry("bucket", "b").is_none());
        // A checked-out file (mode 0644) in the new format.
        let doc = r#"{"version":2,"entries":[{"kind":"bucket","name":"b","first_began":0,"began":4000000000}]}"#;
        std::fs::write(&file, doc).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(j.entry("bucket", "b").is_none());
    }

    #[test]
    fn names_that_would_move_the_path_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (p, a, r) in [
            ("p", "../..", "us-east-1"),
            ("p", ACCOUNT, "../../x"),
            ("../p", ACCOUNT, "us-east-1"),
        ] {
            let e = Journal::open(dir.path(), p, a, r).expect_err("refused");
            assert!(format!("{e:#}").contains(".."), "{e:#}");
        }
        assert!(!dir.path().join(".labctl").exists());
    }
}
