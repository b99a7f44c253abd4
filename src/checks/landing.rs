//! Checks 2 and 4: raw readings and per-sensor aggregates landing in S3. The newest
//! object under the delivery's static prefix must parse as what the delivery writes;
//! records that arrived in the stream after it must show up within one buffer interval
//! (plus the aggregation window for aggregates) and a grace period, else delivery has
//! stalled. Until the first buffer interval after records start is over, no object is
//! `pending`, not `fail`. Knows nothing of how objects get there.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use serde_json::Value;

use super::capability::DataPlane;
use super::content::{aggregate_problem, reading_problem, records, sensor_table};
use super::model::{check, exists, fmt_age, row, Check, Outcome, SensorRow};
use super::stream::arrivals;
use crate::engine::executor::Row;
use crate::resource::policy::static_prefix;
use crate::resource::Ctx;
use crate::spec::{DeliverySpec, Spec};

/// Time Firehose may take beyond its buffer interval to read its source and write the
/// object (reading from Kinesis and the S3 write are not instantaneous).
const GRACE: Duration = Duration::from_secs(60);
/// The application's one-minute tumbling window plus its watermark delay (five
/// seconds in the lab's SQL): an aggregate exists only after its window closes.
const AGGREGATION: Duration = Duration::from_secs(65);

/// The newest object under a prefix: key, when it was written, and its first bytes.
pub struct Newest {
    pub key: String,
    pub written: SystemTime,
    pub body: Vec<u8>,
}

impl Newest {
    pub fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.written)
            .unwrap_or_default()
    }
}

pub async fn newest_object(ctx: &Ctx, bucket: &str, prefix: &str) -> Result<Option<Newest>> {
    let mut token: Option<String> = None;
    let mut best: Option<(String, DateTime)> = None;
    loop {
        let out = ctx
            .aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .expected_bucket_owner(ctx.account())
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
        .expected_bucket_owner(ctx.account())
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
    let written = SystemTime::try_from(t).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(Some(Newest { key, written, body }))
}

/// What steps 2 and 4 look at, besides the delivery stream.
pub struct Landing<'a> {
    pub spec: &'a Spec,
    pub ctx: &'a Ctx,
    pub rows: &'a [Row],
    pub arriving: bool,
    /// What the application's endpoint said of its data plane (step 4 only).
    pub app_data_plane: DataPlane,
}

/// One of steps 2 and 4: which delivery, and what it carries.
pub struct Step<'a> {
    pub step: u8,
    pub name: &'a str,
    pub delivery: &'a str,
    pub d: &'a DeliverySpec,
    pub aggregate: bool,
    /// The stream whose records the objects carry (directly or aggregated).
    pub stream: Option<&'a str>,
}

impl Step<'_> {
    fn what(&self) -> &'static str {
        if self.aggregate {
            "per-sensor aggregates"
        } else {
            "sensor readings"
        }
    }
    /// How long after a record arrives its object may still be missing.
    fn allowance(&self) -> Duration {
        let interval = Duration::from_secs(self.d.destination.buffering.interval_seconds as u64);
        interval
            + GRACE
            + if self.aggregate {
                AGGREGATION
            } else {
                Duration::ZERO
            }
    }
    fn fail(&self, evidence: String, cause: String) -> Check {
        let action = self
            .d
            .logging
            .as_ref()
            .map(|l| format!("read the delivery error log group {}", l.log_group))
            .unwrap_or_else(|| "check the delivery stream's role and the bucket".into());
        check(self.step, self.name, Outcome::Fail, evidence).because(cause, action)
    }
}

