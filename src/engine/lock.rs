//! One run at a time per pipeline, account and region: `up` and `down` hold a lock
//! file beside the create journal (`<spec dir>/.labctl/journal/<pipeline>-<account>-<region>.lock`,
//! in the directory [`crate::fsafe::state_dir`] checks and creates 0700), created with
//! create-new and no-follow (O_CREAT|O_EXCL|O_NOFOLLOW) and owner-only permissions, holding who
//! holds it (host, pid, command, since when). A second run waits briefly, then refuses
//! and names the holder. A lock whose process is gone (same host, pid not alive, or
//! alive but started later than the lock: a reused pid) is stale, and is taken over
//! under a second create-new file so that two runs never take over the same stale lock.
//!
//! It covers runs from one machine (and the same spec directory): runs on other
//! machines do not see it. Knows no AWS service and no command line.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::engine::progress::Progress;

/// How long a second run waits for the lock before it refuses.
pub const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(200);

/// Who holds a lock: what the file says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub command: String,
    /// Seconds since the epoch when the lock was taken.
    pub since: u64,
    /// The process's start time in clock ticks since boot (Linux /proc/<pid>/stat
    /// field 22), to tell a reused pid from the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl Holder {
    fn me(command: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            host: host_name(),
            pid,
            command: command.to_string(),
            since: now(),
            start_ticks: start_ticks(pid),
        }
    }

    /// `labctl up (pid 4242 on host h, since 2026-11-28T01:00:00Z)`.
    pub fn describe(&self) -> String {
        let since = aws_smithy_types::DateTime::from_secs(self.since as i64)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_else(|_| self.since.to_string());
        format!(
            "`{}` (pid {} on host {}, since {since})",
            self.command, self.pid, self.host
        )
    }
}

/// The lock is held by a live run: the caller refuses (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("another labctl run holds the lock for pipeline {pipeline} in account {account}, region {region}: {} — waited {waited}s; run this again when it has finished (lock file {})", holder.describe(), path.display())]
pub struct Held {
    pub pipeline: String,
    pub account: String,
    pub region: String,
    pub holder: Holder,
    pub waited: u64,
    pub path: PathBuf,
}

/// A held lock; dropping it removes the file (if it is still ours).
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    me: Holder,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if read(&self.path).ok().flatten().as_ref() == Some(&self.me) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The lock file of one pipeline in one account and region.
pub fn path(spec_dir: &Path, pipeline: &str, account: &str, region: &str) -> PathBuf {
    spec_dir
        .join(".labctl")
        .join("journal")
        .join(format!("{pipeline}-{account}-{region}.lock"))
}

/// What a run of one pipeline in one account and region locks.
pub struct Scope<'a> {
    pub spec_dir: &'a Path,
    pub pipeline: &'a str,
    pub account: &'a str,
    pub region: &'a str,
}

