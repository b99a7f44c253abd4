//! Merging verified jars into one uber jar, the way the maven-shade-plugin does without
//! relocation, and reproducibly.
//!
//! Rules, applied to each jar's entries:
//! - directory entries are dropped (the output gets one entry for every parent
//!   directory of its files);
//! - signature files (`META-INF/*.SF`, `*.DSA`, `*.RSA`, `*.EC`), `META-INF/INDEX.LIST`
//!   and `module-info.class` (also under `META-INF/versions/<n>/`) are dropped;
//! - entries matching one of the jar's `filter` globs from the lock are dropped;
//! - `META-INF/MANIFEST.MF` is replaced by a minimal one (`Multi-Release: true` is kept
//!   when any input declares it, so versioned classes still load);
//! - `META-INF/services/*` files are concatenated: comments and blank lines dropped,
//!   each provider once, in order of first appearance;
//! - `LICENSE*` / `NOTICE*` files (at the root or directly under `META-INF/`) are
//!   concatenated, each distinct text once;
//! - any other path present in several jars: identical bytes give one copy; different
//!   bytes are an error for a `.class` file ([`MergeError::ClassConflict`], naming both
//!   jars) and otherwise keep the copy of the jar whose coordinates sort first (logged at
//!   debug level).
//!
//! Jars are processed in the order of their coordinates (not the lock's order), entries
//! are written sorted by name after `META-INF/` and its manifest, with fixed timestamps
//! (1980-01-01 00:00), modes (0644 files, 0755 directories), system (Unix) and deflate
//! level (6): the same set of jars gives the same bytes whatever their order.
//!
//! Untrusted input is bounded: each entry's decompressed size, the total decompressed
//! bytes and the number of entries are capped ([`Limits`]), and entry names that could
//! escape a directory (`..`, absolute, backslashes, NUL) are refused.
//!
//! This module must not know where the jars come from nor that a lock file exists: it
//! gets bytes, coordinates for messages, and globs.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipWriter};

use super::lock::{Coord, Glob};

/// One jar to merge.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub coord: &'a Coord,
    pub bytes: &'a [u8],
    /// Entries matching any of these are dropped from this jar.
    pub drop: Vec<&'a Glob>,
}

/// Caps on what reading untrusted jars may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes of one entry.
    pub entry_bytes: u64,
    /// Decompressed bytes read over the whole merge.
    pub total_bytes: u64,
    /// Entries over all jars.
    pub entries: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            entry_bytes: 256 << 20,
            total_bytes: 1 << 30,
            entries: 500_000,
        }
    }
}

/// Why the jars could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("{coord} is not a jar (not a readable zip archive: {reason})")]
    NotZip { coord: String, reason: String },
    #[error("{coord}: cannot read entry {name:?}: {reason}")]
    BadEntry {
        coord: String,
        name: String,
        reason: String,
    },
    #[error("{coord}: refusing entry name {name:?}: {reason}")]
    UnsafeName {
        coord: String,
        name: String,
        reason: &'static str,
    },
    #[error("{coord}: entry {name:?} decompresses to more than {limit} bytes; refused")]
    EntryTooLarge {
        coord: String,
        name: String,
        limit: u64,
    },
    #[error("the jars decompress to more than {limit} bytes in total; refused")]
    TotalTooLarge { limit: u64 },
    #[error("the jars hold more than {limit} entries in total; refused")]
    TooManyEntries { limit: usize },
    #[error("{path} is in both {first} and {second} with different bytes: the two artifacts were built against different versions of the same class, so one of them would fail at run time; fix flink/pom.xml (align versions or exclude one copy) and regenerate the lock")]
    ClassConflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("writing the merged jar: {0}")]
    Write(String),
}

/// The manifest written into every merged jar.
fn manifest(multi_release: bool) -> Vec<u8> {
    let mut m = String::from("Manifest-Version: 1.0\r\nCreated-By: labctl\r\n");
    if multi_release {
        m.push_str("Multi-Release: true\r\n");
    }
    m.push_str("\r\n");
    m.into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Drop,
    Manifest,
    Service,
    Notice,
    Plain,
}

