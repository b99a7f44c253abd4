//! One delivery stream's buffer and its delivery to S3.
//!
//! Emulated:
//! - Buffering ("Buffering hints", <https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html>;
//!   API `BufferingHints`, <https://docs.aws.amazon.com/firehose/latest/APIReference/API_BufferingHints.html>):
//!   records wait until `IntervalInSeconds` has passed since the first buffered record or
//!   `SizeInMBs` MiB are buffered, whichever comes first; defaults 300 s and 5 MiB.
//!   Interval 0 delivers at the next tick. Intervals scale by [`TimeScale`](super::scale::TimeScale).
//! - Object body: the records concatenated with no delimiter ("Understand data delivery in
//!   Amazon Data Firehose", <https://docs.aws.amazon.com/firehose/latest/dev/basic-deliver.html>:
//!   "By default, Firehose concatenates data without any delimiters").
//! - Object key: see [`prefix`](super::prefix).
//! - S3 failures ("Handle data delivery failures", <https://docs.aws.amazon.com/firehose/latest/dev/retry.html>:
//!   for an S3 destination, e.g. a bucket that no longer exists, Firehose "keeps retrying
//!   for up to 24 hours until the delivery succeeds … If data delivery fails for more than
//!   24 hours, your data is lost"): the object is retried (every [`RETRY_SECS`] s, scaled)
//!   and delivery of later objects waits behind it; after 24 h (scaled) it is dropped and
//!   counted in [`Stats::dropped_records`]. S3 failures do not go to the error prefix: AWS
//!   documents the error prefix for records that fail processing, and it lies in the same
//!   bucket anyway.
//! - A prefix the local stack cannot evaluate sends the records to the error prefix with
//!   error-output-type `processing-failed`, one JSON document per record in the form AWS
//!   documents for processing failures ("Handle failure in data transformation",
//!   <https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-failure-handling.html>).
//!   Which error-output-type AWS would use here is not documented (AWS validates prefixes
//!   at creation); `processing-failed` is the local stack's choice.
//!
//! Not emulated: compression (objects are always uncompressed), newline delimiters
//! (`AppendDelimiterToRecord` processor), Lambda processing, format conversion, dynamic
//! partitioning, S3 backup, encryption, the 24-hour retention of records not yet delivered
//! for reasons other than S3 failures.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;

use super::b64;
use super::metrics::{self, Datum, Publisher};
use super::prefix::{self, now_millis};
use super::scale::TimeScale;
use super::upstream::Upstream;

/// Seconds between retries of a failed S3 put (the local stack's choice; AWS documents
/// only that it keeps retrying for up to 24 hours).
pub const RETRY_SECS: f64 = 5.0;
/// How long a failing object is retried before it is dropped (retry.html: 24 hours).
pub const GIVE_UP_SECS: f64 = 24.0 * 3600.0;
/// The error-output-type of records whose prefix cannot be evaluated.
pub const PREFIX_FAILED: &str = "processing-failed";

/// One record as buffered.
#[derive(Debug, Clone)]
pub struct Record {
    pub data: Bytes,
    /// Approximate arrival time (ms since epoch): a Kinesis record's
    /// `ApproximateArrivalTimestamp`, or when Firehose accepted a Direct PUT record.
    pub arrival_ms: i64,
    /// When the record got into Firehose (ms since epoch), for `DataFreshness`.
    pub received_ms: i64,
}

/// Where and how a delivery stream writes (from `ExtendedS3DestinationConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub bucket: String,
    pub prefix: Option<String>,
    pub error_output_prefix: Option<String>,
    pub interval_secs: u64,
    pub size_mib: u64,
    /// `<Firehose stream version>` in object names: 1, plus one per configuration change.
    pub version: u64,
}

