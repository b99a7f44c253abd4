//! Firehose delivery for the local stack.
//!
//! moto (5.2.5) keeps Firehose's control plane (create, describe, list, tag, update,
//! delete) but delivers nothing the way AWS does: it never reads a Kinesis source, does
//! not buffer, writes one object per Direct PUT call and takes `!{…}` prefixes literally.
//! The local front hands every Firehose JSON request to a [`Delivery`], which
//!
//! - answers `PutRecord` / `PutRecordBatch` itself and buffers the records (or refuses them,
//!   as AWS does, for a delivery stream whose source is a Kinesis data stream);
//! - learns from [`Delivery::observe_forwarded`] which delivery streams moto created,
//!   updated and deleted; for one with a Kinesis source it reads every shard of the stream
//!   through moto's Kinesis API ([`reader`]);
//! - buffers per delivery stream and writes objects to moto's S3 with AWS's keys
//!   ([`stream`], [`prefix`]);
//! - publishes Firehose's CloudWatch metrics to moto's CloudWatch ([`metrics`]).
//!
//! Everything else passes through to moto unchanged, DescribeDeliveryStream included
//! (except for a stream a test marked failed: [`failed`], CREATING_FAILED until deleted).
//!
//! # Time scale
//! [`TimeScale`] multiplies every *wait* the delivery makes: the buffering interval, the
//! one-second GetRecords period, the S3 retry interval and the 24-hour give-up. `1.0` is
//! AWS's timing; `0.1` makes a 60 s buffering interval 6 s. Timestamps (object keys,
//! `ApproximateArrivalTimestamp`, metric timestamps, `DataFreshness`) are wall-clock and
//! never scaled.
//!
//! # What is not emulated
//! Destinations other than S3 (`ExtendedS3DestinationConfiguration` and the older
//! `S3DestinationConfiguration`); compression, encryption, Lambda processing, format
//! conversion, dynamic partitioning, S3 backup, `CustomTimeZone`; IAM (roles are not
//! assumed or checked); service quotas and throttling; the CREATING / DELETING states
//! (moto answers ACTIVE at once). Each submodule's doc lists its own limits.
//!
//! # Capability marker
//! [`CAPABILITY_HEADER`] is a response header the front adds to every Firehose response
//! while a [`Delivery`] serves it. AWS never sends it, SDKs ignore unknown headers, and plain
//! moto lacks it: a client that sees it on `DescribeDeliveryStream` knows the endpoint
//! delivers like AWS.

pub mod b64;
pub mod failed;
pub mod metrics;
pub mod prefix;
pub mod reader;
pub mod scale;
pub mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{HeaderMap, Response};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

use metrics::Publisher;
pub use scale::TimeScale;
pub use stream::{Destination, Stats};
use stream::{Record, Stream};
use upstream::Upstream;

/// Response header marking an endpoint whose Firehose delivers (see the module doc).
pub const CAPABILITY_HEADER: &str = "x-labctl-local-delivery";
/// Its value: the version of the delivery behaviour.
pub const CAPABILITY_VALUE: &str = "1";

/// Largest record Firehose accepts, before base64 (API_PutRecord.html: 1,000 KiB).
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;
/// Most records in one PutRecordBatch (API_PutRecordBatch.html).
pub const MAX_BATCH_RECORDS: usize = 500;
/// Largest PutRecordBatch request in record bytes (API_PutRecordBatch.html: 4 MiB).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Settings of a [`Delivery`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The emulator (moto) the front forwards to, e.g. `http://127.0.0.1:4566`.
    pub upstream: String,
    pub time_scale: TimeScale,
    /// Region for requests whose Authorization header names none.
    pub default_region: String,
}

impl Config {
    pub fn new(upstream: &str) -> Config {
        Config {
            upstream: upstream.to_string(),
            time_scale: TimeScale::default(),
            default_region: "us-east-1".into(),
        }
    }
}

