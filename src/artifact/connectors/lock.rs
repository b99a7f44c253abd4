//! The connector lock file (`flink/connectors.lock`): what it says, parsed strictly.
//!
//! The lock is the only input that says which jars make up the connector uber jar: one
//! `artifact` line per Maven artifact (coordinates, size, SHA-256), `filter` lines that
//! drop paths from one artifact's contents, and the `pom-sha256` of the pom it was
//! resolved from. Every error names the file and the line and says what is wrong.
//!
//! This module must not know where artifacts come from (repositories, the network,
//! the cache) nor how they are merged: it only reads text and matches path globs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Maven coordinates `group:artifact:version` (jar packaging, no classifier).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coord {
    pub group: String,
    pub artifact: String,
    pub version: String,
}

impl Coord {
    /// Parse `group:artifact:version`; `None` unless there are exactly three non-empty
    /// parts made only of characters Maven allows in coordinates.
    pub fn parse(s: &str) -> Option<Coord> {
        let mut parts = s.split(':');
        let (g, a, v) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with('.')
                && !p.contains("..")
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
        };
        (ok(g) && ok(a) && ok(v)).then(|| Coord {
            group: g.to_string(),
            artifact: a.to_string(),
            version: v.to_string(),
        })
    }

    /// `artifact-version.jar`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.jar", self.artifact, self.version)
    }

    /// The jar's path in a Maven-layout repository:
    /// `group/with/slashes/artifact/version/artifact-version.jar`.
    pub fn layout_path(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.group.replace('.', "/"),
            self.artifact,
            self.version,
            self.file_name()
        )
    }
}

impl fmt::Display for Coord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.group, self.artifact, self.version)
    }
}

/// One `artifact` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedArtifact {
    pub coord: Coord,
    /// Size of the jar in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the jar.
    pub sha256: String,
    /// 1-based line in the lock file.
    pub line: usize,
}

/// One `filter` line: entries of `coord`'s jar whose path matches `glob` are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub coord: Coord,
    pub glob: Glob,
    pub line: usize,
}

/// A parsed lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// SHA-256 of the pom the lock was resolved from.
    pub pom_sha256: String,
    /// The artifacts, in the order of the file.
    pub artifacts: Vec<LockedArtifact>,
    pub filters: Vec<Filter>,
}

impl Lock {
    /// The filters that apply to one artifact.
    pub fn filters_for<'a>(&'a self, coord: &'a Coord) -> impl Iterator<Item = &'a Glob> + 'a {
        self.filters
            .iter()
            .filter(move |f| &f.coord == coord)
            .map(|f| &f.glob)
    }

    /// Sum of the artifacts' sizes.
    pub fn total_size(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size).sum()
    }
}

