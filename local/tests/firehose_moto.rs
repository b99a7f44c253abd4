//! The local stack's Firehose delivery ([`labctl_local::firehose`]) against a real moto
//! server, behind the real front (`labctl_local::front`, its waits scaled by [`SCALE`]):
//! a Kinesis source read from LATEST and delivered under the evaluated prefix, Direct PUT
//! buffered and answered as AWS does, the size hint, records around a SplitShard, a
//! deleted bucket retried without loss, an unevaluable prefix sent to the error prefix,
//! delivery streams adopted by a front that never saw them created, and the CloudWatch
//! metrics with AWS's names.
//!
//! moto is the one `scripts/local-stack install` puts in `.labctl/venv` (or
//! `LABCTL_MOTO_SERVER`). Without it every test here says SKIPPED loudly and passes,
//! unless `CI_REQUIRE_MOTO=1` (set by `.ci/run`): then a missing moto fails them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use labctl_local::firehose::prefix::{now_millis, Utc};
use labctl_local::firehose::upstream::{encode_key, error_code, fake_authorization, Upstream};
use labctl_local::firehose::{b64, Config, Delivery, TimeScale, CAPABILITY_HEADER};
use labctl_local::front;
use serde_json::{json, Value};

const SCALE: f64 = 0.05;
const REGION: &str = "us-east-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/firehose";

/// `LABCTL_MOTO_SERVER`, else the workspace's `.labctl/venv/bin/moto_server`; `None` when
/// it is not there (and `CI_REQUIRE_MOTO` is not `1`).
fn moto_binary() -> Option<PathBuf> {
    let p = match std::env::var("LABCTL_MOTO_SERVER") {
        Ok(p) => PathBuf::from(p),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.labctl/venv/bin/moto_server"),
    };
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI_REQUIRE_MOTO").as_deref() != Ok("1"),
        "CI_REQUIRE_MOTO=1 but there is no moto server at {}: run `scripts/local-stack install`",
        p.display()
    );
    None
}

macro_rules! need_moto {
    () => {
        match moto_binary() {
            Some(b) => b,
            None => {
                eprintln!(
                    "\n*** SKIPPED {}: no moto server (run `scripts/local-stack install` or set LABCTL_MOTO_SERVER); \
                     CI sets CI_REQUIRE_MOTO=1 so this cannot pass unrun there ***\n",
                    module_path!()
                );
                return;
            }
        }
    };
}

struct Env {
    _moto: tokio::process::Child,
    front: String,
    delivery: Delivery,
    api: Upstream,
    http: Client<HttpConnector, Full<Bytes>>,
}

