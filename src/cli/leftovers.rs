//! `labctl leftovers`: list (and with `--delete` remove) everything any labctl pipeline
//! created, in one region or all. The search and the deletion nodes are
//! [`crate::resource::leftovers`]; this module is the flags, the confirmation and the output.
//!
//! Deleting data has the same guard as `down`: the confirmation names the account, the
//! regions, the endpoint, each resource once (deduplicated across regions) with its
//! bucket's object count, and the pipelines; a bucket that holds objects (or whose count
//! is unknown) is emptied only after that confirmation on a terminal or with
//! `--delete-data` — with `--yes` alone it is left as it is and reported. A tag value is
//! never parsed as text: one malformed pipeline tag does not stop the others' cleanup.
//!
//! `--delete` mutates, so each pipeline's deletion in a region runs under that
//! pipeline's run lock ([`crate::engine::lock`], the one `up` and `down` take, in the
//! directory of the spec file `--file` names, present or not): it waits briefly for a
//! running `up`/`down` of the same pipeline, account and region, then refuses that
//! group (its rows fail, naming the holder) and goes on with the others.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::Cli;
use crate::aws::{self, Clients, Target};
use crate::engine::executor::{self, Row};
use crate::engine::journal::Journal;
use crate::engine::lock;
use crate::engine::progress::Progress;
use crate::engine::report::Format;
use crate::error::{exit, UsageError};
use crate::resource::leftovers::{self, Found};
use crate::resource::Ctx;
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;

/// The command's own flags.
pub struct Flags<'a> {
    pub all_regions: bool,
    pub pipeline: Option<&'a str>,
    pub delete: bool,
    pub yes: bool,
    /// `--delete-data`: empty buckets that hold objects without asking.
    pub delete_data: bool,
}

/// Object versions counted per bucket before asking (more are reported as "at least").
const COUNT_CAP: u64 = 100_000;

