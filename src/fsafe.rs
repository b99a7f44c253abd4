//! Safe creation of labctl's own local state files (the create journal, the run lock):
//! owner-only directories (0700) that are real directories (not symlinks), owned by
//! this user and not writable by anyone else; files created new (`O_CREAT|O_EXCL`)
//! without following a symlink (`O_NOFOLLOW`), mode 0600, written to a fresh temporary
//! file and renamed into place; nothing read that another user owns or could have
//! written. A spec directory that others can write (e.g. `/tmp`) is not used: the state
//! goes to the per-user state directory (`$XDG_STATE_HOME/labctl`, else
//! `~/.local/state/labctl`) instead. Account ids and regions are checked before they
//! become part of a file name ([`check_account_id`], [`check_region`]).
//!
//! This module must not know what the files mean (journal entries, locks): callers
//! parse and judge what they read back. Unix only (it relies on owners and modes).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a state file or directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{} belongs to another user (uid {owner}); labctl keeps its state only in files of its own user (remove it, or run from a directory of yours)", path.display())]
    NotOurs { path: PathBuf, owner: u32 },
    #[error("{} is a symbolic link; labctl does not follow links for its state files (remove it)", path.display())]
    Symlink { path: PathBuf },
    #[error("{} is not a {expected}; remove it", path.display())]
    WrongType {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("{} can be written by other users (mode {mode:04o}); labctl will not keep its state there (remove it, or `chmod go-w` it)", path.display())]
    Shared { path: PathBuf, mode: u32 },
    #[error("{} has mode {mode:04o}, not 0600: labctl did not write it (a checked-out or copied file?)", path.display())]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("`{name}` is not a plain file name")]
    BadName { name: String },
    #[error("no private directory for labctl's state: the spec's directory can be written by others and neither XDG_STATE_HOME nor HOME is set to an absolute path")]
    NoStateDir,
    #[error("{}: {action} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |source| FsError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A 12-digit AWS account id (`^\d{12}$`; the IAM User Guide, "Your AWS account ID":
/// https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html),
/// checked before it becomes part of a file name.
pub fn check_account_id(id: &str) -> anyhow::Result<()> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    anyhow::bail!(
        "the endpoint gave account id `{}`, which is not 12 digits; check --endpoint-url / AWS_ENDPOINT_URL",
        id.escape_debug()
    )
}

/// A region name of the shape every AWS partition uses: lowercase words joined by `-`,
/// ending in a number (`us-east-1`, `us-gov-west-1`, `cn-north-1`; each partition's
/// `regionRegex` in botocore's `botocore/data/partitions.json`), checked before it
/// becomes part of a file name.
pub fn check_region(region: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.len() <= 5
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|n| {
            !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        return Ok(());
    }
    anyhow::bail!(
        "`{}` is not an AWS region name (like us-east-1)",
        region.escape_debug()
    )
}

/// A pipeline name as the spec allows it (lowercase letters, digits, `-`), checked
/// before it becomes part of a file name.
pub fn check_pipeline(p: &str) -> anyhow::Result<()> {
    let ok = !p.is_empty()
        && p.len() <= 64
        && !p.starts_with('-')
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        return Ok(());
    }
    anyhow::bail!("`{}` is not a pipeline name", p.escape_debug())
}

/// The per-user state directory: `$XDG_STATE_HOME/labctl`, else
/// `$HOME/.local/state/labctl` (XDG Base Directory Specification); relative values are
/// ignored, as the specification says.
pub fn user_state_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(d) = var("XDG_STATE_HOME") {
        return Some(d.join("labctl"));
    }
    var("HOME").map(|h| h.join(".local/state/labctl"))
}

/// Whether others than its owner can write `meta`'s file or directory.
fn shared(meta: &std::fs::Metadata) -> bool {
    meta.mode() & 0o022 != 0
}

