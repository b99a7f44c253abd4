//! `labctl up`: under the pipeline's lock, plan first; refuse before the first change
//! when the plan has a blocked or unobservable resource (unless `--partial`); ask
//! before `--adopt` takes anything over; then create or update every resource,
//! dependencies first, and delete what is tagged for the pipeline but no longer in the
//! spec (see [`crate::engine::prune`]). Ends with the hourly cost and the next commands;
//! a failure is said on stderr as well as in the report.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use super::args::Cli;
use super::session::{self, Outcome, Pipeline};
use crate::engine::executor::{self, Row};
use crate::engine::lock::{self, Lock};
use crate::engine::prune;
use crate::error::{exit, UsageError};
use crate::resource;
use crate::spec::LoadedSpec;

pub async fn run(cli: &Cli, partial: bool, yes: bool, allow_data_loss: bool) -> Result<i32> {
    let loaded = session::load(cli)?;
    // What can fail on the input (the Flink SQL, `jars:`, the connector lock) is checked
    // before any AWS call; the zips, which cannot, are built while the pipeline is
    // observed (before the first create, so on `up`'s critical path; issue 17).
    let inputs = crate::artifact::inputs_spec(
        &loaded.spec.clone().with_base_dir(&loaded.base_dir),
        cli.quiet,
    )
    .await?;
    let (built, opened) = tokio::join!(
        crate::artifact::finish_spec(inputs),
        open_and_observe(cli, &loaded)
    );
    let (p, _lock, nodes, declared) = opened?;
    built?;
    // The orphans (tagged for the pipeline, no longer declared) go only after the declared
    // resources are done: they are searched for while those are made.
    let search_nodes = resource::build(&p.resolved, &p.ctx.vars);
    let search = super::plan::orphans(&p, &search_nodes);
    if !partial && !refusals(&declared.rows).is_empty() {
        let found = search.await;
        let mut planned = declared.rows;
        planned.extend(super::plan::orphan_rows(&p, &found));
        return Ok(refuse(cli, &p, &planned));
    }
    if !yes {
        confirm_adopt(&declared.rows)?;
    }
    let mut ctx = p.ctx.clone();
    ctx.data_loss_confirmed = confirm_data_loss(&p, &declared.rows, allow_data_loss)?;
    // After a prompt (adopt, a replacement) every node looks again before it acts.
    let asked = declared
        .rows
        .iter()
        .any(|r| matches!(r.action.as_str(), "adopt" | "replace"));
    let seen = if asked { Vec::new() } else { declared.seen };
    let ((mut rows, interrupted), found) =
        tokio::join!(executor::up_from(nodes, ctx, seen), search);
    let declared_ok = !interrupted && !rows.iter().any(|r| r.is_failure());
    let mut pruning_interrupted = false;
    if declared_ok {
        let (pruned, i) = prune::delete(found.nodes, p.ctx.clone()).await;
        pruning_interrupted = i;
        rows.extend(pruned);
    } else {
        let why = if interrupted {
            "Ctrl-C: nothing new started; run `labctl up` again"
        } else {
            "`up` did not finish the declared resources; run it again"
        };
        rows.extend(prune::kept_rows(&found.nodes, &p.resolved.pipeline, why));
    }
    let interrupted = interrupted || pruning_interrupted;
    // Ctrl-C after the last step (or when every step was already done) is a success.
    let ok = !rows.iter().any(|r| r.is_failure());
    let cost = ok.then(|| crate::cost::annotate(&p.resolved, &mut rows, &p.region, false));
    say_failures(&rows, interrupted);
    let outcome = Outcome {
        ok,
        interrupted,
        cost,
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if ok { exit::OK } else { exit::FAILED })
}

/// Connect, take the pipeline's lock, build the nodes and observe them.
async fn open_and_observe(
    cli: &Cli,
    loaded: &LoadedSpec,
) -> Result<(Pipeline, Lock, Vec<resource::Node>, super::plan::Declared)> {
    let p = session::open(cli, loaded).await?;
    let lock = take_lock(cli, loaded, &p).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let declared = super::plan::declared(&p, &nodes).await;
    Ok((p, lock, nodes, declared))
}

/// The pipeline's lock (one `up` or `down` at a time per pipeline, account and region).
pub(super) async fn take_lock(cli: &Cli, loaded: &LoadedSpec, p: &Pipeline) -> Result<Lock> {
    let scope = lock::Scope {
        spec_dir: &loaded.base_dir,
        pipeline: &p.resolved.pipeline,
        account: &p.account,
        region: &p.region,
    };
    let command = format!("labctl {}", cli.command.word());
    lock::acquire(&scope, &command, lock::WAIT, &p.ctx.progress).await
}

/// Rows `up` cannot act on as planned: blocked, or not observable.
fn refusals(rows: &[Row]) -> Vec<&Row> {
    rows.iter()
        .filter(|r| matches!(r.action.as_str(), "blocked" | "failed"))
        .collect()
}

