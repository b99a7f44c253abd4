//! `labctl up`: create or update every resource, dependencies first.

use anyhow::Result;

use super::args::Cli;
use super::session::{self, Outcome};
use crate::engine::executor;
use crate::error::exit;
use crate::resource;

pub async fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    // The Flink artifacts (lock, downloads, jar, SQL, zip) before anything is created.
    crate::artifact::prepare_spec(
        &loaded.spec.clone().with_base_dir(&loaded.base_dir),
        cli.quiet,
    )
    .await?;
    let p = session::open(cli, &loaded).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let (rows, interrupted) = executor::up(nodes, p.ctx.clone()).await;
    let ok = !interrupted && !rows.iter().any(|r| r.is_failure());
    let outcome = Outcome {
        ok,
        interrupted,
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if ok { exit::OK } else { exit::FAILED })
}