/// Check (or create, 0700) one directory we are about to keep state in: a real
/// directory, not a link, ours, writable by nobody else. With `private`, also make it
/// 0700 when it is ours and only readable by others. Without `create`, a missing
/// directory is `Ok(false)`.
fn own_dir(dir: &Path, private: bool, create: bool) -> Result<bool, FsError> {
    if create {
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(dir, "creating the directory")(e)),
        }
    }
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if !create && e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io(dir, "inspecting the directory")(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(FsError::Symlink {
            path: dir.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(FsError::WrongType {
            path: dir.to_path_buf(),
            expected: "directory",
        });
    }
    if meta.uid() != euid() {
        return Err(FsError::NotOurs {
            path: dir.to_path_buf(),
            owner: meta.uid(),
        });
    }
    if shared(&meta) {
        return Err(FsError::Shared {
            path: dir.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    if private && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(dir, "making the directory private"))?;
    }
    Ok(true)
}

/// Whether `base` is a directory only its owner, this user, can write.
fn base_is_ours(base: &Path) -> bool {
    std::fs::metadata(base).is_ok_and(|m| m.is_dir() && m.uid() == euid() && !shared(&m))
}

/// A checked, owner-only directory for labctl's state. Obtained only through
/// [`state_dir`] or [`PrivateDir::under`]; every file in it is created and read through
/// its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDir {
    path: PathBuf,
}

/// The directory for state kind `sub` (e.g. `journal`) of a spec in `base`:
/// `<base>/.labctl/<sub>` when `base` is this user's and nobody else can write it, else
/// `<user state dir>/<sub>` (see [`user_state_dir`]). Refused (with the reason) when the
/// chosen directory or `.labctl` is a link, another user's, or writable by others.
pub fn state_dir(base: &Path, sub: &str) -> Result<PrivateDir, FsError> {
    state_dir_in(base, sub, user_state_dir())
}

/// [`state_dir`] with the per-user directory given (tests).
pub fn state_dir_in(base: &Path, sub: &str, user: Option<PathBuf>) -> Result<PrivateDir, FsError> {
    check_name(sub)?;
    if base_is_ours(base) {
        let top = base.join(".labctl");
        own_dir(&top, false, true)?;
        return PrivateDir::under(&top, sub);
    }
    user_state_in(sub, user)
}

/// Where [`state_dir`] would be, checked the same way, without creating anything:
/// `Ok(None)` when it does not exist yet (read-only commands create nothing).
pub fn existing_state_dir(base: &Path, sub: &str) -> Result<Option<PrivateDir>, FsError> {
    check_name(sub)?;
    let top = if base_is_ours(base) {
        base.join(".labctl")
    } else {
        user_state_dir().ok_or(FsError::NoStateDir)?
    };
    if !own_dir(&top, false, false)? {
        return Ok(None);
    }
    let path = top.join(sub);
    if !own_dir(&path, false, false)? {
        return Ok(None);
    }
    Ok(Some(PrivateDir { path }))
}

/// The directory for state kind `sub` in the per-user state directory (for commands
/// without a spec, like `leftovers`).
pub fn user_state(sub: &str) -> Result<PrivateDir, FsError> {
    user_state_in(sub, user_state_dir())
}

fn user_state_in(sub: &str, user: Option<PathBuf>) -> Result<PrivateDir, FsError> {
    let user = user.ok_or(FsError::NoStateDir)?;
    if let Some(parent) = user.parent() {
        // Missing parents (~/.local/state) are made 0700; existing ones are left as they are.
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io(parent, "creating the directory"))?;
    }
    own_dir(&user, true, true)?;
    PrivateDir::under(&user, sub)
}

fn check_name(name: &str) -> Result<(), FsError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(FsError::BadName {
            name: name.escape_debug().to_string(),
        })
    }
}

