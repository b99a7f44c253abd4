//! Hostile and odd spec files beyond `tests/validation.rs`: empty, binary garbage,
//! non-UTF-8 bytes, 50 MB, an endless device, deep nesting, aliases expanding
//! exponentially, and every name at and one past its length limit. Each is refused
//! with a clear error and exit 2 (never a panic, a hang or a request), and each name
//! at its limit is accepted.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A valid spec with every kind of named thing; `{X}` markers are replaced per case.
const BASE: &str = r#"version: 1
pipeline: {PIPELINE}
tags:
  {TAGKEY}: {TAGVALUE}
buckets:
  data:
    name: {BUCKET}
streams:
  sensor:
    name: {STREAM}
    mode: on-demand
roles:
  delivery-role:
    name: {ROLE}
    service: firehose
  analytics-role:
    name: lab-analytics
    service: kinesis-analytics
delivery_streams:
  raw:
    name: {DELIVERY}
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
    logging:
      log_group: {LOGGROUP}
      log_stream: {LOGSTREAM}
  processed:
    name: processed-sensor-data
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
applications:
  {APPID}:
    name: {APP}
    engine: flink
    role: analytics-role
    input: {stream: sensor}
    output: {delivery_stream: processed}
    code: sql/app.sql
dashboards:
  dashboard:
    name: {DASHBOARD}
alarms:
  iterator:
    name: {ALARM}
    metric: iterator-age
    target: sensor
    threshold: 60000
    topic: alerts
topics:
  alerts:
    name: {TOPIC}
"#;

/// (marker, field path in errors, a valid name of length n).
#[allow(clippy::type_complexity)]
const NAMES: &[(&str, &str, usize, fn(usize) -> String)] = &[
    ("{PIPELINE}", "pipeline", 64, |n| {
        format!("p{}", "a".repeat(n - 1))
    }),
    ("{BUCKET}", "buckets.data.name", 63, |n| "b".repeat(n)),
    ("{STREAM}", "streams.sensor.name", 128, |n| "S".repeat(n)),
    ("{ROLE}", "roles.delivery-role.name", 64, |n| "R".repeat(n)),
    ("{DELIVERY}", "delivery_streams.raw.name", 64, |n| {
        "D".repeat(n)
    }),
    ("{APP}", "applications.analytics.name", 128, |n| {
        "A".repeat(n)
    }),
    ("{DASHBOARD}", "dashboards.dashboard.name", 255, |n| {
        "d".repeat(n)
    }),
    ("{ALARM}", "alarms.iterator.name", 255, |n| "a".repeat(n)),
    ("{TOPIC}", "topics.alerts.name", 256, |n| "t".repeat(n)),
    (
        "{LOGGROUP}",
        "delivery_streams.raw.logging.log_group",
        512,
        |n| format!("/aws/{}", "g".repeat(n - 5)),
    ),
    (
        "{LOGSTREAM}",
        "delivery_streams.raw.logging.log_stream",
        512,
        |n| "s".repeat(n),
    ),
    ("{APPID}", "applications", 64, |n| {
        format!("analytics{}", "x".repeat(n - 9))
    }),
    ("{TAGKEY}", "tags", 128, |n| "k".repeat(n)),
    ("{TAGVALUE}", "tags", 256, |n| "v".repeat(n)),
];

fn defaults() -> Vec<(&'static str, String)> {
    vec![
        ("{PIPELINE}", "streaming-lab".into()),
        ("{BUCKET}", "lab-data-bucket".into()),
        ("{STREAM}", "sensor-data-stream".into()),
        ("{ROLE}", "lab-delivery".into()),
        ("{DELIVERY}", "sensor-data-delivery".into()),
        ("{APP}", "sensor-data-analytics".into()),
        ("{DASHBOARD}", "Dashboard".into()),
        ("{ALARM}", "iterator-age".into()),
        ("{TOPIC}", "alerts".into()),
        (
            "{LOGGROUP}",
            "/aws/kinesisfirehose/sensor-data-delivery".into(),
        ),
        ("{LOGSTREAM}", "DestinationDelivery".into()),
        ("{APPID}", "analytics".into()),
        ("{TAGKEY}", "project".into()),
        ("{TAGVALUE}", "lab".into()),
    ]
}

fn spec_with(marker: &str, value: &str) -> String {
    let mut text = BASE.to_string();
    for (m, v) in defaults() {
        let v = if m == marker { value.to_string() } else { v };
        text = text.replace(m, &v);
    }
    text
}

/// Counts connections made to it.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            if s.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, hits)
}

fn labctl(dir: &Path, args: &[&str], port: u16) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir)
        .args(args)
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null())
        .output()
        .expect("run labctl")
}

fn dir_with(spec: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sql")).expect("sql");
    std::fs::write(dir.path().join("sql/app.sql"), "--\n").expect("sql file");
    std::fs::write(dir.path().join("pipeline.yaml"), spec).expect("spec");
    dir
}

