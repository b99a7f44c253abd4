//! `labctl leftovers`: list (and with `--delete` remove) everything any labctl pipeline
//! created, in one region or all. The search and the deletion nodes are
//! [`crate::resource::leftovers`]; this module is the flags, the confirmation and the output.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::args::Cli;
use crate::aws::{self, Clients, Target};
use crate::engine::executor::{self, Row};
use crate::engine::journal::Journal;
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
}

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
    for (r, why) in &skipped {
        progress.step(r, &format!("skipped: {why}"));
    }
    let per_hour: f64 = found.iter().fold(0.0, |a, f| a + f.usd_per_hour);
    let mut deleted: Vec<Row> = Vec::new();
    if flags.delete && !found.is_empty() {
        if !flags.yes {
            confirm(&found, per_hour)?;
        }
        let home_region = home.region.clone();
        let by_region = Deletion {
            clients: &clients,
            home_region: &home_region,
            account: &account,
            progress: &progress,
        };
        deleted = by_region.delete(&found).await?;
    }
    let failed = deleted.iter().any(|r| r.is_failure());
    match cli.output {
        Format::Json => print_json(&account, &found, per_hour, &skipped, &deleted),
        Format::Table => print_table(flags.pipeline, &found, per_hour, &deleted, failed),
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn check_flags(flags: &Flags<'_>) -> Result<()> {
    if let Some(p) = flags.pipeline {
        if p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
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

fn confirm(found: &[Found], per_hour: f64) -> Result<()> {
    eprint!(
        "Delete these {} resources? Type yes to go on: ",
        found.len()
    );
    print_found(found, per_hour);
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
    home_region: &'a str,
    account: &'a str,
    progress: &'a Progress,
}

impl Deletion<'_> {
    async fn delete(&self, found: &[Found]) -> Result<Vec<Row>> {
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
            deleted.extend(self.delete_group(c, &region, &p, &items).await?);
        }
        Ok(deleted)
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
        let nodes = leftovers::nodes_for(items, pipeline, &vars)?;
        // Only tagged resources are deleted here: no journal vouches for anything, and
        // none is written (formerly in the temporary directory, where others could plant one).
        let journal = Arc::new(Journal::detached());
        let ctx = Ctx {
            aws: c.clone(),
            vars,
            progress: self.progress.clone(),
            journal,
            adopt: false,
        };
        let (rows, _) = executor::down(nodes, ctx).await;
        Ok(rows)
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
