//! `labctl down`: delete every resource the pipeline owns, dependents first, then
//! look for anything still tagged for the pipeline.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use super::args::Cli;
use super::session::{self, Outcome};
use crate::engine::executor;
use crate::error::{exit, UsageError};
use crate::resource;
use crate::spec::LoadedSpec;

pub async fn run(cli: &Cli, yes: bool) -> Result<i32> {
    let loaded = session::load(cli)?;
    session::check_endpoint(cli)?;
    if !yes {
        confirm(&loaded)?;
    }
    let p = session::open(cli, &loaded).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let (rows, interrupted) = executor::down(nodes, p.ctx.clone()).await;
    let ok = !interrupted && !rows.iter().any(|r| r.is_failure());
    // After a complete down, look for anything still tagged for the pipeline. The
    // Tagging API keeps listing deleted resources for a while: `find` confirms each hit
    // with the resource's own describe before it counts as left over, and lists IAM
    // roles only under labctl's path (see resource::leftovers).
    let remaining = if interrupted {
        None
    } else {
        match resource::leftovers::find(&p.ctx.aws, Some(&p.resolved.pipeline), true).await {
            Ok(found) => Some(found),
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

fn confirm(loaded: &LoadedSpec) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError("`down` deletes every resource of the pipeline and their data; pass --yes to confirm (stdin is not a terminal, so labctl cannot ask)".into()).into());
    }
    eprint!(
        "Delete every resource of pipeline `{}` declared in {} (and the data in its bucket)? Type yes to go on: ",
        loaded.spec.pipeline,
        loaded.file.display()
    );
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