/// Before any change: when the plan has rows `up` cannot act on, print the plan with
/// every other row `not-started`, say why on stderr; exit 1.
fn refuse(cli: &Cli, p: &Pipeline, planned: &[Row]) -> i32 {
    let refused = refusals(planned);
    for r in &refused {
        eprintln!(
            "error: {} ({} {}): {}: {}",
            r.id,
            r.kind,
            r.name,
            r.action,
            r.detail.as_deref().unwrap_or("")
        );
    }
    eprintln!(
        "error: up refused before any change: {} resource(s) cannot be provisioned as planned (above); fix that, or pass --partial to apply everything else",
        refused.len()
    );
    let rows: Vec<Row> = planned
        .iter()
        .map(|r| {
            if matches!(r.action.as_str(), "blocked" | "failed") {
                return r.clone();
            }
            let mut n = r.clone();
            n.detail = Some(format!(
                "up refused before any change (planned: {})",
                r.action
            ));
            n.action = "not-started".into();
            n.drift.clear();
            n
        })
        .collect();
    session::print_report(cli, p, Outcome::rows(rows));
    exit::FAILED
}

/// `--adopt` takes over untagged resources: on a terminal, list them and ask; on
/// anything else, refuse (exit 2) unless `--yes`.
fn confirm_adopt(planned: &[Row]) -> Result<()> {
    let adopted: Vec<&Row> = planned.iter().filter(|r| r.action == "adopt").collect();
    if adopted.is_empty() {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "`up --adopt` would take over {} resource(s) labctl did not create ({}); pass --yes to confirm (stdin is not a terminal, so labctl cannot ask); nothing was changed",
            adopted.len(),
            adopted.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    eprintln!("`up --adopt` takes over these resources (tags them as this pipeline's, makes them match the spec; `down` will then delete them):");
    for r in &adopted {
        eprintln!("  {} {}", r.kind, r.name);
        for d in &r.drift {
            eprintln!("      {}: {} -> {}", d.field, d.actual, d.desired);
        }
    }
    eprint!("Type yes to go on: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != "yes" {
        return Err(UsageError("not confirmed; nothing was changed".into()).into());
    }
    Ok(())
}

/// The planned replacements that delete data (a bucket's objects, see
/// [`resource::bucket::DATA_AT_STAKE`]): name and what is at stake.
fn data_losses(planned: &[Row]) -> Vec<(&str, &str)> {
    planned
        .iter()
        .filter(|r| r.action == "replace")
        .filter_map(|r| {
            let d = r
                .drift
                .iter()
                .find(|d| d.field == resource::bucket::DATA_AT_STAKE)?;
            Some((r.name.as_str(), d.actual.as_str()))
        })
        .collect()
}

/// A replacement that deletes data happens only when the user says so: with
/// `--allow-data-loss`, or by typing the bucket's name on a terminal after the prompt
/// names each bucket, what it holds, the account and the region. Anything else is a
/// refusal before the first change (exit 2). Returns the buckets whose data may go.
fn confirm_data_loss(p: &Pipeline, planned: &[Row], allowed: bool) -> Result<Vec<String>> {
    let losses = data_losses(planned);
    let names: Vec<String> = losses.iter().map(|(n, _)| n.to_string()).collect();
    if losses.is_empty() || allowed {
        return Ok(names);
    }
    let listed = losses
        .iter()
        .map(|(n, what)| format!("{n} ({what})"))
        .collect::<Vec<_>>()
        .join(", ");
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "`up` would replace bucket(s) that hold data, deleting every object version: {listed} (account {}, region {}); labctl does not destroy data unless told to. Check --region / the spec's region; to replace anyway, run on a terminal to confirm or pass --allow-data-loss; nothing was changed",
            p.account, p.region
        ))
        .into());
    }
    eprintln!(
        "`up` replaces these buckets in account {} region {}, deleting every object version and delete marker in them first:",
        p.account, p.region
    );
    for (n, what) in &losses {
        eprintln!("  bucket {n}: {what}");
    }
    for (n, _) in &losses {
        eprint!("Type the bucket name {n} to delete its data: ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("reading the confirmation")?;
        if answer.trim() != *n {
            return Err(UsageError("not confirmed; nothing was changed".into()).into());
        }
    }
    Ok(names)
}

/// After Ctrl-C: the state each resource was left in, on stderr (the report, on
/// stdout, says the same per row).
pub(super) fn say_interrupted(command: &str, rows: &[Row]) {
    let not_done = rows.iter().filter(|r| r.is_failure()).count();
    if not_done == 0 {
        eprintln!("{command}: Ctrl-C came after the last step: everything was done");
        return;
    }
    eprintln!("{command} interrupted; each resource was left:");
    for line in crate::engine::report::left_lines(rows) {
        eprintln!("  {line}");
    }
}

/// A failed `up` says what failed on stderr too (the report is on stdout).
fn say_failures(rows: &[Row], interrupted: bool) {
    let failed: Vec<&Row> = rows.iter().filter(|r| r.action == "failed").collect();
    for r in &failed {
        eprintln!(
            "error: {} ({} {}) failed: {}",
            r.id,
            r.kind,
            r.name,
            r.detail.as_deref().unwrap_or("")
        );
    }
    let not_done = rows.iter().filter(|r| r.is_failure()).count();
    if interrupted {
        say_interrupted("up", rows);
    }
    if interrupted && not_done > 0 {
        eprintln!("error: up was interrupted; {not_done} resource(s) not done; run `labctl up` again to finish");
    } else if not_done > 0 {
        eprintln!("error: up did not finish: {not_done} of {} resource(s) not done (the report above says why); fix the cause and run `labctl up` again", rows.len());
    }
}
