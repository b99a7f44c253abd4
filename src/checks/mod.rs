//! The lab's validation steps as checks run by `labctl status`: records arriving in
//! the stream, raw data landing in S3, the application running and consuming,
//! aggregates landing, and the dashboard and alarms. Each check says pass, fail,
//! pending or not observable, with its evidence and, when not passing, the likely
//! cause and what to do. A check the endpoint cannot show is never reported as passed,
//! and every check decides the same way on every endpoint: `not-observable` only when
//! the endpoint says it lacks the capability ([`capability`]), never from its address.

mod app;
pub mod capability;
mod landing;
pub mod metric;
mod stream;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::engine::executor::Row;
use crate::resource::dashboard::Dashboard;
use crate::resource::Ctx;
use crate::spec::{SourceType, Spec};
use capability::DataPlane;
use landing::{Landing, Newest, Step};

/// How far back the checks look.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The lab's temperature range; readings outside it are flagged.
pub const TEMPERATURE_RANGE: (f64, f64) = (10.0, 40.0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    Pending,
    NotObservable,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Pending => "pending",
            Outcome::NotObservable => "not-observable",
        }
    }
}

/// One data-flow check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub step: u8,
    pub name: String,
    pub outcome: Outcome,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

pub(crate) fn check(step: u8, name: &str, outcome: Outcome, evidence: impl Into<String>) -> Check {
    Check {
        step,
        name: name.into(),
        outcome,
        evidence: evidence.into(),
        cause: None,
        action: None,
    }
}

impl Check {
    pub(crate) fn because(mut self, cause: impl Into<String>, action: impl Into<String>) -> Check {
        self.cause = Some(cause.into());
        self.action = Some(action.into());
        self
    }
}

/// One sensor's latest aggregate from the newest processed object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SensorRow {
    pub sensor_id: String,
    pub window_end: String,
    pub avg_temperature: f64,
    pub max_temperature: f64,
    /// True when a value is outside the lab's temperature range.
    pub flagged: bool,
}

/// Parse concatenated or newline-separated JSON records (Firehose adds no separator).
/// Records cut at the read limit at the very end are ignored.
pub fn records(body: &[u8]) -> Result<Vec<Value>, String> {
    let body = maybe_gunzip(body);
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(&body).into_iter::<Value>();
    loop {
        match stream.next() {
            None => return Ok(out),
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) if e.is_eof() && body.len() >= 262_144 => return Ok(out),
            Some(Err(e)) => {
                return Err(format!(
                    "record {} does not parse as JSON ({e})",
                    out.len() + 1
                ))
            }
        }
    }
}

