//! `labctl tail` against a real local stack: per-sensor statistics over a produced
//! sample, and every record read, in order per partition key, across a shard split
//! (records before and after it, and a split made while tail runs).

mod common;
mod streams;

use std::collections::BTreeMap;
use std::process::Stdio;

use common::*;
use streams::*;

const STREAM: &str = "sensor-data-stream";

/// Produce through a proxy that passes PutRecords on one at a time (see labctl_local::faults).
fn produce(stack: &Stack, proxy: &labctl_local::faults::FaultProxy, args: &[&str]) {
    let mut all = vec!["produce", "--stream-name", STREAM, "--max"];
    all.extend_from_slice(args);
    let o = labctl_at(stack, &proxy.url(), &all);
    assert_code(&o, 0);
}

#[test]
fn stats_give_the_per_sensor_counts_and_averages() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 3);
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 0.0, 1))
        .expect("proxy");
    let out = stack.dir.path().join("sent.jsonl");
    produce(
        &stack,
        &proxy,
        &[
            "--count",
            "777",
            "--seed",
            "5",
            "--sensors",
            "7",
            "--out",
            &out.display().to_string(),
        ],
    );
    let mut want: BTreeMap<String, (u64, f64, f64)> = BTreeMap::new();
    for l in lines(&out) {
        let v: serde_json::Value = serde_json::from_str(&l).expect("json");
        let e = want
            .entry(v["sensor_id"].as_str().expect("id").to_string())
            .or_default();
        e.0 += 1;
        e.1 += v["temperature"].as_f64().expect("t");
        e.2 += v["humidity"].as_f64().expect("h");
    }
    assert_eq!(want.len(), 7);

    let o = stack.labctl(&[
        "tail",
        "--stream-name",
        STREAM,
        "--from",
        "trim-horizon",
        "--stats",
        "--count",
        "777",
        "--poll",
        "100ms",
        "--output",
        "json",
    ]);
    assert_code(&o, 0);
    let doc = json(&o);
    assert_eq!(doc["records"], 777);
    assert_eq!(doc["other"], 0);
    let rows = doc["sensors"].as_array().expect("sensors");
    assert_eq!(rows.len(), 7);
    for r in rows {
        let id = r["sensor_id"].as_str().expect("id");
        let (n, t, h) = want[id];
        assert_eq!(r["count"].as_u64(), Some(n), "{id}");
        let at = r["avg_temperature"].as_f64().expect("avg t");
        let ah = r["avg_humidity"].as_f64().expect("avg h");
        assert!((at - t / n as f64).abs() < 1e-9, "{id}: {at}");
        assert!((ah - h / n as f64).abs() < 1e-9, "{id}: {ah}");
    }

    let table = stack.labctl(&[
        "tail",
        "--stream-name",
        STREAM,
        "--from",
        "trim-horizon",
        "--stats",
        "--count",
        "777",
        "--poll",
        "100ms",
    ]);
    assert_code(&table, 0);
    let text = stdout(&table);
    let (n, t, _) = want["sensor-001"];
    let row = text
        .lines()
        .find(|l| l.starts_with("sensor-001"))
        .unwrap_or_else(|| panic!("no sensor-001 row:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], n.to_string());
    assert_eq!(cells[2], format!("{:.2}", t / n as f64));
    assert!(text.contains("777 records"), "{text}");
}

/// Per partition key, the data in the order given.
fn by_key(records: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, d) in records {
        m.entry(k.clone()).or_default().push(d.clone());
    }
    m
}

fn sent_by_key(files: &[&std::path::Path]) -> BTreeMap<String, Vec<String>> {
    let mut all = Vec::new();
    for f in files {
        for l in lines(f) {
            let v: serde_json::Value = serde_json::from_str(&l).expect("json");
            all.push((v["sensor_id"].as_str().expect("id").to_string(), l));
        }
    }
    by_key(&all)
}

/// tail's `--format json` lines as (partition key, data text, shard).
fn tailed(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (
                v["partition_key"].as_str().expect("key").to_string(),
                v["data"].to_string(),
                v["shard"].as_str().expect("shard").to_string(),
            )
        })
        .collect()
}

/// The --out lines re-serialized the way tail prints `data` (parsed JSON).
fn normalize(m: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    m.into_iter()
        .map(|(k, v)| {
            let v = v
                .iter()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .expect("json")
                        .to_string()
                })
                .collect();
            (k, v)
        })
        .collect()
}