/// Exit 2, an `error:` with a `fix:`, no panic, nothing sent; the stderr text.
#[track_caller]
fn refused(what: &str, out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{what}: exit code\n{err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(
        err.contains("error: ") && err.contains("fix: "),
        "{what}: no error with a fix:\n{err}"
    );
    assert!(err.contains("nothing was sent to AWS"), "{what}: {err}");
    err
}

#[test]
fn the_base_spec_and_every_name_at_its_limit_are_valid() {
    let (port, hits) = listener();
    let dir = dir_with(spec_with("", "").as_bytes());
    let out = labctl(dir.path(), &["validate"], port);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (marker, path, limit, make) in NAMES {
        let name = make(*limit);
        assert_eq!(name.len(), *limit, "{marker}");
        let dir = dir_with(spec_with(marker, &name).as_bytes());
        let out = labctl(dir.path(), &["validate"], port);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path} of {limit} characters is valid:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn every_name_one_past_its_limit_is_refused_with_its_field() {
    let (port, hits) = listener();
    for (marker, path, limit, make) in NAMES {
        let name = make(limit + 1);
        let dir = dir_with(spec_with(marker, &name).as_bytes());
        let out = labctl(dir.path(), &["plan"], port);
        let err = refused(&format!("{path} of {} characters", limit + 1), &out);
        assert!(
            err.contains(path),
            "{path}: the error does not name it:\n{err}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a bad spec reached the endpoint"
    );
}

fn laughs(levels: usize, fan: usize) -> String {
    let mut s = String::from("version: 1\npipeline: lab\n");
    s.push_str(&format!("x0: &x0 [{}]\n", vec!["lol"; fan].join(", ")));
    for i in 1..levels {
        let refs = vec![format!("*x{}", i - 1); fan].join(", ");
        s.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    s
}

#[test]
fn hostile_files_are_refused_quickly_and_cleanly() {
    let (port, hits) = listener();
    let valid = spec_with("", "");
    let mut garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    garbage[0] = 0xff;
    let mut latin1 = valid.clone().into_bytes();
    let at = valid.find("lab-data-bucket").expect("bucket name");
    latin1[at + 3] = 0xe9;
    let big = "version: 1\npipeline: lab\n".to_string()
        + &"# filler filler filler filler filler filler filler\n".repeat(1_000_000);
    assert!(big.len() > 50_000_000);
    let deep_flow = format!(
        "version: 1\ntags: {}{}\n",
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let deep_block: String = (0..200)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", Vec::new(), "the spec file is empty"),
        (
            "only blanks",
            b"  \n\n\t\n".to_vec(),
            "the spec file is empty",
        ),
        ("binary garbage", garbage, "not UTF-8"),
        ("non-UTF-8 byte in a spec", latin1, "pipeline.yaml:7:"),
        (
            "NUL bytes",
            b"version: 1\x00\x00\npipeline: x\n".to_vec(),
            "pipeline.yaml",
        ),
        ("50 MB file", big.into_bytes(), "at most 1048576"),
        (
            "deep flow nesting",
            deep_flow.into_bytes(),
            "deeper than 32",
        ),
        (
            "deep block nesting",
            deep_block.into_bytes(),
            "deeper than 32",
        ),
        (
            "billion laughs",
            laughs(10, 10).into_bytes(),
            "counting each alias",
        ),
        (
            "doubling aliases",
            laughs(40, 2).into_bytes(),
            "counting each alias",
        ),
        (
            "a list instead of a mapping",
            b"- a\n- b\n".to_vec(),
            "pipeline.yaml",
        ),
        ("a scalar", b"hello\n".to_vec(), "pipeline.yaml"),
    ];
    for (what, bytes, want) in cases {
        let dir = dir_with(&bytes);
        for cmd in ["validate", "plan"] {
            let out = labctl(dir.path(), &[cmd], port);
            let err = refused(&format!("{what} ({cmd})"), &out);
            assert!(err.contains(want), "{what}: stderr lacks `{want}`:\n{err}");
        }
    }
    // A directory instead of a file.
    let dir = dir_with(b"");
    let out = labctl(dir.path(), &["validate", "-f", "sql"], port);
    let err = refused("a directory", &out);
    assert!(err.contains("cannot read the spec file"), "{err}");
    // A device that never ends.
    let dir = dir_with(b"");
    let out = labctl(dir.path(), &["validate", "-f", "/dev/zero"], port);
    let err = refused("/dev/zero", &out);
    assert!(err.contains("at most 1048576"), "{err}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a bad spec reached the endpoint"
    );
}

#[test]
fn json_output_of_a_hostile_file_is_one_document() {
    let dir = dir_with(laughs(10, 10).as_bytes());
    let (port, _) = listener();
    let out = labctl(dir.path(), &["validate", "--output", "json"], port);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["ok"], false);
    assert!(doc["errors"][0]["line"].as_u64().is_some(), "{doc}");
}