/// Firehose objects written with `compression: gzip` start with the gzip magic bytes.
fn maybe_gunzip(body: &[u8]) -> Vec<u8> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut d = flate2::read::MultiGzDecoder::new(body);
        // A range read may cut the stream: keep what decompressed.
        let _ = std::io::Read::read_to_end(&mut d, &mut out);
        out
    } else {
        body.to_vec()
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn number(v: &Value, name: &str) -> Option<f64> {
    field(v, name).and_then(|x| {
        x.as_f64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
}

/// Why a record is not a sensor reading, if it is not.
pub fn reading_problem(v: &Value) -> Option<String> {
    if field(v, "sensor_id").and_then(Value::as_str).is_none() {
        return Some("has no string sensor_id".into());
    }
    for f in ["temperature", "humidity", "pressure"] {
        if number(v, f).is_none() {
            return Some(format!("has no numeric {f}"));
        }
    }
    None
}

/// Why a record is not a per-sensor aggregate, if it is not.
pub fn aggregate_problem(v: &Value) -> Option<String> {
    if field(v, "sensor_id").and_then(Value::as_str).is_none() {
        return Some("has no string sensor_id".into());
    }
    for f in ["avg_temperature", "max_temperature"] {
        if number(v, f).is_none() {
            return Some(format!("has no numeric {f}"));
        }
    }
    None
}

/// Per sensor, the aggregate with the latest window end; flagged when out of range.
pub fn sensor_table(rows: &[Value]) -> Vec<SensorRow> {
    let mut table: Vec<SensorRow> = Vec::new();
    for r in rows {
        let Some(id) = field(r, "sensor_id").and_then(Value::as_str) else {
            continue;
        };
        let end = field(r, "window_end_time")
            .or_else(|| field(r, "window_end"))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default();
        let avg = number(r, "avg_temperature").unwrap_or(f64::NAN);
        let max = number(r, "max_temperature").unwrap_or(f64::NAN);
        let min = number(r, "min_temperature").unwrap_or(avg);
        let (lo, hi) = TEMPERATURE_RANGE;
        let flagged = max > hi || min < lo || avg > hi || avg < lo;
        let row = SensorRow {
            sensor_id: id.to_string(),
            window_end: end,
            avg_temperature: avg,
            max_temperature: max,
            flagged,
        };
        match table.iter_mut().find(|t| t.sensor_id == id) {
            Some(t) if row.window_end >= t.window_end => *t = row,
            Some(_) => {}
            None => table.push(row),
        }
    }
    table.sort_by(|a, b| a.sensor_id.cmp(&b.sensor_id));
    table
}

pub(crate) fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

pub(crate) fn row<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

pub(crate) fn exists(r: Option<&Row>) -> bool {
    r.is_some_and(|r| matches!(r.action.as_str(), "ok" | "drift"))
}

/// Run the five checks. `rows` are the resource rows `status` already observed.
pub async fn run(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> (Vec<Check>, Vec<SensorRow>) {
    let mut checks = Vec::new();
    let mut sensors = Vec::new();

    // 1. Records arriving in the stream.
    let (first, arriving) = stream::arriving_check(spec, ctx, rows).await;
    checks.push(first);

    // 3. The application, described once (its endpoint may say it runs no data plane).
    let app = spec.applications.iter().next();
    let described = match app {
        Some((_, a)) => Some(app::describe(ctx, a).await),
        None => None,
    };
    checks.push(app::app_check(spec, ctx, rows, described.as_ref()).await);

    // 2. Raw data landing; 4. aggregates landing.
    let landing = Landing {
        spec,
        ctx,
        rows,
        arriving,
        app_data_plane: described.map(|d| d.data_plane).unwrap_or(DataPlane::Runs),
    };
    for step in landing_steps(spec) {
        let c = match step {
            Ok(s) => landing.check(&s, &mut sensors).await,
            Err((step, name)) => Some(check(
                step,
                name,
                Outcome::NotObservable,
                "the spec declares no such delivery stream",
            )),
        };
        checks.extend(c);
    }
    checks.sort_by_key(|c| c.step);

    // 5. Dashboard and alarms.
    checks.push(dashboard_check(spec, ctx, rows).await);
    (checks, sensors)
}

/// Steps 2 and 4: the raw delivery (Kinesis source) and the application's output
/// delivery, or the step's number and name when the spec has no such delivery.
fn landing_steps(spec: &Spec) -> Vec<Result<Step<'_>, (u8, &'static str)>> {
    let stream_name = |id: &str| spec.streams.get(id).map(|s| s.name.as_str());
    let raw = spec
        .delivery_streams
        .iter()
        .find(|(_, d)| d.source.kind == SourceType::KinesisStream)
        .map(|(id, d)| Step {
            step: 2,
            name: "raw data is landing in S3",
            delivery: id,
            d,
            aggregate: false,
            stream: d.source.stream.as_deref().and_then(stream_name),
        });
    let processed = spec.applications.iter().next().and_then(|(_, a)| {
        let (id, d) = spec
            .delivery_streams
            .get_key_value(&a.output.delivery_stream)?;
        Some(Step {
            step: 4,
            name: "aggregates are landing in S3",
            delivery: id,
            d,
            aggregate: true,
            stream: stream_name(&a.input.stream),
        })
    });
    vec![
        raw.ok_or((2, "raw data is landing in S3")),
        processed.ok_or((4, "aggregates are landing in S3")),
    ]
}

/// The newest object under the prefix: does it parse, and how many records, with the
/// per-sensor table when it holds aggregates; the failing check when it is not what
/// the delivery should write.
fn object_check(
    s: &Step<'_>,
    bucket: &str,
    obj: &Newest,
) -> Result<(usize, Option<Vec<SensorRow>>), Check> {
    let what = if s.aggregate {
        "per-sensor aggregates"
    } else {
        "sensor readings"
    };
    // The object is there but is not what the delivery should write.
    let unfit = |detail: String, cause: String| {
        check(s.step, s.name, Outcome::Fail, detail)
            .because(cause, format!("inspect s3://{}/{}", bucket, obj.key))
    };
    let recs = records(&obj.body).map_err(|e| {
        unfit(
            format!("newest object {}: {e}", obj.key),
            format!("the object does not hold {what}"),
        )
    })?;
    if let Some((i, p)) = first_problem(&recs, s.aggregate) {
        return Err(unfit(
            format!("newest object {}: record {i} {p}", obj.key),
            format!("the object does not hold {what}"),
        ));
    }
    if recs.is_empty() {
        return Err(unfit(
            format!("newest object {} is empty", obj.key),
            "the delivery wrote an empty object".into(),
        ));
    }
    Ok((recs.len(), s.aggregate.then(|| sensor_table(&recs))))
}

/// The first record (1-based) that is not a reading (or an aggregate), and why.
fn first_problem(recs: &[Value], aggregate: bool) -> Option<(usize, String)> {
    recs.iter().enumerate().find_map(|(i, r)| {
        let p = if aggregate {
            aggregate_problem(r)
        } else {
            reading_problem(r)
        };
        p.map(|p| (i + 1, p))
    })
}

/// Whether a dashboard has every metric widget labctl puts there: the evidence, or
/// the problem.
async fn dashboard_widgets(spec: &Spec, ctx: &Ctx, name: &str) -> Result<String, String> {
    let want = Dashboard::new(spec, name, ctx.region()).body();
    let titles: Vec<String> = want["widgets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["properties"]["title"].as_str().map(str::to_string))
        .collect();
    let out = ctx
        .aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .map_err(|e| format!("dashboard {name}: {}", crate::aws::errors::sdk_message(&e)))?;
    let body = out.dashboard_body().unwrap_or("");
    let missing: Vec<&str> = titles
        .iter()
        .map(String::as_str)
        .filter(|t| !body.contains(t))
        .collect();
    if missing.is_empty() {
        Ok(format!(
            "dashboard {name} has all {} metric widgets",
            titles.len()
        ))
    } else {
        Err(format!("dashboard {name} lacks {}", missing.join(", ")))
    }
}

async fn dashboard_check(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> Check {
    let name = "the dashboard has every widget and no alarm is in ALARM";
    let mut evidence = Vec::new();
    let mut problems = Vec::new();
    for (id, d) in &spec.dashboards {
        if !exists(row(rows, id)) {
            problems.push(format!("dashboard {} does not exist", d.name));
            continue;
        }
        match dashboard_widgets(spec, ctx, &d.name).await {
            Ok(e) => evidence.push(e),
            Err(p) => problems.push(p),
        }
    }
    let mut firing = Vec::new();
    for (id, a) in &spec.alarms {
        match row(rows, id).and_then(|r| r.state.as_deref()) {
            Some("ALARM") => firing.push(a.name.clone()),
            Some(_) => {}
            None => problems.push(format!("alarm {} does not exist", a.name)),
        }
    }
    if !spec.alarms.is_empty() {
        evidence.push(format!(
            "{} alarms, {} in ALARM",
            spec.alarms.len(),
            firing.len()
        ));
    }
    if !firing.is_empty() {
        problems.push(format!("in ALARM: {}", firing.join(", ")));
    }
    if problems.is_empty() {
        check(5, name, Outcome::Pass, evidence.join("; "))
    } else {
        check(5, name, Outcome::Fail, problems.join("; ")).because(
            "a part of the monitoring is missing or an alarm fired",
            "run `labctl up` for missing parts; open the dashboard for a firing alarm",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_concatenated_and_line_separated_records() {
        let got = records(
            br#"{"a":1}{"a":2}
{"a":3}"#,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        assert!(records(b"{\"a\":1}{broken").is_err());
    }

    #[test]
    fn flags_out_of_range_sensors() {
        let rows: Vec<Value> = vec![
            serde_json::json!({"sensor_id": "sensor-001", "avg_temperature": 20.0, "min_temperature": 15.0, "max_temperature": 25.0, "window_end_time": "2026-01-01 00:01:00"}),
            serde_json::json!({"sensor_id": "sensor-001", "avg_temperature": 30.0, "min_temperature": 15.0, "max_temperature": 55.0, "window_end_time": "2026-01-01 00:02:00"}),
            serde_json::json!({"SENSOR_ID": "sensor-002", "AVG_TEMPERATURE": 21.0, "MAX_TEMPERATURE": 22.0, "WINDOW_END_TIME": "2026-01-01 00:02:00"}),
        ];
        let t = sensor_table(&rows);
        assert_eq!(t.len(), 2);
        assert!(t[0].flagged && t[0].max_temperature == 55.0);
        assert!(!t[1].flagged);
    }
}
