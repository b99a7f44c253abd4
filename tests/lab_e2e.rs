//! The whole lab end to end, as `scripts/lab-local` runs it (issue 14, part 6): the
//! real `labctl` binary against the local front with the Firehose delivery (waits x0.25)
//! and the Flink runtime (the application's own zip in PyFlink) on: `up`, `produce
//! --out` for three minutes, `status` until all five checks pass (bounded), then:
//! every check `pass` and exit 0; every raw object under
//! `raw-stream/year=YYYY/month=MM/day=DD/hour=HH/` with the values its records' arrival
//! hour gives, holding every produced record exactly once (read from S3 directly); the
//! aggregates under `processed-stream/` equal, per sensor and minute, what this test
//! computes from the records it sent (every window the watermark has closed); `down`.
//!
//! Needs PyFlink (`scripts/pyflink install`), Java and the connector jar labctl
//! assembles (its pinned artifacts in the cache); one JVM at a time on a shared machine.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use labctl_local::emulator::{self, Emulator};
use labctl_local::firehose::TimeScale;
use labctl_local::flink::{Runner, RunnerConfig};
use labctl_local::front;
use serde_json::Value;

const BUCKET: &str = "stream-data-123456789012-us-east-1";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn labctl(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(dir)
        .args(args)
        .args(["--endpoint-url", url, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, url: &str, args: &[&str]) -> Output {
    labctl(dir, url, args).output().expect("running labctl")
}

/// Every object's key and body under a prefix, read from moto directly.
fn objects(stack: &Stack, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let s3 = stack.s3();
    stack.block_on(async {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list");
            for o in page.contents() {
                let key = o.key().expect("key").to_string();
                if key.ends_with('/') {
                    continue;
                }
                let body = s3
                    .get_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .expect("get");
                let bytes = body
                    .body
                    .collect()
                    .await
                    .expect("body")
                    .into_bytes()
                    .to_vec();
                out.push((key, bytes));
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return out;
            }
        }
    })
}

fn parse_all(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|v| v.expect("a JSON record"))
        .collect()
}

/// `2026-11-27T23:01:02.345Z` → (`2026-11-27 23:01:00`, its `yyyy/MM/dd/HH`).
fn minute_and_hour(ts: &str) -> (String, [String; 4]) {
    let minute = format!("{} {}:00", &ts[0..10], &ts[11..16]);
    let hour = [
        ts[0..4].to_string(),
        ts[5..7].to_string(),
        ts[8..10].to_string(),
        ts[11..13].to_string(),
    ];
    (minute, hour)
}

