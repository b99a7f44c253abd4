//! `labctl down`: under the pipeline's lock, delete every resource the pipeline owns —
//! first what is tagged for it but no longer in the spec, then the declared resources,
//! dependents first — then look for anything still tagged for the pipeline. The
//! confirmation shows the account, region, endpoint and what exists to be deleted.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use super::args::Cli;
use super::session::{self, Outcome, Pipeline};
use crate::engine::{executor, prune};
use crate::error::{exit, UsageError};
use crate::resource::{self, orphans, Node};

pub async fn run(cli: &Cli, yes: bool) -> Result<i32> {
    let loaded = session::load(cli)?;
    session::check_endpoint(cli)?;
    if !yes && !std::io::stdin().is_terminal() {
        return Err(UsageError("`down` deletes every resource of the pipeline and their data; pass --yes to confirm (stdin is not a terminal, so labctl cannot ask)".into()).into());
    }
    let p = session::open(cli, &loaded).await?;
    let _lock = super::up::take_lock(cli, &loaded, &p).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let found = match orphans::find(&p.ctx, &nodes, true).await {
        Ok(o) => o.nodes,
        Err(e) => {
            tracing::warn!("{e:#}; only the declared resources are deleted");
            Vec::new()
        }
    };
    if !yes {
        confirm(&p, &nodes, &found).await?;
    }
    let (mut rows, mut interrupted) = prune::delete(found, p.ctx.clone()).await;
    // Ctrl-C during the orphans' deletion: the declared resources were not started.
    let mut declared_ran = false;
    if !interrupted {
        let (declared, i) = executor::down(nodes, p.ctx.clone()).await;
        rows.extend(declared);
        interrupted = i;
        declared_ran = true;
    } else {
        let why = "not started: Ctrl-C came first; run the command again to finish";
        rows.extend(executor::not_started_rows(&nodes, true, why));
    }
    // Ctrl-C after the last delete (or with everything already gone) is a success.
    let ok = declared_ran && !rows.iter().any(|r| r.is_failure());
    if interrupted {
        super::up::say_interrupted("down", &rows);
        if !ok {
            eprintln!("error: down was interrupted; run `labctl down` again to finish");
        }
    }
    // After a complete down, look for anything still tagged for the pipeline. The
    // Tagging API keeps listing deleted resources for a while: `find` confirms each hit
    // with the resource's own describe before it counts as left over, and lists IAM
    // roles only under labctl's path (see resource::leftovers).
    let remaining = if interrupted {
        None
    } else {
        match resource::leftovers::find(&p.ctx.aws, Some(&p.resolved.pipeline), true).await {
            Ok(found) => Some(other_regions_apart(&p, found).await),
            Err(e) => {
                tracing::warn!("could not check for leftovers: {e:#}");
                None
            }
        }
    };
    let outcome = Outcome {
        ok,
        interrupted,
        remaining,
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if ok { exit::OK } else { exit::FAILED })
}

/// IAM roles are global: the same pipeline deployed in another region has its roles
/// beside this region's, each tagged with its deployment's region
/// ([`resource::role::REGION_TAG`]). Those are not left behind by this `down`: they are
/// taken out of what is still there and named on stderr as the other region's. A role
/// without the tag, or whose tags cannot be read (ListRoleTags:
/// https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoleTags.html), stays.
async fn other_regions_apart(
    p: &Pipeline,
    found: Vec<resource::leftovers::Found>,
) -> Vec<resource::leftovers::Found> {
    let mut kept = Vec::new();
    for f in found {
        if f.kind == "role" {
            let tags = p
                .ctx
                .aws
                .iam
                .list_role_tags()
                .role_name(&f.name)
                .send()
                .await;
            let region = tags.ok().and_then(|t| {
                t.tags()
                    .iter()
                    .find(|t| t.key() == resource::role::REGION_TAG)
                    .map(|t| t.value().to_string())
            });
            if let Some(r) = region.filter(|r| *r != p.region) {
                eprintln!(
                    "note: role {} is tagged for pipeline {}, belonging to region {r}'s deployment ({}={r}); left for `labctl down --region {r}`",
                    f.name,
                    p.resolved.pipeline,
                    resource::role::REGION_TAG
                );
                continue;
            }
        }
        kept.push(f);
    }
    kept
}

/// Ask on the terminal, showing where (account, region, endpoint) and what exists to
/// be deleted: the declared resources found, and those no longer in the spec.
async fn confirm(p: &Pipeline, nodes: &[Node], orphans: &[Node]) -> Result<()> {
    let rows = executor::status(nodes, &p.ctx).await;
    let present: Vec<String> = rows
        .iter()
        .filter(|r| !matches!(r.action.as_str(), "missing" | "not-built"))
        .map(|r| {
            let note = if r.action == "not-ours" {
                "  (not ours: left alone)"
            } else {
                ""
            };
            format!("  {:<16} {}{note}", r.kind, r.name)
        })
        .chain(orphans.iter().map(|n| {
            format!(
                "  {:<16} {}  (no longer in the spec)",
                n.resource.kind(),
                n.resource.name()
            )
        }))
        .collect();
    eprintln!(
        "labctl down: pipeline `{}` in account {}, region {}{}",
        p.resolved.pipeline,
        p.account,
        p.region,
        p.endpoint
            .as_ref()
            .map(|e| format!(", endpoint {e}"))
            .unwrap_or_default()
    );
    if present.is_empty() {
        eprintln!("nothing of it exists; down only checks for leftovers");
    } else {
        eprintln!(
            "deletes these {} resources and their data (the bucket's objects too):",
            present.len()
        );
        for line in &present {
            eprintln!("{line}");
        }
    }
    eprint!("Type yes to go on: ");
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
