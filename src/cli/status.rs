//! `labctl status`: every resource observed, the lab's data-flow checks, the cost so
//! far; `--watch` redraws it (see [`super::watch`]).

use std::io::IsTerminal;

use anyhow::Result;

use super::args::{Cli, Command};
use super::session::{self, Outcome};
use crate::checks::{self, Outcome as CheckOutcome};
use crate::engine::executor;
use crate::engine::report::Format;
use crate::error::exit;
use crate::resource;

pub async fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    let p = session::open(cli, &loaded).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let mut rows = executor::status(&nodes, &p.ctx).await;
    let (checks, sensors) = checks::run(&p.resolved, &p.ctx, &rows).await;
    let mut cost = crate::cost::annotate(&p.resolved, &mut rows, &p.region, true);
    // Pruning: what is tagged for the pipeline but no longer declared is `orphan` (exit 3).
    let extra = orphan_rows(&p, &nodes).await;
    cost.usd_per_hour += extra.iter().filter_map(|r| r.usd_per_hour).sum::<f64>();
    rows.extend(extra);
    let code = exit_code(&rows, &checks);
    let ok = code == exit::OK;
    let outcome = Outcome {
        ok,
        checks,
        sensors,
        cost: Some(cost),
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    if let (Command::Status { watch: true, .. }, Format::Table) = (&cli.command, cli.output) {
        print!("{}", super::watch::render(&p.resolved, &p.ctx).await);
    }
    Ok(code)
}

/// Resources tagged for the pipeline that the spec no longer declares, as `orphan`
/// rows with their hourly cost; a search that fails is a warning.
async fn orphan_rows(p: &session::Pipeline, nodes: &[resource::Node]) -> Vec<executor::Row> {
    match resource::orphans::find(&p.ctx, nodes).await {
        Ok(o) => {
            let price = |id: &str| {
                o.found
                    .iter()
                    .find(|f| resource::orphans::id_of(&f.kind, &f.name) == id)
                    .map(|f| f.usd_per_hour)
            };
            crate::engine::prune::status_rows(&o.nodes, &p.resolved.pipeline, price)
        }
        Err(e) => {
            tracing::warn!("{e:#}");
            Vec::new()
        }
    }
}

/// 0 only when every resource is as declared and all five checks pass; 1 when a
/// resource could not be observed; 3 when something is missing, drifted or not ours, or
/// a check fails; else 4: nothing failed, but a check is pending or not observable.
pub fn exit_code(rows: &[executor::Row], checks: &[checks::Check]) -> i32 {
    let all_pass = checks.iter().all(|c| c.outcome == CheckOutcome::Pass);
    let failing = checks.iter().any(|c| c.outcome == CheckOutcome::Fail);
    if rows.iter().any(|r| r.action == "failed") {
        exit::FAILED
    } else if !executor::status_ok(rows) || failing {
        exit::DRIFT
    } else if all_pass {
        exit::OK
    } else {
        exit::NOT_VALIDATED
    }
}

/// `status --watch`: redraw until Ctrl-C; the exit code is the last status's.
pub async fn watch(cli: &Cli, interval: u64) -> i32 {
    let terminal = std::io::stdout().is_terminal();
    loop {
        if terminal {
            print!("\x1b[H\x1b[2J");
        }
        let code = session::exit_code(cli, run(cli).await);
        if code == exit::BAD_INPUT {
            return code;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
            _ = tokio::signal::ctrl_c() => return code,
        }
        if !terminal {
            println!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Check, Outcome as O};

    fn row(action: &str) -> executor::Row {
        executor::Row {
            id: "s".into(),
            kind: "stream".into(),
            name: "s".into(),
            action: action.into(),
            state: None,
            drift: Vec::new(),
            usd_per_hour: None,
            created: None,
            detail: None,
            seconds: 0.0,
        }
    }

    fn checks(outcomes: &[O]) -> Vec<Check> {
        outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| Check {
                step: i as u8 + 1,
                name: "c".into(),
                outcome: *o,
                evidence: String::new(),
                cause: None,
                action: None,
            })
            .collect()
    }

    #[test]
    fn zero_only_when_everything_matches_and_all_five_pass() {
        let ok = [row("ok")];
        assert_eq!(exit_code(&ok, &checks(&[O::Pass; 5])), exit::OK);
        let pending = [O::Pass, O::Pending, O::Pass, O::Pass, O::Pass];
        assert_eq!(exit_code(&ok, &checks(&pending)), exit::NOT_VALIDATED);
        let unseen = [O::Pass, O::Pass, O::NotObservable, O::Pass, O::Pass];
        assert_eq!(exit_code(&ok, &checks(&unseen)), exit::NOT_VALIDATED);
        let failing = [O::Pass, O::Pending, O::Fail, O::Pass, O::Pass];
        assert_eq!(exit_code(&ok, &checks(&failing)), exit::DRIFT);
        assert_eq!(
            exit_code(&[row("drift")], &checks(&[O::Pass; 5])),
            exit::DRIFT
        );
        assert_eq!(
            exit_code(&[row("failed")], &checks(&[O::Pass; 5])),
            exit::FAILED
        );
    }
}
