//! The code artifact of a Flink (Python) application, built the way AWS documents it:
//! a zip with `main.py` at its root (it runs the SQL file with the application's
//! runtime properties filled in), the SQL file under `sql/`, and one connector jar
//! under `lib/` (the run options name a single `jarfile`).
//!
//! The zip is byte-for-byte reproducible (fixed timestamps and permissions), so its
//! SHA-256 names it in S3: a changed SQL file or jar is a new key, which is how labctl
//! tells an artifact change from none.
//!
//! The connector jar is the one labctl assembles itself from `flink/connectors.lock`
//! ([`connectors`]: fetched, verified against the lock, merged as the shade plugin
//! does, cached), or the user's own uber-jar(s) from `jars:`. There is no placeholder:
//! the local stack gets the same artifact as AWS. Everything here runs before any AWS
//! call, so a bad lock, a tampered download or a bad SQL file fails before anything bills.
//!
//! This module knows the spec's application fields and nothing of AWS clients.

pub mod connectors;

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::sync::OnceCell;
use zip::write::SimpleFileOptions;

use crate::error::UsageError;
use crate::spec::{Engine, Spec};
use connectors::{AssembleError, Coord, Lock};

/// The lock the connector jar is assembled from, compiled in (so labctl needs no
/// checkout, JDK or Maven): `scripts/lock-connectors` writes it from `flink/pom.xml`.
pub const LOCK: &str = include_str!("../../flink/connectors.lock");
/// Where [`LOCK`] comes from, for messages.
pub const LOCK_PATH: &str = "flink/connectors.lock";
/// The connector jar's name under `lib/` in the zip.
pub const JAR_NAME: &str = "labctl-connectors.jar";
/// The service file through which Flink finds table factories ('kinesis', 'firehose').
pub const FACTORY_SERVICES: &str = "META-INF/services/org.apache.flink.table.factories.Factory";

/// The application's entry point, packed at the zip's root.
pub const MAIN_PY: &str = include_str!("../../flink/main.py");

/// The property group `main.py` reads its values from.
pub const PROPERTY_GROUP: &str = "PipelineProperties";
/// The property group Managed Flink reads a Python application's entry from.
pub const RUN_OPTIONS: &str = "kinesis.analytics.flink.run.options";

/// The placeholders a Flink SQL file may use, each filled from the property of that name.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("input.stream.arn", "ARN of the input stream"),
    ("input.stream.name", "name of the input stream"),
    (
        "input.starting.position",
        "LATEST or TRIM_HORIZON, from input.starting_position",
    ),
    ("aws.region", "the region"),
    (
        "output.delivery.stream",
        "name of the output delivery stream",
    ),
];

/// A built artifact and where things are inside it.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Path of the SQL file inside the zip (the `sql.file` property).
    pub sql_path: String,
    /// Path of the connector jar inside the zip (the `jarfile` run option).
    pub jar_path: String,
    /// Size and hex SHA-256 of that jar.
    pub jar_size: u64,
    pub jar_sha256: String,
}

impl Artifact {
    /// The S3 key under `prefix`: a folder of the application's own ([`folder`]) and
    /// the zip's checksum.
    pub fn key(&self, prefix: &str, app: &str) -> String {
        format!("{}{}.zip", folder(prefix, app), &self.sha256[..16])
    }

    /// The zip's SHA-256 as S3 carries it in `x-amz-checksum-sha256`: base64 of the
    /// digest (S3 User Guide, "Checking object integrity",
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
    pub fn sha256_base64(&self) -> String {
        let digest: Vec<u8> = (0..self.sha256.len() / 2)
            .filter_map(|i| u8::from_str_radix(&self.sha256[2 * i..2 * i + 2], 16).ok())
            .collect();
        aws_smithy_types::base64::encode(digest)
    }
}

/// The folder an application's artifacts live in: `<prefix><app>/`. A folder, not a
/// name prefix, so that listing, removing or granting `agg`'s artifacts never reaches
/// `agg-v2`'s (`code/agg/*` does not match `code/agg-v2/…`).
pub fn folder(prefix: &str, app: &str) -> String {
    format!("{prefix}{app}/")
}

pub use connectors::sha256_hex;