impl PrivateDir {
    /// Directory `name` in `parent` (which the caller has checked), created 0700 and checked.
    pub fn under(parent: &Path, name: &str) -> Result<PrivateDir, FsError> {
        check_name(name)?;
        let path = parent.join(name);
        own_dir(&path, true, true)?;
        Ok(PrivateDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, name: &str) -> Result<PathBuf, FsError> {
        check_name(name)?;
        Ok(self.path.join(name))
    }

    /// Create file `name`, which must not exist yet (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode
    /// 0600): for locks. `Err(Io)` with kind `AlreadyExists` when it exists.
    pub fn create_new(&self, name: &str) -> Result<File, FsError> {
        let path = self.file(name)?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io(&path, "creating"))
    }

    /// Replace file `name` with `bytes` atomically: a new temporary file (exclusive
    /// create, no-follow, 0600, synced), renamed over `name` (a rename replaces a link at
    /// `name` itself, never its target).
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), FsError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = self.file(name)?;
        let tmp = self.path.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
                .map_err(io(&tmp, "creating"))?;
            f.write_all(bytes).map_err(io(&tmp, "writing"))?;
            f.sync_all().map_err(io(&tmp, "syncing"))?;
            std::fs::rename(&tmp, &path).map_err(io(&path, "renaming into place"))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Open file `name` for reading, `None` when there is none. Refuses a link, anything
    /// but a regular file, a file of another user and one others could read or write
    /// (labctl writes 0600).
    pub fn open(&self, name: &str) -> Result<Option<File>, FsError> {
        let path = self.file(name)?;
        let f = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(FsError::Symlink { path })
            }
            Err(e) => return Err(io(&path, "opening")(e)),
        };
        let meta = f.metadata().map_err(io(&path, "inspecting"))?;
        if !meta.is_file() {
            return Err(FsError::WrongType {
                path,
                expected: "regular file",
            });
        }
        if meta.uid() != euid() {
            return Err(FsError::NotOurs {
                path,
                owner: meta.uid(),
            });
        }
        if meta.mode() & 0o077 != 0 {
            return Err(FsError::NotPrivate {
                path,
                mode: meta.mode() & 0o7777,
            });
        }
        Ok(Some(f))
    }

    /// Read file `name` whole (see [`PrivateDir::open`] for what is refused).
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        let Some(mut f) = self.open(name)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(io(&self.path.join(name), "reading"))?;
        Ok(Some(out))
    }

    /// Remove file `name` (a link is removed, never followed; a missing file is fine).
    pub fn remove(&self, name: &str) -> Result<(), FsError> {
        let path = self.file(name)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&path, "removing")(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("meta").mode() & 0o777
    }

    #[test]
    fn account_ids_and_regions_are_checked_before_use_in_a_path() {
        assert!(check_account_id("123456789012").is_ok());
        for bad in ["../..", "12345678901", "1234567890123", "12345678901a", ""] {
            assert!(check_account_id(bad).is_err(), "{bad}");
        }
        for good in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-7"] {
            assert!(check_region(good).is_ok(), "{good}");
        }
        for bad in [
            "../..",
            "us-east",
            "us/east-1",
            "US-EAST-1",
            "us-east-1/..",
            "",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        assert!(check_pipeline("a-b1").is_ok());
        assert!(check_pipeline("../x").is_err());
    }

    #[test]
    fn state_goes_beside_the_spec_in_owner_only_directories() {
        let base = tempfile::tempdir().expect("tempdir");
        let d = state_dir_in(base.path(), "journal", None).expect("state dir");
        assert_eq!(d.path(), base.path().join(".labctl/journal"));
        assert_eq!(mode(&base.path().join(".labctl")), 0o700);
        assert_eq!(mode(d.path()), 0o700);
        d.write("a.json", b"one").expect("write");
        d.write("a.json", b"two").expect("overwrite");
        assert_eq!(mode(&d.path().join("a.json")), 0o600);
        assert_eq!(d.read("a.json").expect("read"), Some(b"two".to_vec()));
        let names: Vec<_> = std::fs::read_dir(d.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        assert!(matches!(
            d.write("../x", b"").expect_err("path"),
            FsError::BadName { .. }
        ));
        d.remove("a.json").expect("remove");
        assert_eq!(d.read("a.json").expect("read"), None);
    }

    #[test]
    fn a_world_writable_spec_directory_sends_state_to_the_user_directory() {
        let base = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        let home = tempfile::tempdir().expect("home");
        let user = home.path().join("state/labctl");
        let d = state_dir_in(base.path(), "journal", Some(user.clone())).expect("state dir");
        assert_eq!(d.path(), user.join("journal"));
        assert!(!base.path().join(".labctl").exists());
        assert_eq!(mode(&user), 0o700);
        assert!(matches!(
            state_dir_in(base.path(), "journal", None).expect_err("no home"),
            FsError::NoStateDir
        ));
    }

    #[test]
    fn pre_created_links_and_open_directories_are_refused() {
        // Another user cannot be simulated without root: the same user plants what the
        // attacker would, and each plant must be refused or left harmless.
        let base = tempfile::tempdir().expect("tempdir");
        let victim = base.path().join("victim");
        std::fs::write(&victim, b"precious").expect("write");
        // A link in place of the directory.
        std::fs::create_dir(base.path().join(".labctl")).expect("mkdir");
        std::os::unix::fs::symlink(base.path(), base.path().join(".labctl/journal"))
            .expect("symlink");
        let e = state_dir_in(base.path(), "journal", None).expect_err("linked dir");
        assert!(matches!(e, FsError::Symlink { .. }), "{e}");
        std::fs::remove_file(base.path().join(".labctl/journal")).expect("rm");
        // A world-writable .labctl.
        std::fs::set_permissions(
            base.path().join(".labctl"),
            std::fs::Permissions::from_mode(0o777),
        )
        .expect("chmod");
        let e = state_dir_in(base.path(), "journal", None).expect_err("open dir");
        assert!(matches!(e, FsError::Shared { mode: 0o777, .. }), "{e}");
        std::fs::set_permissions(
            base.path().join(".labctl"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        let d = state_dir_in(base.path(), "journal", None).expect("state dir");
        // Links at the file's own path and at a predictable temporary path.
        std::os::unix::fs::symlink(&victim, d.path().join("p.json")).expect("symlink");
        std::os::unix::fs::symlink(&victim, d.path().join("p.tmp")).expect("symlink");
        let e = d.read("p.json").expect_err("linked file");
        assert!(matches!(e, FsError::Symlink { .. }), "{e}");
        d.write("p.json", b"new").expect("write replaces the link");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        assert!(!std::fs::symlink_metadata(d.path().join("p.json"))
            .expect("meta")
            .file_type()
            .is_symlink());
        // create_new through a link: refused, target untouched.
        let e = d.create_new("p.tmp").expect_err("linked lock");
        assert!(matches!(e, FsError::Io { .. }), "{e}");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        // A file others could write (or a checked-out 0644 file) is not trusted.
        std::fs::write(d.path().join("q.json"), b"[]").expect("write");
        std::fs::set_permissions(
            d.path().join("q.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let e = d.read("q.json").expect_err("0644");
        assert!(matches!(e, FsError::NotPrivate { mode: 0o644, .. }), "{e}");
    }

    #[test]
    fn another_users_directory_is_refused() {
        // / is root's; as root, hand a directory to another uid instead.
        let root = tempfile::tempdir().expect("tempdir");
        let theirs = if euid() != 0 {
            PathBuf::from("/")
        } else {
            let t = root.path().join("theirs");
            std::fs::create_dir(&t).expect("mkdir");
            std::os::unix::fs::chown(&t, Some(12345), None).expect("chown");
            t
        };
        let e = own_dir(&theirs, true, true).expect_err("not ours");
        assert!(matches!(e, FsError::NotOurs { .. }), "{e}");
    }
}