/// What is wrong with a lock file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {kind}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct LockError {
    pub path: PathBuf,
    /// 1-based line; 0 when the problem is the file as a whole.
    pub line: usize,
    pub kind: LockErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockErrorKind {
    #[error("cannot read the lock file ({0}); regenerate it with scripts/lock-connectors")]
    Io(String),
    #[error("the lock file is not UTF-8 text")]
    NotText,
    #[error("unknown line kind `{0}` (expected `pom-sha256`, `filter` or `artifact`)")]
    UnknownKind(String),
    #[error("`{kind}` needs {expected} field(s) after it, found {found}")]
    FieldCount {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("`{0}` is not Maven coordinates group:artifact:version")]
    BadCoordinates(String),
    #[error("`{0}` is not a size in bytes")]
    BadSize(String),
    #[error("`{0}` is not a SHA-256 (64 lowercase hex digits)")]
    BadSha256(String),
    #[error("`{glob}` is not a usable path glob: {reason}")]
    BadGlob { glob: String, reason: &'static str },
    #[error("{group}:{artifact} is already locked at line {first_line} (each artifact once, one version)")]
    DuplicateArtifact {
        group: String,
        artifact: String,
        first_line: usize,
    },
    #[error("the filter names {0}, which no `artifact` line locks")]
    FilterForUnknownArtifact(Coord),
    #[error("`pom-sha256` appears twice (first at line {0})")]
    DuplicatePomSha(usize),
    #[error("no `pom-sha256` line; regenerate the lock with scripts/lock-connectors")]
    MissingPomSha,
    #[error("no `artifact` line; regenerate the lock with scripts/lock-connectors")]
    NoArtifacts,
}

/// SHA-256 (lowercase hex) of the lock file's bytes: the key of the assembled jar.
pub fn lock_key(bytes: &[u8]) -> String {
    super::digest::sha256_hex(bytes)
}

/// Read and parse a lock file; returns the lock and its [`lock_key`].
pub fn load_lock(path: &Path) -> Result<(Lock, String), LockError> {
    let err = |kind| LockError {
        path: path.to_path_buf(),
        line: 0,
        kind,
    };
    let bytes = std::fs::read(path).map_err(|e| err(LockErrorKind::Io(e.to_string())))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| err(LockErrorKind::NotText))?;
    let lock = parse_lock(text, path)?;
    Ok((lock, lock_key(&bytes)))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the lines of a lock file have given so far.
#[derive(Default)]
struct Parsed {
    /// The pom's SHA-256 and its line.
    pom: Option<(String, usize)>,
    artifacts: Vec<LockedArtifact>,
    /// Each artifact's group and name, with its line.
    seen: BTreeMap<(String, String), usize>,
    /// `filter` lines (coordinates, glob, line), checked once every artifact is read.
    pending_filters: Vec<(String, String, usize)>,
}

/// That a lock line of `kind` has `expected` fields after its kind.
fn field_count(kind: &'static str, rest: &[&str], expected: usize) -> Result<(), LockErrorKind> {
    if rest.len() == expected {
        Ok(())
    } else {
        Err(LockErrorKind::FieldCount {
            kind,
            expected,
            found: rest.len(),
        })
    }
}

/// One non-comment line `n` of a lock file: its kind and the fields after it.
fn parse_line(kind: &str, rest: &[&str], n: usize, p: &mut Parsed) -> Result<(), LockErrorKind> {
    match kind {
        "pom-sha256" => {
            field_count("pom-sha256", rest, 1)?;
            if let Some((_, first)) = p.pom {
                return Err(LockErrorKind::DuplicatePomSha(first));
            }
            if !is_sha256(rest[0]) {
                return Err(LockErrorKind::BadSha256(rest[0].to_string()));
            }
            p.pom = Some((rest[0].to_string(), n));
        }
        "filter" => {
            field_count("filter", rest, 2)?;
            p.pending_filters
                .push((rest[0].to_string(), rest[1].to_string(), n));
        }
        "artifact" => {
            let artifact = parse_artifact(rest, n, &mut p.seen)?;
            p.artifacts.push(artifact);
        }
        other => return Err(LockErrorKind::UnknownKind(other.to_string())),
    }
    Ok(())
}

/// An `artifact <coordinates> <size> <sha256>` line; `seen` holds the group and name of
/// the artifacts before it, so one listed twice is refused.
fn parse_artifact(
    rest: &[&str],
    n: usize,
    seen: &mut BTreeMap<(String, String), usize>,
) -> Result<LockedArtifact, LockErrorKind> {
    field_count("artifact", rest, 3)?;
    let coord =
        Coord::parse(rest[0]).ok_or_else(|| LockErrorKind::BadCoordinates(rest[0].to_string()))?;
    let size = rest[1]
        .parse::<u64>()
        .ok()
        .filter(|s| rest[1].bytes().all(|b| b.is_ascii_digit()) && *s > 0)
        .ok_or_else(|| LockErrorKind::BadSize(rest[1].to_string()))?;
    if !is_sha256(rest[2]) {
        return Err(LockErrorKind::BadSha256(rest[2].to_string()));
    }
    let ga = (coord.group.clone(), coord.artifact.clone());
    if let Some(first_line) = seen.get(&ga) {
        return Err(LockErrorKind::DuplicateArtifact {
            group: ga.0,
            artifact: ga.1,
            first_line: *first_line,
        });
    }
    seen.insert(ga, n);
    Ok(LockedArtifact {
        coord,
        size,
        sha256: rest[2].to_string(),
        line: n,
    })
}

/// The `filter` lines against the artifacts: each must name a locked artifact and hold
/// a valid glob. An error comes with its line.
fn resolve_filters(
    pending: Vec<(String, String, usize)>,
    artifacts: &[LockedArtifact],
) -> Result<Vec<Filter>, (usize, LockErrorKind)> {
    let mut filters = Vec::new();
    for (c, g, n) in pending {
        let coord = Coord::parse(&c).ok_or((n, LockErrorKind::BadCoordinates(c)))?;
        if !artifacts.iter().any(|a| a.coord == coord) {
            return Err((n, LockErrorKind::FilterForUnknownArtifact(coord)));
        }
        let glob =
            Glob::new(&g).map_err(|reason| (n, LockErrorKind::BadGlob { glob: g, reason }))?;
        filters.push(Filter {
            coord,
            glob,
            line: n,
        });
    }
    Ok(filters)
}

/// Parse the text of a lock file; `path` is only used in messages.
pub fn parse_lock(text: &str, path: &Path) -> Result<Lock, LockError> {
    let at = |line: usize, kind| LockError {
        path: path.to_path_buf(),
        line,
        kind,
    };
    let mut parsed = Parsed::default();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let kind = fields.next().unwrap_or_default();
        let rest: Vec<&str> = fields.collect();
        parse_line(kind, &rest, n, &mut parsed).map_err(|k| at(n, k))?;
    }
    let Parsed {
        pom,
        artifacts,
        pending_filters,
        ..
    } = parsed;
    // Filters may come before the artifact they name, so they are checked at the end.
    let filters = resolve_filters(pending_filters, &artifacts).map_err(|(n, k)| at(n, k))?;
    let Some((pom_sha256, _)) = pom else {
        return Err(at(0, LockErrorKind::MissingPomSha));
    };
    if artifacts.is_empty() {
        return Err(at(0, LockErrorKind::NoArtifacts));
    }
    Ok(Lock {
        path: path.to_path_buf(),
        pom_sha256,
        artifacts,
        filters,
    })
}

