//! The code artifact of a Flink (Python) application, built the way AWS documents it:
//! a zip with `main.py` at its root (it runs the SQL file with the application's
//! runtime properties filled in), the SQL file under `sql/`, and one connector jar
//! under `lib/` (several jars are merged into one, their service registrations
//! concatenated, because the run options name a single `jarfile`).
//!
//! The zip is byte-for-byte reproducible (fixed timestamps and permissions), so its
//! SHA-256 names it in S3: a changed SQL file or jar is a new key, which is how labctl
//! tells an artifact change from none.
//!
//! Connector jars come from the spec's `jars:` paths, or else from the pinned
//! [`CONNECTORS`], fetched once from the public Maven repository into a local cache and
//! checked against their SHA-256.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

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

/// A pinned connector: Maven coordinates and the SHA-256 of the jar.
#[derive(Debug, Clone, Copy)]
pub struct Connector {
    pub group: &'static str,
    pub artifact: &'static str,
    pub version: &'static str,
    /// None until the checksum has been recorded from the published jar; labctl then
    /// refuses to download it (give the jar in `jars:` instead).
    pub sha256: Option<&'static str>,
}

impl Connector {
    pub fn file_name(&self) -> String {
        format!("{}-{}.jar", self.artifact, self.version)
    }
    pub fn url(&self) -> String {
        format!(
            "https://repo1.maven.org/maven2/{}/{}/{}/{}",
            self.group.replace('.', "/"),
            self.artifact,
            self.version,
            self.file_name()
        )
    }
}

/// The Kinesis source and Firehose sink SQL connectors for Flink 1.20 (AWS connectors
/// 5.0.0). Only one Kinesis connector may be in the jar set (their factories clash).
pub const CONNECTORS: &[Connector] = &[
    Connector {
        group: "org.apache.flink",
        artifact: "flink-sql-connector-aws-kinesis-streams",
        version: "5.0.0-1.20",
        sha256: None,
    },
    Connector {
        group: "org.apache.flink",
        artifact: "flink-sql-connector-aws-kinesis-firehose",
        version: "5.0.0-1.20",
        sha256: None,
    },
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
}

impl Artifact {
    /// The S3 key under `prefix`: the application's name and the zip's checksum.
    pub fn key(&self, prefix: &str, app: &str) -> String {
        format!("{prefix}{app}-{}.zip", &self.sha256[..16])
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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

/// Merge jars into one: every entry once (the first jar's copy wins), service
/// registrations (`META-INF/services/*`) concatenated, signatures dropped.
pub fn merge_jars(jars: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (name, bytes) in jars {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).with_context(|| {
            format!("{name} is not a jar (zip) file; check the path in `jars:`")
        })?;
        for i in 0..z.len() {
            let mut f = z
                .by_index(i)
                .with_context(|| format!("reading entry {i} of {name}"))?;
            if f.is_dir() {
                continue;
            }
            let path = f
                .name()
                .with_context(|| format!("an entry name in {name}"))?
                .to_string();
            let upper = path.to_ascii_uppercase();
            if upper.starts_with("META-INF/")
                && [".SF", ".RSA", ".DSA", ".EC"]
                    .iter()
                    .any(|s| upper.ends_with(s))
            {
                continue;
            }
            let mut data = Vec::new();
            f.read_to_end(&mut data)
                .with_context(|| format!("reading {path} in {name}"))?;
            match entries.get_mut(&path) {
                Some(have) if path.starts_with("META-INF/services/") => {
                    if !have.ends_with(b"\n") {
                        have.push(b'\n');
                    }
                    have.extend_from_slice(&data);
                }
                Some(_) => {}
                None => {
                    order.push(path.clone());
                    entries.insert(path, data);
                }
            }
        }
    }
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for path in order {
        out.start_file(path.as_str(), options())?;
        out.write_all(&entries[&path])?;
    }
    Ok(out.finish()?.into_inner())
}

/// A valid, empty jar that says what it is: used only against the local stack, which
/// runs no Flink, when the spec gives no connector jars.
pub fn local_placeholder_jar() -> Result<(String, Vec<u8>)> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file("META-INF/MANIFEST.MF", options())?;
    z.write_all(
        b"Manifest-Version: 1.0\r\nCreated-By: labctl\r\nLabctl-Note: placeholder for the local stack; holds no connector\r\n\r\n",
    )?;
    let bytes = z
        .finish()
        .context("writing the placeholder jar")?
        .into_inner();
    Ok(("labctl-local-placeholder.jar".to_string(), bytes))
}

/// Build the zip: `main.py`, `sql/<sql_name>`, and the jar(s) as one `lib/` jar.
pub fn build(sql_name: &str, sql: &str, jars: &[(String, Vec<u8>)]) -> Result<Artifact> {
    let (jar_name, jar) = match jars {
        [] => bail!("a Flink application needs a connector jar; give one in `jars:`"),
        [(name, bytes)] => (name.clone(), bytes.clone()),
        many => ("labctl-connectors.jar".to_string(), merge_jars(many)?),
    };
    let sql_path = format!("sql/{sql_name}");
    let jar_path = format!("lib/{jar_name}");
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    z.start_file("main.py", options())?;
    z.write_all(MAIN_PY.as_bytes())?;
    z.start_file(sql_path.as_str(), options())?;
    z.write_all(sql.as_bytes())?;
    // Jars are zips already: storing them avoids compressing twice.
    z.start_file(
        jar_path.as_str(),
        options().compression_method(zip::CompressionMethod::Stored),
    )?;
    z.write_all(&jar)?;
    let bytes = z.finish().context("writing the artifact zip")?.into_inner();
    Ok(Artifact {
        sha256: sha256_hex(&bytes),
        bytes,
        sql_path,
        jar_path,
    })
}

