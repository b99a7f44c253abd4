//! `labctl status --watch`: the status report redrawn in place every few seconds,
//! with each key metric of the last 30 minutes drawn as a sparkline (one character a
//! minute): records into the stream, records delivered to S3, records into the app.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::resource::Ctx;
use crate::spec::{Engine, Spec};

const MINUTES: usize = 30;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value, scaled to the largest; `·` where there is no data.
pub fn sparkline(values: &[Option<f64>]) -> String {
    let max = values.iter().flatten().cloned().fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max <= 0.0 => BARS[0],
            Some(x) => {
                BARS[((x / max) * (BARS.len() - 1) as f64)
                    .round()
                    .clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// A metric over the last 30 minutes, one value a minute (None: no datapoint).
async fn series(ctx: &Ctx, ns: &str, metric: &str, dim: &str, value: &str) -> Vec<Option<f64>> {
    let now = SystemTime::now();
    let start = now - Duration::from_secs(60 * MINUTES as u64);
    let mut out = vec![None; MINUTES];
    let Ok(resp) = ctx
        .aws
        .cloudwatch
        .get_metric_statistics()
        .namespace(ns)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(dim).value(value).build())
        .start_time(DateTime::from(start))
        .end_time(DateTime::from(now))
        .period(60)
        .statistics(Statistic::Sum)
        .send()
        .await
    else {
        return out;
    };
    let start_s = DateTime::from(start).secs();
    for p in resp.datapoints() {
        if let (Some(t), Some(v)) = (p.timestamp(), p.sum()) {
            let i = ((t.secs() - start_s) / 60).clamp(0, MINUTES as i64 - 1) as usize;
            out[i] = Some(out[i].unwrap_or(0.0) + v);
        }
    }
    out
}

/// The sparkline block printed under the status report.
pub async fn render(spec: &Spec, ctx: &Ctx) -> String {
    let mut rows: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for s in spec.streams.values() {
        rows.push((
            format!("{} IncomingRecords", s.name),
            series(ctx, "AWS/Kinesis", "IncomingRecords", "StreamName", &s.name).await,
        ));
    }
    for d in spec.delivery_streams.values() {
        rows.push((
            format!("{} DeliveryToS3.Records", d.name),
            series(
                ctx,
                "AWS/Firehose",
                "DeliveryToS3.Records",
                "DeliveryStreamName",
                &d.name,
            )
            .await,
        ));
    }
    for a in spec.applications.values() {
        let m = match a.engine {
            Engine::Flink => "numRecordsIn",
            Engine::KinesisAnalyticsSql => "InputProcessing.OkRecords",
        };
        rows.push((
            format!("{} {m}", a.name),
            series(ctx, "AWS/KinesisAnalytics", m, "Application", &a.name).await,
        ));
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = format!("\nlast {MINUTES} minutes, one mark a minute (· no data)\n");
    for (name, values) in rows {
        let total: f64 = values.iter().flatten().fold(0.0, |a, b| a + b);
        out.push_str(&format!(
            "{name:<width$}  {}  {total:.0} in all\n",
            sparkline(&values)
        ));
    }
    out
}

/// The first line of each frame: what it is, when, how often, and how to quit.
pub fn header(interval: u64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
    format!(
        "labctl status --watch   {h:02}:{m:02}:{s:02} UTC   every {interval} s   Ctrl-C to quit"
    )
}

/// The frame width: the terminal's columns (`COLUMNS`, else the terminal's size),
/// kept within 80–100; 100 when unknown.
pub fn width() -> usize {
    let cols = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .or_else(terminal_columns);
    cols.unwrap_or(100).clamp(80, 100)
}

fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize struct owned here; a failed call is checked.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// The header, a rule, then every line of `body` cut to `width` columns (`…` marks a cut).
pub fn fit(header: &str, body: &str, width: usize) -> String {
    let cut = |line: &str| -> String {
        if line.chars().count() <= width {
            line.to_string()
        } else {
            let mut s: String = line.chars().take(width.saturating_sub(1)).collect();
            s.push('…');
            s
        }
    };
    let mut out = cut(header);
    out.push('\n');
    out.push_str(&"─".repeat(width.min(header.chars().count().max(40))));
    out.push('\n');
    for line in body.lines() {
        out.push_str(&cut(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fit_the_width_with_a_header() {
        let body = format!("short\n{}\n", "x".repeat(161));
        let f = fit(&header(10), &body, 80);
        assert!(f.lines().all(|l| l.chars().count() <= 80), "{f}");
        let first = f.lines().next().unwrap_or_default();
        assert!(
            first.contains("Ctrl-C to quit") && first.contains("UTC"),
            "{first}"
        );
        assert!(f.contains("short\n") && f.contains('…'));
    }

    #[test]
    fn sparklines_scale_to_the_largest_value() {
        assert_eq!(
            sparkline(&[Some(0.0), Some(50.0), Some(100.0), None]),
            "▁▅█·"
        );
        assert_eq!(sparkline(&[Some(0.0), None]), "▁·");
    }
}
