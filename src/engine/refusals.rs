//! Refusals AWS gave before: "a step known to fail". When AWS refuses a create for a
//! whole account and region (not for one resource: e.g. CreateApplication of a Kinesis
//! Data Analytics for SQL application, refused since the service stopped taking new
//! applications on 2025-10-15), the resource kind records the refusal here — its class,
//! what was refused, the account, region, time and AWS's own message, and what to do
//! instead. `plan` then shows a create of that class in that account and region as
//! `blocked` with why, so `up` refuses before its first change instead of creating a
//! dozen billing resources and failing at the same step again. A later create of the
//! same class that AWS accepts clears the record.
//!
//! The record is one private state file beside the create journal
//! (`<account>-<region>.refusals.json` in [`crate::engine::journal::Journal::dir`]),
//! written and read through [`crate::fsafe`]: owner-only (0600), never a link or another
//! file type, another user's, or group/world-readable (such a file is ignored with a
//! warning, never trusted). The account id and region are checked before they become a
//! file name. Deleting the file forgets every refusal.
//!
//! This module knows no AWS service and no command line: callers give it the class
//! (an opaque string) and the texts; it decides nothing from an endpoint's address.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::journal::Journal;
use crate::fsafe::{self, FsError};

/// The file format's version; files of another version are ignored.
const VERSION: u32 = 1;

/// One refusal AWS gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// The class of create refused (the resource kind's own word, e.g. `sql-application`).
    pub class: String,
    /// What was refused, for people: e.g. "SQL applications".
    pub what: String,
    pub account: String,
    pub region: String,
    /// When AWS refused (seconds since the epoch).
    pub at: i64,
    /// AWS's own message.
    pub aws_said: String,
    /// What to do instead (e.g. "set engine: flink — see README").
    pub remedy: String,
}

