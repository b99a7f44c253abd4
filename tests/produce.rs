//! `labctl produce` against a real local stack: exact counts, the records read back
//! equal to `--out`, each in the shard of its partition key; partial failures from a
//! fault proxy retried until every record is stored exactly once; bad flags.

mod common;
mod streams;

use common::*;
use streams::*;

const STREAM: &str = "sensor-data-stream";

#[test]
fn count_and_seed_read_back_exactly_in_the_right_shards() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 4);
    // Through a proxy that fails nothing but passes PutRecords on one at a time
    // (the emulator can lose records to concurrent calls; see labctl_local::faults).
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 0.0, 1))
        .expect("proxy");
    let out = stack.dir.path().join("sent.jsonl");
    let out_s = out.display().to_string();
    let run = labctl_at(
        &stack,
        &proxy.url(),
        &[
            "produce",
            "--stream-name",
            STREAM,
            "--max",
            "--count",
            "1234",
            "--seed",
            "7",
            "--sensors",
            "25",
            "--out",
            &out_s,
            "--output",
            "json",
        ],
    );
    assert_code(&run, 0);
    assert_eq!(proxy.failed_entries(), 0);
    let doc = json(&run);
    assert_eq!(doc["records"], 1234);
    assert_eq!(doc["sent"], 1234);
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["retried"], 0);
    assert_eq!(doc["seed"], 7);
    // 1234 records make 3 requests of at most 500.
    assert_eq!(doc["requests"], 3);
    assert_eq!(stack.front.count("PutRecords"), 3);

    let sent = lines(&out);
    assert_eq!(sent.len(), 1234);
    let got = read_all(&stack, STREAM);
    assert_eq!(got.len(), 1234, "records in the stream");
    let mut a: Vec<&str> = sent.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = got.iter().map(|g| g.data.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the stream holds exactly the lines of --out");

    let ranges = hash_ranges(&stack, STREAM);
    assert_eq!(ranges.len(), 4);
    let mut shards_used = std::collections::BTreeSet::new();
    for g in &got {
        let v: serde_json::Value = serde_json::from_str(&g.data).expect("a JSON record");
        assert_eq!(
            v["sensor_id"].as_str(),
            Some(g.key.as_str()),
            "key = sensor id"
        );
        let t = v["temperature"].as_f64().expect("temperature");
        let h = v["humidity"].as_f64().expect("humidity");
        let p = v["pressure"].as_f64().expect("pressure");
        assert!((10.0..=40.0).contains(&t) && (30.0..=90.0).contains(&h));
        assert!((980.0..=1030.0).contains(&p));
        let ts = v["timestamp"].as_str().expect("timestamp");
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
            "{ts}"
        );
        let hash = key_hash(&g.key);
        let (shard, _, _) = ranges
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&hash))
            .expect("a shard covers every hash");
        assert_eq!(&g.shard, shard, "record of {} in the wrong shard", g.key);
        shards_used.insert(g.shard.clone());
    }
    assert!(shards_used.len() > 1, "25 sensors spread over the shards");

    // The same seed gives the same readings (timestamps are the clock's).
    let again = stack.dir.path().join("again.jsonl");
    let dry = stack.labctl(&[
        "produce",
        "--stream-name",
        STREAM,
        "--dry-run",
        "--max",
        "--count",
        "1234",
        "--seed",
        "7",
        "--sensors",
        "25",
        "--out",
        &again.display().to_string(),
    ]);
    assert_code(&dry, 0);
    let strip = |l: &String| {
        let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
        v["timestamp"] = serde_json::Value::Null;
        // The run's part of record_id is the clock's, like the timestamp; the number is the seed's.
        let id = v["record_id"].as_str().unwrap_or("").to_string();
        v["record_id"] = id.rsplit('-').next().unwrap_or("").into();
        v.to_string()
    };
    let mut x: Vec<String> = sent.iter().map(strip).collect();
    let mut y: Vec<String> = lines(&again).iter().map(strip).collect();
    x.sort();
    y.sort();
    assert_eq!(x, y, "--seed reproduces the readings");
}