/// The local jar cache: `LABCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/labctl`, else `~/.cache/labctl`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LABCTL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("labctl");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/labctl"))
        .unwrap_or_else(|| PathBuf::from(".labctl/cache"))
}

/// The jars of an application: the spec's paths (relative to `base`), or the pinned
/// connectors from the cache, fetched when missing.
pub fn jars(base: &Path, spec_jars: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
    if !spec_jars.is_empty() {
        return spec_jars
            .iter()
            .map(|j| {
                let p = base.join(j);
                let bytes = std::fs::read(&p).with_context(|| {
                    format!(
                        "cannot read the jar {}; check `jars:` in the spec",
                        p.display()
                    )
                })?;
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "connector.jar".into());
                Ok((name, bytes))
            })
            .collect();
    }
    CONNECTORS
        .iter()
        .map(|c| Ok((c.file_name(), pinned(c)?)))
        .collect()
}

/// A pinned connector from the cache, downloaded and verified when missing.
fn pinned(c: &Connector) -> Result<Vec<u8>> {
    let Some(want) = c.sha256 else {
        bail!(
            "labctl has no recorded SHA-256 for {} yet, so it will not download it; download it from {} yourself, check it, and give its path in the application's `jars:`",
            c.file_name(),
            c.url()
        );
    };
    let path = cache_dir().join("jars").join(c.file_name());
    if let Ok(bytes) = std::fs::read(&path) {
        if sha256_hex(&bytes) == want {
            return Ok(bytes);
        }
    }
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("cannot create the jar cache {}", path.display()))?;
    let tmp = path.with_extension("part");
    let status = std::process::Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--output"])
        .arg(&tmp)
        .arg(c.url())
        .status()
        .context("cannot run curl to download the connector jar; install curl, or give the jar in `jars:`")?;
    if !status.success() {
        bail!(
            "downloading {} failed (curl {status}); check the network, or give the jar in `jars:`",
            c.url()
        );
    }
    let bytes = std::fs::read(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
    let got = sha256_hex(&bytes);
    if got != want {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "{} has SHA-256 {got}, not the pinned {want}; the download was refused (try again, or give a jar you trust in `jars:`)",
            c.url()
        );
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("storing {}", path.display()))?;
    Ok(bytes)
}

/// The entries of a zip, by path (tests and `status` use it to look inside).
pub fn entries(zip_bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut z = zip::ZipArchive::new(Cursor::new(zip_bytes)).context("not a zip file")?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        let name = f.name()?.to_string();
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
        let j = vec![("c.jar".to_string(), jar(&[("a/A.class", "x")]))];
        let a = build("agg.sql", "SELECT '${aws.region}'", &j).expect("build");
        let b = build("agg.sql", "SELECT '${aws.region}'", &j).expect("build");
        assert_eq!(a.sha256, b.sha256);
        let c = build("agg.sql", "SELECT 2", &j).expect("build");
        assert_ne!(a.sha256, c.sha256);
        let e = entries(&a.bytes).expect("zip");
        assert_eq!(
            e.keys().cloned().collect::<Vec<_>>(),
            ["lib/c.jar", "main.py", "sql/agg.sql"]
        );
        assert_eq!(e["main.py"], MAIN_PY.as_bytes());
        assert_eq!(
            (a.sql_path.as_str(), a.jar_path.as_str()),
            ("sql/agg.sql", "lib/c.jar")
        );
        assert!(a.key("code/", "app").starts_with("code/app-"));
    }

    #[test]
    fn merged_jars_keep_every_service_registration() {
        const F: &str = "META-INF/services/org.apache.flink.table.factories.Factory";
        let k = jar(&[
            (F, "a.KinesisFactory\n"),
            ("a/K.class", "k"),
            ("META-INF/X.SF", "sig"),
            ("common/C.class", "first"),
        ]);
        let f = jar(&[
            (F, "b.FirehoseFactory"),
            ("b/F.class", "f"),
            ("common/C.class", "second"),
        ]);
        let merged = merge_jars(&[("k.jar".into(), k), ("f.jar".into(), f)]).expect("merge");
        let e = entries(&merged).expect("zip");
        assert_eq!(
            std::str::from_utf8(&e[F]).ok(),
            Some("a.KinesisFactory\nb.FirehoseFactory")
        );
        assert!(e.contains_key("a/K.class") && e.contains_key("b/F.class"));
        assert_eq!(e["common/C.class"], b"first");
        assert!(!e.contains_key("META-INF/X.SF"));
    }

    #[test]
    fn finds_placeholders_and_refuses_unpinned_downloads() {
        assert_eq!(
            placeholders("a ${x.y} b ${z} ${x.y}"),
            vec!["x.y".to_string(), "z".to_string()]
        );
        let flink = include_str!("../../sql/aggregate.flink.sql");
        for p in placeholders(flink) {
            assert!(PLACEHOLDERS.iter().any(|(k, _)| *k == p), "{p}");
        }
        let err = pinned(&CONNECTORS[0]).unwrap_err().to_string();
        assert!(err.contains("jars:"), "{err}");
    }
}
