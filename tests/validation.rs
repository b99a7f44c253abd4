//! Broken specs: each is rejected with a message that names the file, line, field and
//! fix, exit code 2, and not one connection to the endpoint.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A valid spec holding every kind; each case breaks one thing in it.
const FULL: &str = r#"version: 1
pipeline: streaming-lab
tags:
  project: lab
buckets:
  lab-data:
    name: stream-data-${account_id}-${region}
streams:
  sensor-stream:
    name: sensor-data-stream
    mode: on-demand
roles:
  delivery-role:
    name: lab-delivery
    service: firehose
  analytics-role:
    name: lab-analytics
    service: kinesis-analytics
delivery_streams:
  raw-delivery:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor-stream}
    role: delivery-role
    destination:
      bucket: lab-data
      prefix: "raw-stream/year=!{timestamp:yyyy}/"
      error_prefix: "errors/!{firehose:error-output-type}/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
  processed-delivery:
    name: processed-sensor-data
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: lab-data
      prefix: "processed-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: gzip
      encryption: bucket-default
applications:
  analytics:
    name: sensor-data-analytics
    engine: flink
    role: analytics-role
    input: {stream: sensor-stream}
    output: {delivery_stream: processed-delivery}
    code: sql/app.sql
dashboards:
  dashboard:
    name: Streaming-Pipeline-Dashboard
"#;

/// Counts connections made to it.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn listener() -> Listener {
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
    Listener { port, hits }
}

