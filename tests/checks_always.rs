//! `status` always reports all five checks, each by its name, whatever is missing (issue
//! 16: check 3 was dropped when the raw delivery stream was gone), and step 2 is
//! `pending`, never `fail`, while the first buffer interval after records started is not
//! over (issue 16: on AWS it said `fail` during the first interval). The local front
//! delivers Firehose as AWS does; its waits are scaled per test (the pending test runs
//! them at AWS's own pace, so the spec's 900 s interval cannot pass during the test).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use labctl_local::emulator::{self, Emulator, Timing};
use labctl_local::firehose::TimeScale;
use labctl_local::front;

/// The five checks, by step, as `status` names them.
const CHECKS: [(u64, &str); 5] = [
    (1, "records are arriving in the stream"),
    (2, "raw data is landing in S3"),
    (3, "the analytics application is RUNNING and consuming"),
    (4, "aggregates are landing in S3"),
    (5, "the dashboard has every widget and no alarm is in ALARM"),
];

/// The lab with its raw delivery buffering `interval` seconds.
fn spec(interval: u32) -> String {
    format!(
        r#"
version: 1
pipeline: always-lab
buckets:
  data: {{name: "always-data-${{account_id}}-${{region}}"}}
streams:
  sensor: {{name: always-sensor-stream, mode: on-demand}}
roles:
  delivery-role: {{name: always-delivery, service: firehose}}
  analytics-role: {{name: always-analytics, service: kinesis-analytics}}
delivery_streams:
  raw:
    name: always-raw-delivery
    source: {{type: kinesis-stream, stream: sensor}}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/year=!{{timestamp:yyyy}}/"
      error_prefix: "errors/!{{firehose:error-output-type}}/"
      buffering: {{interval_seconds: {interval}, size_mib: 1}}
      compression: none
      encryption: bucket-default
  processed:
    name: always-processed
    source: {{type: direct-put}}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {{interval_seconds: 60, size_mib: 1}}
      compression: none
      encryption: bucket-default
applications:
  analytics:
    name: always-analytics-app
    role: analytics-role
    input: {{stream: sensor, starting_position: TRIM_HORIZON}}
    output: {{delivery_stream: processed}}
    engine: flink
    runtime: FLINK-1_20
    code: sql/aggregate.flink.sql
    jars: [lib/dummy-connector.jar]
    parallelism: {{parallelism: 1, per_kpu: 1}}
    artifact: {{bucket: data, prefix: code/}}
dashboards:
  dashboard: {{name: always-dashboard}}
"#
    )
}

struct Lab {
    stack: Stack,
    front: front::Front,
}

impl Lab {
    /// moto behind a front whose Firehose waits are multiplied by `scale`, the lab's
    /// files written with the raw delivery's `interval`.
    fn start(scale: f64, interval: u32) -> Lab {
        let stack = Stack::start();
        let emu = Emulator::new(emulator::Config {
            timing: Timing::uniform(Duration::from_millis(300)),
            kinesis_endpoint: Some(stack.moto_url.clone()),
            ..emulator::Config::default()
        });
        let front = stack
            .block_on(front::start_local(
                0,
                &stack.moto_url,
                emu,
                TimeScale(scale),
            ))
            .expect("front");
        write_flink_files(stack.dir.path());
        std::fs::write(stack.dir.path().join("pipeline.yaml"), spec(interval)).expect("spec");
        Lab { stack, front }
    }

    fn labctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(self.stack.dir.path())
            .args(args)
            .args(["--endpoint-url", &self.front.url(), "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("NO_COLOR", "1")
            .env("LABCTL_CACHE_DIR", self.stack.dir.path().join("no-cache"))
            .stdin(Stdio::null())
            .output()
            .expect("running labctl")
    }
}

fn check(doc: &serde_json::Value, step: u64) -> &serde_json::Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["step"] == step))
        .unwrap_or(&serde_json::Value::Null)
}