async fn start(bin: &Path) -> Env {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").port()
    };
    let moto = tokio::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server starts");
    let moto_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let f = front::start_scaled(0, &moto_url, TimeScale(SCALE))
        .await
        .expect("the front starts");
    let front = f.url();
    Env {
        _moto: moto,
        api: Upstream::new(&front),
        front,
        delivery: f.delivery().clone(),
        http: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Env {
    /// A raw request through the front: (status, headers, body).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> (u16, hyper::HeaderMap, Bytes) {
        let t = Utc::from_millis(now_millis());
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.front, path))
            .header("x-amz-date", t.amz_date())
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("authorization", fake_authorization(service, REGION, &t));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .http
            .request(req.body(Full::new(body)).expect("request"))
            .await
            .expect("front answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body)
    }

    async fn create_bucket(&self, bucket: &str) {
        let (s, _, b) = self
            .raw("PUT", &format!("/{bucket}"), "s3", &[], Bytes::new())
            .await;
        assert_eq!(s, 200, "CreateBucket: {}", String::from_utf8_lossy(&b));
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (s, _, b) = self
            .raw(
                "GET",
                &format!("/{bucket}?list-type=2&prefix={}", encode_key(prefix)),
                "s3",
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(s, 200, "ListObjectsV2: {}", String::from_utf8_lossy(&b));
        let text = String::from_utf8_lossy(&b).to_string();
        text.split("<Key>")
            .skip(1)
            .filter_map(|p| p.split("</Key>").next())
            .map(|k| k.replace("&amp;", "&"))
            .collect()
    }

    async fn get(&self, bucket: &str, key: &str) -> Bytes {
        let (s, _, b) = self
            .raw(
                "GET",
                &format!("/{bucket}/{}", encode_key(key)),
                "s3",
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(s, 200, "GetObject {key}");
        b
    }

    async fn delete_bucket(&self, bucket: &str) {
        for k in self.list(bucket, "").await {
            self.raw(
                "DELETE",
                &format!("/{bucket}/{}", encode_key(&k)),
                "s3",
                &[],
                Bytes::new(),
            )
            .await;
        }
        let (s, _, _) = self
            .raw("DELETE", &format!("/{bucket}"), "s3", &[], Bytes::new())
            .await;
        assert_eq!(s, 204, "DeleteBucket");
    }

    async fn kinesis(&self, op: &str, body: Value) -> Value {
        self.api
            .kinesis(REGION, op, &body)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"))
    }

    async fn create_stream(&self, name: &str, shards: u32) -> String {
        self.kinesis(
            "CreateStream",
            json!({"StreamName": name, "ShardCount": shards}),
        )
        .await;
        let d = self
            .kinesis("DescribeStreamSummary", json!({"StreamName": name}))
            .await;
        d["StreamDescriptionSummary"]["StreamARN"]
            .as_str()
            .expect("StreamARN")
            .to_string()
    }

    async fn put_kinesis(&self, stream: &str, payloads: &[String]) {
        let records: Vec<Value> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"Data": b64::encode(p.as_bytes()), "PartitionKey": format!("pk-{i}-{p}")}))
            .collect();
        for chunk in records.chunks(100) {
            let r = self
                .kinesis(
                    "PutRecords",
                    json!({"StreamName": stream, "Records": chunk}),
                )
                .await;
            assert_eq!(r["FailedRecordCount"], json!(0));
        }
    }

    async fn firehose(&self, op: &str, body: Value) -> anyhow::Result<Value> {
        self.api.firehose(REGION, op, &body).await
    }

    async fn create_delivery(
        &self,
        name: &str,
        bucket: &str,
        source: Option<&str>,
        prefix: Option<&str>,
        error_prefix: Option<&str>,
        (interval, size): (u64, u64),
    ) {
        let mut dest = json!({
            "RoleARN": ROLE,
            "BucketARN": format!("arn:aws:s3:::{bucket}"),
            "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size},
            "CompressionFormat": "UNCOMPRESSED",
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
        });
        if let Some(p) = prefix {
            dest["Prefix"] = json!(p);
        }
        if let Some(p) = error_prefix {
            dest["ErrorOutputPrefix"] = json!(p);
        }
        let mut req = json!({
            "DeliveryStreamName": name,
            "DeliveryStreamType": "DirectPut",
            "ExtendedS3DestinationConfiguration": dest,
        });
        if let Some(arn) = source {
            req["DeliveryStreamType"] = json!("KinesisStreamAsSource");
            req["KinesisStreamSourceConfiguration"] =
                json!({"KinesisStreamARN": arn, "RoleARN": ROLE});
        }
        self.firehose("CreateDeliveryStream", req)
            .await
            .expect("CreateDeliveryStream");
    }

    /// Wait until `pred` holds for the stream's stats (bounded).
    async fn wait_stats(
        &self,
        name: &str,
        secs: u64,
        pred: impl Fn(&labctl_local::firehose::Stats) -> bool,
    ) -> labctl_local::firehose::Stats {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.delivery.stats(name).expect("delivery known");
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out; stats: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GetMetricStatistics over the last ten minutes, one statistic summed over datapoints
    /// (Sum/SampleCount) or folded (Maximum/Minimum).
    async fn metric(&self, name: &str, stream: &str, stat: &str) -> Option<f64> {
        let now = now_millis();
        let form = format!(
            "Namespace=AWS%2FFirehose&MetricName={}&Dimensions.member.1.Name=DeliveryStreamName\
             &Dimensions.member.1.Value={}&StartTime={}&EndTime={}&Period=60&Statistics.member.1={stat}",
            name,
            stream,
            encode_key(&Utc::from_millis(now - 600_000).iso8601()).replace(':', "%3A"),
            encode_key(&Utc::from_millis(now + 600_000).iso8601()).replace(':', "%3A"),
        );
        let text = self
            .api
            .cloudwatch(REGION, "GetMetricStatistics", &form)
            .await
            .expect("GetMetricStatistics");
        let values: Vec<f64> = text
            .split(&format!("<{stat}>"))
            .skip(1)
            .filter_map(|p| p.split(&format!("</{stat}>")).next())
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        if values.is_empty() {
            return None;
        }
        Some(match stat {
            "Maximum" => values.iter().cloned().fold(f64::MIN, f64::max),
            "Minimum" => values.iter().cloned().fold(f64::MAX, f64::min),
            _ => values.iter().sum(),
        })
    }

    async fn wait_metric(
        &self,
        name: &str,
        stream: &str,
        stat: &str,
        pred: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = self.metric(name, stream, stat).await {
                if pred(v) {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "metric {name} {stat} never matched"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn payloads(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"{tag}\":{i}}};")).collect()
}

/// Every payload exactly once across the objects (records end with `;`, no delimiter added).
fn assert_exactly_once(bodies: &[Bytes], expected: &[String]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for b in bodies {
        let text = String::from_utf8_lossy(b);
        assert!(
            text.ends_with(';'),
            "no delimiter added after the last record: {text:?}"
        );
        for rec in text.split_inclusive(';') {
            *seen.entry(rec.to_string()).or_default() += 1;
        }
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for p in expected {
        *want.entry(p.clone()).or_default() += 1;
    }
    assert_eq!(seen, want);
}

/// `<prefix><name>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`; returns the time part.
fn split_key<'a>(key: &'a str, prefix: &str, name: &str) -> &'a str {
    let rest = key
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{key} does not start with {prefix}"));
    let rest = rest
        .strip_prefix(&format!("{name}-1-"))
        .unwrap_or_else(|| panic!("{key}: no <name>-<version>-"));
    let (time, uuid) = rest.split_at(19);
    let uuid = uuid.strip_prefix('-').expect("dash before uuid");
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, vec![8, 4, 4, 4, 12], "uuid in {key}");
    assert!(uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    time
}

fn hour_prefix(t: &Utc, base: &str) -> String {
    format!(
        "{base}year={:04}/month={:02}/day={:02}/hour={:02}/",
        t.year, t.month, t.day, t.hour
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_source_is_read_from_latest_and_delivered_with_evaluated_prefix() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("lab").await;
    let arn = env.create_stream("raw", 2).await;
    // Before the delivery stream exists: AWS starts at LATEST, so these are never delivered.
    let early = payloads("early", 5);
    env.put_kinesis("raw", &early).await;
    let prefix = "raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
    let before = Utc::from_millis(now_millis());
    env.create_delivery(
        "raw-delivery",
        "lab",
        Some(&arn),
        Some(prefix),
        Some("errors/!{firehose:error-output-type}/"),
        (60, 1),
    )
    .await;
    let recs = payloads("r", 50);
    env.put_kinesis("raw", &recs).await;
    let started = Instant::now();
    let stats = env
        .wait_stats("raw-delivery", 20, |s| s.delivered_records >= 50)
        .await;
    // Interval-triggered: 60 s scaled by 0.05 is 3 s after the first record.
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "flushed before the interval: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats2 = env.delivery.stats("raw-delivery").expect("stats");
    assert_eq!(stats2.delivered_records, 50, "{stats:?}");
    let after = Utc::from_millis(now_millis());

    let keys = env.list("lab", "").await;
    assert!(!keys.is_empty());
    let mut bodies = Vec::new();
    for k in &keys {
        let p = if k.starts_with(&hour_prefix(&before, "raw-stream/")) {
            hour_prefix(&before, "raw-stream/")
        } else {
            hour_prefix(&after, "raw-stream/")
        };
        let time = split_key(k, &p, "raw-delivery");
        assert_eq!(&time[..4], &format!("{:04}", before.year)[..]);
        bodies.push(env.get("lab", k).await);
    }
    assert_exactly_once(&bodies, &recs);

    // PutRecord(Batch) to a delivery stream with a Kinesis source: refused as on AWS.
    let e = env
        .firehose(
            "PutRecord",
            json!({"DeliveryStreamName": "raw-delivery", "Record": {"Data": b64::encode(b"x")}}),
        )
        .await
        .expect_err("refused");
    assert_eq!(error_code(&e), Some("InvalidArgumentException"));
    assert!(
        e.to_string()
            .contains("not permitted on KinesisStreamAsSource"),
        "{e}"
    );

    // DescribeDeliveryStream passes through, with the capability header.
    let (s, h, b) = env
        .raw(
            "POST",
            "/",
            "firehose",
            &[
                ("x-amz-target", "Firehose_20150804.DescribeDeliveryStream"),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            Bytes::from(json!({"DeliveryStreamName": "raw-delivery"}).to_string()),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        h.get(CAPABILITY_HEADER).and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let d: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(
        d["DeliveryStreamDescription"]["DeliveryStreamName"],
        json!("raw-delivery")
    );

    // Metrics with AWS's names and dimension.
    let read = env
        .wait_metric(
            "DataReadFromKinesisStream.Records",
            "raw-delivery",
            "Sum",
            |v| v >= 50.0,
        )
        .await;
    assert_eq!(read, 50.0);
    let bytes: usize = recs.iter().map(String::len).sum();
    assert_eq!(
        env.wait_metric(
            "DataReadFromKinesisStream.Bytes",
            "raw-delivery",
            "Sum",
            |v| v > 0.0
        )
        .await,
        bytes as f64
    );
    assert_eq!(
        env.wait_metric("DeliveryToS3.Records", "raw-delivery", "Sum", |v| v >= 50.0)
            .await,
        50.0
    );
    assert_eq!(
        env.wait_metric("DeliveryToS3.Bytes", "raw-delivery", "Sum", |v| v > 0.0)
            .await,
        bytes as f64
    );
    assert_eq!(
        env.wait_metric("DeliveryToS3.Success", "raw-delivery", "Minimum", |_| true)
            .await,
        1.0
    );
    let fresh = env
        .wait_metric(
            "DeliveryToS3.DataFreshness",
            "raw-delivery",
            "Maximum",
            |_| true,
        )
        .await;
    assert!((2.0..20.0).contains(&fresh), "freshness {fresh}");
    assert_eq!(
        env.metric("IncomingRecords", "raw-delivery", "Sum").await,
        None
    );

    // Delete stops the delivery.
    env.firehose(
        "DeleteDeliveryStream",
        json!({"DeliveryStreamName": "raw-delivery"}),
    )
    .await
    .expect("delete");
    assert!(env.delivery.stats("raw-delivery").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_put_batches_are_answered_buffered_and_delivered() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("direct").await;
    env.create_delivery("dp", "direct", None, Some("direct/"), None, (60, 5))
        .await;
    let recs = payloads("d", 61);
    for chunk in recs[..60].chunks(20) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|p| json!({"Data": b64::encode(p.as_bytes())}))
            .collect();
        let r = env
            .firehose(
                "PutRecordBatch",
                json!({"DeliveryStreamName": "dp", "Records": batch}),
            )
            .await
            .expect("PutRecordBatch");
        assert_eq!(r["FailedPutCount"], json!(0));
        assert_eq!(r["Encrypted"], json!(false));
        let rr = r["RequestResponses"].as_array().expect("RequestResponses");
        assert_eq!(rr.len(), 20);
        assert!(rr
            .iter()
            .all(|e| e["RecordId"].as_str().is_some_and(|s| !s.is_empty())));
    }
    let r = env
        .firehose("PutRecord", json!({"DeliveryStreamName": "dp", "Record": {"Data": b64::encode(recs[60].as_bytes())}}))
        .await
        .expect("PutRecord");
    assert!(r["RecordId"].as_str().is_some());
    assert_eq!(r["Encrypted"], json!(false));
    // Malformed and oversized input is refused.
    let e = env
        .firehose(
            "PutRecordBatch",
            json!({"DeliveryStreamName": "dp", "Records": []}),
        )
        .await
        .expect_err("empty batch");
    assert_eq!(error_code(&e), Some("ValidationException"));

    let now = Utc::from_millis(now_millis());
    env.wait_stats("dp", 20, |s| s.delivered_records >= 61)
        .await;
    // All records arrived within one interval: one object.
    let keys = env.list("direct", "").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    // No timestamp expression: `yyyy/MM/dd/HH/` appended to the prefix.
    let p = format!(
        "direct/{:04}/{:02}/{:02}/{:02}/",
        now.year, now.month, now.day, now.hour
    );
    split_key(&keys[0], &p, "dp");
    let body = env.get("direct", &keys[0]).await;
    // Concatenated in arrival order, no delimiter.
    assert_eq!(body, Bytes::from(recs.concat()));
    assert_eq!(
        env.wait_metric("IncomingRecords", "dp", "Sum", |v| v >= 61.0)
            .await,
        61.0
    );
    let bytes: usize = recs.iter().map(String::len).sum();
    assert_eq!(
        env.wait_metric("IncomingBytes", "dp", "Sum", |v| v >= bytes as f64)
            .await,
        bytes as f64
    );
    assert_eq!(
        env.wait_metric("DeliveryToS3.Records", "dp", "Sum", |v| v >= 61.0)
            .await,
        61.0
    );
    assert_eq!(
        env.metric("DataReadFromKinesisStream.Records", "dp", "Sum")
            .await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_hint_flushes_before_the_interval() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("big").await;
    // 900 s scaled is 45 s: only the 1 MiB size hint can flush within the test's wait.
    env.create_delivery(
        "sized",
        "big",
        None,
        Some("s/!{timestamp:yyyy}/"),
        Some("e/!{firehose:error-output-type}/"),
        (900, 1),
    )
    .await;
    let chunk = "x".repeat(400 * 1024);
    for _ in 0..3 {
        env.firehose("PutRecord", json!({"DeliveryStreamName": "sized", "Record": {"Data": b64::encode(chunk.as_bytes())}}))
            .await
            .expect("PutRecord");
    }
    let started = Instant::now();
    let s = env
        .wait_stats("sized", 10, |s| s.delivered_records >= 3)
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(s.objects, 1);
    assert_eq!(s.delivered_bytes, 3 * 400 * 1024);
    let keys = env.list("big", "s/").await;
    assert_eq!(keys.len(), 1);
    assert_eq!(env.get("big", &keys[0]).await.len(), 3 * 400 * 1024);
    // A fourth record stays buffered (below the size, before the interval).
    env.firehose(
        "PutRecord",
        json!({"DeliveryStreamName": "sized", "Record": {"Data": b64::encode(b"tail;")}}),
    )
    .await
    .expect("PutRecord");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = env.delivery.stats("sized").expect("stats");
    assert_eq!((s.delivered_records, s.pending_records), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_put_around_a_split_are_delivered_exactly_once() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("reshard").await;
    let arn = env.create_stream("splitme", 1).await;
    env.create_delivery("rs", "reshard", Some(&arn), None, None, (60, 5))
        .await;
    let first = payloads("a", 20);
    env.put_kinesis("splitme", &first).await;
    // Let the reader take these from the parent (one poll is 50 ms here).
    env.wait_stats("rs", 10, |s| s.incoming_records >= 20).await;
    // Put more and split at once (moto re-puts a parent's records when it splits it).
    let second = payloads("b", 10);
    env.put_kinesis("splitme", &second).await;
    let shards = env
        .kinesis("ListShards", json!({"StreamName": "splitme"}))
        .await;
    let shard = shards["Shards"][0]["ShardId"]
        .as_str()
        .expect("shard")
        .to_string();
    env.kinesis(
        "SplitShard",
        json!({"StreamName": "splitme", "ShardToSplit": shard,
               "NewStartingHashKey": "170141183460469231731687303715884105728"}),
    )
    .await;
    // Let the reader see the parent closed and read to its end (children start), then put
    // more: moto 5.2.5 routes them into the closed parent, AWS into the children.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let third = payloads("c", 30);
    env.put_kinesis("splitme", &third).await;
    let all: Vec<String> = first.iter().chain(&second).chain(&third).cloned().collect();
    env.wait_stats("rs", 20, |s| s.delivered_records >= 60)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = env.delivery.stats("rs").expect("stats");
    let mut in_moto = 0;
    for sh in env
        .kinesis("ListShards", json!({"StreamName": "splitme"}))
        .await["Shards"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let it = env.kinesis("GetShardIterator", json!({"StreamName": "splitme", "ShardId": sh["ShardId"], "ShardIteratorType": "TRIM_HORIZON"})).await;
        let r = env
            .kinesis("GetRecords", json!({"ShardIterator": it["ShardIterator"]}))
            .await;
        in_moto += r["Records"].as_array().map(Vec::len).unwrap_or(0);
    }
    assert_eq!(
        (s.incoming_records, s.delivered_records),
        (60, 60),
        "{s:?}; records in moto: {in_moto}"
    );
    let mut bodies = Vec::new();
    for k in env.list("reshard", "").await {
        bodies.push(env.get("reshard", &k).await);
    }
    assert_exactly_once(&bodies, &all);
    let shards = env
        .kinesis("ListShards", json!({"StreamName": "splitme"}))
        .await;
    assert_eq!(shards["Shards"].as_array().map(Vec::len), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_bucket_fails_puts_which_are_retried_without_loss() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("gone").await;
    env.create_delivery(
        "fails",
        "gone",
        None,
        Some("ok/!{timestamp:yyyy}/"),
        Some("err/!{firehose:error-output-type}/"),
        (1, 5),
    )
    .await;
    let first = payloads("f", 5);
    for p in &first {
        env.firehose(
            "PutRecord",
            json!({"DeliveryStreamName": "fails", "Record": {"Data": b64::encode(p.as_bytes())}}),
        )
        .await
        .expect("PutRecord");
    }
    env.wait_stats("fails", 10, |s| s.delivered_records >= 5)
        .await;
    env.delete_bucket("gone").await;
    let second = payloads("g", 7);
    for p in &second {
        env.firehose(
            "PutRecord",
            json!({"DeliveryStreamName": "fails", "Record": {"Data": b64::encode(p.as_bytes())}}),
        )
        .await
        .expect("PutRecord still accepted");
    }
    let s = env.wait_stats("fails", 10, |s| s.failed_puts >= 3).await;
    assert_eq!(s.delivered_records, 5);
    assert_eq!(s.pending_records, 7);
    assert_eq!(s.error_records, 0);
    assert_eq!(
        env.wait_metric("DeliveryToS3.Success", "fails", "Minimum", |v| v == 0.0)
            .await,
        0.0
    );
    // The bucket comes back: the retried object goes out, nothing lost or doubled.
    env.create_bucket("gone").await;
    env.wait_stats("fails", 10, |s| s.delivered_records >= 12)
        .await;
    let mut bodies = Vec::new();
    for k in env.list("gone", "").await {
        bodies.push(env.get("gone", &k).await);
    }
    assert_exactly_once(&bodies, &second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_that_cannot_be_evaluated_sends_records_to_the_error_prefix() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("errs").await;
    env.create_delivery(
        "bad",
        "errs",
        None,
        Some("p/!{timestamp:EEE}/"),
        Some("errors/!{firehose:error-output-type}/"),
        (1, 5),
    )
    .await;
    env.firehose(
        "PutRecord",
        json!({"DeliveryStreamName": "bad", "Record": {"Data": b64::encode(b"hello;")}}),
    )
    .await
    .expect("PutRecord");
    let s = env.wait_stats("bad", 10, |s| s.error_records >= 1).await;
    assert_eq!(s.delivered_records, 0);
    let keys = env.list("errs", "").await;
    assert_eq!(keys.len(), 1);
    split_key(&keys[0], "errors/processing-failed/", "bad");
    let body = env.get("errs", &keys[0]).await;
    let doc: Value = serde_json::from_slice(body.trim_ascii_end()).expect("one JSON document");
    assert_eq!(doc["rawData"], json!(b64::encode(b"hello;")));
    assert_eq!(doc["attemptsMade"], json!(1));
    assert!(doc["arrivalTimestamp"].as_i64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_streams_created_before_the_front_are_adopted() {
    let bin = need_moto!();
    let env = start(&bin).await;
    env.create_bucket("pre").await;
    // A second Delivery that never saw the create stands for a restarted front.
    env.create_delivery(
        "pre-dp",
        "pre",
        None,
        Some("x/!{timestamp:yyyy}/"),
        Some("e/!{firehose:error-output-type}/"),
        (1, 5),
    )
    .await;
    let fresh = Delivery::new({
        let mut c = Config::new(&env.front);
        c.time_scale = TimeScale(SCALE);
        c
    });
    assert!(fresh.stats("pre-dp").is_none());
    assert_eq!(fresh.adopt_existing(REGION).await, 1);
    assert!(fresh.stats("pre-dp").is_some());
}