struct Case {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    /// Text on the line the error must point at (`file:line:`), or "" for no line check.
    at: &'static str,
    /// Substrings the error output must hold (field path, message, fix).
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "yaml syntax",
        from: "  project: lab\n",
        to: "  project: [lab\n",
        at: "  project: [lab",
        expect: &["fix:"],
    },
    Case {
        name: "tab indentation",
        from: "  lab-data:\n",
        to: "\tlab-data:\n",
        at: "\tlab-data:",
        expect: &["tabs", "indent with spaces"],
    },
    Case {
        name: "wrong type",
        from: "      buffering: {interval_seconds: 60, size_mib: 1}\n      compression: none",
        to: "      buffering: {interval_seconds: sixty, size_mib: 1}\n      compression: none",
        at: "interval_seconds: sixty",
        expect: &[
            "interval_seconds",
            "invalid type",
            // In YAML's words, never a Rust type name (issue 16).
            "expected a whole number",
            "fix: give the field a value of the type named",
        ],
    },
    Case {
        name: "unknown top-level field",
        from: "version: 1\n",
        to: "version: 1\nregoin: us-east-1\n",
        at: "regoin:",
        expect: &[
            "unknown field `regoin`; did you mean `region`?",
            "fix: remove the field or correct its spelling",
        ],
    },
    Case {
        name: "unknown nested field",
        from: "    mode: on-demand\n",
        to: "    mode: on-demand\n    shard_count: 2\n",
        at: "    shard_count: 2",
        expect: &["streams.sensor-stream", "unknown field `shard_count`"],
    },
    Case {
        name: "missing field",
        from: "    mode: on-demand\n",
        to: "",
        at: "",
        expect: &["streams.sensor-stream", "missing field `mode`"],
    },
    Case {
        name: "unknown enum value",
        from: "mode: on-demand",
        to: "mode: ondemand",
        at: "mode: ondemand",
        expect: &["unknown value `ondemand`; did you mean `on-demand`?"],
    },
    Case {
        name: "version",
        from: "version: 1\n",
        to: "version: 2\n",
        at: "version: 2",
        expect: &["version: version 2 is not known", "set `version: 1`"],
    },
    Case {
        name: "bucket name uppercase",
        from: "stream-data-${account_id}",
        to: "Stream-Data-${account_id}",
        at: "name: Stream-Data",
        expect: &["buckets.lab-data.name", "lowercase"],
    },
    Case {
        name: "bucket name too long",
        from: "stream-data-${account_id}-${region}",
        to: "stream-data-with-a-very-long-name-that-goes-on-${account_id}-${region}",
        at: "",
        expect: &["buckets.lab-data.name", "3 to 63"],
    },
    Case {
        name: "unknown variable",
        from: "${region}",
        to: "${zone}",
        at: "${zone}",
        expect: &["unknown variable `${zone}`", "${account_id}"],
    },
    Case {
        name: "stream name",
        from: "name: sensor-data-stream",
        to: "name: sensor data stream",
        at: "name: sensor data stream",
        expect: &["streams.sensor-stream.name", "holds ` `"],
    },
    Case {
        name: "shards with on-demand",
        from: "    mode: on-demand\n",
        to: "    mode: on-demand\n    shards: 2\n",
        at: "    shards: 2",
        expect: &[
            "streams.sensor-stream.shards",
            "on-demand stream takes no shard count",
        ],
    },
    Case {
        name: "retention out of range",
        from: "    mode: on-demand\n",
        to: "    mode: on-demand\n    retention_hours: 12\n",
        at: "retention_hours: 12",
        expect: &["retention_hours", "24 to 8760"],
    },
    Case {
        name: "role name",
        from: "name: lab-delivery",
        to: "name: lab/delivery",
        at: "name: lab/delivery",
        expect: &["roles.delivery-role.name", "holds `/`"],
    },
    Case {
        name: "buffering interval out of range",
        from: "interval_seconds: 60, size_mib: 1}\n      compression: none",
        to: "interval_seconds: 901, size_mib: 1}\n      compression: none",
        at: "interval_seconds: 901",
        expect: &["buffering.interval_seconds", "0 to 900"],
    },
    Case {
        name: "buffering size out of range",
        from: "size_mib: 1}\n      compression: gzip",
        to: "size_mib: 129}\n      compression: gzip",
        at: "size_mib: 129",
        expect: &["buffering.size_mib", "1 to 128"],
    },
    Case {
        name: "prefix without error prefix",
        from: "      error_prefix: \"errors/!{firehose:error-output-type}/\"\n",
        to: "",
        at: "prefix: \"raw-stream",
        expect: &[
            "raw-delivery.destination.prefix",
            "needs an error prefix",
            "!{firehose:error-output-type}",
        ],
    },
    Case {
        name: "error prefix without error-output-type",
        from: "errors/!{firehose:error-output-type}/",
        to: "errors/",
        at: "error_prefix: \"errors/\"",
        expect: &[
            "error_prefix",
            "must contain `!{firehose:error-output-type}`",
        ],
    },
    Case {
        name: "bad prefix namespace",
        from: "!{timestamp:yyyy}",
        to: "!{time:yyyy}",
        at: "!{time:yyyy}",
        expect: &["unknown namespace `time`"],
    },
    Case {
        name: "unclosed prefix expression",
        from: "raw-stream/year=!{timestamp:yyyy}/",
        to: "raw-stream/year=!{timestamp:yyyy/",
        at: "",
        expect: &["destination.prefix", "not closed"],
    },
    Case {
        name: "error-output-type in prefix",
        from: "prefix: \"processed-stream/\"",
        to: "prefix: \"processed-stream/!{firehose:error-output-type}/\"",
        at: "",
        expect: &[
            "processed-delivery.destination.prefix",
            "only the error prefix may use",
        ],
    },
    Case {
        name: "missing sql file",
        from: "code: sql/app.sql",
        to: "code: sql/missing.sql",
        at: "code: sql/missing.sql",
        expect: &["applications.analytics.code", "does not exist"],
    },
    Case {
        name: "dangling stream reference",
        from: "stream: sensor-stream}\n    role: delivery-role",
        to: "stream: sensor-strem}\n    role: delivery-role",
        at: "stream: sensor-strem",
        expect: &[
            "source.stream",
            "`sensor-strem` is not a stream id",
            "sensor-stream",
        ],
    },
    Case {
        name: "dangling bucket reference",
        from: "      bucket: lab-data\n      prefix: \"processed",
        to: "      bucket: lab-dat\n      prefix: \"processed",
        at: "",
        expect: &[
            "pipeline.yaml:36:7",
            "processed-delivery.destination.bucket",
            "not a bucket id",
        ],
    },
    Case {
        name: "role for the wrong service",
        from: "    role: analytics-role\n",
        to: "    role: delivery-role\n",
        at: "",
        expect: &["applications.analytics.role", "kinesis-analytics"],
    },
    Case {
        name: "output to a stream-sourced delivery",
        from: "delivery_stream: processed-delivery",
        to: "delivery_stream: raw-delivery",
        at: "",
        expect: &[
            "applications.analytics.output.delivery_stream",
            "direct-put",
        ],
    },
    Case {
        name: "cycle",
        from: "    mode: on-demand\n",
        to: "    mode: on-demand\n    depends_on: [analytics]\n",
        at: "",
        expect: &["dependency cycle", "sensor-stream", "analytics"],
    },
    Case {
        name: "dangling depends_on",
        from: "    name: Streaming-Pipeline-Dashboard\n",
        to: "    name: Streaming-Pipeline-Dashboard\n    depends_on: [nothing]\n",
        at: "",
        expect: &[
            "dashboards.dashboard.depends_on[0]",
            "`nothing` is not a resource id",
        ],
    },
    Case {
        name: "duplicate id in a section",
        from: "  analytics-role:\n",
        to: "  delivery-role:\n",
        at: "",
        expect: &["pipeline.yaml:16:", "`delivery-role` appears twice"],
    },
    Case {
        name: "duplicate id across sections",
        from: "  dashboard:\n",
        to: "  analytics:\n",
        at: "",
        expect: &["dashboards.analytics", "already used in `applications`"],
    },
    Case {
        name: "duplicate AWS name",
        from: "name: processed-sensor-data",
        to: "name: sensor-data-delivery",
        at: "",
        expect: &[
            "delivery_streams.processed-delivery.name",
            "already used by `raw-delivery`",
        ],
    },
    Case {
        name: "reserved tag",
        from: "  project: lab\n",
        to: "  project: lab\n  labctl:pipeline: other\n",
        at: "labctl:pipeline: other",
        expect: &["tags.labctl:pipeline", "set by labctl"],
    },
    Case {
        name: "reserved tag prefix (a role's region tag)",
        from: "  project: lab\n",
        to: "  project: lab\n  labctl:region: eu-west-1\n",
        at: "labctl:region: eu-west-1",
        expect: &["tags.labctl:region", "reserved", "set by labctl"],
    },
    Case {
        name: "reserved tag prefix in another case",
        from: "  project: lab\n",
        to: "  project: lab\n  LabCtl:Region: eu-west-1\n",
        at: "LabCtl:Region: eu-west-1",
        expect: &["tags.LabCtl:Region", "reserved"],
    },
    Case {
        name: "kms without key",
        from: "      compression: gzip\n      encryption: bucket-default",
        to: "      compression: gzip\n      encryption: kms",
        at: "",
        expect: &["processed-delivery.destination.encryption", "needs a key"],
    },
    Case {
        name: "pipeline name",
        from: "pipeline: streaming-lab",
        to: "pipeline: Streaming Lab",
        at: "pipeline: Streaming Lab",
        expect: &["pipeline name `Streaming Lab` is not valid"],
    },
    Case {
        name: "dashboard name",
        from: "name: Streaming-Pipeline-Dashboard",
        to: "name: Streaming Pipeline Dashboard",
        at: "",
        expect: &["dashboards.dashboard.name", "holds ` `"],
    },
];