struct Entry {
    stream: Arc<Stream>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Inner {
    cfg: Config,
    upstream: Upstream,
    metrics: Publisher,
    /// (region, delivery stream name) → its delivery.
    streams: Mutex<HashMap<(String, String), Entry>>,
    /// Streams answered as CREATING_FAILED until deleted ([`Delivery::fail_creation`]).
    failed: failed::Failed,
}

/// The local stack's Firehose delivery. Cheap to clone; one per front.
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

type Body = Full<Bytes>;

/// The region in a SigV4 Authorization header's credential scope.
pub fn region_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .split("Credential=")
        .nth(1)?
        .split('/')
        .nth(2)
        .map(str::to_string)
}

fn json_response(status: u16, body: &Value, error_type: Option<&str>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(t) = error_type.and_then(|t| hyper::header::HeaderValue::from_str(t).ok()) {
        r.headers_mut().insert("x-amzn-errortype", t);
    }
    r.headers_mut().insert(
        CAPABILITY_HEADER,
        hyper::header::HeaderValue::from_static(CAPABILITY_VALUE),
    );
    r
}

fn aws_error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"__type": code, "message": message}),
        Some(code),
    )
}

/// A Firehose RecordId: opaque, long, unique.
fn record_id() -> String {
    (0..112)
        .map(|_| char::from_digit(u32::from(fastrand::u8(0..16)), 16).unwrap_or('0'))
        .collect()
}

impl Delivery {
    /// Must be called inside a tokio runtime (it starts the metrics publisher).
    pub fn new(cfg: Config) -> Delivery {
        let upstream = Upstream::new(&cfg.upstream);
        let metrics = Publisher::start(upstream.clone());
        Delivery {
            inner: Arc::new(Inner {
                cfg,
                upstream,
                metrics,
                streams: Mutex::default(),
                failed: failed::Failed::default(),
            }),
        }
    }

    /// Add the capability header to a Firehose response the front forwards from moto.
    pub fn mark(headers: &mut HeaderMap) {
        headers.insert(
            CAPABILITY_HEADER,
            hyper::header::HeaderValue::from_static(CAPABILITY_VALUE),
        );
    }

    /// From now on answer DescribeDeliveryStream of `name` as CREATING_FAILED with this
    /// FailureDescription, until the stream is deleted (see [`failed`]).
    pub fn fail_creation(&self, name: &str, kind: &str, details: &str) {
        self.inner.failed.mark(name, kind, details);
    }

    /// DescribeDeliveryStream of a stream marked failed: moto's answer, CREATING_FAILED.
    async fn describe_failed(&self, headers: &HeaderMap, body: &[u8]) -> Option<Response<Body>> {
        let req = serde_json::from_slice::<Value>(body).ok()?;
        let name = req.get("DeliveryStreamName").and_then(Value::as_str)?;
        if !self.inner.failed.is_marked(name) {
            return None;
        }
        let region = region_of(headers).unwrap_or_else(|| self.inner.cfg.default_region.clone());
        let mut answer = self
            .inner
            .upstream
            .firehose(&region, "DescribeDeliveryStream", &req)
            .await
            .ok()?;
        self.inner
            .failed
            .patch(name, &mut answer)
            .then(|| json_response(200, &answer, None))
    }

    /// A Firehose JSON request (`op` from `X-Amz-Target: Firehose_20150804.<op>`).
    /// `Some`: the answer to send (moto never sees the request). `None`: forward it to moto
    /// unchanged, then call [`Delivery::observe_forwarded`] with moto's answer.
    pub async fn handle(
        &self,
        op: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Response<Body>> {
        if op == "DescribeDeliveryStream" {
            return self.describe_failed(headers, body).await;
        }
        if !matches!(op, "PutRecord" | "PutRecordBatch") {
            return None;
        }
        let region = region_of(headers).unwrap_or_else(|| self.inner.cfg.default_region.clone());
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return Some(aws_error(
                400,
                "SerializationException",
                "the request body is not JSON",
            ));
        };
        let name = req
            .get("DeliveryStreamName")
            .and_then(Value::as_str)?
            .to_string();
        let stream = match self.lookup(&region, &name) {
            Some(s) => s,
            // Created before this front started: learn it from moto, or let moto answer.
            None => self.adopt(&region, &name).await?,
        };
        if stream.kinesis_source.is_some() {
            // What AWS answers (aws/aws-cli#7010); writing-with-kinesis-streams.html:
            // "the Firehose PutRecord and PutRecordBatch operations are disabled".
            return Some(aws_error(
                400,
                "InvalidArgumentException",
                "This operation is not permitted on KinesisStreamAsSource delivery stream type.",
            ));
        }
        Some(if op == "PutRecord" {
            self.put_record(&stream, &req)
        } else {
            self.put_record_batch(&stream, &req)
        })
    }

