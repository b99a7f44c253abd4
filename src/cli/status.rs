//! `labctl status`: every resource observed, the lab's data-flow checks, the cost so
//! far; `--watch` redraws it (see [`super::watch`]).

use std::io::IsTerminal;

use anyhow::Result;

use super::args::{Cli, Command};
use super::session::{self, Outcome};
use crate::checks::{self, Outcome as CheckOutcome};
use crate::engine::executor;
use crate::engine::report::{self, Format, Report};
use crate::error::exit;
use crate::resource;

pub async fn run(cli: &Cli) -> Result<i32> {
    let (report, code, sparklines) = observe(cli).await?;
    print!("{}", frame(&report, sparklines.as_deref(), cli.output));
    Ok(code)
}

/// One observation of the pipeline: its report, the exit code and, for a `--watch` table,
/// the sparklines.
async fn observe(cli: &Cli) -> Result<(Report, i32, Option<String>)> {
    let loaded = session::load(cli)?;
    let p = session::open(cli, &loaded).await?;
    super::plan::note_running(cli, &loaded.base_dir, &p);
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
    let sparklines = match (&cli.command, cli.output) {
        (Command::Status { watch: true, .. }, Format::Table) => {
            Some(super::watch::render(&p.resolved, &p.ctx).await)
        }
        _ => None,
    };
    Ok((session::make_report(cli, &p, outcome), code, sparklines))
}

/// The status as printed: JSON, the table (with the sparklines under `--watch`), or,
/// when nothing of the pipeline exists yet, one line saying so.
fn frame(report: &Report, sparklines: Option<&str>, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .unwrap_or_else(|e| format!("{{\"ok\": false, \"error\": \"cannot render: {e}\"}}\n"));
    }
    let nothing =
        !report.resources.is_empty() && report.resources.iter().all(|r| r.action == "missing");
    let mut out = if nothing {
        format!(
            "nothing of pipeline {} exists yet in {} (account {}): {} resources to create; run `labctl up`\n",
            report.pipeline,
            report.region,
            report.account,
            report.resources.len()
        )
    } else {
        report::render_table(report)
    };
    if let Some(s) = sparklines {
        out.push_str(s);
    }
    report::printable(&out).into_owned()
}

/// Resources tagged for the pipeline that the spec no longer declares, as `orphan`
/// rows with their hourly cost; a search that fails is a warning.
async fn orphan_rows(p: &session::Pipeline, nodes: &[resource::Node]) -> Vec<executor::Row> {
    match resource::orphans::find(&p.ctx, nodes, false).await {
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

/// `status --watch`: redraw until Ctrl-C, which quits at any moment (during a refresh
/// too: one SIGINT stream is listened to from the start, so none is lost). Each frame
/// starts with a header (time, interval, "Ctrl-C to quit") and is cut to the terminal's
/// width (80–100 columns). The exit code is the last completed status's.
pub async fn watch(cli: &Cli, interval: u64) -> i32 {
    let terminal = std::io::stdout().is_terminal();
    let Ok(mut sigint) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    else {
        return session::exit_code(cli, Err(anyhow::anyhow!("cannot listen for Ctrl-C")));
    };
    let mut last = exit::NOT_VALIDATED;
    loop {
        let observed = tokio::select! {
            r = observe(cli) => r,
            _ = sigint.recv() => return last,
        };
        let width = super::watch::width();
        match observed {
            Ok((report, code, sparklines)) => {
                last = code;
                let body = frame(&report, sparklines.as_deref(), cli.output);
                let text = if cli.output == Format::Table {
                    super::watch::fit(&super::watch::header(interval), &body, width)
                } else {
                    body
                };
                if terminal {
                    print!("\x1b[H\x1b[2J");
                }
                print!("{text}");
                if !terminal {
                    println!();
                }
            }
            Err(e) => {
                let code = session::exit_code(cli, Err(e));
                if code == exit::BAD_INPUT {
                    return code;
                }
                last = code;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
            _ = sigint.recv() => return last,
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