fn classify(name: &str) -> Kind {
    if name == "module-info.class" {
        return Kind::Drop;
    }
    if let Some(rest) = name.strip_prefix("META-INF/versions/") {
        if rest.split_once('/').map(|(_, f)| f) == Some("module-info.class") {
            return Kind::Drop;
        }
    }
    let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
    let upper = file.to_ascii_uppercase();
    if dir == "META-INF" {
        if upper == "MANIFEST.MF" {
            return Kind::Manifest;
        }
        if upper == "INDEX.LIST"
            || [".SF", ".DSA", ".RSA", ".EC"]
                .iter()
                .any(|s| upper.ends_with(s))
        {
            return Kind::Drop;
        }
    }
    if dir == "META-INF/services" && !file.is_empty() {
        return Kind::Service;
    }
    if (dir.is_empty() || dir == "META-INF")
        && (upper.starts_with("LICENSE") || upper.starts_with("NOTICE"))
    {
        return Kind::Notice;
    }
    Kind::Plain
}

/// Why an entry name is unsafe, if it is.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains('\\') {
        Some("it contains a backslash")
    } else if name.starts_with('/') {
        Some("it is an absolute path")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.split('/').any(|s| s == "..") {
        Some("it contains a `..` component")
    } else if name.split('/').next().is_some_and(|s| s.contains(':')) {
        Some("it starts with a drive or scheme prefix")
    } else {
        None
    }
}

/// Where a kept entry's bytes are: jar `input` (in coordinate order), entry `index`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    input: usize,
    index: usize,
    size: u64,
    crc32: u32,
}

enum Out {
    Dir,
    From(Slot),
    Data(Vec<u8>),
}

struct Reader<'a> {
    archives: Vec<ZipArchive<Cursor<&'a [u8]>>>,
    coords: Vec<&'a Coord>,
    limits: Limits,
    used: u64,
}

impl Reader<'_> {
    fn read(&mut self, input: usize, index: usize, name: &str) -> Result<Vec<u8>, MergeError> {
        let coord = self.coords[input];
        let bad = |reason: String| MergeError::BadEntry {
            coord: coord.to_string(),
            name: name.to_string(),
            reason,
        };
        let limit = self.limits.entry_bytes;
        let mut f = self.archives[input]
            .by_index(index)
            .map_err(|e| bad(e.to_string()))?;
        let hint = usize::try_from(f.size().min(1 << 20)).unwrap_or(0);
        let mut out = Vec::with_capacity(hint);
        (&mut f)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
        let len = out.len() as u64;
        if len > limit {
            return Err(MergeError::EntryTooLarge {
                coord: coord.to_string(),
                name: name.to_string(),
                limit,
            });
        }
        self.used = self.used.saturating_add(len);
        if self.used > self.limits.total_bytes {
            return Err(MergeError::TotalTooLarge {
                limit: self.limits.total_bytes,
            });
        }
        Ok(out)
    }
}

/// Service provider lines of a `META-INF/services` file: comments (from `#`) and
/// surrounding blanks removed, empty lines skipped.
fn providers(data: &[u8]) -> impl Iterator<Item = String> + '_ {
    data.split(|b| *b == b'\n').filter_map(|line| {
        let line = String::from_utf8_lossy(line);
        let line = line.split('#').next().unwrap_or("").trim();
        (!line.is_empty()).then(|| line.to_string())
    })
}

fn declares_multi_release(manifest: &[u8]) -> bool {
    String::from_utf8_lossy(manifest).lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("Multi-Release") && v.trim().eq_ignore_ascii_case("true")
        })
    })
}

fn file_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(0o644)
        .system(System::Unix)
        .large_file(false)
}

fn dir_options() -> SimpleFileOptions {
    file_options()
        .compression_method(CompressionMethod::Stored)
        .compression_level(None)
        .unix_permissions(0o755)
}