#[test]
fn records_before_and_after_a_split_are_all_read_in_order_per_key() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 1);
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 0.0, 1))
        .expect("proxy");
    let before = stack.dir.path().join("before.jsonl");
    let after = stack.dir.path().join("after.jsonl");
    // One request in flight: the order of --out is the order the stream got.
    produce(
        &stack,
        &proxy,
        &[
            "--count",
            "300",
            "--seed",
            "1",
            "--in-flight",
            "1",
            "--out",
            &before.display().to_string(),
        ],
    );
    split_in_half(&stack, STREAM, "shardId-000000000000");
    assert_eq!(
        hash_ranges(&stack, STREAM).len(),
        3,
        "parent and two children"
    );
    produce(
        &stack,
        &proxy,
        &[
            "--count",
            "300",
            "--seed",
            "2",
            "--in-flight",
            "1",
            "--out",
            &after.display().to_string(),
        ],
    );
    let o = stack.labctl(&[
        "tail",
        "--stream-name",
        STREAM,
        "--from",
        "trim-horizon",
        "--format",
        "json",
        "--count",
        "600",
        "--poll",
        "100ms",
        "--duration",
        "60s",
    ]);
    assert_code(&o, 0);
    let got = tailed(&stdout(&o));
    assert_eq!(got.len(), 600, "{}", stderr(&o));
    let want = normalize(sent_by_key(&[&before, &after]));
    let pairs: Vec<(String, String)> = got.iter().map(|(k, d, _)| (k.clone(), d.clone())).collect();
    assert_eq!(by_key(&pairs), want, "every record, in order per key");
    // moto 5.2.5 keeps every record of a split shard in the parent (its SplitShard
    // re-puts them there, and PutRecords picks the first shard whose range matches,
    // closed or not), so the children stay empty here; reading children after their
    // parents is covered by the unit tests of labctl::tail's plan.
    // The parent's records, if the stack kept any there, come before any child's.
    if let Some(last_parent) = got
        .iter()
        .rposition(|(_, _, s)| s == "shardId-000000000000")
    {
        let first_child = got
            .iter()
            .position(|(_, _, s)| s != "shardId-000000000000")
            .unwrap_or(usize::MAX);
        assert!(last_parent < first_child);
    }
}

#[test]
#[ignore = "moto 5.2.5 writes to the closed parent after a split, not to the children; run against a stack that reshards like Kinesis"]
fn a_split_while_tailing_is_followed_into_the_children() {
    let stack = Stack::start();
    create_stream(&stack, STREAM, 1);
    let proxy = stack
        .block_on(labctl_local::faults::start(0, &stack.front.url(), 0.0, 1))
        .expect("proxy");
    let since = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("a time");
    let tail = labctl_cmd(
        &stack,
        &stack.front.url(),
        &[
            "tail",
            "--stream-name",
            STREAM,
            "--from-timestamp",
            &since,
            "--format",
            "json",
            "--count",
            "200",
            "--poll",
            "100ms",
            "--duration",
            "60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("starting tail");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    split_in_half(&stack, STREAM, "shardId-000000000000");
    let out = stack.dir.path().join("sent.jsonl");
    produce(
        &stack,
        &proxy,
        &[
            "--count",
            "200",
            "--seed",
            "4",
            "--in-flight",
            "1",
            "--out",
            &out.display().to_string(),
        ],
    );
    let o = tail.wait_with_output().expect("tail output");
    assert_code(&o, 0);
    let got = tailed(&stdout(&o));
    assert_eq!(got.len(), 200, "{}", stderr(&o));
    assert!(got.iter().all(|(_, _, s)| s != "shardId-000000000000"));
    let pairs: Vec<(String, String)> = got.iter().map(|(k, d, _)| (k.clone(), d.clone())).collect();
    assert_eq!(by_key(&pairs), normalize(sent_by_key(&[&out])));
}

#[test]
fn bad_tail_flags_exit_2_without_a_request() {
    let stack = Stack::start();
    for args in [
        &["--count", "0"][..],
        &["--duration", "later"],
        &["--from-timestamp", "yesterday"],
        &["--poll", "0s"],
        &["--from", "oldest"],
        &["--format", "xml"],
        &[
            "--from",
            "latest",
            "--from-timestamp",
            "2026-01-01T00:00:00Z",
        ],
    ] {
        let mut all = vec!["tail", "--stream-name", STREAM];
        all.extend_from_slice(args);
        let o = stack.labctl(&all);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    assert!(stack.front.requests().is_empty());
}