    fn decode_record(r: &Value) -> Result<Bytes, &'static str> {
        let data = r
            .get("Data")
            .and_then(Value::as_str)
            .ok_or("Record.Data is required")?;
        let bytes = b64::decode(data).ok_or("Record.Data is not valid base64")?;
        if bytes.len() > MAX_RECORD_BYTES {
            return Err("Record.Data is larger than 1000 KiB");
        }
        Ok(Bytes::from(bytes))
    }

    /// PutRecord: `{"RecordId", "Encrypted"}` (API_PutRecord.html).
    fn put_record(&self, stream: &Arc<Stream>, req: &Value) -> Response<Body> {
        let data = match req
            .get("Record")
            .ok_or("Record is required")
            .and_then(Self::decode_record)
        {
            Ok(d) => d,
            Err(m) => return aws_error(400, "ValidationException", m),
        };
        let now = prefix::now_millis();
        let n = data.len();
        stream.push(vec![Record {
            data,
            arrival_ms: now,
            received_ms: now,
        }]);
        stream.metric(metrics::INCOMING_RECORDS, 1.0, "Count");
        stream.metric(metrics::INCOMING_BYTES, n as f64, "Bytes");
        json_response(
            200,
            &json!({"RecordId": record_id(), "Encrypted": false}),
            None,
        )
    }

    /// PutRecordBatch: `{"FailedPutCount", "Encrypted", "RequestResponses": [{"RecordId"} |
    /// {"ErrorCode", "ErrorMessage"}]}`, one entry per record in request order
    /// (API_PutRecordBatch.html).
    fn put_record_batch(&self, stream: &Arc<Stream>, req: &Value) -> Response<Body> {
        let Some(records) = req.get("Records").and_then(Value::as_array) else {
            return aws_error(400, "ValidationException", "Records is required");
        };
        if records.is_empty() || records.len() > MAX_BATCH_RECORDS {
            return aws_error(
                400,
                "ValidationException",
                &format!(
                    "1 validation error detected: Value at 'records' failed to satisfy constraint: \
                     Member must have length less than or equal to {MAX_BATCH_RECORDS} and greater than or equal to 1"
                ),
            );
        }
        let mut decoded = Vec::with_capacity(records.len());
        for r in records {
            match Self::decode_record(r) {
                Ok(d) => decoded.push(d),
                Err(m) => return aws_error(400, "ValidationException", m),
            }
        }
        let total: usize = decoded.iter().map(Bytes::len).sum();
        if total > MAX_BATCH_BYTES {
            return aws_error(
                400,
                "InvalidArgumentException",
                "Records size exceeds 4 MB limit",
            );
        }
        let now = prefix::now_millis();
        let n = decoded.len();
        stream.push(
            decoded
                .into_iter()
                .map(|data| Record {
                    data,
                    arrival_ms: now,
                    received_ms: now,
                })
                .collect(),
        );
        stream.metric(metrics::INCOMING_RECORDS, n as f64, "Count");
        stream.metric(metrics::INCOMING_BYTES, total as f64, "Bytes");
        let responses: Vec<Value> = (0..n).map(|_| json!({"RecordId": record_id()})).collect();
        json_response(
            200,
            &json!({"FailedPutCount": 0, "Encrypted": false, "RequestResponses": responses}),
            None,
        )
    }

    /// moto's answer to a forwarded Firehose request: start, update or stop deliveries.
    /// For `CreateDeliveryStream` with a Kinesis source this returns once every shard is
    /// positioned at `LATEST`, so the front should await it before answering the client.
    pub async fn observe_forwarded(
        &self,
        op: &str,
        req_body: &[u8],
        status: u16,
        resp_body: &[u8],
    ) {
        if !(200..300).contains(&status) {
            return;
        }
        let Ok(req) = serde_json::from_slice::<Value>(req_body) else {
            return;
        };
        let resp = serde_json::from_slice::<Value>(resp_body).unwrap_or(Value::Null);
        match op {
            "CreateDeliveryStream" => {
                // The region is in the ARN moto answers with.
                let region = resp
                    .get("DeliveryStreamARN")
                    .and_then(Value::as_str)
                    .and_then(|a| a.split(':').nth(3))
                    .unwrap_or(&self.inner.cfg.default_region)
                    .to_string();
                self.start(&region, &req, 1).await;
            }
            "DeleteDeliveryStream" => {
                let Some(name) = req.get("DeliveryStreamName").and_then(Value::as_str) else {
                    return;
                };
                self.stop(name);
            }
            "UpdateDestination" => {
                let Some(name) = req.get("DeliveryStreamName").and_then(Value::as_str) else {
                    return;
                };
                let update = req
                    .get("ExtendedS3DestinationUpdate")
                    .or_else(|| req.get("S3DestinationUpdate"));
                if let Ok(map) = self.inner.streams.lock() {
                    for ((_, n), e) in map.iter() {
                        if n == name {
                            match update {
                                Some(u) => e.stream.update_destination(u),
                                None => e.stream.update_destination(&json!({})),
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Stop a deleted delivery stream. Buffered records are dropped, not flushed:
    /// DeleteDeliveryStream "Deletes a Firehose stream and its data" and Firehose "doesn't
    /// make any guarantees with respect to delivering the data" once deleting
    /// (API_DeleteDeliveryStream.html).
    fn stop(&self, name: &str) {
        self.inner.failed.forget(name);
        let removed: Vec<Entry> = match self.inner.streams.lock() {
            Ok(mut map) => {
                let keys: Vec<_> = map.keys().filter(|(_, n)| n == name).cloned().collect();
                keys.iter().filter_map(|k| map.remove(k)).collect()
            }
            Err(_) => Vec::new(),
        };
        for e in removed {
            let pending = e.stream.stats().pending_records;
            if pending > 0 {
                tracing::info!(
                    stream = name,
                    pending,
                    "local delivery: deleted with records not yet delivered (dropped, as AWS may)"
                );
            }
            drop(e); // aborts its tasks
        }
    }

    fn lookup(&self, region: &str, name: &str) -> Option<Arc<Stream>> {
        self.inner
            .streams
            .lock()
            .ok()?
            .get(&(region.to_string(), name.to_string()))
            .map(|e| e.stream.clone())
    }

    /// Start delivering for a delivery stream described by a create request (or a
    /// describe answer's equivalent members).
    async fn start(&self, region: &str, req: &Value, version: u64) -> Option<Arc<Stream>> {
        let name = req
            .get("DeliveryStreamName")
            .and_then(Value::as_str)?
            .to_string();
        let dest_json = req
            .get("ExtendedS3DestinationConfiguration")
            .or_else(|| req.get("S3DestinationConfiguration"))
            .or_else(|| req.get("ExtendedS3DestinationDescription"))
            .or_else(|| req.get("S3DestinationDescription"));
        let Some(dest) = dest_json.and_then(|d| Destination::from_json(d, version)) else {
            tracing::info!(stream = %name, "local delivery: not an S3 destination; moto keeps it");
            return None;
        };
        let kinesis = req
            .get("KinesisStreamSourceConfiguration")
            .or_else(|| req.get("KinesisStreamSourceDescription"))
            .and_then(|k| k.get("KinesisStreamARN"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(c) = dest_json
            .and_then(|d| d.get("CompressionFormat"))
            .and_then(Value::as_str)
            .filter(|c| *c != "UNCOMPRESSED")
        {
            tracing::warn!(stream = %name, compression = c, "local delivery: compression is not emulated; objects are uncompressed");
        }
        let stream = Arc::new(Stream::new(
            name.clone(),
            region.to_string(),
            kinesis.clone(),
            dest,
            self.inner.upstream.clone(),
            self.inner.metrics.clone(),
            self.inner.cfg.time_scale,
        ));
        let mut tasks = vec![tokio::spawn(stream.clone().run())];
        if let Some(arn) = &kinesis {
            match reader::Reader::position(
                self.inner.upstream.clone(),
                arn,
                stream.clone(),
                self.inner.cfg.time_scale,
            )
            .await
            {
                Ok(r) => tasks.push(tokio::spawn(r.run())),
                Err(e) => {
                    tracing::warn!(stream = %name, source = %arn, error = %e,
                        "local delivery: cannot read the source stream; nothing will be delivered");
                }
            }
        }
        let entry = Entry {
            stream: stream.clone(),
            tasks,
        };
        if let Ok(mut map) = self.inner.streams.lock() {
            // A re-created stream replaces (and stops) the old delivery.
            map.insert((region.to_string(), name), entry);
        }
        Some(stream)
    }

    /// Learn a delivery stream moto already has (the front restarted, say) from
    /// DescribeDeliveryStream. Kinesis sources start at LATEST, as on creation.
    async fn adopt(&self, region: &str, name: &str) -> Option<Arc<Stream>> {
        let d = self
            .inner
            .upstream
            .firehose(
                region,
                "DescribeDeliveryStream",
                &json!({"DeliveryStreamName": name}),
            )
            .await
            .ok()?;
        let desc = d.get("DeliveryStreamDescription")?;
        let dest = desc.get("Destinations")?.as_array()?.first()?;
        let version = desc
            .get("VersionId")
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut req = json!({"DeliveryStreamName": name});
        for k in [
            "ExtendedS3DestinationDescription",
            "S3DestinationDescription",
        ] {
            if let Some(v) = dest.get(k) {
                req[k] = v.clone();
            }
        }
        if let Some(k) = desc
            .get("Source")
            .and_then(|s| s.get("KinesisStreamSourceDescription"))
        {
            req["KinesisStreamSourceDescription"] = k.clone();
        }
        self.start(region, &req, version).await
    }

    /// Take over every delivery stream moto has in `region` (for a front started on a
    /// running local stack).
    pub async fn adopt_existing(&self, region: &str) -> usize {
        let Ok(v) = self
            .inner
            .upstream
            .firehose(region, "ListDeliveryStreams", &json!({"Limit": 10000}))
            .await
        else {
            return 0;
        };
        let mut n = 0;
        for name in v
            .get("DeliveryStreamNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if self.lookup(region, name).is_none() && self.adopt(region, name).await.is_some() {
                n += 1;
            }
        }
        n
    }

    /// Counters of a delivery stream (by name, any region).
    pub fn stats(&self, name: &str) -> Option<Stats> {
        let map = self.inner.streams.lock().ok()?;
        map.iter()
            .find(|((_, n), _)| n == name)
            .map(|(_, e)| e.stream.stats())
    }

    /// Names of the delivery streams being delivered.
    pub fn streams(&self) -> Vec<String> {
        self.inner
            .streams
            .lock()
            .map(|m| m.keys().map(|(_, n)| n.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_credential_scope() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/eu-central-1/firehose/aws4_request, SignedHeaders=host"
                .parse()
                .unwrap(),
        );
        assert_eq!(region_of(&h).as_deref(), Some("eu-central-1"));
        assert_eq!(region_of(&HeaderMap::new()), None);
    }

    #[test]
    fn record_ids_are_unique() {
        assert_ne!(record_id(), record_id());
        assert_eq!(record_id().len(), 112);
    }
}