/// What the entries of every jar add up to, before the merged jar is laid out.
#[derive(Default)]
struct Gathered {
    /// Plain entries: where the kept copy of each is.
    files: BTreeMap<String, Slot>,
    /// `META-INF/services` files: provider lines in first-seen order, and the set of them.
    services: BTreeMap<String, (Vec<String>, HashSet<String>)>,
    /// Notice and license texts, each distinct text once.
    notices: BTreeMap<String, Vec<Vec<u8>>>,
    /// Whether any manifest declares `Multi-Release: true`.
    multi_release: bool,
}

impl Gathered {
    /// Take in entry `name` of the jar with coordinates `coord`, by its kind.
    fn add(
        &mut self,
        reader: &mut Reader<'_>,
        slot: Slot,
        name: String,
        coord: &Coord,
    ) -> Result<(), MergeError> {
        match classify(&name) {
            Kind::Drop => {}
            Kind::Manifest => {
                let data = reader.read(slot.input, slot.index, &name)?;
                self.multi_release |= declares_multi_release(&data);
            }
            Kind::Service => {
                let data = reader.read(slot.input, slot.index, &name)?;
                let (lines, seen) = self.services.entry(name).or_default();
                for p in providers(&data) {
                    if seen.insert(p.clone()) {
                        lines.push(p);
                    }
                }
            }
            Kind::Notice => {
                let data = reader.read(slot.input, slot.index, &name)?;
                let texts = self.notices.entry(name).or_default();
                if !texts.contains(&data) {
                    texts.push(data);
                }
            }
            Kind::Plain => {
                let Some(first) = self.files.get(&name).copied() else {
                    self.files.insert(name, slot);
                    return Ok(());
                };
                let same = first.size == slot.size
                    && first.crc32 == slot.crc32
                    && reader.read(first.input, first.index, &name)?
                        == reader.read(slot.input, slot.index, &name)?;
                if same {
                    return Ok(());
                }
                let first_coord = reader.coords[first.input];
                if name.ends_with(".class") {
                    return Err(MergeError::ClassConflict {
                        path: name,
                        first: first_coord.to_string(),
                        second: coord.to_string(),
                    });
                }
                tracing::debug!(
                    path = name,
                    kept = %first_coord,
                    dropped = %coord,
                    "a resource differs between two connector artifacts; keeping the copy of the artifact whose coordinates sort first"
                );
            }
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// Entry `index` of jar `input` without reading its data: name, whether it is a
    /// directory, size and CRC-32.
    fn entry(
        &mut self,
        input: usize,
        index: usize,
    ) -> Result<(String, bool, u64, u32), MergeError> {
        let coord = self.coords[input];
        let f = self.archives[input]
            .by_index_raw(index)
            .map_err(|e| MergeError::BadEntry {
                coord: coord.to_string(),
                name: format!("#{index}"),
                reason: e.to_string(),
            })?;
        let name = f
            .name()
            .map_err(|e| MergeError::BadEntry {
                coord: coord.to_string(),
                name: String::from_utf8_lossy(f.name_raw()).into_owned(),
                reason: e.to_string(),
            })?
            .into_owned();
        Ok((name, f.is_dir(), f.size(), f.crc32()))
    }
}

/// Open every jar (in coordinate order) for reading within `limits`.
fn open_all<'a>(order: &[&Input<'a>], limits: &Limits) -> Result<Reader<'a>, MergeError> {
    let mut reader = Reader {
        archives: Vec::with_capacity(order.len()),
        coords: order.iter().map(|i| i.coord).collect(),
        limits: *limits,
        used: 0,
    };
    for input in order {
        let archive =
            ZipArchive::new(Cursor::new(input.bytes)).map_err(|e| MergeError::NotZip {
                coord: input.coord.to_string(),
                reason: e.to_string(),
            })?;
        reader.archives.push(archive);
    }
    Ok(reader)
}