/// A path glob over `/`-separated entry names: `**` as a whole segment matches any
/// number of segments (zero included), `*` any run of characters within a segment,
/// `?` one character within a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    AnyDepth,
    Pattern(Vec<char>),
}

impl Glob {
    /// Compile a glob; the error says why it cannot be used.
    pub fn new(text: &str) -> Result<Glob, &'static str> {
        if text.is_empty() {
            return Err("it is empty");
        }
        if text.starts_with('/') || text.contains('\\') {
            return Err("entry paths are relative and use `/`");
        }
        let mut segments = Vec::new();
        for seg in text.split('/') {
            match seg {
                "" => return Err("it has an empty path segment"),
                ".." | "." => return Err("`.` and `..` segments never match an entry"),
                "**" => segments.push(Segment::AnyDepth),
                s if s.contains("**") => return Err("`**` must be a whole path segment"),
                s => segments.push(Segment::Pattern(s.chars().collect())),
            }
        }
        Ok(Glob {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether an entry name (files; a trailing `/` of a directory is ignored) matches.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('/').unwrap_or(name);
        let parts: Vec<&str> = name.split('/').collect();
        match_segments(&self.segments, &parts)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn match_segments(glob: &[Segment], path: &[&str]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((Segment::Pattern(p), rest)) => match path.split_first() {
            Some((first, tail)) => {
                let s: Vec<char> = first.chars().collect();
                match_segment(p, &s) && match_segments(rest, tail)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one segment; iterative with one backtrack point.
fn match_segment(p: &[char], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "e6dc168a86c57f5eef3f8fb8752fc92cfd9012ebb16ff6b93086142cf8cea3fe";

    fn parse(text: &str) -> Result<Lock, LockError> {
        parse_lock(text, Path::new("flink/connectors.lock"))
    }

    fn good() -> String {
        format!(
            "# generated by scripts/lock-connectors from flink/pom.xml; do not edit\n\
             pom-sha256 {SHA_A}\n\
             filter org.apache.flink:flink-connector-kinesis:4.3.0-1.19 org/apache/flink/connector/aws/**\n\
             artifact org.apache.flink:flink-connector-kinesis:4.3.0-1.19 60000000 {SHA_A}\n\
             \n\
             artifact org.apache.flink:flink-connector-aws-base:4.3.0-1.19 31104 {SHA_A}\n"
        )
    }

    #[test]
    fn parses_a_good_lock() {
        let lock = parse(&good()).expect("parses");
        assert_eq!(lock.pom_sha256, SHA_A);
        assert_eq!(lock.artifacts.len(), 2);
        assert_eq!(
            lock.artifacts[1].coord.to_string(),
            "org.apache.flink:flink-connector-aws-base:4.3.0-1.19"
        );
        assert_eq!(lock.artifacts[1].size, 31104);
        assert_eq!(lock.artifacts[1].line, 6);
        assert_eq!(lock.filters.len(), 1);
        assert_eq!(lock.filters[0].line, 3);
        assert_eq!(lock.total_size(), 60031104);
        let k = &lock.artifacts[0].coord;
        assert_eq!(lock.filters_for(k).count(), 1);
        assert_eq!(lock.filters_for(&lock.artifacts[1].coord).count(), 0);
        assert_eq!(
            lock.artifacts[1].coord.layout_path(),
            "org/apache/flink/flink-connector-aws-base/4.3.0-1.19/flink-connector-aws-base-4.3.0-1.19.jar"
        );
    }

    #[test]
    fn errors_name_file_line_and_problem() {
        let cases: Vec<(String, usize, &str)> = vec![
            (good().replace("60000000", "60M"), 4, "`60M` is not a size"),
            (good().replace("31104", "0"), 6, "`0` is not a size"),
            (
                good().replacen(&format!("31104 {SHA_A}"), "31104 ABC", 1),
                6,
                "`ABC` is not a SHA-256",
            ),
            (
                good().replace(
                    "artifact org.apache.flink:flink-connector-aws-base:4.3.0-1.19",
                    "artifact org.apache.flink:flink-connector-aws-base",
                ),
                6,
                "not Maven coordinates",
            ),
            (good() + "jar x\n", 7, "unknown line kind `jar`"),
            (
                good()
                    + &format!("artifact org.apache.flink:flink-connector-aws-base:9 1 {SHA_A}\n"),
                7,
                "already locked at line 6",
            ),
            (
                good() + "filter a:b:c x/**\n",
                7,
                "no `artifact` line locks",
            ),
            (
                good() + "filter org.apache.flink:flink-connector-aws-base:4.3.0-1.19 a**/b\n",
                7,
                "whole path segment",
            ),
            (
                good() + "filter org.apache.flink:flink-connector-aws-base:4.3.0-1.19 ../x\n",
                7,
                "never match",
            ),
            (
                good() + &format!("pom-sha256 {SHA_A}\n"),
                7,
                "appears twice (first at line 2)",
            ),
            (
                good() + "artifact a:b:c 12\n",
                7,
                "needs 3 field(s) after it, found 2",
            ),
        ];
        for (text, line, needle) in cases {
            let e = parse(&text).expect_err(needle);
            assert_eq!(e.line, line, "{e}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("flink/connectors.lock:{line}: ")),
                "{msg}"
            );
            assert!(msg.contains(needle), "{msg} lacks {needle}");
        }
        let e = parse(&good().replace(&format!("pom-sha256 {SHA_A}\n"), "")).expect_err("no pom");
        assert_eq!(e.kind, LockErrorKind::MissingPomSha);
        assert!(e
            .to_string()
            .starts_with("flink/connectors.lock: no `pom-sha256`"));
        let e = parse(&format!("pom-sha256 {SHA_A}\n")).expect_err("empty");
        assert_eq!(e.kind, LockErrorKind::NoArtifacts);
    }

    #[test]
    fn load_gives_the_key_of_the_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("connectors.lock");
        std::fs::write(&p, good()).expect("write");
        let (lock, key) = load_lock(&p).expect("load");
        assert_eq!(lock.artifacts.len(), 2);
        assert_eq!(key, lock_key(good().as_bytes()));
        assert_eq!(key.len(), 64);
        assert_ne!(key, lock_key((good() + "# x\n").as_bytes()));
        let e = load_lock(&dir.path().join("missing.lock")).expect_err("missing");
        assert!(matches!(e.kind, LockErrorKind::Io(_)), "{e}");
    }

    #[test]
    fn globs_match_like_the_shade_plugin_filters() {
        let g = Glob::new("org/apache/flink/connector/aws/**").expect("glob");
        assert!(g.matches("org/apache/flink/connector/aws/A.class"));
        assert!(g.matches("org/apache/flink/connector/aws/util/B.class"));
        assert!(g.matches("org/apache/flink/connector/aws/"));
        assert!(!g.matches("org/apache/flink/connector/awsx/A.class"));
        assert!(!g.matches("org/apache/flink/connector/A.class"));
        let g = Glob::new("**/*.proto").expect("glob");
        assert!(g.matches("a.proto") && g.matches("x/y/a.proto"));
        assert!(!g.matches("x/y/a.protox"));
        let g = Glob::new("META-INF/*.S?").expect("glob");
        assert!(g.matches("META-INF/X.SF") && !g.matches("META-INF/a/X.SF"));
        let g = Glob::new("a/*b*c/d").expect("glob");
        assert!(g.matches("a/xxbyyc/d") && g.matches("a/bc/d") && !g.matches("a/cb/d"));
        for bad in ["", "/abs", "a\\b", "a//b", "a/**b"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }
}