#[test]
fn partial_failures_are_retried_until_every_record_is_stored_once() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 2);
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 0.3, 11))
        .expect("fault proxy");
    let out = stack.dir.path().join("sent.jsonl");
    let run = labctl_at(
        &stack,
        &proxy.url(),
        &[
            "produce",
            "--stream-name",
            STREAM,
            "--max",
            "--count",
            "2000",
            "--seed",
            "3",
            "--out",
            &out.display().to_string(),
            "--output",
            "json",
        ],
    );
    assert_code(&run, 0);
    let doc = json(&run);
    assert_eq!(doc["sent"], 2000);
    assert_eq!(doc["failed"], 0);
    let injected = proxy.failed_entries();
    assert!(injected > 300, "the proxy failed {injected} entries");
    assert_eq!(
        doc["retried"].as_u64(),
        Some(injected),
        "each failed entry was sent again, and nothing else"
    );
    assert_eq!(
        proxy.passed_entries(),
        2000,
        "each record reached the stack once"
    );
    assert!(
        doc["requests"].as_u64().unwrap_or(0) > 4,
        "retries took extra requests"
    );

    let got = read_all(&stack, STREAM);
    assert_eq!(got.len(), 2000);
    let mut a = lines(&out);
    let mut b: Vec<String> = got.into_iter().map(|g| g.data).collect();
    a.sort();
    b.sort();
    let before = b.len();
    b.dedup();
    assert_eq!(before, b.len(), "no record stored twice");
    assert_eq!(a, b);
}

#[test]
fn records_that_keep_failing_are_reported_not_dropped() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 1);
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 1.0, 5))
        .expect("fault proxy");
    let run = labctl_at(
        &stack,
        &proxy.url(),
        &[
            "produce",
            "--stream-name",
            STREAM,
            "--max",
            "--count",
            "7",
            "--max-attempts",
            "3",
            "--output",
            "json",
        ],
    );
    assert_code(&run, 1);
    let doc = json(&run);
    assert_eq!(doc["sent"], 0);
    assert_eq!(doc["failed"], 7);
    assert_eq!(doc["retried"], 14, "two more attempts for each of 7");
    let failures = doc["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 7);
    for f in failures {
        assert_eq!(f["error_code"], "ProvisionedThroughputExceededException");
        assert_eq!(f["attempts"], 3);
        let rec: serde_json::Value =
            serde_json::from_str(f["record"].as_str().unwrap_or("")).expect("the record");
        assert_eq!(rec["sensor_id"], f["sensor_id"]);
    }
    assert!(read_all(&stack, STREAM).is_empty());

    let table = labctl_at(
        &stack,
        &proxy.url(),
        &[
            "produce",
            "--stream-name",
            STREAM,
            "--max",
            "--count",
            "2",
            "--max-attempts",
            "1",
        ],
    );
    assert_code(&table, 1);
    assert!(
        stdout(&table).contains("not sent (sensor-0"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn bad_flags_exit_2_without_a_request() {
    let stack = Stack::start();
    for args in [
        &["--rate", "0"][..],
        &["--rate", "-3"],
        &["--count", "0"],
        &["--duration", "soon"],
        &["--anomaly-rate", "1.5"],
        &["--sensors", "0"],
        &["--in-flight", "0"],
        &["--max", "--rate", "5"],
    ] {
        let mut all = vec!["produce", "--stream-name", STREAM];
        all.extend_from_slice(args);
        let o = stack.labctl(&all);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    // No spec and no --stream-name: the spec file is missing.
    let o = stack.labctl(&["produce", "--count", "1"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("pipeline.yaml"), "{}", stderr(&o));
    assert!(
        stack.front.requests().is_empty(),
        "a bad flag sent a request"
    );
}

#[test]
fn stream_from_the_spec_and_a_missing_stream() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    let o = stack.labctl(&["produce", "--count", "1"]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("stream `sensor-data-stream` does not exist")
            && stderr(&o).contains("labctl up"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stack.front.count("PutRecords"), 0);
    let o = stack.labctl(&["produce", "--stream", "nope", "--count", "1"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("no stream `nope`"), "{}", stderr(&o));

    assert_code(&stack.labctl(&["up"]), 0);
    let o = stack.labctl(&[
        "produce",
        "--rate",
        "50",
        "--count",
        "20",
        "--in-flight",
        "1",
        "--output",
        "json",
    ]);
    assert_code(&o, 0);
    assert_eq!(json(&o)["sent"], 20);
    assert_eq!(read_all(&stack, STREAM).len(), 20);
}