/// Read every entry's name and size, refuse unsafe or oversized ones, apply the lock's
/// filters and take in the rest.
fn gather(
    reader: &mut Reader<'_>,
    order: &[&Input<'_>],
    limits: &Limits,
) -> Result<Gathered, MergeError> {
    let mut g = Gathered::default();
    let mut count = 0usize;
    for (ai, input) in order.iter().enumerate() {
        let coord = input.coord;
        for ei in 0..reader.archives[ai].len() {
            count += 1;
            if count > limits.entries {
                return Err(MergeError::TooManyEntries {
                    limit: limits.entries,
                });
            }
            let (name, is_dir, size, crc32) = reader.entry(ai, ei)?;
            if let Some(reason) = unsafe_name(&name) {
                return Err(MergeError::UnsafeName {
                    coord: coord.to_string(),
                    name,
                    reason,
                });
            }
            if is_dir || name.ends_with('/') {
                continue;
            }
            if size > limits.entry_bytes {
                return Err(MergeError::EntryTooLarge {
                    coord: coord.to_string(),
                    name,
                    limit: limits.entry_bytes,
                });
            }
            if let Some(glob) = input.drop.iter().find(|glob| glob.matches(&name)) {
                tracing::trace!(%coord, name, glob = %glob, "dropped by the lock's filter");
                continue;
            }
            let slot = Slot {
                input: ai,
                index: ei,
                size,
                crc32,
            };
            g.add(reader, slot, name, coord)?;
        }
    }
    Ok(g)
}

const MANIFEST: &str = "META-INF/MANIFEST.MF";

/// The merged jar's entries by name: kept files, merged services and notices, every
/// parent directory, and the manifest.
fn layout(g: Gathered) -> BTreeMap<String, Out> {
    let mut out: BTreeMap<String, Out> = BTreeMap::new();
    for (name, slot) in g.files {
        out.insert(name, Out::From(slot));
    }
    for (name, (lines, _)) in g.services {
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        out.insert(name, Out::Data(text.into_bytes()));
    }
    for (name, texts) in g.notices {
        let mut data = Vec::new();
        for t in texts {
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(&t);
            if !data.ends_with(b"\n") {
                data.push(b'\n');
            }
        }
        out.insert(name, Out::Data(data));
    }
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for name in out.keys() {
        let mut end = 0;
        while let Some(i) = name[end..].find('/') {
            end += i + 1;
            dirs.insert(name[..end].to_string());
        }
    }
    dirs.insert("META-INF/".to_string());
    for d in dirs {
        out.insert(d, Out::Dir);
    }
    out.insert(MANIFEST.to_string(), Out::Data(manifest(g.multi_release)));
    out
}

/// Write the entries as a jar: the manifest first, as java.util.jar.JarInputStream
/// expects; the rest by name.
fn write_jar(reader: &mut Reader<'_>, out: &BTreeMap<String, Out>) -> Result<Vec<u8>, MergeError> {
    let write_err = |e: &dyn std::fmt::Display| MergeError::Write(e.to_string());
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let first = ["META-INF/", MANIFEST];
    let rest = out.keys().filter(|k| !first.contains(&k.as_str())).cloned();
    let names: Vec<String> = first.iter().map(|s| s.to_string()).chain(rest).collect();
    for name in names {
        match out.get(&name) {
            Some(Out::Dir) => w
                .add_directory(name.as_str(), dir_options())
                .map_err(|e| write_err(&e))?,
            Some(Out::From(slot)) => {
                let data = reader.read(slot.input, slot.index, &name)?;
                w.start_file(name.as_str(), file_options())
                    .map_err(|e| write_err(&e))?;
                w.write_all(&data).map_err(|e| write_err(&e))?;
            }
            Some(Out::Data(data)) => {
                w.start_file(name.as_str(), file_options())
                    .map_err(|e| write_err(&e))?;
                w.write_all(data).map_err(|e| write_err(&e))?;
            }
            None => {}
        }
    }
    Ok(w.finish().map_err(|e| write_err(&e))?.into_inner())
}

/// Merge jars into one (see the module documentation for the rules).
pub fn merge(inputs: &[Input<'_>], limits: &Limits) -> Result<Vec<u8>, MergeError> {
    let mut order: Vec<&Input<'_>> = inputs.iter().collect();
    order.sort_by(|a, b| a.coord.cmp(b.coord));
    let mut reader = open_all(&order, limits)?;
    let gathered = gather(&mut reader, &order, limits)?;
    let out = layout(gathered);
    write_jar(&mut reader, &out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::digest::sha256_hex;
    use super::*;

    /// A jar with the given entries (alternately deflated and stored, with a non-fixed
    /// timestamp, so the output's fixed settings are what the tests see).
    pub(crate) fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        for (i, (name, data)) in entries.iter().enumerate() {
            let method = if i % 2 == 0 {
                CompressionMethod::Deflated
            } else {
                CompressionMethod::Stored
            };
            let when = DateTime::from_date_and_time(2024, 4, 19, 10, 57, 0).expect("date");
            let o = SimpleFileOptions::default()
                .compression_method(method)
                .last_modified_time(when)
                .unix_permissions(0o664);
            if name.ends_with('/') {
                z.add_directory(*name, o).expect("dir");
            } else {
                z.start_file(*name, o).expect("entry");
                z.write_all(data).expect("write");
            }
        }
        z.finish().expect("finish").into_inner()
    }

    pub(crate) fn coord(a: &str) -> Coord {
        Coord::parse(&format!("org.example:{a}:1.0")).expect("coord")
    }

    fn inputs<'a>(jars: &'a [(Coord, Vec<u8>)]) -> Vec<Input<'a>> {
        jars.iter()
            .map(|(c, b)| Input {
                coord: c,
                bytes: b,
                drop: Vec::new(),
            })
            .collect()
    }

    fn run(jars: &[(Coord, Vec<u8>)]) -> Result<Vec<u8>, MergeError> {
        merge(&inputs(jars), &Limits::default())
    }

    fn entries(zip: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut z = ZipArchive::new(Cursor::new(zip)).expect("zip");
        let mut out = BTreeMap::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).expect("entry");
            let mut d = Vec::new();
            f.read_to_end(&mut d).expect("read");
            out.insert(f.name().expect("name").into_owned(), d);
        }
        out
    }

    fn names_in_order(zip: &[u8]) -> Vec<String> {
        let mut z = ZipArchive::new(Cursor::new(zip)).expect("zip");
        (0..z.len())
            .map(|i| {
                z.by_index_raw(i)
                    .expect("entry")
                    .name()
                    .expect("name")
                    .into_owned()
            })
            .collect()
    }

    const F: &str = "META-INF/services/org.apache.flink.table.factories.Factory";

    fn kinesis() -> Vec<u8> {
        jar(&[
            ("META-INF/", b""),
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\r\nBuilt-By: x\r\n\r\n",
            ),
            (
                F,
                b"# Licensed to the ASF\n\norg.k.KinesisFactory\norg.common.Shared # dup\n",
            ),
            ("org/k/KinesisFactory.class", b"k"),
            ("org/common/Shared.class", b"same bytes"),
            ("META-INF/NOTICE", b"Kinesis notice"),
            ("conf/defaults.properties", b"from kinesis"),
        ])
    }

    fn firehose() -> Vec<u8> {
        jar(&[
            (F, b"org.f.FirehoseFactory\r\norg.common.Shared\n"),
            ("org/f/FirehoseFactory.class", b"f"),
            ("org/common/Shared.class", b"same bytes"),
            ("META-INF/NOTICE", b"Firehose notice\n"),
            ("conf/defaults.properties", b"from firehose"),
        ])
    }

    #[test]
    fn services_concatenated_once_each_without_comments() {
        let merged = run(&[
            (coord("kinesis"), kinesis()),
            (coord("firehose"), firehose()),
        ])
        .expect("merge");
        let e = entries(&merged);
        // Coordinates order: firehose < kinesis.
        assert_eq!(
            std::str::from_utf8(&e[F]).expect("utf8"),
            "org.f.FirehoseFactory\norg.common.Shared\norg.k.KinesisFactory\n"
        );
        assert_eq!(e["org/common/Shared.class"], b"same bytes");
        assert!(e.contains_key("org/k/KinesisFactory.class"));
        assert!(e.contains_key("org/f/FirehoseFactory.class"));
        assert_eq!(
            std::str::from_utf8(&e["META-INF/NOTICE"]).expect("utf8"),
            "Firehose notice\n\nKinesis notice\n"
        );
        // A differing resource: the copy of the jar whose coordinates sort first.
        assert_eq!(e["conf/defaults.properties"], b"from firehose");
        assert_eq!(
            e["META-INF/MANIFEST.MF"],
            b"Manifest-Version: 1.0\r\nCreated-By: labctl\r\n\r\n"
        );
    }

    #[test]
    fn same_set_in_any_order_gives_the_same_bytes() {
        let a = (coord("kinesis"), kinesis());
        let b = (coord("firehose"), firehose());
        let c = (
            coord("base"),
            jar(&[("org/b/B.class", b"b"), ("LICENSE", b"ASL")]),
        );
        let one = run(&[a.clone(), b.clone(), c.clone()]).expect("merge");
        let two = run(&[c.clone(), b.clone(), a.clone()]).expect("merge");
        let three = run(&[b, a, c]).expect("merge");
        assert_eq!(sha256_hex(&one), sha256_hex(&two));
        assert_eq!(sha256_hex(&one), sha256_hex(&three));
        // Fixed layout: manifest first, then sorted, every parent directory present.
        let names = names_in_order(&one);
        assert_eq!(names[..2], ["META-INF/", "META-INF/MANIFEST.MF"]);
        let mut rest = names[2..].to_vec();
        rest.sort();
        assert_eq!(rest, names[2..]);
        for d in [
            "org/",
            "org/b/",
            "org/common/",
            "META-INF/services/",
            "conf/",
        ] {
            assert!(names.iter().any(|n| n == d), "{d} in {names:?}");
        }
        // Fixed timestamps and modes.
        let mut z = ZipArchive::new(Cursor::new(&one[..])).expect("zip");
        for i in 0..z.len() {
            let f = z.by_index_raw(i).expect("entry");
            assert_eq!(
                f.last_modified(),
                Some(DateTime::DEFAULT),
                "{}",
                f.name().expect("n")
            );
            let mode = f.unix_mode().expect("mode") & 0o777;
            assert_eq!(mode, if f.is_dir() { 0o755 } else { 0o644 });
        }
    }

    #[test]
    fn signatures_module_info_index_and_manifest_are_dropped() {
        let signed = jar(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMulti-Release: true\r\nName: a/A.class\r\nSHA-256-Digest: xx\r\n\r\n"),
            ("META-INF/SIGNER.SF", b"sig"),
            ("META-INF/SIGNER.RSA", b"sig"),
            ("META-INF/other.dsa", b"sig"),
            ("META-INF/KEY.EC", b"sig"),
            ("META-INF/INDEX.LIST", b"JarIndex-Version: 1.0"),
            ("module-info.class", b"mod"),
            ("META-INF/versions/9/module-info.class", b"mod"),
            ("META-INF/versions/11/a/A.class", b"a11"),
            ("a/A.class", b"a"),
            ("a/RSA.class", b"not a signature"),
        ]);
        let merged = run(&[(coord("signed"), signed)]).expect("merge");
        let e = entries(&merged);
        let files: Vec<&str> = e
            .keys()
            .map(String::as_str)
            .filter(|n| !n.ends_with('/'))
            .collect();
        assert_eq!(
            files,
            [
                "META-INF/MANIFEST.MF",
                "META-INF/versions/11/a/A.class",
                "a/A.class",
                "a/RSA.class"
            ]
        );
        assert_eq!(
            e["META-INF/MANIFEST.MF"],
            b"Manifest-Version: 1.0\r\nCreated-By: labctl\r\nMulti-Release: true\r\n\r\n"
        );
    }

    #[test]
    fn filters_drop_entries_of_their_jar_only() {
        let glob = Glob::new("org/apache/flink/connector/aws/**").expect("glob");
        let shaded = jar(&[
            (
                "org/apache/flink/connector/aws/util/AWSGeneralUtil.class",
                b"old",
            ),
            ("org/apache/flink/connector/kinesis/Sink.class", b"k"),
        ]);
        let base = jar(&[(
            "org/apache/flink/connector/aws/util/AWSGeneralUtil.class",
            b"new",
        )]);
        let (cs, cb) = (coord("shaded"), coord("aws-base"));
        // Without the filter the two copies clash...
        let e =
            run(&[(cs.clone(), shaded.clone()), (cb.clone(), base.clone())]).expect_err("conflict");
        assert!(matches!(e, MergeError::ClassConflict { .. }), "{e}");
        // ...with it, the base jar's copy is the only one.
        let merged = merge(
            &[
                Input {
                    coord: &cs,
                    bytes: &shaded,
                    drop: vec![&glob],
                },
                Input {
                    coord: &cb,
                    bytes: &base,
                    drop: Vec::new(),
                },
            ],
            &Limits::default(),
        )
        .expect("merge");
        let e = entries(&merged);
        assert_eq!(
            e["org/apache/flink/connector/aws/util/AWSGeneralUtil.class"],
            b"new"
        );
        assert!(e.contains_key("org/apache/flink/connector/kinesis/Sink.class"));
    }

    #[test]
    fn different_class_bytes_are_an_error_naming_both_jars() {
        let x = (
            coord("streams"),
            jar(&[("org/x/Util.class", b"descriptor A")]),
        );
        let y = (
            coord("firehose"),
            jar(&[("org/x/Util.class", b"descriptor B")]),
        );
        for jars in [[x.clone(), y.clone()], [y.clone(), x.clone()]] {
            let e = run(&jars).expect_err("conflict");
            assert_eq!(
                e,
                MergeError::ClassConflict {
                    path: "org/x/Util.class".into(),
                    first: coord("firehose").to_string(),
                    second: coord("streams").to_string(),
                }
            );
            let msg = e.to_string();
            assert!(msg.contains("org/x/Util.class"), "{msg}");
            assert!(msg.contains("org.example:firehose:1.0"), "{msg}");
            assert!(msg.contains("org.example:streams:1.0"), "{msg}");
        }
        // Same size and different bytes (the CRC tells them apart) is a conflict too.
        let z = (coord("zz"), jar(&[("org/x/Util.class", b"descriptor C")]));
        assert!(run(&[x, z]).is_err());
    }

    #[test]
    fn identical_duplicates_are_kept_once() {
        let x = (
            coord("a"),
            jar(&[("p/C.class", b"same"), ("p/r.txt", b"r")]),
        );
        let y = (
            coord("b"),
            jar(&[("p/C.class", b"same"), ("p/r.txt", b"r")]),
        );
        let merged = run(&[x, y]).expect("merge");
        assert_eq!(
            names_in_order(&merged),
            [
                "META-INF/",
                "META-INF/MANIFEST.MF",
                "p/",
                "p/C.class",
                "p/r.txt"
            ]
        );
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [
            "../evil.class",
            "a/../../evil",
            "/etc/passwd",
            "a\\b.class",
            "C:/x",
        ] {
            let j = (coord("evil"), jar(&[(bad, b"x")]));
            let e = run(&[j]).expect_err(bad);
            assert!(
                matches!(&e, MergeError::UnsafeName { name, .. } if name == bad),
                "{bad}: {e}"
            );
            assert!(e.to_string().contains("org.example:evil:1.0"), "{e}");
        }
    }

    #[test]
    fn a_non_zip_is_an_error_naming_it() {
        let e = run(&[
            (coord("good"), jar(&[("a.class", b"a")])),
            (coord("html"), b"<html>404 Not Found</html>".to_vec()),
        ])
        .expect_err("not a zip");
        assert!(
            matches!(&e, MergeError::NotZip { coord: c, .. } if *c == coord("html").to_string())
        );
        assert!(
            e.to_string()
                .starts_with("org.example:html:1.0 is not a jar"),
            "{e}"
        );
    }

    #[test]
    fn decompression_and_entry_count_are_capped() {
        let big = vec![0u8; 100_000]; // deflates to a few hundred bytes
        let j = [(
            coord("bomb"),
            jar(&[("a/Big.class", &big), ("a/Small.class", b"s")]),
        )];
        let per_entry = Limits {
            entry_bytes: 50_000,
            ..Limits::default()
        };
        let e = merge(&inputs(&j), &per_entry).expect_err("entry cap");
        assert!(
            matches!(&e, MergeError::EntryTooLarge { name, limit: 50_000, .. } if name == "a/Big.class"),
            "{e}"
        );
        let total = Limits {
            total_bytes: 100_000,
            ..Limits::default()
        };
        let e = merge(&inputs(&j), &total).expect_err("total cap");
        assert_eq!(e, MergeError::TotalTooLarge { limit: 100_000 });
        let count = Limits {
            entries: 1,
            ..Limits::default()
        };
        let e = merge(&inputs(&j), &count).expect_err("count cap");
        assert_eq!(e, MergeError::TooManyEntries { limit: 1 });
        assert!(merge(&inputs(&j), &Limits::default()).is_ok());
    }

    /// A jar whose headers understate an entry's size (a zip bomb's trick).
    fn lying_jar(actual: usize, declared: u32) -> Vec<u8> {
        let mut bytes = jar(&[("a/Big.class", &vec![0u8; actual])]);
        let put =
            |b: &mut Vec<u8>, at: usize| b[at..at + 4].copy_from_slice(&declared.to_le_bytes());
        put(&mut bytes, 22); // local header: uncompressed size
        let cd = bytes
            .windows(4)
            .position(|w| w == b"PK\x01\x02")
            .expect("central directory");
        put(&mut bytes, cd + 24); // central directory: uncompressed size
        bytes
    }

    #[test]
    fn understated_sizes_are_an_error() {
        // The zip reader stops at the declared size and reports the lie; the caps on
        // what is actually read stay as a second line of defence.
        let j = [(coord("liar"), lying_jar(100_000, 10))];
        for limits in [
            Limits::default(),
            Limits {
                entry_bytes: 50_000,
                ..Limits::default()
            },
        ] {
            let e = merge(&inputs(&j), &limits).expect_err("a lying entry");
            assert!(
                matches!(&e, MergeError::BadEntry { name, .. } | MergeError::EntryTooLarge { name, .. } if name == "a/Big.class"),
                "{e}"
            );
            assert!(e.to_string().contains("org.example:liar:1.0"), "{e}");
        }
    }

    #[test]
    fn provider_lines_and_multi_release() {
        let p: Vec<String> = providers(b"# c\n a.B # x\n\n\r\nc.D\r\n#\n").collect();
        assert_eq!(p, ["a.B", "c.D"]);
        assert!(declares_multi_release(
            b"Manifest-Version: 1.0\r\nmulti-release: TRUE\r\n"
        ));
        assert!(!declares_multi_release(b"Manifest-Version: 1.0\r\n"));
        assert_eq!(classify("META-INF/services/x.Y"), Kind::Service);
        assert_eq!(classify("META-INF/LICENSE.txt"), Kind::Notice);
        assert_eq!(classify("LICENSE"), Kind::Notice);
        assert_eq!(classify("a/LICENSE"), Kind::Plain);
        assert_eq!(classify("META-INF/x/X.SF"), Kind::Plain);
    }
}