/// Every check present once, in order, by its name, with an outcome and evidence.
#[track_caller]
fn assert_all_five(doc: &serde_json::Value) {
    let steps: Vec<u64> = doc["checks"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["step"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(steps, vec![1, 2, 3, 4, 5], "{doc:#}");
    for (step, name) in CHECKS {
        let c = check(doc, step);
        assert_eq!(c["name"], name, "step {step}: {doc:#}");
        assert!(
            ["pass", "fail", "pending", "not-observable"]
                .contains(&c["outcome"].as_str().unwrap_or("")),
            "step {step}: {doc:#}"
        );
        assert!(
            !c["evidence"].as_str().unwrap_or("").is_empty(),
            "step {step} says why: {doc:#}"
        );
    }
}

#[test]
fn every_check_is_reported_when_the_raw_delivery_stream_is_gone() {
    let lab = Lab::start(0.05, 60);
    assert_code(&lab.labctl(&["up"]), 0);
    let firehose = aws_sdk_firehose::Client::from_conf(
        aws_sdk_firehose::config::Builder::from(&lab.stack.sdk_config())
            .endpoint_url(lab.front.url())
            .build(),
    );
    lab.stack.block_on(async {
        firehose
            .delete_delivery_stream()
            .delivery_stream_name("always-raw-delivery")
            .send()
            .await
            .expect("deleting the raw delivery stream");
        // Read back: the endpoint no longer has it.
        let left = firehose
            .list_delivery_streams()
            .send()
            .await
            .expect("listing delivery streams");
        assert!(
            !left
                .delivery_stream_names()
                .iter()
                .any(|n| n == "always-raw-delivery"),
            "{left:?}"
        );
    });

    let st = lab.labctl(&["status", "--output", "json"]);
    let doc = json(&st);
    assert_all_five(&doc);
    assert_eq!(check(&doc, 2)["outcome"], "fail", "{doc:#}");
    assert_eq!(
        check(&doc, 2)["evidence"],
        "delivery stream always-raw-delivery does not exist",
        "{doc:#}"
    );
    // Check 3 is there and says why it cannot pass (no job runs on this front).
    assert_eq!(check(&doc, 3)["outcome"], "not-observable", "{doc:#}");
    assert_eq!(doc["ok"], false);
    // A missing resource and a failing check: exit 3.
    assert_code(&st, 3);

    // The table lists all five too, each with its result.
    let st = lab.labctl(&["status"]);
    assert_code(&st, 3);
    let table = stdout(&st);
    for (step, name) in CHECKS {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{step}. {name}")))
            .unwrap_or_else(|| panic!("check {step} missing from the table:\n{table}"));
        assert!(
            ["pass", "fail", "pending", "not-observable"]
                .iter()
                .any(|w| line.contains(w)),
            "{line}"
        );
    }
    assert_code(&lab.labctl(&["down", "--yes"]), 0);
}

#[test]
fn raw_landing_is_pending_during_the_first_buffer_interval() {
    // AWS's pace (scale 1) and a 900 s interval: no object can land during the test.
    let lab = Lab::start(1.0, 900);
    assert_code(&lab.labctl(&["up"]), 0);
    assert_code(
        &lab.labctl(&["produce", "--count", "200", "--rate", "100"]),
        0,
    );
    let st = lab.labctl(&["status", "--output", "json"]);
    let doc = json(&st);
    assert_all_five(&doc);
    assert_eq!(check(&doc, 1)["outcome"], "pass", "{doc:#}");
    let raw = check(&doc, 2);
    assert_eq!(raw["outcome"], "pending", "{doc:#}");
    let ev = raw["evidence"].as_str().unwrap_or("");
    assert!(
        ev.starts_with("no objects under s3://") && ev.contains("records have been due for"),
        "{doc:#}"
    );
    assert!(
        raw["cause"]
            .as_str()
            .unwrap_or("")
            .contains("buffers records for 900 s"),
        "{doc:#}"
    );
    // Records arrive, nothing failed, the lab is not yet validated: exit 4.
    assert_code(&st, 4);
    assert_code(&lab.labctl(&["down", "--yes"]), 0);
}