impl Refusal {
    /// Why a create of this class is blocked, for a plan row.
    pub fn why(&self) -> String {
        let at = aws_smithy_types::DateTime::from_secs(self.at)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_else(|_| self.at.to_string());
        format!(
            "AWS refused to create {} in account {}, region {} at {at}: {}; {} (labctl remembers this refusal in {}-{}.refusals.json beside its create journal: delete that file to try again, see README, \"Known to fail\")",
            self.what, self.account, self.region, self.aws_said, self.remedy, self.account, self.region
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefusalFile {
    version: u32,
    refusals: Vec<Refusal>,
}

/// `<account>-<region>.refusals.json`, each part checked first. (A journal or lock file
/// is `<pipeline>-<account>-<region>.json`/`.lock`: a region has no `.`, so the names
/// never meet.)
pub fn file_name(account: &str, region: &str) -> Result<String> {
    fsafe::check_account_id(account)?;
    fsafe::check_region(region)?;
    Ok(format!("{account}-{region}.refusals.json"))
}

fn parse(bytes: &[u8]) -> Option<BTreeMap<String, Refusal>> {
    let f: RefusalFile = serde_json::from_slice(bytes).ok()?;
    if f.version != VERSION {
        return None;
    }
    Some(
        f.refusals
            .into_iter()
            .map(|r| (r.class.clone(), r))
            .collect(),
    )
}

/// The refusals recorded for this account and region, by class. Nothing is created
/// (read-only commands create no state). A file labctl did not write (a link, another
/// file type, another user's, not 0600, not this format) is ignored with a warning.
pub fn load(journal: &Journal, account: &str, region: &str) -> Result<BTreeMap<String, Refusal>> {
    let file = file_name(account, region)?;
    let Some(dir) = journal
        .existing_dir()
        .context("cannot read labctl's record of refusals safely")?
    else {
        return Ok(BTreeMap::new());
    };
    match dir.read(&file) {
        Ok(Some(bytes)) => Ok(parse(&bytes)
            .unwrap_or_else(|| {
                tracing::warn!(
                    "ignoring {}: not a record of refusals this labctl wrote",
                    dir.path().join(&file).display()
                );
                BTreeMap::new()
            })
            .into_iter()
            .filter(|(_, r)| r.account == account && r.region == region)
            .collect()),
        Ok(None) => Ok(BTreeMap::new()),
        Err(
            e @ (FsError::NotPrivate { .. }
            | FsError::Symlink { .. }
            | FsError::WrongType { .. }
            | FsError::NotOurs { .. }),
        ) => {
            tracing::warn!("ignoring the record of refusals: {e}");
            Ok(BTreeMap::new())
        }
        Err(e) => Err(e).context("cannot read labctl's record of refusals"),
    }
}

/// The refusal recorded for creates of `class` in this account and region, if any.
/// Unreadable state is a warning here, never a reason to block.
pub fn find(journal: &Journal, account: &str, region: &str, class: &str) -> Option<Refusal> {
    match load(journal, account, region) {
        Ok(mut m) => m.remove(class),
        Err(e) => {
            tracing::warn!("{e:#}");
            None
        }
    }
}

/// Record that AWS refused a create of `class` (replacing an earlier record of it).
pub fn record(journal: &Journal, refusal: Refusal) -> Result<()> {
    let mut all = load(journal, &refusal.account, &refusal.region)?;
    let (account, region) = (refusal.account.clone(), refusal.region.clone());
    all.insert(refusal.class.clone(), refusal);
    write(journal, &account, &region, all)
}

/// A create of `class` went through: forget its refusal (no file is created).
pub fn clear(journal: &Journal, account: &str, region: &str, class: &str) -> Result<()> {
    let mut all = load(journal, account, region)?;
    if all.remove(class).is_none() {
        return Ok(());
    }
    write(journal, account, region, all)
}

fn write(
    journal: &Journal,
    account: &str,
    region: &str,
    all: BTreeMap<String, Refusal>,
) -> Result<()> {
    let file = file_name(account, region)?;
    let Some(dir) = journal
        .dir()
        .context("cannot keep labctl's record of refusals safely")?
    else {
        return Ok(());
    };
    if all.is_empty() {
        return dir.remove(&file).context("removing the record of refusals");
    }
    let doc = RefusalFile {
        version: VERSION,
        refusals: all.into_values().collect(),
    };
    let bytes = serde_json::to_vec_pretty(&doc).context("encoding the record of refusals")?;
    dir.write(&file, &bytes)
        .context("writing the record of refusals")
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ACCOUNT: &str = "123456789012";

    fn refusal(region: &str) -> Refusal {
        Refusal {
            class: "sql-application".into(),
            what: "SQL applications".into(),
            account: ACCOUNT.into(),
            region: region.into(),
            at: 1_764_300_000,
            aws_said: "discontinued".into(),
            remedy: "set engine: flink".into(),
        }
    }

    #[test]
    fn a_refusal_is_remembered_per_account_and_region_and_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        assert!(find(&j, ACCOUNT, "us-east-1", "sql-application").is_none());
        assert!(
            !dir.path().join(".labctl").exists(),
            "a read creates nothing"
        );
        record(&j, refusal("us-east-1")).expect("record");
        let file = dir
            .path()
            .join(".labctl/journal/123456789012-us-east-1.refusals.json");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let r = find(&j, ACCOUNT, "us-east-1", "sql-application").expect("found");
        assert!(
            r.why()
                .contains("account 123456789012, region us-east-1 at 2025-"),
            "{}",
            r.why()
        );
        assert!(find(&j, ACCOUNT, "us-west-2", "sql-application").is_none());
        assert!(find(&j, ACCOUNT, "us-east-1", "other").is_none());
        clear(&j, ACCOUNT, "us-east-1", "sql-application").expect("clear");
        assert!(!file.exists());
    }

    #[test]
    fn a_planted_record_is_ignored_and_bad_names_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::open(dir.path(), "p", ACCOUNT, "us-east-1").expect("open");
        record(&j, refusal("us-east-1")).expect("record");
        let file = dir
            .path()
            .join(".labctl/journal/123456789012-us-east-1.refusals.json");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(find(&j, ACCOUNT, "us-east-1", "sql-application").is_none());
        assert!(file_name("../..", "us-east-1").is_err());
        assert!(file_name(ACCOUNT, "../x").is_err());
    }
}