pub async fn run(cli: &Cli, flags: &Flags<'_>) -> Result<i32> {
    check_flags(flags)?;
    let home = aws::connect(&cli.target(), None).await?;
    let account = aws::account_id(&home).await?;
    let regions = regions(cli, flags, &home).await?;
    let progress = Progress::new(cli.quiet);
    progress.step(
        "labctl",
        &format!(
            "searching {} region(s) for resources tagged {OWNER_TAG}",
            regions.len(),
        ),
    );
    let clients: HashMap<String, Clients> = regions
        .iter()
        .map(|c| (c.region.clone(), c.clone()))
        .collect();
    let (found, skipped) = leftovers::find_in(regions, flags.pipeline).await;
    let found = leftovers::dedupe(found, &home.region);
    for (r, why) in &skipped {
        progress.step(r, &format!("skipped: {why}"));
    }
    let per_hour: f64 = found.iter().fold(0.0, |a, f| a + f.usd_per_hour);
    let mut deleted: Vec<Row> = Vec::new();
    if flags.delete && !found.is_empty() {
        let home_region = home.region.clone();
        let spec_dir = spec_dir(cli);
        let by_region = Deletion {
            clients: &clients,
            spec_dir: &spec_dir,
            home_region: &home_region,
            account: &account,
            progress: &progress,
            data: false,
            counts: &HashMap::new(),
        };
        let counts = by_region.count_objects(&found).await;
        let data = if flags.yes {
            flags.delete_data
        } else {
            let endpoint = home.endpoint.as_deref().map(redact);
            let endpoint = endpoint.as_deref().unwrap_or("AWS (default endpoint)");
            confirm(&prompt(&account, endpoint, &found, &counts, per_hour))?;
            true
        };
        let by_region = Deletion {
            data,
            counts: &counts,
            ..by_region
        };
        deleted = by_region.delete(&found).await;
        if !data {
            explain_kept(&mut deleted, &counts);
        }
    }
    let failed = deleted.iter().any(|r| r.is_failure());
    match cli.output {
        Format::Json => print_json(&account, &found, per_hour, &skipped, &deleted),
        Format::Table => print_table(flags.pipeline, &found, per_hour, &deleted, failed),
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// Whether a value can be a spec's pipeline name (lowercase letters, digits, `-`).
fn is_pipeline_name(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn check_flags(flags: &Flags<'_>) -> Result<()> {
    if let Some(p) = flags.pipeline {
        if !is_pipeline_name(p) {
            return Err(UsageError(format!(
                "--pipeline `{p}` is not a pipeline name (lowercase letters, digits, `-`)"
            ))
            .into());
        }
    }
    if flags.delete && !flags.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError("`leftovers --delete` removes resources; pass --yes to confirm (stdin is not a terminal)".into()).into());
    }
    Ok(())
}

/// The directory of the spec file `--file` names (whether or not it exists): where
/// `up` and `down` of that spec keep their run locks.
fn spec_dir(cli: &Cli) -> std::path::PathBuf {
    match cli.file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// The home region's clients first, then (with `--all-regions`) every other one.
async fn regions(cli: &Cli, flags: &Flags<'_>, home: &Clients) -> Result<Vec<Clients>> {
    let mut regions = vec![home.clone()];
    if flags.all_regions {
        let base = cli.target();
        for r in leftovers::REGIONS.iter().filter(|r| **r != home.region) {
            let t = Target {
                region: Some(r.to_string()),
                ..base.clone()
            };
            regions.push(aws::connect(&t, None).await?);
        }
    }
    Ok(regions)
}

/// An endpoint URL without any `user:password@`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The count of a bucket for the prompt and the report.
fn count_text(n: Option<u64>) -> String {
    match n {
        Some(0) => "empty".into(),
        Some(n) if n >= COUNT_CAP => format!("at least {n} object versions"),
        Some(n) => format!("{n} object versions"),
        None => "object count unknown".into(),
    }
}

/// The confirmation: where, what (each resource once, buckets with their object
/// counts), whose (the pipelines).
fn prompt(
    account: &str,
    endpoint: &str,
    found: &[Found],
    counts: &HashMap<String, Option<u64>>,
    per_hour: f64,
) -> String {
    let mut regions: Vec<&str> = found.iter().map(|f| f.region.as_str()).collect();
    regions.sort();
    regions.dedup();
    let mut pipelines: Vec<&str> = found.iter().map(|f| f.pipeline.as_str()).collect();
    pipelines.sort();
    pipelines.dedup();
    let mut text = format!(
        "Delete these {} resources\n  account:   {account}\n  regions:   {}\n  endpoint:  {endpoint}\n  pipelines: {}\n",
        found.len(),
        regions.join(", "),
        pipelines
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in found {
        let data = match f.kind.as_str() {
            "bucket" => format!(
                "  ({}; every version is deleted)",
                count_text(counts.get(&f.arn).copied().flatten())
            ),
            _ => String::new(),
        };
        text.push_str(&format!(
            "  {:<12} {:<16} {}  [pipeline {:?}]{data}\n",
            f.region, f.kind, f.name, f.pipeline
        ));
    }
    text.push_str(&format!(
        "(${per_hour:.3}/hour while they exist)\nType yes to go on: "
    ));
    text
}

/// Buckets kept because they hold data and nothing confirmed its loss: say so.
fn explain_kept(rows: &mut [Row], counts: &HashMap<String, Option<u64>>) {
    for r in rows
        .iter_mut()
        .filter(|r| r.kind == "bucket" && r.is_failure())
    {
        let n = counts
            .iter()
            .find(|(arn, _)| arn.rsplit(':').next() == Some(r.name.as_str()))
            .and_then(|(_, n)| *n);
        if n != Some(0) {
            r.detail = Some(format!(
                "not emptied ({}): deleting its data needs the confirmation on a terminal or --delete-data",
                count_text(n)
            ));
        }
    }
}

fn confirm(prompt: &str) -> Result<()> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != "yes" {
        return Err(UsageError("not confirmed; nothing was deleted".into()).into());
    }
    Ok(())
}

/// Removing what was found: per region (IAM roles go with the home region) and
/// pipeline, each group dependents first through the executor's `down`.
struct Deletion<'a> {
    clients: &'a HashMap<String, Clients>,
    /// Where the pipelines' run locks live (the spec file's directory).
    spec_dir: &'a std::path::Path,
    home_region: &'a str,
    account: &'a str,
    progress: &'a Progress,
    /// Buckets may be emptied (the loss of their data is confirmed).
    data: bool,
    /// Object versions per bucket ARN (folder markers not counted), as counted before asking.
    counts: &'a HashMap<String, Option<u64>>,
}

impl Deletion<'_> {
    fn clients_for(&self, f: &Found) -> Option<&Clients> {
        let region = if f.region == "global" {
            self.home_region
        } else {
            &f.region
        };
        self.clients.get(region)
    }

    /// Object versions per bucket (by ARN); None when they could not be counted.
    async fn count_objects(&self, found: &[Found]) -> HashMap<String, Option<u64>> {
        let mut counts = HashMap::new();
        for f in found.iter().filter(|f| f.kind == "bucket") {
            let n = match self.clients_for(f) {
                Some(c) => leftovers::object_versions(c, &f.name, self.account, COUNT_CAP)
                    .await
                    .map_err(|e| tracing::warn!("{e:#}"))
                    .ok(),
                None => None,
            };
            counts.insert(f.arn.clone(), n);
        }
        counts
    }

    async fn delete(&self, found: &[Found]) -> Vec<Row> {
        let mut groups: BTreeMap<(String, String), Vec<&Found>> = BTreeMap::new();
        for f in found {
            let region = if f.region == "global" {
                self.home_region.to_string()
            } else {
                f.region.clone()
            };
            groups
                .entry((region, f.pipeline.clone()))
                .or_default()
                .push(f);
        }
        let mut deleted = Vec::new();
        for ((region, p), items) in groups {
            let Some(c) = self.clients.get(&region) else {
                continue;
            };
            match self.delete_group(c, &region, &p, &items).await {
                Ok(rows) => deleted.extend(rows),
                // One group's trouble (say, a tag value no spec can carry) does not stop
                // the others' cleanup.
                Err(e) => {
                    self.progress
                        .step(&region, &format!("pipeline {p:?} not deleted: {e:#}"));
                    deleted.extend(items.iter().map(|f| failed_row(f, &e)));
                }
            }
        }
        deleted
    }

    async fn delete_group(
        &self,
        c: &Clients,
        region: &str,
        pipeline: &str,
        items: &[&Found],
    ) -> Result<Vec<Row>> {
        let vars = Vars {
            account_id: self.account.to_string(),
            region: region.to_string(),
            partition: aws::partition(region).to_string(),
            pipeline: pipeline.to_string(),
        };
        let may_empty = |f: &Found| self.data || self.counts.get(&f.arn) == Some(&Some(0));
        let nodes = leftovers::nodes_for(items, pipeline, &vars, may_empty)?;
        // The pipeline's run lock, as `down` takes it. A tag value that is no pipeline
        // name (lowercase letters, digits, `-`) is no spec's, so no `up` or `down` can
        // hold a lock for it: its resources are deleted without one (and the value
        // never names a file).
        let _lock = if is_pipeline_name(pipeline) {
            let scope = lock::Scope {
                spec_dir: self.spec_dir,
                pipeline,
                account: self.account,
                region,
            };
            let command = "labctl leftovers --delete";
            Some(lock::acquire(&scope, command, lock::WAIT, self.progress).await?)
        } else {
            None
        };
        // Only tagged resources are deleted here: no journal vouches for anything, and
        // none is written (formerly in the temporary directory, where others could plant one).
        let journal = Arc::new(Journal::detached());
        let ctx = Ctx {
            aws: c.clone(),
            vars,
            progress: self.progress.clone(),
            journal,
            adopt: false,
            data_loss_confirmed: Vec::new(),
        };
        let (rows, _) = executor::down(nodes, ctx).await;
        Ok(rows)
    }
}

