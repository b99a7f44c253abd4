//! The local cache of connector artifacts and assembled jars, kept safe on a shared
//! machine: directories are created 0700, files are written to a fresh temporary file
//! (created exclusively, mode 0600) and renamed into place, and nothing is read from a
//! directory owned by another user or through a symlinked file.
//!
//! This module must not know what the files mean (locks, Maven, zips): callers verify
//! what they read back. Unix only (it relies on owners and modes).

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("the cache directory {} belongs to another user (uid {owner}); set LABCTL_CACHE_DIR to a directory of yours", path.display())]
    NotOurs { path: PathBuf, owner: u32 },
    #[error("{} is a symbolic link; labctl does not follow links in its cache (remove it)", path.display())]
    Symlink { path: PathBuf },
    #[error("the cache directory {} can be written by other users (mode {mode:04o}); `chmod go-w` it or set LABCTL_CACHE_DIR to a private directory", path.display())]
    Shared { path: PathBuf, mode: u32 },
    #[error("{} is not a {expected}; remove it or set LABCTL_CACHE_DIR elsewhere", path.display())]
    WrongType {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("cache {}: {action} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// The cache directory: `LABCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/labctl`, else
/// `~/.cache/labctl` (`.labctl/cache` when there is no home directory).
pub fn default_cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("LABCTL_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("labctl");
    }
    var("HOME")
        .map(|h| PathBuf::from(h).join(".cache/labctl"))
        .unwrap_or_else(|| PathBuf::from(".labctl/cache"))
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Create `dir` (and missing parents, mode 0700) and check that it is a directory owned
/// by this user that nobody else can write (a world-writable `/tmp/...` is refused). A
/// symlinked directory is allowed (a cache on another disk is common); its target must
/// be ours and private.
pub fn ensure_dir(dir: &Path) -> Result<(), CacheError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir, "creating the directory"))?;
    let meta = std::fs::metadata(dir).map_err(io(dir, "inspecting the directory"))?;
    if !meta.is_dir() {
        return Err(CacheError::WrongType {
            path: dir.to_path_buf(),
            expected: "directory",
        });
    }
    if meta.uid() != euid() {
        return Err(CacheError::NotOurs {
            path: dir.to_path_buf(),
            owner: meta.uid(),
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(CacheError::Shared {
            path: dir.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Open a cached file for reading, or `None` when there is none. Refuses a symlink, a
/// file owned by another user, and a file in a directory owned by another user.
pub fn open(path: &Path) -> Result<Option<std::fs::File>, CacheError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, "inspecting")(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(CacheError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        return Err(CacheError::WrongType {
            path: path.to_path_buf(),
            expected: "regular file",
        });
    }
    if let Some(parent) = path.parent() {
        let dir = std::fs::metadata(parent).map_err(io(parent, "inspecting"))?;
        if dir.uid() != euid() {
            return Err(CacheError::NotOurs {
                path: parent.to_path_buf(),
                owner: dir.uid(),
            });
        }
        if dir.mode() & 0o022 != 0 {
            return Err(CacheError::Shared {
                path: parent.to_path_buf(),
                mode: dir.mode() & 0o7777,
            });
        }
    }
    if meta.uid() != euid() {
        return Err(CacheError::NotOurs {
            path: path.to_path_buf(),
            owner: meta.uid(),
        });
    }
    // O_NOFOLLOW: a symlink swapped in after the check above is not followed either.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io(path, "opening"))?;
    Ok(Some(f))
}

/// Read a cached file whole (see [`open`] for what is refused).
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    let Some(mut f) = open(path)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    f.read_to_end(&mut out).map_err(io(path, "reading"))?;
    Ok(Some(out))
}

/// Write `bytes` to `path` atomically: a new temporary file beside it (exclusive
/// create, mode 0600, synced), then renamed over `path`. The parent directory is
/// created (0700) and checked first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().unwrap_or(Path::new("."));
    ensure_dir(parent)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(
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
        std::fs::rename(&tmp, path).map_err(io(path, "renaming into place"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove a cached file that failed verification (a missing file is fine).
pub fn remove(path: &Path) -> Result<(), CacheError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io(path, "removing")(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_atomically_with_private_modes() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = root.path().join("a/b/c.jar");
        write_atomic(&file, b"one").expect("write");
        write_atomic(&file, b"two").expect("overwrite");
        assert_eq!(read(&file).expect("read"), Some(b"two".to_vec()));
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(root.path().join("a/b"))
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("c.jar")]);
        assert_eq!(read(&root.path().join("none")).expect("read"), None);
        remove(&file).expect("remove");
        remove(&file).expect("remove twice");
        assert_eq!(read(&file).expect("read"), None);
    }

    #[test]
    fn refuses_symlinked_files() {
        let root = tempfile::tempdir().expect("tempdir");
        let real = root.path().join("real");
        std::fs::write(&real, b"x").expect("write");
        let link = root.path().join("link.jar");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let e = read(&link).expect_err("symlink");
        assert!(matches!(e, CacheError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("link.jar"), "{e}");
        let e = ensure_dir(&real).expect_err("file as dir");
        assert!(
            matches!(e, CacheError::Io { .. } | CacheError::WrongType { .. }),
            "{e}"
        );
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        // Another user's planted file in a world-writable cache (e.g. under /tmp) is
        // never read, and nothing is written there.
        let root = tempfile::tempdir().expect("tempdir");
        let open_dir = root.path().join("shared");
        std::fs::create_dir(&open_dir).expect("mkdir");
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o1777))
            .expect("chmod");
        let e = ensure_dir(&open_dir).expect_err("world-writable");
        assert!(matches!(e, CacheError::Shared { mode: 0o1777, .. }), "{e}");
        let planted = open_dir.join("x.jar");
        std::fs::write(&planted, b"planted").expect("write");
        let e = read(&planted).expect_err("planted");
        assert!(matches!(e, CacheError::Shared { .. }), "{e}");
        let e = write_atomic(&open_dir.join("y.jar"), b"x").expect_err("write");
        assert!(matches!(e, CacheError::Shared { .. }), "{e}");
        assert!(!open_dir.join("y.jar").exists());
    }

    #[test]
    fn refuses_a_directory_of_another_user() {
        // /  is root's; as root, test with a directory handed to another uid instead.
        if euid() != 0 {
            let e = ensure_dir(Path::new("/")).expect_err("root's dir");
            assert!(matches!(e, CacheError::NotOurs { owner: 0, .. }), "{e}");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(12345), None).expect("chown");
        let e = ensure_dir(&theirs).expect_err("not ours");
        assert!(matches!(e, CacheError::NotOurs { owner: 12345, .. }), "{e}");
        assert!(e.to_string().contains("LABCTL_CACHE_DIR"), "{e}");
        let f = root.path().join("f");
        std::fs::write(&f, b"x").expect("write");
        std::os::unix::fs::chown(&f, Some(12345), None).expect("chown");
        let e = read(&f).expect_err("file not ours");
        assert!(matches!(e, CacheError::NotOurs { owner: 12345, .. }), "{e}");
    }
}
