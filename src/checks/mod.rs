//! The lab's validation steps as checks run by `labctl status`: records arriving in
//! the stream, raw data landing in S3, the application running and consuming,
//! aggregates landing, and the dashboard and alarms. Each check says pass, fail,
//! pending or not observable, with its evidence and, when not passing, the likely
//! cause and what to do. A check the endpoint cannot show is never reported as passed.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_kinesis::types::ShardIteratorType;
use serde::Serialize;
use serde_json::Value;

use crate::engine::executor::Row;
use crate::resource::dashboard::Dashboard;
use crate::resource::policy::static_prefix;
use crate::resource::Ctx;
use crate::spec::{DeliverySpec, Engine, SourceType, Spec};

/// How far back the checks look.
const WINDOW: Duration = Duration::from_secs(15 * 60);
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

fn check(step: u8, name: &str, outcome: Outcome, evidence: impl Into<String>) -> Check {
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
    fn because(mut self, cause: impl Into<String>, action: impl Into<String>) -> Check {
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

/// The newest object under a prefix: key, age, and its first bytes.
struct Newest {
    key: String,
    age: Duration,
    body: Vec<u8>,
}

async fn newest_object(ctx: &Ctx, bucket: &str, prefix: &str) -> Result<Option<Newest>> {
    let mut token: Option<String> = None;
    let mut best: Option<(String, DateTime)> = None;
    loop {
        let out = ctx
            .aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                crate::aws::errors::aws_err(&format!("listing s3://{bucket}/{prefix}"), e)
            })?;
        for o in out.contents() {
            let (Some(k), Some(t)) = (o.key(), o.last_modified()) else {
                continue;
            };
            if k.ends_with('/') {
                continue;
            }
            if best.as_ref().is_none_or(|(_, bt)| t.secs() >= bt.secs()) {
                best = Some((k.to_string(), *t));
            }
        }
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let Some((key, t)) = best else {
        return Ok(None);
    };
    let obj = ctx
        .aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .range("bytes=0-262143")
        .send()
        .await
        .map_err(|e| crate::aws::errors::aws_err(&format!("reading s3://{bucket}/{key}"), e))?;
    let body = obj
        .body
        .collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let age = Duration::from_secs(now.saturating_sub(t.secs()).max(0) as u64);
    Ok(Some(Newest { key, age, body }))
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

async fn metric_sum(
    ctx: &Ctx,
    ns: &str,
    metric: &str,
    dim: &str,
    value: &str,
    stat: Statistic,
) -> Result<Option<f64>> {
    let now = SystemTime::now();
    let out = ctx
        .aws
        .cloudwatch
        .get_metric_statistics()
        .namespace(ns)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(dim).value(value).build())
        .start_time(DateTime::from(now - WINDOW))
        .end_time(DateTime::from(now))
        .period(60)
        .statistics(stat.clone())
        .send()
        .await
        .map_err(|e| {
            crate::aws::errors::aws_err(&format!("reading the metric {ns}/{metric}"), e)
        })?;
    let points = out.datapoints();
    if points.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        points
            .iter()
            .filter_map(|p| {
                if stat == Statistic::Sum {
                    p.sum()
                } else {
                    p.maximum()
                }
            })
            .sum(),
    ))
}

/// Count records written in the window by reading every shard once from a timestamp.
async fn records_in_shards(ctx: &Ctx, stream: &str) -> Result<(usize, usize)> {
    let k = &ctx.aws.kinesis;
    let shards = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| crate::aws::errors::aws_err(&format!("listing the shards of {stream}"), e))?;
    let since = aws_sdk_kinesis::primitives::DateTime::from(SystemTime::now() - WINDOW);
    let mut n = 0;
    let ids: Vec<String> = shards
        .shards()
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    for id in &ids {
        let it = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(since)
            .send()
            .await
            .map_err(|e| {
                crate::aws::errors::aws_err(&format!("reading shard {id} of {stream}"), e)
            })?;
        if let Some(it) = it.shard_iterator() {
            let got = k
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .map_err(|e| {
                    crate::aws::errors::aws_err(&format!("reading shard {id} of {stream}"), e)
                })?;
            n += got.records().len();
        }
    }
    Ok((n, ids.len()))
}

fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

fn row<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

fn exists(r: Option<&Row>) -> bool {
    r.is_some_and(|r| matches!(r.action.as_str(), "ok" | "drift"))
}