/// Take the lock for `command`, waiting up to `wait` for a live holder; a stale lock
/// is taken over. Errors: [`Held`] when a live run keeps it, else an I/O error.
pub async fn acquire(
    scope: &Scope<'_>,
    command: &str,
    wait: Duration,
    progress: &Progress,
) -> Result<Lock> {
    // The journal's directory, created 0700 and checked (not a link, ours, not shared;
    // a spec directory others can write is not used: see crate::fsafe).
    let dir = crate::fsafe::state_dir(scope.spec_dir, "journal")?;
    let name = format!("{}-{}-{}.lock", scope.pipeline, scope.account, scope.region);
    let path = dir.path().join(name);
    let me = Holder::me(command);
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        if create(&path, &me)? {
            return Ok(Lock { path, me });
        }
        match read(&path) {
            Ok(Some(h)) if is_stale(&h) => {
                progress.step(
                    "labctl",
                    &format!(
                        "taking over a stale lock: {} is no longer running",
                        h.describe()
                    ),
                );
                take_over(&path, &h)?;
                continue;
            }
            Ok(Some(h)) => {
                if started.elapsed() >= wait {
                    return Err(Held {
                        pipeline: scope.pipeline.to_string(),
                        account: scope.account.to_string(),
                        region: scope.region.to_string(),
                        holder: h,
                        waited: wait.as_secs(),
                        path,
                    }
                    .into());
                }
                if !said {
                    progress.step(
                        "labctl",
                        &format!(
                            "waiting up to {}s for another run: {}",
                            wait.as_secs(),
                            h.describe()
                        ),
                    );
                    said = true;
                }
            }
            // Gone meanwhile: try again at once.
            Ok(None) => continue,
            // Being written, or left half-written by a run killed at that moment.
            Err(_) if age(&path) > Some(Duration::from_secs(5)) => {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            Err(_) => {}
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Who holds the lock of `scope` now, if a live run does (a stale lock, or none, is
/// None). Creates nothing: for the read-only commands (`plan`, `status`), which take
/// no lock but say when a run may change what they show.
pub fn peek(scope: &Scope<'_>) -> Option<Holder> {
    let dir = crate::fsafe::existing_state_dir(scope.spec_dir, "journal").ok()??;
    let name = format!("{}-{}-{}.lock", scope.pipeline, scope.account, scope.region);
    read(&dir.path().join(name))
        .ok()
        .flatten()
        .filter(|h| !is_stale(h))
}

/// Create the lock file if there is none (O_CREAT|O_EXCL, mode 0600); false when it exists.
fn create(path: &Path, me: &Holder) -> Result<bool> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let mut f = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("creating the lock {}", path.display())),
    };
    let text = serde_json::to_string(me).context("the lock's content")?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing the lock {}", path.display()))?;
    Ok(true)
}

/// The holder a lock file names: None when there is no file, an error when it cannot
/// be read or parsed.
fn read(path: &Path) -> Result<Option<Holder>> {
    // Never through a link (O_NOFOLLOW).
    let text = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut f, &mut t).map(|_| t)
        });
    match text {
        Ok(t) => Ok(Some(serde_json::from_str(&t).with_context(|| {
            format!("the lock {} is not labctl's", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn age(path: &Path) -> Option<Duration> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(m).ok()
}

/// Remove the stale lock `h`, under a second lock (`.takeover`, create-new) so that
/// two runs that both saw it stale cannot both remove a lock one of them just took:
/// the file is removed only if it still names `h`. Then the caller's create-new decides.
fn take_over(path: &Path, h: &Holder) -> Result<()> {
    let guard = path.with_extension("lock.takeover");
    let me = Holder::me("takeover");
    if !create(&guard, &me)? {
        // Someone else is taking it over; a guard left by a killed run is removed.
        if let Ok(Some(g)) = read(&guard) {
            if is_stale(&g) {
                let _ = std::fs::remove_file(&guard);
            }
        } else if age(&guard) > Some(Duration::from_secs(5)) {
            let _ = std::fs::remove_file(&guard);
        }
        return Ok(());
    }
    if read(path).ok().flatten().as_ref() == Some(h) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(&guard);
    Ok(())
}

/// True when the holder is known to be gone: same host, and its pid is not alive or
/// now belongs to a process started after the lock's holder.
pub fn is_stale(h: &Holder) -> bool {
    if h.host != host_name() {
        return false; // another machine's run: labctl cannot tell
    }
    if !pid_alive(h.pid) {
        return true;
    }
    matches!((h.start_ticks, start_ticks(h.pid)), (Some(a), Some(b)) if a != b)
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // kill(pid, 0) checks existence without sending a signal; EPERM means it exists.
    // SAFETY: signal 0 sends nothing; the call only reads the process table.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A process's start time (Linux: /proc/<pid>/stat field 22), when readable.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    "localhost".into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(dir: &Path) -> Scope<'_> {
        Scope {
            spec_dir: dir,
            pipeline: "p",
            account: "1",
            region: "r",
        }
    }

    #[tokio::test]
    async fn a_second_taker_is_refused_naming_the_holder_and_the_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let progress = Progress::new(true);
        let first = acquire(&scope(dir.path()), "labctl up", WAIT, &progress)
            .await
            .expect("first");
        let p = path(dir.path(), "p", "1", "r");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("lock").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = acquire(&scope(dir.path()), "labctl down", Duration::ZERO, &progress).await;
        let err = second.expect_err("refused");
        let held = err.downcast_ref::<Held>().expect("typed");
        assert_eq!(held.holder.pid, std::process::id());
        assert_eq!(held.holder.command, "labctl up");
        assert!(err.to_string().contains("`labctl up` (pid "), "{err}");
        drop(first);
        assert!(!p.exists());
        let third = acquire(&scope(dir.path()), "labctl down", Duration::ZERO, &progress).await;
        assert!(third.is_ok());
    }

    #[tokio::test]
    async fn a_lock_whose_process_is_gone_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "p", "1", "r");
        std::fs::create_dir_all(p.parent().expect("dir")).expect("dir");
        // A child that has exited and been reaped: its pid is not alive.
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        child.wait().expect("wait");
        let dead = Holder {
            host: host_name(),
            pid,
            command: "labctl up".into(),
            since: 1,
            start_ticks: None,
        };
        std::fs::write(&p, serde_json::to_string(&dead).expect("json")).expect("write");
        assert!(is_stale(&dead));
        let lock = acquire(
            &scope(dir.path()),
            "labctl up",
            Duration::ZERO,
            &Progress::new(true),
        )
        .await
        .expect("taken over");
        assert_eq!(
            read(&p).expect("read").expect("some").pid,
            std::process::id()
        );
        drop(lock);
        // Another host's lock is never judged stale.
        let far = Holder {
            host: format!("{}-elsewhere", host_name()),
            ..dead
        };
        assert!(!is_stale(&far));
    }
}
