//! The shipped lab's raw path on the local stack, end to end through the real `labctl`
//! binary: `up` of the repository's pipeline.yaml (its application switched off, as the
//! specs without Flink in tests/common are), `produce` a known set of records, then S3
//! read directly (not through labctl): every produced record exactly once under
//! `raw-stream/year=YYYY/month=MM/day=DD/hour=HH/`, each prefix the UTC time of the oldest
//! record in its object as the stream stamped it (`ApproximateArrivalTimestamp`), each
//! object named `<delivery stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`; then `down`
//! leaves nothing, listed service by service.
//!
//! The front's Firehose delivery runs at `DELIVERY_SCALE` (a 60 s buffer lasts 6 s).
//! AWS: "Firehose starts reading data from the LATEST position of your Kinesis stream"
//! (firehose/latest/dev/writing-with-kinesis-streams.html); custom prefixes
//! (firehose/latest/dev/s3-prefixes.html); object names (firehose/latest/dev/s3-object-name.html).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

const BUCKET: &str = "stream-data-123456789012-us-east-1";
const STREAM: &str = "sensor-data-stream";
const DELIVERY: &str = "sensor-data-delivery";
const RECORDS: usize = 400;

/// The repository's pipeline.yaml without its `applications:` section and the alarm on
/// the application, so `up` needs no Flink connector jars.
fn shipped_spec_without_application() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("pipeline.yaml")).expect("pipeline.yaml");
    let mut out = String::new();
    let mut skipping: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if let Some(level) = skipping {
            if blank || indent > level {
                continue;
            }
            skipping = None;
        }
        if line == "applications:" || line == "  app-downtime:" {
            skipping = Some(indent);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(!out.contains("applications:") && !out.contains("app-downtime"));
    assert!(out.contains("raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}"));
    out
}

/// UTC calendar fields of epoch milliseconds (days to civil date, H. Hinnant's algorithm).
fn utc(ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod % 3600 / 60) as u32,
        (sod % 60) as u32,
    )
}

/// The records of one object: Firehose concatenates them without a delimiter, so the
/// JSON documents are split where each ends.
fn records_of(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    let mut start = 0;
    while let Some(v) = it.next() {
        v.unwrap_or_else(|e| panic!("object body is not concatenated JSON: {e}"));
        let end = it.byte_offset();
        out.push(
            String::from_utf8_lossy(&body[start..end])
                .trim()
                .to_string(),
        );
        start = end;
    }
    out
}