impl Landing<'_> {
    /// Step 2 or 4 for one delivery stream, always a check (a bucket the spec does not
    /// declare is `not-observable`). The aggregates' per-sensor table goes to `sensors`.
    pub async fn check(&self, s: &Step<'_>, sensors: &mut Vec<SensorRow>) -> Check {
        let Some(bucket) = self.spec.buckets.get(&s.d.destination.bucket) else {
            return check(
                s.step,
                s.name,
                Outcome::NotObservable,
                format!(
                    "{} writes to bucket `{}`, which the spec does not declare",
                    s.d.name, s.d.destination.bucket
                ),
            );
        };
        let prefix = static_prefix(&s.d.destination.prefix);
        if !exists(row(self.rows, s.delivery)) {
            let c = check(
                s.step,
                s.name,
                Outcome::Fail,
                format!("delivery stream {} does not exist", s.d.name),
            )
            .because("it was never created or was deleted", "run `labctl up`");
            return c;
        }
        let c = match newest_object(self.ctx, &bucket.name, prefix).await {
            Err(e) => check(s.step, s.name, Outcome::Fail, format!("{e:#}")).because(
                "the bucket cannot be read",
                "check the bucket exists and you may read it",
            ),
            Ok(Some(obj)) => match object_check(s, &bucket.name, &obj) {
                Ok(table) => {
                    if let Some(t) = table.1 {
                        *sensors = t;
                    }
                    self.fresh(s, &obj, table.0).await
                }
                Err(c) => c,
            },
            Ok(None) => self.nothing_yet(s, &bucket.name, prefix).await,
        };
        c
    }

    /// How long the first record after `since` has been due, if one arrived: raw
    /// records from their arrival; for aggregates, from when a later record (one window
    /// and the watermark on) closed its window, zero while none has (the last window of a
    /// stopped producer never closes, on AWS as here).
    async fn waiting(&self, s: &Step<'_>, since: SystemTime) -> Option<Duration> {
        if !self.arriving {
            return None;
        }
        // Read back far enough that a record due longer than the allowance is seen.
        let lookback = s.allowance() + GRACE;
        let (first, last) = arrivals(self.ctx, s.stream?, since, lookback, s.aggregate).await?;
        let due = if s.aggregate {
            let closed_by = first + AGGREGATION;
            if closed_by > last {
                return Some(Duration::ZERO);
            }
            closed_by
        } else {
            first
        };
        Some(SystemTime::now().duration_since(due).unwrap_or_default())
    }

    /// No object under the prefix: not observable, pending or failed.
    async fn nothing_yet(&self, s: &Step<'_>, bucket: &str, prefix: &str) -> Check {
        let none = format!("no objects under s3://{bucket}/{prefix}");
        if s.aggregate {
            if let Some(why) = self.app_data_plane.absent_because() {
                return check(
                    s.step,
                    s.name,
                    Outcome::NotObservable,
                    format!("{none}; {why}"),
                )
                .because(
                    "the application is not run by this endpoint",
                    "check this on AWS",
                );
            }
        }
        match self.waiting(s, SystemTime::UNIX_EPOCH).await {
            None => check(s.step, s.name, Outcome::Pending, format!("{none} yet")).because(
                "no records are arriving in the stream",
                "start the producer: `labctl produce`",
            ),
            Some(w) if w <= s.allowance() => check(
                s.step,
                s.name,
                Outcome::Pending,
                format!(
                    "{none} yet; records have been due for {}, the first objects within {}",
                    fmt_age(w),
                    fmt_age(s.allowance())
                ),
            )
            .because(
                format!(
                    "{} buffers records for {} s before it writes",
                    s.d.name, s.d.destination.buffering.interval_seconds
                ),
                "wait, then run `labctl status` again",
            ),
            Some(w) => s.fail(
                format!("{none} while records have arrived for {}", fmt_age(w)),
                format!("{} cannot read its source or write to the bucket", s.d.name),
            ),
        }
    }

    /// A good newest object: passing unless records older than the allowance arrived
    /// after it and are still not delivered (stale).
    async fn fresh(&self, s: &Step<'_>, obj: &Newest, count: usize) -> Check {
        let evidence = format!(
            "newest object {} ({} old, {count} {} parse)",
            obj.key,
            fmt_age(obj.age()),
            s.what()
        );
        let after = obj.written + Duration::from_secs(1);
        match self.waiting(s, after).await {
            Some(w) if w > s.allowance() => s.fail(
                format!(
                    "newest object {} is {} old; records due {} ago are not delivered",
                    obj.key,
                    fmt_age(obj.age()),
                    fmt_age(w)
                ),
                "delivery has stalled".into(),
            ),
            _ => check(s.step, s.name, Outcome::Pass, evidence),
        }
    }
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