impl Destination {
    /// Read an `ExtendedS3DestinationConfiguration` / `S3DestinationConfiguration` (or the
    /// `…Description` / `…Update` forms, which use the same member names).
    pub fn from_json(v: &serde_json::Value, version: u64) -> Option<Destination> {
        let bucket_arn = v.get("BucketARN")?.as_str()?;
        let bucket = bucket_arn.rsplit(":::").next()?.to_string();
        let hints = v.get("BufferingHints");
        let num = |k: &str, d: u64| {
            hints
                .and_then(|h| h.get(k))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(d)
        };
        let s = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        Some(Destination {
            bucket,
            prefix: s("Prefix"),
            error_output_prefix: s("ErrorOutputPrefix"),
            interval_secs: num("IntervalInSeconds", 300),
            size_mib: num("SizeInMBs", 5),
            version,
        })
    }

    /// Apply an `ExtendedS3DestinationUpdate` (members absent stay as they were).
    pub fn update(&mut self, u: &serde_json::Value) {
        if let Some(b) = u
            .get("BucketARN")
            .and_then(serde_json::Value::as_str)
            .and_then(|a| a.rsplit(":::").next())
        {
            self.bucket = b.to_string();
        }
        if let Some(p) = u.get("Prefix").and_then(serde_json::Value::as_str) {
            self.prefix = Some(p.to_string());
        }
        if let Some(p) = u
            .get("ErrorOutputPrefix")
            .and_then(serde_json::Value::as_str)
        {
            self.error_output_prefix = Some(p.to_string());
        }
        if let Some(h) = u.get("BufferingHints") {
            if let Some(i) = h
                .get("IntervalInSeconds")
                .and_then(serde_json::Value::as_u64)
            {
                self.interval_secs = i;
            }
            if let Some(s) = h.get("SizeInMBs").and_then(serde_json::Value::as_u64) {
                self.size_mib = s;
            }
        }
        self.version += 1;
    }
}

/// Counters of one delivery stream, for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub incoming_records: u64,
    pub incoming_bytes: u64,
    pub delivered_records: u64,
    pub delivered_bytes: u64,
    pub objects: u64,
    /// Records written under the error prefix.
    pub error_records: u64,
    /// S3 puts that failed (each retry counts).
    pub failed_puts: u64,
    /// Records buffered or waiting for a (retried) put.
    pub pending_records: u64,
    /// Records given up after 24 hours (scaled) of failing puts.
    pub dropped_records: u64,
}

struct Batch {
    records: Vec<Record>,
    sealed: Instant,
    /// (key, body, is_error)
    object: Option<(String, Bytes, bool)>,
}

#[derive(Default)]
struct Buffer {
    records: Vec<Record>,
    bytes: u64,
    first_at: Option<Instant>,
    sealed: VecDeque<Batch>,
    stats: Stats,
}

/// A delivery stream the local stack delivers for.
pub struct Stream {
    pub name: String,
    pub region: String,
    /// The source stream's ARN when the source is a Kinesis data stream.
    pub kinesis_source: Option<String>,
    dest: Mutex<Destination>,
    buf: Mutex<Buffer>,
    notify: Notify,
    upstream: Upstream,
    metrics: Publisher,
    scale: TimeScale,
}

impl Stream {
    pub fn new(
        name: String,
        region: String,
        kinesis_source: Option<String>,
        dest: Destination,
        upstream: Upstream,
        metrics: Publisher,
        scale: TimeScale,
    ) -> Stream {
        Stream {
            name,
            region,
            kinesis_source,
            dest: Mutex::new(dest),
            buf: Mutex::default(),
            notify: Notify::new(),
            upstream,
            metrics,
            scale,
        }
    }

    pub fn destination(&self) -> Option<Destination> {
        self.dest.lock().ok().map(|d| d.clone())
    }

    pub fn update_destination(&self, u: &serde_json::Value) {
        if let Ok(mut d) = self.dest.lock() {
            d.update(u);
        }
    }

    pub fn stats(&self) -> Stats {
        self.buf
            .lock()
            .map(|b| {
                let mut s = b.stats.clone();
                s.pending_records = b.records.len() as u64
                    + b.sealed.iter().map(|x| x.records.len() as u64).sum::<u64>();
                s
            })
            .unwrap_or_default()
    }

