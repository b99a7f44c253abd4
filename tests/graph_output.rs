//! Issue 16 item 12: `graph` arrows follow the data with a legend, alarms point at what
//! they watch, ids are escaped and collision-free (`end`, `a-b`, `a_b`), `--output json`
//! is honoured; runtime errors and bad LABCTL_* values come out as JSON too (exit 2
//! naming the variable).

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

const SPEC: &str = r#"
version: 1
pipeline: graph-lab
buckets:
  data: {name: "graph-data-${account_id}-${region}"}
streams:
  end: {name: s-end, mode: on-demand}
  a-b: {name: s-ab, mode: on-demand}
  a_b: {name: s-a_b, mode: on-demand}
roles:
  delivery-role: {name: graph-delivery, service: firehose}
delivery_streams:
  raw:
    name: graph-delivery
    source: {type: kinesis-stream, stream: end}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
topics:
  alerts: {name: graph-alerts}
alarms:
  lag:
    name: graph-lag
    metric: iterator-age
    target: end
    threshold: 60000
    topic: alerts
"#;

fn labctl(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("labctl")
}

#[test]
fn the_graph_follows_the_data_and_attaches_alarms() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), SPEC).expect("spec");
    let out = labctl(dir.path(), &["graph"], &[]);
    assert_code(&out, 0);
    let m = stdout(&out);
    // Data flows stream -> delivery -> bucket.
    assert!(m.contains("n_end --> n_raw"), "{m}");
    assert!(m.contains("n_raw --> n_data"), "{m}");
    assert!(m.contains("n_raw -.->|uses| n_delivery_x2d_role"), "{m}");
    assert!(m.contains("n_lag -.->|watches| n_end"), "{m}");
    assert!(m.contains("n_lag -.->|notifies| n_alerts"), "{m}");
    assert!(m.contains("legend"), "{m}");
    // `end` is no bare id; `a-b` and `a_b` stay two nodes.
    assert!(
        !m.lines().any(|l| l.trim_start().starts_with("end[")),
        "{m}"
    );
    assert!(m.contains("n_a_x2d_b[") && m.contains("n_a__b["), "{m}");

    let out = labctl(dir.path(), &["graph", "--output", "json"], &[]);
    assert_code(&out, 0);
    let j = json(&out);
    let ids: Vec<&str> = j["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
        .unwrap_or_default();
    for id in ["end", "a-b", "a_b", "raw", "data", "lag", "alerts"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    let edges = j["edges"].as_array().cloned().unwrap_or_default();
    assert!(
        edges
            .iter()
            .any(|e| e["from"] == "raw" && e["to"] == "data" && e["relation"] == "data"),
        "{j}"
    );
}

#[test]
fn bad_labctl_values_are_refused_by_name_also_in_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), SPEC).expect("spec");
    let out = labctl(
        dir.path(),
        &["graph", "--output", "json"],
        &[("LABCTL_TIMEOUT_SECONDS", "soon")],
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("LABCTL_TIMEOUT_SECONDS"),
        "{}",
        stderr(&out)
    );
    let j = json(&out);
    assert_eq!(j["ok"], false);
    assert_eq!(j["exit_code"], 2);
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("LABCTL_TIMEOUT_SECONDS"),
        "{j}"
    );
    let out = labctl(
        dir.path(),
        &["validate"],
        &[("LABCTL_LOCAL_ENDPOINT", "localhost:4599")],
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("LABCTL_LOCAL_ENDPOINT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_runtime_error_is_json_with_output_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), SPEC).expect("spec");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = labctl(
        dir.path(),
        &[
            "status",
            "--output",
            "json",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &url,
        ],
        &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")],
    );
    assert_code(&out, 1);
    let j = json(&out);
    assert_eq!(j["ok"], false);
    assert_eq!(j["command"], "status");
    assert!(
        j["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing answers"),
        "{j}"
    );
}