/// Seconds since the epoch of `YYYY-MM-DD?HH:MM:SS…` (UTC), by the civil-from-days
/// algorithm (H. Hinnant).
fn epoch(ts: &str) -> i64 {
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().expect("a number in the timestamp");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// How many (sensor, minute) windows of the records the watermark (the latest event
/// time minus 5 s) has closed.
fn closed_windows(sent: &[Value]) -> usize {
    let ts = |r: &Value| r["timestamp"].as_str().unwrap_or("").to_string();
    let Some(latest) = sent.iter().map(ts).max() else {
        return 0;
    };
    let watermark = epoch(&latest) - 5;
    let windows: std::collections::HashSet<(String, String)> = sent
        .iter()
        .map(|r| (r["sensor_id"].to_string(), minute_and_hour(&ts(r)).0))
        .filter(|(_, m)| epoch(m) + 60 <= watermark)
        .collect();
    windows.len()
}

#[derive(Default, Debug)]
struct Agg {
    n: f64,
    t_sum: f64,
    t_min: f64,
    t_max: f64,
    h_sum: f64,
}

#[test]
fn the_lab_runs_end_to_end_and_all_five_checks_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".labctl/pyflink/bin/python");
    assert!(
        labctl_local::flink::missing(&python).is_none(),
        "PyFlink or Java missing: run scripts/pyflink install"
    );
    let stack = Stack::start();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let runner = Runner::new(RunnerConfig::new(python, &stack.moto_url, &url));
    let emu = Emulator::new(emulator::Config {
        kinesis_endpoint: Some(stack.moto_url.clone()),
        ..emulator::Config::default()
    })
    .with_flink(runner);
    let _front = stack
        .block_on(front::start_local(
            port,
            &stack.moto_url,
            emu,
            TimeScale(0.25),
        ))
        .expect("front with delivery and the Flink runtime");

    // The shipped lab, reading its fresh stream from the start (TRIM_HORIZON) so that
    // every record produced is aggregated.
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    std::fs::copy(
        root.join("sql/aggregate.flink.sql"),
        dir.join("sql/aggregate.flink.sql"),
    )
    .expect("sql");
    let spec = std::fs::read_to_string(root.join("pipeline.yaml")).expect("pipeline.yaml");
    assert!(spec.contains("starting_position: NOW"));
    let spec = spec.replace("starting_position: NOW", "starting_position: TRIM_HORIZON");
    std::fs::write(dir.join("pipeline.yaml"), spec).expect("spec");

    assert_code(&run(dir, &url, &["up"]), 0);
    let sent = dir.join("sent.jsonl");
    let produce = run(
        dir,
        &url,
        &[
            "produce",
            "--rate",
            "20",
            "--duration",
            "180s",
            "--seed",
            "7",
            "--out",
            sent.to_str().expect("path"),
        ],
    );
    assert_code(&produce, 0);

    // status until every check passes (bounded: the last windows and buffers flush).
    let deadline = Instant::now() + Duration::from_secs(360);
    let status = loop {
        let st = run(dir, &url, &["status", "--output", "json"]);
        if st.status.code() == Some(0) || Instant::now() >= deadline {
            break st;
        }
        std::thread::sleep(Duration::from_secs(10));
    };
    let doc = json(&status);
    for c in doc["checks"].as_array().expect("checks") {
        assert_eq!(c["outcome"], "pass", "{doc:#}");
    }
    assert_eq!(doc["checks"].as_array().map(Vec::len), Some(5));
    assert_code(&status, 0);

    // What was sent.
    let sent: Vec<Value> = std::fs::read_to_string(&sent)
        .expect("--out file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a sent record"))
        .collect();
    assert!(!sent.is_empty());

    // The delivery flushes its last buffer, and the processed delivery the last closed
    // windows, after the producer stops: read S3 until they are there (bounded).
    let closed_windows = closed_windows(&sent);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let raw: usize = objects(&stack, "raw-stream/")
            .iter()
            .map(|(_, b)| parse_all(b).len())
            .sum();
        let processed: usize = objects(&stack, "processed-stream/")
            .iter()
            .map(|(_, b)| parse_all(b).len())
            .sum();
        if (raw >= sent.len() && processed >= closed_windows) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(5));
    }

    // Raw: evaluated prefixes, every record exactly once.
    let mut counts: HashMap<String, i64> = HashMap::new();
    for r in &sent {
        *counts.entry(r.to_string()).or_default() += 1;
    }
    for (key, body) in objects(&stack, "raw-stream/") {
        let parts: Vec<&str> = key.split('/').collect();
        assert!(parts.len() >= 6, "{key}");
        let got: Vec<String> = parts[1..5]
            .iter()
            .zip(["year=", "month=", "day=", "hour="])
            .map(|(p, k)| {
                p.strip_prefix(k)
                    .unwrap_or_else(|| panic!("{key}: {k}"))
                    .to_string()
            })
            .collect();
        let records = parse_all(&body);
        // Records arrive within seconds of their timestamp: the key's hour is the
        // hour of the object's first record (or the next, across an hour boundary).
        let first = records.first().unwrap_or_else(|| panic!("{key} is empty"));
        let (_, hour) = minute_and_hour(first["timestamp"].as_str().expect("timestamp"));
        let last = records
            .last()
            .and_then(|r| r["timestamp"].as_str())
            .expect("timestamp");
        let (_, last_hour) = minute_and_hour(last);
        assert!(
            got == hour || got == last_hour,
            "{key}: records of {hour:?}..{last_hour:?}"
        );
        for r in records {
            let c = counts.entry(r.to_string()).or_default();
            *c -= 1;
            assert!(*c >= 0, "record delivered twice or never sent: {r}");
        }
    }
    let missing: Vec<&String> = counts
        .iter()
        .filter(|(_, c)| **c != 0)
        .map(|(r, _)| r)
        .collect();
    assert!(
        missing.is_empty(),
        "{} records not delivered, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // Aggregates: per sensor and minute, every window the watermark closed.
    let mut want: HashMap<(String, String), Agg> = HashMap::new();
    let mut latest = String::new();
    for r in &sent {
        let ts = r["timestamp"].as_str().expect("timestamp");
        latest = latest.max(ts.to_string());
        let (minute, _) = minute_and_hour(ts);
        let a = want
            .entry((r["sensor_id"].as_str().expect("id").to_string(), minute))
            .or_insert(Agg {
                t_min: f64::MAX,
                t_max: f64::MIN,
                ..Agg::default()
            });
        let t = r["temperature"].as_f64().expect("temperature");
        a.n += 1.0;
        a.t_sum += t;
        a.t_min = a.t_min.min(t);
        a.t_max = a.t_max.max(t);
        a.h_sum += r["humidity"].as_f64().expect("humidity");
    }
    let mut got: HashMap<(String, String), Value> = HashMap::new();
    for (key, body) in objects(&stack, "processed-stream/") {
        for row in parse_all(&body) {
            let k = (
                row["sensor_id"].as_str().expect("sensor_id").to_string(),
                row["window_start_time"]
                    .as_str()
                    .expect("window_start_time")
                    .to_string(),
            );
            assert!(got.insert(k.clone(), row).is_none(), "{k:?} twice ({key})");
        }
    }
    // The watermark is the latest event time minus 5 s: windows ending by then closed.
    let watermark = epoch(&latest) - 5;
    let closed = |minute: &str| epoch(minute) + 60 <= watermark;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let mut compared = 0;
    for ((sensor, minute), a) in &want {
        let Some(row) = got.get(&(sensor.clone(), minute.clone())) else {
            assert!(!closed(minute), "no aggregate for {sensor} {minute}");
            continue;
        };
        let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
        assert!(
            close(f("avg_temperature"), a.t_sum / a.n),
            "{sensor} {minute}: {row}"
        );
        assert!(
            close(f("min_temperature"), a.t_min),
            "{sensor} {minute}: {row}"
        );
        assert!(
            close(f("max_temperature"), a.t_max),
            "{sensor} {minute}: {row}"
        );
        assert!(
            close(f("avg_humidity"), a.h_sum / a.n),
            "{sensor} {minute}: {row}"
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        got.len(),
        "aggregates for windows nothing was sent in"
    );
    assert!(compared > 0);

    assert_code(&run(dir, &url, &["down", "--yes"]), 0);
}