/// Every `${name}` placeholder in a SQL text, in order of first use.
pub fn placeholders(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].to_string();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &after[end + 1..];
    }
    out
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// Build the zip: `main.py`, `sql/<sql_name>`, and the connector jar as
/// `lib/<jar_name>` (the `jarfile` run option names that one jar).
pub fn build(sql_name: &str, sql: &str, jar_name: &str, jar: &[u8]) -> Result<Artifact> {
    let sql_path = format!("sql/{sql_name}");
    let jar_path = format!("lib/{jar_name}");
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file("main.py", options())?;
    z.write_all(MAIN_PY.as_bytes())?;
    z.start_file(sql_path.as_str(), options())?;
    z.write_all(sql.as_bytes())?;
    // Jars are zips already: storing them avoids compressing twice. Large-file
    // (zip64) records only when the jar needs them, so the layout stays fixed.
    z.start_file(
        jar_path.as_str(),
        options()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(jar.len() as u64 >= u32::MAX as u64),
    )?;
    z.write_all(jar)?;
    let bytes = z.finish().context("writing the artifact zip")?.into_inner();
    Ok(Artifact {
        sha256: sha256_hex(&bytes),
        bytes,
        sql_path,
        jar_path,
        jar_size: jar.len() as u64,
        jar_sha256: sha256_hex(jar),
    })
}

/// The lock compiled into labctl: parsed, with its key (the SHA-256 of its bytes).
pub fn lock() -> Result<(Lock, String)> {
    let lock = connectors::parse_lock(LOCK, Path::new(LOCK_PATH))
        .map_err(|e| UsageError(format!("{e}")))?;
    Ok((lock, connectors::lock_key(LOCK.as_bytes())))
}

