//! `labctl plan`: what `up` would do to each resource, and the hourly cost. Changes nothing.

use anyhow::Result;

use super::args::Cli;
use super::session::{self, Outcome};
use crate::engine::executor;
use crate::error::exit;
use crate::resource;

pub async fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    let p = session::open(cli, &loaded).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let mut rows = executor::plan(&nodes, &p.ctx).await;
    let ok = !rows.iter().any(|r| r.action == "failed");
    let cost = crate::cost::annotate(&p.resolved, &mut rows, &p.region, false);
    let outcome = Outcome {
        ok,
        cost: Some(cost),
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if ok { exit::OK } else { exit::FAILED })
}