#[test]
fn the_base_spec_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sql")).expect("sql");
    std::fs::write(dir.path().join("sql/app.sql"), "--\n").expect("sql file");
    std::fs::write(dir.path().join("pipeline.yaml"), FULL).expect("spec");
    let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn broken_specs_are_rejected_before_any_request() {
    assert!(CASES.len() >= 20);
    let l = listener();
    let mut failures = Vec::new();
    for case in CASES {
        assert!(
            FULL.contains(case.from),
            "case `{}`: its `from` text is not in the base spec",
            case.name
        );
        let text = FULL.replacen(case.from, case.to, 1);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("sql")).expect("sql");
        std::fs::write(dir.path().join("sql/app.sql"), "--\n").expect("sql file");
        std::fs::write(dir.path().join("pipeline.yaml"), &text).expect("spec");
        // `plan` would talk to the endpoint if the spec passed.
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(dir.path())
            .args([
                "plan",
                "--endpoint-url",
                &format!("http://127.0.0.1:{}", l.port),
                "--region",
                "us-east-1",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdin(Stdio::null())
            .output()
            .expect("run labctl");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if !case.at.is_empty() {
            let line = text
                .lines()
                .position(|l| l.contains(case.at.lines().next().unwrap_or("")))
                .map(|i| i + 1);
            let line =
                line.unwrap_or_else(|| panic!("case `{}`: marker not in the spec", case.name));
            let want = format!("pipeline.yaml:{line}:");
            if !err.contains(&want) {
                failures.push(format!(
                    "{}: stderr lacks the location `{want}`:\n{err}",
                    case.name
                ));
            }
        }
        if out.status.code() != Some(2) {
            failures.push(format!(
                "{}: exit code {:?}\n{err}",
                case.name,
                out.status.code()
            ));
            continue;
        }
        for want in case.expect {
            if !err.contains(want) {
                failures.push(format!("{}: stderr lacks `{want}`:\n{err}", case.name));
            }
        }
        // No Rust type name reaches the user (issue 16).
        for rust in [
            " u8", " u16", " u32", " u64", " usize", " i32", " i64", " f64", "struct ",
        ] {
            if err.contains(rust) {
                failures.push(format!("{}: a Rust type `{rust}` in:\n{err}", case.name));
            }
        }
        if !err.contains("nothing was sent to AWS") {
            failures.push(format!(
                "{}: stderr does not say nothing was sent:\n{err}",
                case.name
            ));
        }
    }
    assert_eq!(
        l.hits.load(Ordering::SeqCst),
        0,
        "a broken spec reached the endpoint"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn json_output_lists_every_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sql")).expect("sql");
    std::fs::write(dir.path().join("sql/app.sql"), "--\n").expect("sql file");
    let text = FULL
        .replace("interval_seconds: 60", "interval_seconds: 1000")
        .replace("name: lab-delivery", "name: lab delivery");
    std::fs::write(dir.path().join("pipeline.yaml"), text).expect("spec");
    let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir.path())
        .args(["validate", "--output", "json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let errors = doc["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3, "{doc}");
    assert!(errors.iter().all(|e| e["line"].as_u64().is_some()
        && e["file"] == "pipeline.yaml"
        && !e["hint"].as_str().unwrap_or("").is_empty()));
    assert_eq!(errors[0]["path"], "roles.delivery-role.name");
}

#[test]
fn a_missing_spec_file_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir.path())
        .args(["plan", "-f", "nope.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope.yaml")
            && err.contains("cannot read the spec file")
            && err.contains("-f/--file"),
        "{err}"
    );
}