    pub fn metric(&self, name: &'static str, value: f64, unit: &'static str) {
        self.metrics.put(Datum {
            region: self.region.clone(),
            stream: self.name.clone(),
            name,
            value,
            unit,
            at_ms: now_millis(),
        });
    }

    /// Buffer records (already counted as ingested by the caller's metrics).
    pub fn push(&self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let size_limit = self
            .dest
            .lock()
            .map(|d| d.size_mib.max(1) * 1024 * 1024)
            .unwrap_or(5 * 1024 * 1024);
        let mut sealed_any = false;
        if let Ok(mut b) = self.buf.lock() {
            for r in records {
                b.stats.incoming_records += 1;
                b.stats.incoming_bytes += r.data.len() as u64;
                b.bytes += r.data.len() as u64;
                b.records.push(r);
                if b.first_at.is_none() {
                    b.first_at = Some(Instant::now());
                }
                if b.bytes >= size_limit {
                    seal(&mut b);
                    sealed_any = true;
                }
            }
        }
        if sealed_any {
            self.notify.notify_one();
        }
    }

    fn tick(&self) -> Duration {
        let interval = self.dest.lock().map(|d| d.interval_secs).unwrap_or(300);
        let t = self.scale.apply(interval as f64) / 10;
        t.clamp(Duration::from_millis(10), Duration::from_millis(250))
    }

    /// The delivery loop: seals the buffer when its interval is up and writes sealed
    /// objects in order, retrying a failing one. Runs until aborted.
    pub async fn run(self: Arc<Self>) {
        let mut next_try: Option<Instant> = None;
        loop {
            let tick = self.tick();
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
            let interval = self
                .scale
                .apply(self.dest.lock().map(|d| d.interval_secs).unwrap_or(300) as f64);
            if let Ok(mut b) = self.buf.lock() {
                if b.first_at.is_some_and(|f| f.elapsed() >= interval) {
                    seal(&mut b);
                }
            }
            if next_try.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            next_try = None;
            loop {
                let batch = match self.buf.lock() {
                    Ok(mut b) => b.sealed.pop_front(),
                    Err(_) => None,
                };
                let Some(mut batch) = batch else { break };
                if self.deliver(&mut batch).await {
                    continue;
                }
                if batch.sealed.elapsed() >= self.scale.apply(GIVE_UP_SECS) {
                    tracing::warn!(stream = %self.name, records = batch.records.len(),
                        "local delivery: gave up on an object after 24 hours (scaled) of failed puts");
                    if let Ok(mut b) = self.buf.lock() {
                        b.stats.dropped_records += batch.records.len() as u64;
                    }
                    continue;
                }
                if let Ok(mut b) = self.buf.lock() {
                    b.sealed.push_front(batch);
                }
                next_try = Some(Instant::now() + self.scale.apply(RETRY_SECS));
                break;
            }
        }
    }

    /// Build the object of a batch once (key and body stay the same across retries).
    fn object_for(&self, batch: &Batch) -> Option<(String, Bytes, bool)> {
        let dest = self.destination()?;
        let oldest = batch.records.iter().map(|r| r.arrival_ms).min()?;
        let suffix = prefix::object_suffix(&self.name, dest.version, oldest);
        match prefix::object_prefix(dest.prefix.as_deref(), oldest) {
            Ok(p) => {
                let mut body = Vec::with_capacity(batch.records.iter().map(|r| r.data.len()).sum());
                for r in &batch.records {
                    body.extend_from_slice(&r.data);
                }
                Some((format!("{p}{suffix}"), Bytes::from(body), false))
            }
            Err(e) => {
                tracing::warn!(stream = %self.name, error = %e,
                    "local delivery: prefix not evaluated; records go to the error prefix");
                let ep = match prefix::error_prefix(
                    dest.prefix.as_deref(),
                    dest.error_output_prefix.as_deref(),
                    oldest,
                    PREFIX_FAILED,
                ) {
                    Ok(p) => p,
                    Err(e2) => {
                        tracing::warn!(stream = %self.name, error = %e2,
                            "local delivery: error prefix not evaluated either; records stay undelivered");
                        return None;
                    }
                };
                let now = now_millis();
                let mut body = String::new();
                for r in &batch.records {
                    let doc = serde_json::json!({
                        "attemptsMade": 1,
                        "arrivalTimestamp": r.arrival_ms,
                        "errorCode": "LocalStack.PrefixNotEvaluated",
                        "errorMessage": e.0,
                        "attemptEndingTimestamp": now,
                        "rawData": b64::encode(&r.data),
                    });
                    body.push_str(&doc.to_string());
                    body.push('\n');
                }
                Some((format!("{ep}{suffix}"), Bytes::from(body), true))
            }
        }
    }