/// `<DELIVERY>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid v4>`: returns the time part.
fn object_name_time(name: &str) -> &str {
    let rest = name
        .strip_prefix(&format!("{DELIVERY}-1-"))
        .unwrap_or_else(|| panic!("{name}: not <stream>-<version>-…"));
    assert!(rest.len() == 19 + 1 + 36, "{name}: length");
    let (time, uuid) = rest.split_at(19);
    let b = time.as_bytes();
    for (i, c) in b.iter().enumerate() {
        match i {
            4 | 7 | 10 | 13 | 16 => assert_eq!(*c, b'-', "{name}: time {time}"),
            _ => assert!(c.is_ascii_digit(), "{name}: time {time}"),
        }
    }
    let groups: Vec<usize> = uuid[1..].split('-').map(str::len).collect();
    assert_eq!(groups, vec![8, 4, 4, 4, 12], "{name}: uuid");
    assert!(uuid[1..].chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    time
}

/// Every object under `prefix` (folder markers left out) with its body.
fn objects(stack: &Stack, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let s3 = stack.s3();
    stack.block_on(async {
        let list = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .send()
            .await
            .expect("ListObjectsV2");
        let mut out = Vec::new();
        for key in list.contents().iter().filter_map(|o| o.key()) {
            if key.ends_with('/') {
                continue;
            }
            let body = s3
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .expect("GetObject")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            out.push((key.to_string(), body.to_vec()));
        }
        out
    })
}

/// Payload → ApproximateArrivalTimestamp (ms) of every record in the stream, read from
/// moto directly.
fn arrivals(stack: &Stack) -> BTreeMap<String, i64> {
    let k = stack.kinesis();
    stack.block_on(async {
        let shards = k
            .list_shards()
            .stream_name(STREAM)
            .send()
            .await
            .expect("ListShards");
        let mut out = BTreeMap::new();
        for s in shards.shards() {
            let mut it = k
                .get_shard_iterator()
                .stream_name(STREAM)
                .shard_id(s.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("GetShardIterator")
                .shard_iterator
                .expect("iterator");
            loop {
                let r = k
                    .get_records()
                    .shard_iterator(&it)
                    .send()
                    .await
                    .expect("GetRecords");
                for rec in r.records() {
                    let payload = String::from_utf8_lossy(rec.data().as_ref()).to_string();
                    let t = rec
                        .approximate_arrival_timestamp()
                        .map(|t| t.to_millis().expect("millis"))
                        .expect("ApproximateArrivalTimestamp");
                    out.insert(payload, t);
                }
                // moto never ends a shard (no null NextShardIterator): stop when empty.
                match r.next_shard_iterator() {
                    Some(n) if !r.records().is_empty() => it = n.to_string(),
                    _ => break,
                }
            }
        }
        out
    })
}

#[test]
fn shipped_lab_delivers_every_record_once_under_the_evaluated_prefix_and_down_removes_all() {
    let stack = Stack::start();
    stack.write_spec(&shipped_spec_without_application());
    assert_code(&stack.labctl(&["up"]), 0);
    // The delivery stream reads from LATEST: a record in the stream before it existed is
    // never delivered, so everything below is produced after `up`.
    let out = stack.dir.path().join("sent.jsonl");
    let out_s = out.display().to_string();
    let produce = stack.labctl(&[
        "produce",
        "--stream-name",
        STREAM,
        "--max",
        "--count",
        &RECORDS.to_string(),
        "--seed",
        "14",
        "--out",
        &out_s,
        "--output",
        "json",
    ]);
    assert_code(&produce, 0);
    assert_eq!(json(&produce)["sent"], RECORDS);
    let mut sent: Vec<String> = std::fs::read_to_string(&out)
        .expect("--out file")
        .lines()
        .map(str::to_string)
        .collect();
    sent.sort();
    assert_eq!(sent.len(), RECORDS);

    // Bounded wait for the buffer (60 s scaled) to be written out; the assertions below
    // are on content, not on time.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = objects(&stack, "raw-stream/");
    while got.iter().map(|(_, b)| records_of(b).len()).sum::<usize>() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "not every record delivered: {:?}",
            stack.front.delivery().stats(DELIVERY)
        );
        std::thread::sleep(Duration::from_millis(500));
        got = objects(&stack, "raw-stream/");
    }
    let arrived = arrivals(&stack);
    let mut delivered = Vec::new();
    for (key, body) in &got {
        let recs = records_of(body);
        // The prefix is evaluated at the oldest record's arrival in the object, UTC.
        let oldest = recs
            .iter()
            .map(|r| {
                *arrived
                    .get(r)
                    .unwrap_or_else(|| panic!("{key}: {r} not in the stream"))
            })
            .min()
            .expect("an object holds records");
        let (y, mo, d, h, _, _) = utc(oldest);
        let prefix = format!("raw-stream/year={y:04}/month={mo:02}/day={d:02}/hour={h:02}/");
        let name = key
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{key} is not under {prefix}"));
        assert!(!name.contains('/'), "{key}");
        let time = object_name_time(name);
        // The name's time is no earlier than the oldest record's arrival (to the second).
        let (y2, mo2, d2, h2, mi2, s2) = utc(oldest);
        let arrival_s = format!("{y2:04}-{mo2:02}-{d2:02}-{h2:02}-{mi2:02}-{s2:02}");
        assert!(time >= arrival_s.as_str(), "{key}: {time} < {arrival_s}");
        delivered.extend(recs);
    }
    delivered.sort();
    assert_eq!(delivered, sent, "every produced record exactly once");
    assert!(
        objects(&stack, "errors/").is_empty(),
        "nothing under the error prefix"
    );
    assert!(
        objects(&stack, "processed-stream/").is_empty(),
        "nothing put into the Direct PUT delivery stream"
    );

    assert_code(&stack.labctl(&["down", "--yes"]), 0);
    assert_nothing_left(&stack);
}

/// Listed service by service, from moto directly (CloudWatch through the test's own
/// front, which translates its protocol).
fn assert_nothing_left(stack: &Stack) {
    let cfg = stack.sdk_config();
    let (s3, kinesis) = (stack.s3(), stack.kinesis());
    let firehose = aws_sdk_firehose::Client::new(&cfg);
    let iam = aws_sdk_iam::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let cw = stack.cloudwatch();
    stack.block_on(async {
        let b = s3.list_buckets().send().await.expect("ListBuckets");
        assert!(b.buckets().is_empty(), "buckets: {:?}", b.buckets());
        let s = kinesis.list_streams().send().await.expect("ListStreams");
        assert!(s.stream_names().is_empty(), "{:?}", s.stream_names());
        let d = firehose
            .list_delivery_streams()
            .send()
            .await
            .expect("ListDeliveryStreams");
        assert!(d.delivery_stream_names().is_empty());
        let r = iam.list_roles().send().await.expect("ListRoles");
        let ours: Vec<&str> = r
            .roles()
            .iter()
            .map(|r| r.role_name())
            .filter(|n| n.starts_with("labctl-"))
            .collect();
        assert!(ours.is_empty(), "roles: {ours:?}");
        let g = logs
            .describe_log_groups()
            .send()
            .await
            .expect("DescribeLogGroups");
        assert!(g.log_groups().is_empty(), "{:?}", g.log_groups());
        let t = sns.list_topics().send().await.expect("ListTopics");
        assert!(t.topics().is_empty(), "{:?}", t.topics());
        let a = cw.describe_alarms().send().await.expect("DescribeAlarms");
        assert!(a.metric_alarms().is_empty(), "{:?}", a.metric_alarms());
        let ds = cw.list_dashboards().send().await.expect("ListDashboards");
        assert!(ds.dashboard_entries().is_empty());
    });
    assert!(stack.front.delivery().streams().is_empty());
}