fn failed_row(f: &Found, e: &anyhow::Error) -> Row {
    Row {
        id: f.arn.clone(),
        kind: f.kind.clone(),
        name: f.name.clone(),
        action: "failed".into(),
        state: None,
        drift: Vec::new(),
        usd_per_hour: None,
        created: None,
        detail: Some(format!("{e:#}")),
        seconds: 0.0,
    }
}

fn print_json(
    account: &str,
    found: &[Found],
    per_hour: f64,
    skipped: &[(String, String)],
    deleted: &[Row],
) {
    let doc = serde_json::json!({
        "account": account,
        "resources": found,
        "usd_per_hour": per_hour,
        "skipped_regions": skipped.iter().map(|(r, w)| serde_json::json!({"region": r, "error": w})).collect::<Vec<_>>(),
        "deleted": deleted,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn print_table(
    pipeline: Option<&str>,
    found: &[Found],
    per_hour: f64,
    deleted: &[Row],
    failed: bool,
) {
    if found.is_empty() {
        println!(
            "nothing tagged {OWNER_TAG} found{}",
            pipeline.map(|p| format!("={p}")).unwrap_or_default()
        );
    } else {
        print_found(found, per_hour);
    }
    if deleted.is_empty() {
        return;
    }
    println!(
        "\ndeleted {} of {}{}",
        deleted
            .iter()
            .filter(|r| matches!(r.action.as_str(), "delete" | "absent"))
            .count(),
        found.len(),
        if failed {
            "; some failed, see above"
        } else {
            ""
        }
    );
    for r in deleted.iter().filter(|r| r.is_failure()) {
        println!(
            "  {} {}: {}",
            r.kind,
            r.name,
            r.detail.as_deref().unwrap_or("")
        );
    }
}

fn print_found(found: &[Found], per_hour: f64) {
    println!(
        "{:<12} {:<20} {:<16} {:<44} {:>8} {:>9}",
        "REGION", "PIPELINE", "KIND", "NAME", "AGE", "$/HOUR"
    );
    for f in found {
        let age = f
            .age_seconds
            .map(|s| {
                if s >= 86_400 {
                    format!("{}d", s / 86_400)
                } else if s >= 3600 {
                    format!("{}h", s / 3600)
                } else {
                    format!("{}m", s / 60)
                }
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:<20} {:<16} {:<44} {:>8} {:>9.4}",
            f.region, f.pipeline, f.kind, f.name, age, f.usd_per_hour
        );
    }
    println!(
        "\n{} resources, ${per_hour:.3}/hour while they exist",
        found.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(region: &str, pipeline: &str, kind: &str, name: &str, arn: &str) -> Found {
        Found {
            region: region.into(),
            pipeline: pipeline.into(),
            kind: kind.into(),
            name: name.into(),
            arn: arn.into(),
            age_seconds: None,
            usd_per_hour: 0.0,
        }
    }

    #[test]
    fn the_prompt_says_where_what_and_whose() {
        let all = vec![
            found("us-east-1", "prod", "bucket", "data", "arn:aws:s3:::data"),
            found("eu-west-1", "prod", "bucket", "data", "arn:aws:s3:::data"),
            found(
                "eu-west-1",
                "lab",
                "stream",
                "s",
                "arn:aws:kinesis:eu-west-1:1:stream/s",
            ),
            found("global", "lab", "role", "r", "arn:aws:iam::1:role/labctl/r"),
        ];
        let once = leftovers::dedupe(all, "us-east-1");
        let counts = HashMap::from([("arn:aws:s3:::data".to_string(), Some(12))]);
        let text = prompt(
            "123456789012",
            &redact("https://user:secret@example.com:4566/x"),
            &once,
            &counts,
            0.5,
        );
        assert!(text.contains("account:   123456789012"), "{text}");
        assert!(
            text.contains("regions:   eu-west-1, global, us-east-1"),
            "{text}"
        );
        assert!(
            text.contains("endpoint:  https://example.com:4566/x"),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains(r#"pipelines: "lab", "prod""#), "{text}");
        assert_eq!(text.matches(" data ").count(), 1, "{text}");
        assert!(text.contains("12 object versions"), "{text}");
        assert!(text.ends_with("Type yes to go on: "), "{text}");
        assert_eq!(count_text(None), "object count unknown");
        assert_eq!(count_text(Some(0)), "empty");
    }
}
