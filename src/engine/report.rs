//! Results on stdout: an aligned table for people, or one JSON document for
//! machines (`--output json`). The JSON shape is documented in the README.

use serde::Serialize;

use crate::engine::executor::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Everything a command reports.
#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub pipeline: String,
    pub region: String,
    pub account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub ok: bool,
    pub interrupted: bool,
    pub seconds: f64,
    pub resources: Vec<Row>,
    /// `plan` and `status`: what the pipeline costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::Summary>,
    /// `down` only: what still carries the pipeline's ownership tag afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<Vec<crate::resource::leftovers::Found>>,
    /// `status` only: the lab's validation steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::checks::Check>,
    /// `status` only: per-sensor aggregates from the newest processed object.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensors: Vec<crate::checks::SensorRow>,
}

/// The one-line summary: counts per action.
pub fn summary(rows: &[Row]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in rows {
        match counts.iter_mut().find(|(a, _)| *a == r.action) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.action.clone(), 1)),
        }
    }
    counts
        .iter()
        .map(|(a, n)| format!("{n} {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    render_resources(&mut out, report);
    render_checks(&mut out, report);
    render_sensors(&mut out, report);
    if let Some(c) = &report.cost {
        out.push_str(&format!("\n{}\n", c.line()));
    }
    render_remaining(&mut out, report);
    render_left(&mut out, report);
    render_footer(&mut out, report);
    out
}

/// The resource table, each row followed by its drift and detail.
fn render_resources(out: &mut String, report: &Report) {
    let head = [
        "RESOURCE",
        "KIND",
        "NAME",
        report_action_title(&report.command),
        "STATE",
        "TIME",
    ];
    let cells: Vec<[String; 6]> = report
        .resources
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.kind.clone(),
                r.name.clone(),
                r.action.clone(),
                r.state.clone().unwrap_or_else(|| "-".into()),
                if r.seconds > 0.0 {
                    format!("{:.1}s", r.seconds)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    let mut width = head.map(|h| h.len());
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |cols: [&str; 6]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(width).enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(head));
    for (c, r) in cells.iter().zip(&report.resources) {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]));
        for d in &r.drift {
            out.push_str(&format!("    {}: {} -> {}\n", d.field, d.actual, d.desired));
        }
        if let Some(d) = &r.detail {
            out.push_str(&format!("    {d}\n"));
        }
    }
}

/// The checks of `status`, with the likely cause of each that did not pass.
fn render_checks(out: &mut String, report: &Report) {
    if !report.checks.is_empty() {
        out.push_str("\nCHECK                                                      RESULT          EVIDENCE\n");
        for c in &report.checks {
            out.push_str(&format!(
                "{}. {:<55}  {:<14}  {}\n",
                c.step,
                c.name,
                c.outcome.word(),
                c.evidence
            ));
            if let Some(cause) = &c.cause {
                if c.outcome != crate::checks::Outcome::Pass {
                    out.push_str(&format!(
                        "   likely cause: {cause}; {}\n",
                        c.action.as_deref().unwrap_or("")
                    ));
                }
            }
        }
    }
}

/// The latest window of each sensor (`status`).
fn render_sensors(out: &mut String, report: &Report) {
    if !report.sensors.is_empty() {
        out.push_str("\nSENSOR       LAST WINDOW END          AVG TEMP  MAX TEMP\n");
        for s in &report.sensors {
            out.push_str(&format!(
                "{:<12} {:<24} {:>8.2}  {:>8.2}{}\n",
                s.sensor_id,
                s.window_end,
                s.avg_temperature,
                s.max_temperature,
                if s.flagged {
                    "  OUT OF RANGE (10-40)"
                } else {
                    ""
                }
            ));
        }
    }
}

/// What `down` found still tagged with the pipeline afterwards.
fn render_remaining(out: &mut String, report: &Report) {
    if let Some(rem) = &report.remaining {
        if rem.is_empty() {
            out.push_str(&format!(
                "\nchecked: nothing tagged labctl:pipeline={} remains in {} (nor in IAM)\n",
                report.pipeline, report.region
            ));
        } else {
            out.push_str(&format!(
                "\nstill tagged labctl:pipeline={} after down:\n",
                report.pipeline
            ));
            for f in rem {
                out.push_str(&format!("  {} {} ({})\n", f.kind, f.name, f.region));
            }
            out.push_str(&format!(
                "  (not in the spec any more?) remove them with `labctl leftovers --pipeline {} --delete`\n",
                report.pipeline
            ));
        }
    }
}

/// After a finished `down`: what of the spec is still there.
fn render_left(out: &mut String, report: &Report) {
    if report.command == "down" && !report.interrupted {
        let left: Vec<&str> = report
            .resources
            .iter()
            .filter(|r| !matches!(r.action.as_str(), "delete" | "absent"))
            .map(|r| r.name.as_str())
            .collect();
        if left.is_empty() {
            out.push_str("\nnothing billable is left of this pipeline\n");
        } else {
            out.push_str(&format!(
                "\nstill there (check before you walk away): {}\n",
                left.join(", ")
            ));
        }
    }
}

/// The closing line: command, pipeline, where, counts, time.
fn render_footer(out: &mut String, report: &Report) {
    out.push_str(&format!(
        "\n{} {} in {} ({}{}): {} in {:.1}s{}\n",
        report.command,
        report.pipeline,
        report.region,
        report.account,
        report
            .endpoint
            .as_ref()
            .map(|e| format!(", {e}"))
            .unwrap_or_default(),
        summary(&report.resources),
        report.seconds,
        if report.interrupted {
            " — interrupted; run it again to finish"
        } else {
            ""
        }
    ));
}

fn report_action_title(command: &str) -> &'static str {
    match command {
        "status" => "STATUS",
        "plan" => "PLANNED",
        _ => "ACTION",
    }
}

pub fn print(report: &Report, format: Format) {
    match format {
        Format::Table => print!("{}", render_table(report)),
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot render the report as JSON: {e}"),
        },
    }
}