/// Run the five checks. `rows` are the resource rows `status` already observed.
pub async fn run(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> (Vec<Check>, Vec<SensorRow>) {
    let local = ctx.plain_http();
    let mut checks = Vec::new();
    let mut sensors = Vec::new();

    // 1. Records arriving in the stream.
    let (first, arriving) = arriving_check(spec, ctx, rows).await;
    checks.push(first);

    // 2. Raw data landing; 4. aggregates landing.
    let raw = spec
        .delivery_streams
        .iter()
        .find(|(_, d)| d.source.kind == SourceType::KinesisStream);
    let app = spec.applications.iter().next();
    let processed = app.and_then(|(_, a)| {
        spec.delivery_streams
            .get_key_value(&a.output.delivery_stream)
    });
    let landing = Landing {
        spec,
        ctx,
        rows,
        local,
        arriving,
    };
    for (step, name, delivery, aggregate) in [
        (2u8, "raw data is landing in S3", raw, false),
        (4u8, "aggregates are landing in S3", processed, true),
    ] {
        let Some((did, d)) = delivery else {
            checks.push(check(
                step,
                name,
                Outcome::NotObservable,
                "the spec declares no such delivery stream",
            ));
            continue;
        };
        let Some(c) = landing
            .check(step, name, did, d, aggregate, &mut sensors)
            .await
        else {
            continue;
        };
        checks.push(c);
        if step == 2 {
            // 3. The application, between raw and processed.
            checks.push(app_check(spec, ctx, rows, local).await);
        }
    }
    checks.sort_by_key(|c| c.step);

    // 5. Dashboard and alarms.
    checks.push(dashboard_check(spec, ctx, rows).await);
    (checks, sensors)
}

/// Step 1, and whether records are arriving (steps 2 and 4 depend on it).
async fn arriving_check(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> (Check, bool) {
    let c1 = "records are arriving in the stream";
    let mut arriving = false;
    let c = match spec.streams.iter().next() {
        None => check(1, c1, Outcome::NotObservable, "the spec declares no stream"),
        Some((id, _)) if !exists(row(rows, id)) => {
            check(1, c1, Outcome::Fail, "the stream does not exist")
                .because("it was never created or was deleted", "run `labctl up`")
        }
        Some((_, s)) => {
            let metric = metric_sum(
                ctx,
                "AWS/Kinesis",
                "IncomingRecords",
                "StreamName",
                &s.name,
                Statistic::Sum,
            )
            .await;
            match metric {
                Ok(Some(n)) if n > 0.0 => {
                    arriving = true;
                    check(
                        1,
                        c1,
                        Outcome::Pass,
                        format!("{n:.0} records in the last 15 min (CloudWatch IncomingRecords)"),
                    )
                }
                _ => match records_in_shards(ctx, &s.name).await {
                    Ok((n, shards)) if n > 0 => {
                        arriving = true;
                        check(
                            1,
                            c1,
                            Outcome::Pass,
                            format!("{n} records in the last 15 min, read from {shards} shards"),
                        )
                    }
                    Ok((_, shards)) => check(
                        1,
                        c1,
                        Outcome::Pending,
                        format!("no records in the last 15 min ({shards} shards read)"),
                    )
                    .because(
                        "nothing is sending to the stream",
                        "start the producer: `labctl produce`",
                    ),
                    Err(e) => check(
                        1,
                        c1,
                        Outcome::Fail,
                        format!("cannot read the stream: {e:#}"),
                    )
                    .because(
                        "the stream cannot be read",
                        "check permissions, then run `labctl status` again",
                    ),
                },
            }
        }
    };
    (c, arriving)
}

/// What steps 2 and 4 look at, besides the delivery stream.
struct Landing<'a> {
    spec: &'a Spec,
    ctx: &'a Ctx,
    rows: &'a [Row],
    local: bool,
    arriving: bool,
}

impl Landing<'_> {
    /// Step 2 or 4 for one delivery stream; None when its bucket is not in the spec.
    /// The aggregates' per-sensor table goes to `sensors`.
    async fn check(
        &self,
        step: u8,
        name: &str,
        did: &str,
        d: &DeliverySpec,
        aggregate: bool,
        sensors: &mut Vec<SensorRow>,
    ) -> Option<Check> {
        let (spec, ctx, local, arriving) = (self.spec, self.ctx, self.local, self.arriving);
        let bucket = spec.buckets.get(&d.destination.bucket)?;
        let prefix = static_prefix(&d.destination.prefix);
        if !exists(row(self.rows, did)) {
            return Some(
                check(
                    step,
                    name,
                    Outcome::Fail,
                    format!("delivery stream {} does not exist", d.name),
                )
                .because("it was never created or was deleted", "run `labctl up`"),
            );
        }
        let c = match newest_object(ctx, &bucket.name, prefix).await {
            Err(e) => check(step, name, Outcome::Fail, format!("{e:#}")).because("the bucket cannot be read", "check the bucket exists and you may read it"),
            Ok(Some(obj)) => {
                let (c, table) = self.object_check(step, name, d, &bucket.name, &obj, aggregate);
                if let Some(t) = table {
                    *sensors = t;
                }
                c
            }
            Ok(None) if local => check(step, name, Outcome::NotObservable, format!("no objects under s3://{}/{prefix}", bucket.name))
                .because(
                    if aggregate { "the local stack does not run the analytics application's SQL" } else { "the local stack does not deliver from a Kinesis stream to S3" },
                    "check this on AWS",
                ),
            Ok(None) if !arriving => check(step, name, Outcome::Pending, format!("no objects under s3://{}/{prefix} yet", bucket.name))
                .because("no records are arriving in the stream", "start the producer: `labctl produce`"),
            Ok(None) => check(step, name, Outcome::Fail, format!("no objects under s3://{}/{prefix} while records arrive", bucket.name)).because(
                format!("{} cannot read its source or write to the bucket (or its {} s buffer has not flushed yet)", d.name, d.destination.buffering.interval_seconds),
                d.logging.as_ref().map(|l| format!("wait one buffer interval, then read the delivery error log group {}", l.log_group)).unwrap_or_else(|| "wait one buffer interval, then check the role's policy".into()),
            ),
        };
        Some(c)
    }

    /// The newest object under the prefix: does it parse, is it fresh? With the
    /// per-sensor table when it holds aggregates that parse.
    fn object_check(
        &self,
        step: u8,
        name: &str,
        d: &DeliverySpec,
        bucket: &str,
        obj: &Newest,
        aggregate: bool,
    ) -> (Check, Option<Vec<SensorRow>>) {
        let what = if aggregate {
            "per-sensor aggregates"
        } else {
            "sensor readings"
        };
        // The object is there but is not what the delivery should write.
        let unfit = |detail: String, cause: String| {
            let c = check(step, name, Outcome::Fail, detail)
                .because(cause, format!("inspect s3://{}/{}", bucket, obj.key));
            (c, None)
        };
        let recs = match records(&obj.body) {
            Ok(recs) => recs,
            Err(e) => {
                return unfit(
                    format!("newest object {}: {e}", obj.key),
                    format!("the object does not hold {what}"),
                )
            }
        };
        if let Some((i, p)) = first_problem(&recs, aggregate) {
            return unfit(
                format!("newest object {}: record {i} {p}", obj.key),
                format!("the object does not hold {what}"),
            );
        }
        if recs.is_empty() {
            return unfit(
                format!("newest object {} is empty", obj.key),
                "the delivery wrote an empty object".into(),
            );
        }
        let sensors = aggregate.then(|| sensor_table(&recs));
        let stale =
            obj.age > Duration::from_secs(d.destination.buffering.interval_seconds as u64 + 600);
        let c = if stale && !aggregate && self.arriving {
            check(
                step,
                name,
                Outcome::Fail,
                format!(
                    "newest object {} is {} old while records arrive",
                    obj.key,
                    fmt_age(obj.age)
                ),
            )
            .because(
                "delivery has stalled",
                d.logging
                    .as_ref()
                    .map(|l| format!("read the delivery error log group {}", l.log_group))
                    .unwrap_or_else(|| "check the delivery stream's role and the bucket".into()),
            )
        } else {
            check(
                step,
                name,
                Outcome::Pass,
                format!(
                    "newest object {} ({} old, {} {what} parse)",
                    obj.key,
                    fmt_age(obj.age),
                    recs.len()
                ),
            )
        };
        (c, sensors)
    }
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

async fn app_check(spec: &Spec, ctx: &Ctx, rows: &[Row], local: bool) -> Check {
    let name = "the analytics application is RUNNING and consuming";
    let Some((id, a)) = spec.applications.iter().next() else {
        return check(
            3,
            name,
            Outcome::NotObservable,
            "the spec declares no application",
        );
    };
    let Some(r) = row(rows, id) else {
        return check(3, name, Outcome::NotObservable, "not observed");
    };
    if r.action == "not-built" {
        return check(
            3,
            name,
            Outcome::NotObservable,
            "labctl cannot manage the application yet",
        )
        .because("not built in this version", "see the README");
    }
    if !exists(Some(r)) {
        return check(3, name, Outcome::Fail, "the application does not exist")
            .because("it was never created or was deleted", "run `labctl up`");
    }
    let state = r.state.clone().unwrap_or_default();
    if state != "RUNNING" {
        return check(
            3,
            name,
            Outcome::Fail,
            format!("the application is {state}"),
        )
        .because("it is not running", "run `labctl up`, which starts it");
    }
    let metric = match a.engine {
        Engine::Flink => "numRecordsIn",
        Engine::KinesisAnalyticsSql => "InputProcessing.OkRecords",
    };
    match metric_sum(
        ctx,
        "AWS/KinesisAnalytics",
        metric,
        "Application",
        &a.name,
        Statistic::Sum,
    )
    .await
    {
        Ok(Some(n)) if n > 0.0 => check(
            3,
            name,
            Outcome::Pass,
            format!("RUNNING; {n:.0} records in over the last 15 min ({metric})"),
        ),
        _ if local => check(
            3,
            name,
            Outcome::NotObservable,
            "RUNNING; consumption cannot be seen here",
        )
        .because(
            "the local stack runs no application and publishes no application metrics",
            "check this on AWS",
        ),
        _ => check(
            3,
            name,
            Outcome::Pending,
            format!("RUNNING; no {metric} in the last 15 min"),
        )
        .because(
            "the application has read nothing yet (or nothing is produced)",
            "start the producer, then wait a minute",
        ),
    }
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