    /// One put attempt; true when the batch is done with (written, or unwritable forever).
    async fn deliver(&self, batch: &mut Batch) -> bool {
        if batch.object.is_none() {
            batch.object = self.object_for(batch);
        }
        let Some((key, body, is_error)) = batch.object.clone() else {
            if let Ok(mut b) = self.buf.lock() {
                b.stats.dropped_records += batch.records.len() as u64;
            }
            return true;
        };
        let Some(bucket) = self.destination().map(|d| d.bucket) else {
            return false;
        };
        let n = batch.records.len() as u64;
        let bytes: u64 = batch.records.iter().map(|r| r.data.len() as u64).sum();
        match self
            .upstream
            .put_object(&self.region, &bucket, &key, body)
            .await
        {
            Ok(()) => {
                self.metric(metrics::S3_SUCCESS, 1.0, "Count");
                if let Ok(mut b) = self.buf.lock() {
                    if is_error {
                        b.stats.error_records += n;
                    } else {
                        b.stats.delivered_records += n;
                        b.stats.delivered_bytes += bytes;
                        b.stats.objects += 1;
                    }
                }
                if !is_error {
                    let oldest = batch
                        .records
                        .iter()
                        .map(|r| r.received_ms)
                        .min()
                        .unwrap_or(0);
                    let age = (now_millis() - oldest).max(0) as f64 / 1000.0;
                    self.metric(metrics::S3_RECORDS, n as f64, "Count");
                    self.metric(metrics::S3_BYTES, bytes as f64, "Bytes");
                    self.metric(metrics::S3_FRESHNESS, age, "Seconds");
                }
                tracing::debug!(stream = %self.name, %key, records = n, "local delivery: object written");
                true
            }
            Err(e) => {
                self.metric(metrics::S3_SUCCESS, 0.0, "Count");
                if let Ok(mut b) = self.buf.lock() {
                    b.stats.failed_puts += 1;
                }
                tracing::warn!(stream = %self.name, %bucket, error = %e,
                    "local delivery: S3 put failed; will retry");
                false
            }
        }
    }
}

fn seal(b: &mut Buffer) {
    if b.records.is_empty() {
        return;
    }
    let records = std::mem::take(&mut b.records);
    b.bytes = 0;
    b.first_at = None;
    b.sealed.push_back(Batch {
        records,
        sealed: Instant::now(),
        object: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_from_create_and_update() {
        let v = serde_json::json!({
            "BucketARN": "arn:aws:s3:::lab-bucket",
            "Prefix": "raw/",
            "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 1},
        });
        let mut d = Destination::from_json(&v, 1).unwrap();
        assert_eq!(d.bucket, "lab-bucket");
        assert_eq!((d.interval_secs, d.size_mib, d.version), (60, 1, 1));
        d.update(&serde_json::json!({"BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 2}}));
        assert_eq!((d.interval_secs, d.size_mib, d.version), (0, 2, 2));
        let d =
            Destination::from_json(&serde_json::json!({"BucketARN": "arn:aws:s3:::b"}), 1).unwrap();
        assert_eq!((d.interval_secs, d.size_mib), (300, 5));
        assert!(Destination::from_json(&serde_json::json!({}), 1).is_none());
    }
}
