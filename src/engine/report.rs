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
    /// `plan` only: how many resources each kind of change touches, and the cost delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

/// `plan`'s summary: counts per change and what the hourly cost would change by.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Changes {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub adopt: usize,
    /// Rows `up` refuses to act on (blocked), cannot observe (failed) or cannot build.
    pub blocked: usize,
    /// Fixed US dollars per hour added (positive) or removed (negative) by the changes.
    pub usd_per_hour_delta: f64,
    /// Rows left out of the table because nothing changes for them (`plan --all` shows them).
    pub hidden: usize,
}

impl Changes {
    /// Count `rows` (every row of the plan, hidden or not).
    pub fn of(rows: &[Row]) -> Changes {
        let mut c = Changes::default();
        for r in rows {
            let cost = r.usd_per_hour.unwrap_or(0.0);
            match r.action.as_str() {
                "create" => {
                    c.create += 1;
                    c.usd_per_hour_delta += cost;
                }
                "update" => c.update += 1,
                "replace" => c.replace += 1,
                "delete" => {
                    c.delete += 1;
                    c.usd_per_hour_delta -= cost;
                }
                "adopt" => c.adopt += 1,
                "blocked" | "failed" => c.blocked += 1,
                _ => {}
            }
        }
        c
    }

    /// True when `up` would change something.
    pub fn pending(&self) -> bool {
        self.create + self.update + self.replace + self.delete + self.adopt > 0
    }

    /// `Plan: 3 to create, 1 to update, 1 to replace, 2 to delete; +$0.060/h`.
    pub fn line(&self) -> String {
        if !self.pending() && self.blocked == 0 {
            return "No changes: every resource matches the spec.".into();
        }
        let mut parts = vec![
            format!("{} to create", self.create),
            format!("{} to update", self.update),
            format!("{} to replace", self.replace),
            format!("{} to delete", self.delete),
        ];
        if self.adopt > 0 {
            parts.push(format!("{} to adopt", self.adopt));
        }
        if self.blocked > 0 {
            parts.push(format!("{} blocked (up refuses; see above)", self.blocked));
        }
        let sign = if self.usd_per_hour_delta < 0.0 {
            "-"
        } else {
            "+"
        };
        format!(
            "Plan: {}; {sign}${:.3}/h",
            parts.join(", "),
            self.usd_per_hour_delta.abs()
        )
    }
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
    render_changes(&mut out, report);
    render_remaining(&mut out, report);
    render_footer(&mut out, report);
    render_left(&mut out, report);
    render_next(&mut out, report);
    out
}

/// `plan`: the summary line, and how many unchanged rows are not shown.
fn render_changes(out: &mut String, report: &Report) {
    if let Some(c) = &report.changes {
        out.push_str(&format!("\n{}\n", c.line()));
        if c.hidden > 0 {
            out.push_str(&format!(
                "({} unchanged resource(s) not shown; `labctl plan --all` lists every one)\n",
                c.hidden
            ));
        }
    }
}

/// The last line: what to run next, after a successful `up` or any interrupted run.
fn render_next(out: &mut String, report: &Report) {
    let cmd = report.command.as_str();
    if report.interrupted && !report.ok {
        out.push_str(&format!(
            "next: `labctl {cmd}` finishes what Ctrl-C interrupted (it observes what AWS did meanwhile)\n"
        ));
    } else if cmd == "up" && report.ok {
        out.push_str("next: `labctl status` (is data flowing?), `labctl produce` (send readings), `labctl down` (stop paying)\n");
    } else if cmd == "down" && report.ok && report.interrupted {
        out.push_str(&format!(
            "next: `labctl leftovers --pipeline {}` (Ctrl-C skipped the search for anything else still tagged for the pipeline)\n",
            report.pipeline
        ));
    }
}

pub use super::executor::left_as;

/// One line per resource: `id (kind name): <left_as>`, for stderr after Ctrl-C.
pub fn left_lines(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{} ({} {}): {}", r.id, r.kind, r.name, left_as(r)))
        .collect()
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
    if report.resources.is_empty() {
        return;
    }
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

/// After a finished `down`, the last line: what is still there, of the spec and of
/// what the final search found still tagged for the pipeline; "nothing … is left"
/// only when both are empty.
fn render_left(out: &mut String, report: &Report) {
    if report.command != "down" || report.interrupted {
        return;
    }
    let mut left: Vec<String> = report
        .resources
        .iter()
        .filter(|r| !matches!(r.action.as_str(), "delete" | "absent" | "not-built"))
        .map(|r| r.name.clone())
        .collect();
    if let Some(rem) = &report.remaining {
        for f in rem {
            if !left.contains(&f.name) {
                left.push(f.name.clone());
            }
        }
    }
    if !left.is_empty() {
        out.push_str(&format!(
            "still there (check before you walk away): {}\n",
            left.join(", ")
        ));
    } else if report.remaining.is_none() {
        out.push_str("everything declared is gone; the search for other resources tagged for the pipeline did not answer (see the warning above)\n");
    } else {
        out.push_str("nothing billable is left of this pipeline\n");
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
        match (report.interrupted, report.ok) {
            (true, true) => " — interrupted after the last step: everything was done",
            (true, false) => " — interrupted; run it again to finish",
            _ => "",
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

/// Text from outside labctl (stream records, S3 objects, AWS messages, tag values)
/// made safe for a terminal: every control character except newline and tab (C0, DEL
/// and the C1 range, where a terminal reads ESC, CSI and OSC) is written as its Rust
/// escape (`\u{1b}`), so an OSC 52 clipboard write or a cursor move in the data shows
/// as text instead of acting. Table and text output only: JSON stays exact (its
/// encoder escapes control characters itself).
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn print(report: &Report, format: Format) {
    match format {
        Format::Table => print!("{}", printable(&render_table(report))),
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot render the report as JSON: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn terminal_controls_are_shown_as_text() {
        let hostile = "bucket\u{1b}]52;c;ZXZpbA==\u{7} \u{1b}[2J\u{9b}H ok\n\tnext";
        let shown = printable(hostile);
        assert!(
            !shown
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{shown:?}"
        );
        assert!(shown.contains("\\u{1b}]52;c;ZXZpbA==\\u{7}"), "{shown}");
        assert!(shown.ends_with(" ok\n\tnext"), "{shown}");
        assert!(matches!(
            printable("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }
}