/// Whether a jar is a shaded SQL connector: it registers Flink table factories and
/// carries an AWS SDK relocated under some `…/shaded/software/amazon/awssdk/`.
/// Two of these cannot share one class path (AWS-NOTES, "two shaded SQL connector
/// jars"): each bundles `flink-connector-aws-base` unrelocated, compiled against its
/// own relocated SDK, and only one copy of each class survives a merge.
pub fn is_shaded_sql_connector(jar: &[u8]) -> Result<bool> {
    let z = zip::ZipArchive::new(Cursor::new(jar)).context("not a jar (zip) file")?;
    let mut factories = false;
    let mut relocated_sdk = false;
    for name in z.file_names() {
        let name = name?;
        factories |= name == FACTORY_SERVICES;
        relocated_sdk |= name.ends_with(".class")
            && name
                .find("/shaded/software/amazon/awssdk/")
                .is_some_and(|i| i > 0);
        if factories && relocated_sdk {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The reason two or more shaded SQL connector jars are refused, for `validate`.
pub const TWO_SHADED_SQL_CONNECTORS: &str = "each shaded SQL connector jar bundles flink-connector-aws-base unrelocated but compiled against its own relocated AWS SDK, so merged into one `jarfile` only the first jar's copy of each shared class survives and the other connector fails at run time (NoSuchMethodError in the Firehose sink writer: the job restarts forever and nothing is delivered)";

fn progress(quiet: bool) -> Box<dyn connectors::Progress> {
    if quiet {
        Box::new(connectors::NoProgress)
    } else {
        Box::new(connectors::StderrProgress::new())
    }
}

/// Errors that are the input's fault (the lock, `LABCTL_MAVEN_REPOSITORY`, an artifact
/// that is not what the lock says, jars that cannot be merged) become [`UsageError`]s
/// (exit 2); an unreachable repository or a cache problem stays a runtime failure.
fn classify(e: AssembleError) -> anyhow::Error {
    use connectors::FetchError;
    match e {
        AssembleError::Fetch(FetchError::HashMismatch { .. } | FetchError::SizeMismatch { .. })
        | AssembleError::Merge(_)
        | AssembleError::BadKey(_) => UsageError(e.to_string()).into(),
        other => anyhow::Error::new(other),
    }
}

/// The connector jar assembled from the compiled-in lock: fetched (cache, then
/// `LABCTL_MAVEN_REPOSITORY` or Maven Central), verified, merged, cached.
pub async fn assemble_from_lock(quiet: bool) -> Result<connectors::Assembled> {
    let (lock, key) = lock()?;
    let repo = connectors::Repository::from_env().map_err(|e| UsageError(e.to_string()))?;
    let cache = connectors::default_cache_dir();
    let p = progress(quiet);
    // A task of its own: its future is 'static, which keeps the download stream's
    // closures out of the callers' (async-trait) futures.
    tokio::spawn(async move { connectors::assemble(&lock, &key, &repo, &cache, p.as_ref()).await })
        .await
        .context("the connector jar's assembly task")?
        .map_err(classify)
        .context("assembling the Flink connector jar from flink/connectors.lock")
}

/// The application's one connector jar and its name under `lib/`: the jar assembled
/// from the lock when `jars:` gives none ([`JAR_NAME`]), else the user's own jar (one
/// used as it is, under its own name; several merged with the same rules as the lock's
/// artifacts, as [`JAR_NAME`]).
pub async fn connector_jar(own: &[String], quiet: bool) -> Result<(String, Vec<u8>)> {
    if own.is_empty() {
        let built = assemble_from_lock(quiet).await?;
        let path = built.path.clone();
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
            .await
            .context("reading the connector jar")?
            .with_context(|| format!("reading {}", built.path.display()))?;
        return Ok((JAR_NAME.to_string(), bytes));
    }
    let mut read = Vec::new();
    for j in own {
        let bytes = std::fs::read(j)
            .with_context(|| format!("cannot read the jar {j}; check `jars:` in the spec"))?;
        read.push((j.clone(), bytes));
    }
    let shaded: Vec<&str> = read
        .iter()
        .filter(|(_, b)| is_shaded_sql_connector(b).unwrap_or(false))
        .map(|(j, _)| j.as_str())
        .collect();
    if shaded.len() >= 2 {
        return Err(UsageError(format!(
            "`jars:` lists {} shaded SQL connector jars ({}): {TWO_SHADED_SQL_CONNECTORS}; remove `jars:` to use the jar labctl assembles from flink/connectors.lock, or give one uber-jar of your own",
            shaded.len(),
            shaded.join(", ")
        ))
        .into());
    }
    if let [(path, bytes)] = read.as_slice() {
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| JAR_NAME.to_string());
        return Ok((name, bytes.clone()));
    }
    tokio::task::spawn_blocking(move || {
        let coords: Vec<Coord> = read
            .iter()
            .map(|(j, _)| Coord {
                group: "jars".into(),
                artifact: j.clone(),
                version: "spec".into(),
            })
            .collect();
        let inputs: Vec<connectors::merge::Input<'_>> = read
            .iter()
            .zip(&coords)
            .map(|((_, bytes), coord)| connectors::merge::Input {
                coord,
                bytes,
                drop: Vec::new(),
            })
            .collect();
        connectors::merge::merge(&inputs, &connectors::Limits::default())
            .map(|jar| (JAR_NAME.to_string(), jar))
            .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
    })
    .await
    .context("merging the jars of `jars:`")?
}

/// An artifact's key in this process: (SQL path, `jars:`).
type Key = (String, Vec<String>);

/// Artifacts built (or being built) in this process, one cell per key, so that a build
/// under way is awaited instead of started twice (`up` builds the zip while `plan`
/// observes, and observing the application needs it).
type Cells = Vec<(Key, Arc<OnceCell<Artifact>>)>;
static CELLS: Mutex<Cells> = Mutex::new(Vec::new());

fn cell_for(key: &Key) -> Arc<OnceCell<Artifact>> {
    let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = cells.iter().find(|(k, _)| k == key) {
        return c.clone();
    }
    let c = Arc::new(OnceCell::new());
    cells.push((key.clone(), c.clone()));
    c
}

/// What an artifact is built from, every part of it read and checked: the SQL (its
/// placeholders known) and the connector jar (assembled from the lock, or the user's).
/// Everything that can fail on the input fails here, before any AWS call; [`finish`]
/// only zips.
pub struct Inputs {
    key: Key,
    sql_name: String,
    sql: String,
    jar_name: String,
    jar: Vec<u8>,
}

/// The [`Inputs`] of a Flink application's artifact (its SQL file and `jars:` as
/// resolved paths).
pub async fn inputs(code_path: &str, own_jars: &[String], quiet: bool) -> Result<Inputs> {
    let sql = std::fs::read_to_string(code_path)
        .with_context(|| format!("cannot read the Flink SQL {code_path}"))?;
    let unknown: Vec<String> = placeholders(&sql)
        .into_iter()
        .filter(|n| !PLACEHOLDERS.iter().any(|(k, _)| k == n))
        .collect();
    if !unknown.is_empty() {
        return Err(UsageError(format!(
            "{code_path} uses placeholders labctl does not provide: {}",
            unknown.join(", ")
        ))
        .into());
    }
    let sql_name = Path::new(code_path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "application.sql".into());
    let (jar_name, jar) = connector_jar(own_jars, quiet).await?;
    Ok(Inputs {
        key: (code_path.to_string(), own_jars.to_vec()),
        sql_name,
        sql,
        jar_name,
        jar,
    })
}

/// The zip of `inputs` (built once per process; a build under way is awaited).
pub async fn finish(inputs: Inputs) -> Result<Artifact> {
    let cell = cell_for(&inputs.key);
    let a = cell.get_or_try_init(|| zip_blocking(inputs)).await?;
    Ok(a.clone())
}

async fn zip_blocking(i: Inputs) -> Result<Artifact> {
    tokio::task::spawn_blocking(move || build(&i.sql_name, &i.sql, &i.jar_name, &i.jar))
        .await
        .context("building the artifact zip")?
}

/// The artifact of a Flink application (its SQL file and `jars:` as resolved paths):
/// the SQL's placeholders checked, the connector jar made, the zip built. Built once
/// per process: `validate`, `plan` and `up` call it (or [`inputs`] and [`finish`])
/// before any AWS call and the resource reuses it.
pub async fn prepare(code_path: &str, own_jars: &[String], quiet: bool) -> Result<Artifact> {
    let cell = cell_for(&(code_path.to_string(), own_jars.to_vec()));
    let a = cell
        .get_or_try_init(|| async {
            let i = inputs(code_path, own_jars, quiet).await?;
            zip_blocking(i).await
        })
        .await?;
    Ok(a.clone())
}

/// Every Flink application's artifact, by application id, for a spec whose paths are
/// resolved (`Spec::with_base_dir`). Fails before anything is sent to AWS.
pub async fn prepare_spec(spec: &Spec, quiet: bool) -> Result<Vec<(String, Artifact)>> {
    let mut out = Vec::new();
    for (id, i) in inputs_spec(spec, quiet).await? {
        let a = finish(i)
            .await
            .with_context(|| format!("the code artifact of application `{id}`"))?;
        out.push((id, a));
    }
    Ok(out)
}

/// The [`Inputs`] of every Flink application's artifact, by application id (paths
/// resolved): what [`prepare_spec`] checks before any AWS call, without the zips.
pub async fn inputs_spec(spec: &Spec, quiet: bool) -> Result<Vec<(String, Inputs)>> {
    let mut out = Vec::new();
    for (id, a) in &spec.applications {
        if a.engine != Engine::Flink {
            continue;
        }
        let i = inputs(&a.code, &a.jars, quiet)
            .await
            .with_context(|| format!("the code artifact of application `{id}`"))?;
        out.push((id.clone(), i));
    }
    Ok(out)
}

/// The zips of [`inputs_spec`]'s inputs, each kept for the application's resource.
pub async fn finish_spec(inputs: Vec<(String, Inputs)>) -> Result<()> {
    for (id, i) in inputs {
        finish(i)
            .await
            .with_context(|| format!("the code artifact of application `{id}`"))?;
    }
    Ok(())
}

/// The entries of a zip, by path (tests and `status` use it to look inside), each
/// decompressed up to the limits of jar assembly ([`connectors::Limits`]: per entry and
/// in total), so that a small zip that inflates to gigabytes is refused, not read.
pub fn entries(zip_bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let limits = connectors::Limits::default();
    let mut z = zip::ZipArchive::new(Cursor::new(zip_bytes)).context("not a zip file")?;
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..z.len() {
        let f = z.by_index(i)?;
        let name = f.name()?.to_string();
        let mut data = Vec::new();
        f.take(limits.entry_bytes + 1).read_to_end(&mut data)?;
        total += data.len() as u64;
        if data.len() as u64 > limits.entry_bytes || total > limits.total_bytes {
            anyhow::bail!(
                "zip entry {name:?} decompresses past the limit ({} bytes per entry, {} in all)",
                limits.entry_bytes,
                limits.total_bytes
            );
        }
        out.insert(name, data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (p, d) in entries {
            z.start_file(*p, options()).expect("entry");
            z.write_all(d.as_bytes()).expect("write");
        }
        z.finish().expect("finish").into_inner()
    }

    #[test]
    fn reproducible_and_laid_out_as_documented() {
        let j = jar(&[("a/A.class", "x")]);
        let a = build("agg.sql", "SELECT '${aws.region}'", JAR_NAME, &j).expect("build");
        let b = build("agg.sql", "SELECT '${aws.region}'", JAR_NAME, &j).expect("build");
        assert_eq!(a.sha256, b.sha256);
        let c = build("agg.sql", "SELECT 2", JAR_NAME, &j).expect("build");
        assert_ne!(a.sha256, c.sha256);
        let e = entries(&a.bytes).expect("zip");
        assert_eq!(
            e.keys().cloned().collect::<Vec<_>>(),
            ["lib/labctl-connectors.jar", "main.py", "sql/agg.sql"]
        );
        assert_eq!(e["main.py"], MAIN_PY.as_bytes());
        assert_eq!(e["lib/labctl-connectors.jar"], j);
        assert_eq!(
            (a.sql_path.as_str(), a.jar_path.as_str()),
            ("sql/agg.sql", "lib/labctl-connectors.jar")
        );
        assert_eq!(
            (a.jar_size, a.jar_sha256.clone()),
            (j.len() as u64, sha256_hex(&j))
        );
        assert!(a.key("code/", "app").starts_with("code/app/"));
        assert!(!a
            .key("code/", "app-v2")
            .starts_with(&folder("code/", "app")));
        // base64 of the digest, as S3's x-amz-checksum-sha256 carries it.
        let empty = build("e.sql", "", JAR_NAME, &j).expect("build");
        let mut e = empty.clone();
        e.sha256 = sha256_hex(b"");
        assert_eq!(
            e.sha256_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    /// Changing flink/pom.xml without running scripts/lock-connectors fails here.
    #[test]
    fn the_lock_is_the_pom_s() {
        let pom = include_bytes!("../../flink/pom.xml");
        let want = LOCK
            .lines()
            .find_map(|l| l.strip_prefix("pom-sha256 "))
            .expect("the lock has a pom-sha256 line");
        assert_eq!(
            sha256_hex(pom),
            want.trim(),
            "flink/pom.xml changed since flink/connectors.lock was written: run scripts/lock-connectors and commit both"
        );
        let (lock, key) = lock().expect("the lock parses");
        assert_eq!(key, sha256_hex(LOCK.as_bytes()));
        assert!(lock.artifacts.len() > 2);
        let names: Vec<&str> = lock
            .artifacts
            .iter()
            .map(|a| a.coord.artifact.as_str())
            .collect();
        assert!(names.contains(&"flink-connector-kinesis"), "{names:?}");
        assert!(
            names.contains(&"flink-connector-aws-kinesis-firehose"),
            "{names:?}"
        );
    }

    #[test]
    fn finds_placeholders_the_shipped_sql_uses_only_known_ones() {
        assert_eq!(
            placeholders("a ${x.y} b ${z} ${x.y}"),
            vec!["x.y".to_string(), "z".to_string()]
        );
        let flink = include_str!("../../sql/aggregate.flink.sql");
        for p in placeholders(flink) {
            assert!(PLACEHOLDERS.iter().any(|(k, _)| *k == p), "{p}");
        }
    }

    #[test]
    fn shaded_sql_connectors_are_recognised_by_content() {
        let sql = jar(&[
            (FACTORY_SERVICES, "a.KinesisFactory\n"),
            (
                "org/x/kinesis/shaded/software/amazon/awssdk/core/S.class",
                "s",
            ),
        ]);
        assert!(is_shaded_sql_connector(&sql).expect("jar"));
        let plain_sdk = jar(&[
            (FACTORY_SERVICES, "a.KinesisFactory\n"),
            ("software/amazon/awssdk/core/S.class", "s"),
        ]);
        assert!(!is_shaded_sql_connector(&plain_sdk).expect("jar"));
        let no_factory = jar(&[("org/x/shaded/software/amazon/awssdk/core/S.class", "s")]);
        assert!(!is_shaded_sql_connector(&no_factory).expect("jar"));
        assert!(is_shaded_sql_connector(b"not a zip").is_err());
    }

    #[tokio::test]
    async fn two_shaded_sql_connectors_in_jars_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for (n, pkg) in [("k.jar", "kinesis"), ("f.jar", "firehose")] {
            let p = dir.path().join(n);
            let class = format!("org/x/{pkg}/shaded/software/amazon/awssdk/core/S.class");
            std::fs::write(
                &p,
                jar(&[(FACTORY_SERVICES, "a.F\n"), (class.as_str(), "s")]),
            )
            .expect("write");
            paths.push(p.to_string_lossy().into_owned());
        }
        let err = connector_jar(&paths, true).await.expect_err("refused");
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
        let msg = format!("{err:#}");
        assert!(msg.contains("k.jar") && msg.contains("f.jar"), "{msg}");
        assert!(msg.contains("NoSuchMethodError"), "{msg}");
        // One of them alone is a user's uber-jar: used as it is.
        let one = connector_jar(&paths[..1], true).await.expect("one jar");
        assert_eq!(
            one,
            ("k.jar".to_string(), std::fs::read(&paths[0]).expect("read"))
        );
    }
}
