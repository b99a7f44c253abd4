//! The checks' `pending`, `fail` and stale outcomes on the local stack, each with
//! `status`'s exit code (issue 14, part 6): the local front delivers Firehose as AWS does
//! (its waits x0.05, so a 60 s buffer interval lasts 3 s), and the checks run their AWS
//! logic there (no endpoint switch in the product). Each step polls `status` (bounded)
//! until the outcome under test shows, then asserts the whole report and the exit code.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use labctl_local::emulator::{self, Emulator, Timing};
use labctl_local::firehose::TimeScale;
use labctl_local::flink::{Runner, RunnerConfig};
use labctl_local::front;

const SPEC: &str = r#"
version: 1
pipeline: outcomes-lab
buckets:
  data: {name: "outcomes-data-${account_id}-${region}"}
streams:
  sensor: {name: sensor-data-stream, mode: on-demand}
roles:
  delivery-role: {name: outcomes-delivery, service: firehose}
  analytics-role: {name: outcomes-analytics, service: kinesis-analytics}
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
      error_prefix: "errors/!{firehose:error-output-type}/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
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
  analytics:
    name: sensor-data-analytics
    role: analytics-role
    input: {stream: sensor, starting_position: TRIM_HORIZON}
    output: {delivery_stream: processed}
    engine: flink
    runtime: FLINK-1_20
    code: sql/aggregate.flink.sql
    jars: [lib/dummy-connector.jar]
    parallelism: {parallelism: 1, per_kpu: 1}
    artifact: {bucket: data, prefix: code/}
dashboards:
  dashboard: {name: outcomes-dashboard}
"#;

struct Lab {
    stack: Stack,
    _front: front::Front,
    url: String,
}

fn dummy_jar() -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("test/Dummy.class", o).expect("entry");
    z.write_all(b"not really a class").expect("write");
    z.finish().expect("zip").into_inner()
}

impl Lab {
    /// A stack whose front delivers Firehose (waits x0.05) and emulates the
    /// application's control plane (no Flink runtime: no job, no metrics, and the
    /// front says so).
    fn start() -> Lab {
        Lab::start_with(|_, _| None)
    }

    /// [`Lab::start`] whose emulator runs each started application's job with the runner
    /// `runner(moto_url, front_url)` gives, if any.
    fn start_with(runner: impl Fn(&str, &str) -> Option<Runner>) -> Lab {
        let stack = Stack::start();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut emu = Emulator::new(emulator::Config {
            timing: Timing::uniform(Duration::from_millis(300)),
            kinesis_endpoint: Some(stack.moto_url.clone()),
            ..emulator::Config::default()
        });
        if let Some(r) = runner(&stack.moto_url, &format!("http://127.0.0.1:{port}")) {
            emu = emu.with_flink(r);
        }
        let f = stack
            .block_on(front::start_local(
                port,
                &stack.moto_url,
                emu,
                TimeScale(0.05),
            ))
            .expect("front");
        let url = f.url();
        let dir = stack.dir.path();
        std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
        std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(
            root.join("sql/aggregate.flink.sql"),
            dir.join("sql/aggregate.flink.sql"),
        )
        .expect("sql");
        std::fs::write(dir.join("lib/dummy-connector.jar"), dummy_jar()).expect("jar");
        std::fs::write(dir.join("pipeline.yaml"), SPEC).expect("spec");
        Lab {
            stack,
            _front: f,
            url,
        }
    }

    fn labctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(self.stack.dir.path())
            .args(args)
            .args(["--endpoint-url", &self.url, "--region", "us-east-1"])
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

    /// `status --output json` until `done` holds for its report (at most `limit`);
    /// the last output either way.
    fn status_until(&self, limit: Duration, done: impl Fn(&serde_json::Value) -> bool) -> Output {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.labctl(&["status", "--output", "json"]);
            if done(&json(&out)) || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn produce(&self, count: &str) {
        assert_code(
            &self.labctl(&["produce", "--count", count, "--rate", "100"]),
            0,
        );
    }
}

fn outcome(doc: &serde_json::Value, step: u64) -> String {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["step"] == step))
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or("missing")
        .to_string()
}

fn evidence(doc: &serde_json::Value, step: u64) -> String {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["step"] == step))
        .and_then(|c| c["evidence"].as_str())
        .unwrap_or("missing")
        .to_string()
}

/// Check 3 on this stack's control-plane-only Flink: the application RUNNING, its
/// consumption not observable because the front says it runs no job.
#[track_caller]
fn assert_control_plane_only(doc: &serde_json::Value) {
    assert_eq!(outcome(doc, 3), "not-observable", "step 3: {doc:#}");
    let ev = evidence(doc, 3);
    assert!(
        ev.starts_with("RUNNING; ") && ev.contains("x-labctl-local-capabilities: control-plane"),
        "step 3: {doc:#}"
    );
}

#[test]
fn nothing_produced_is_pending_with_exit_4() {
    let lab = Lab::start();
    assert_code(&lab.labctl(&["up"]), 0);
    let st = lab.labctl(&["status", "--output", "json"]);
    let doc = json(&st);
    for step in [1, 2] {
        assert_eq!(outcome(&doc, step), "pending", "step {step}: {doc:#}");
    }
    // No Flink runtime here: the front says its v2 API is a control plane only
    // (x-labctl-local-capabilities), so consumption and aggregates cannot be seen.
    for step in [3, 4] {
        assert_eq!(
            outcome(&doc, step),
            "not-observable",
            "step {step}: {doc:#}"
        );
    }
    assert!(doc["checks"][2]["evidence"]
        .as_str()
        .unwrap_or("")
        .contains("x-labctl-local-capabilities: control-plane"));
    assert_eq!(outcome(&doc, 5), "pass", "{doc:#}");
    assert_eq!(doc["ok"], false);
    assert_code(&st, 4);
}

#[test]
fn raw_delivery_passes_then_goes_stale_when_its_bucket_breaks() {
    let lab = Lab::start();
    assert_code(&lab.labctl(&["up"]), 0);
    lab.produce("200");
    // Delivered within the scaled buffer interval: step 2 passes (3 and 4 are not
    // observable: no job runs here, so the lab as a whole is not validated: exit 4).
    let st = lab.status_until(Duration::from_secs(120), |d| outcome(d, 2) == "pass");
    let doc = json(&st);
    assert_eq!(outcome(&doc, 1), "pass", "{doc:#}");
    assert_eq!(outcome(&doc, 2), "pass", "{doc:#}");
    assert_control_plane_only(&doc);
    assert_code(&st, 4);

    // Point the delivery at a bucket that does not exist: records keep arriving, no
    // object follows; once they wait longer than the spec's interval plus the grace,
    // step 2 fails as stale (and the destination drift also says 3).
    let firehose = aws_sdk_firehose::Client::from_conf(
        aws_sdk_firehose::config::Builder::from(&lab.stack.sdk_config())
            .endpoint_url(lab.url.clone())
            .build(),
    );
    lab.stack.block_on(async {
        let d = firehose
            .describe_delivery_stream()
            .delivery_stream_name("sensor-data-delivery")
            .send()
            .await
            .expect("describe");
        let desc = d.delivery_stream_description().expect("description");
        let dest = desc.destinations().first().expect("destination");
        firehose
            .update_destination()
            .delivery_stream_name("sensor-data-delivery")
            .current_delivery_stream_version_id(desc.version_id())
            .destination_id(dest.destination_id())
            .extended_s3_destination_update({
                // Everything as it was but the bucket (moto's describe needs these
                // members present to stay readable by the SDK; AWS-NOTES).
                let s3 = dest.extended_s3_destination_description().expect("s3");
                use aws_sdk_firehose::types::*;
                ExtendedS3DestinationUpdate::builder()
                    .bucket_arn("arn:aws:s3:::no-such-bucket-for-outcomes")
                    .role_arn(s3.role_arn())
                    .set_prefix(s3.prefix().map(str::to_string))
                    .set_error_output_prefix(s3.error_output_prefix().map(str::to_string))
                    .compression_format(CompressionFormat::Uncompressed)
                    .buffering_hints(
                        BufferingHints::builder()
                            .interval_in_seconds(60)
                            .size_in_mbs(1)
                            .build(),
                    )
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .no_encryption_config(NoEncryptionConfig::NoEncryption)
                            .build(),
                    )
                    .build()
            })
            .send()
            .await
            .expect("update destination");
    });
    lab.produce("50");
    let st = lab.status_until(Duration::from_secs(240), |d| {
        if outcome(d, 2) != "fail" {
            // keep records arriving while waiting
            assert_code(&lab.labctl(&["produce", "--count", "5", "--rate", "50"]), 0);
            return false;
        }
        true
    });
    let doc = json(&st);
    assert_eq!(outcome(&doc, 2), "fail", "{doc:#}");
    let ev = doc["checks"][1]["evidence"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(ev.contains("not delivered"), "{doc:#}");
    // The application still runs (as far as this endpoint can show).
    assert_control_plane_only(&doc);
    assert_code(&st, 3);
}

#[test]
fn a_stopped_application_and_a_deleted_stream_fail_with_exit_3() {
    let lab = Lab::start();
    assert_code(&lab.labctl(&["up"]), 0);
    let v2 = aws_sdk_kinesisanalyticsv2::Client::from_conf(
        aws_sdk_kinesisanalyticsv2::config::Builder::from(&lab.stack.sdk_config())
            .endpoint_url(lab.url.clone())
            .build(),
    );
    lab.stack.block_on(async {
        v2.stop_application()
            .application_name("sensor-data-analytics")
            .send()
            .await
            .expect("stop");
    });
    // STOPPING, then READY: both fail step 3; the settled state is the one asserted.
    let st = lab.status_until(Duration::from_secs(60), |d| {
        evidence(d, 3) == "the application is READY"
    });
    let doc = json(&st);
    assert_eq!(outcome(&doc, 3), "fail", "{doc:#}");
    assert_eq!(
        evidence(&doc, 3),
        "the application is READY",
        "stopped: READY (StopApplication), {doc:#}"
    );
    assert_code(&st, 3);

    let kinesis = lab.stack.kinesis();
    lab.stack.block_on(async {
        kinesis
            .delete_stream()
            .stream_name("sensor-data-stream")
            .send()
            .await
            .expect("delete stream");
    });
    let st = lab.labctl(&["status", "--output", "json"]);
    let doc = json(&st);
    assert_eq!(outcome(&doc, 1), "fail", "{doc:#}");
    assert_eq!(outcome(&doc, 3), "fail", "{doc:#}");
    assert_eq!(evidence(&doc, 3), "the application is READY", "{doc:#}");
    assert_code(&st, 3);
}

/// A stand-in Flink job (Python only, no JVM): whatever main.py it is given, it serves the
/// few Flink REST answers the local runner reads (one job RUNNING, one source vertex
/// whose numRecordsOut is the number in `COUNT_FILE`) and logs the mini cluster's REST
/// line. The runner publishes that number as the application's numRecordsIn, as Managed
/// Flink does (namespace AWS/KinesisAnalytics, dimension Application).
const STAND_IN_JOB: &str = r#"
import http.server, json, os, sys, threading, time
count_file = sys.argv[1]
log_dir = os.environ["FLINK_LOG_DIR"]
os.makedirs(log_dir, exist_ok=True)

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = self.path
        n = open(count_file).read().strip()
        if p.startswith("/jobs/overview"):
            body = {"jobs": [{"jid": "j1", "state": "RUNNING"}]}
        elif p == "/jobs/j1":
            body = {"vertices": [{"id": "v1", "name": "Source: readings"}]}
        elif p.startswith("/jobs/j1/vertices/v1/metrics?get="):
            body = [{"id": "0.Source__readings.numRecordsOut", "value": n}]
        elif p.startswith("/jobs/j1/vertices/v1/metrics"):
            body = [{"id": "0.Source__readings.numRecordsOut"}]
        else:
            self.send_response(404); self.end_headers(); return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass

s = http.server.HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=s.serve_forever, daemon=True).start()
with open(os.path.join(log_dir, "flink.log"), "w") as f:
    f.write("INFO Rest endpoint listening at localhost:%d\n" % s.server_address[1])
while True:
    time.sleep(1)
"#;

#[test]
fn a_running_job_is_pending_until_it_reads_records_then_passes() {
    let work = tempfile::tempdir().expect("tempdir");
    let count = work.path().join("count");
    std::fs::write(&count, "0").expect("count");
    let job = work.path().join("job.py");
    std::fs::write(&job, STAND_IN_JOB).expect("job");
    // The runner's "python": runs the stand-in whatever main.py it is handed.
    let python = work.path().join("python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nexec python3 {} {}\n",
            job.display(),
            count.display()
        ),
    )
    .expect("python");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let lab = Lab::start_with(|moto, front| {
        let mut cfg = RunnerConfig::new(python.clone(), moto, front);
        cfg.metrics_every = Duration::from_secs(1);
        Some(Runner::new(cfg))
    });
    assert_code(&lab.labctl(&["up"]), 0);

    // The job runs and has read nothing: check 3 is pending (exit 4).
    let st = lab.status_until(Duration::from_secs(60), |d| outcome(d, 3) == "pending");
    let doc = json(&st);
    assert_eq!(outcome(&doc, 3), "pending", "{doc:#}");
    assert!(evidence(&doc, 3).starts_with("RUNNING; no "), "{doc:#}");
    assert_code(&st, 4);

    // It reads records: numRecordsIn > 0 in CloudWatch, check 3 passes.
    std::fs::write(&count, "7").expect("count");
    let st = lab.status_until(Duration::from_secs(60), |d| outcome(d, 3) == "pass");
    let doc = json(&st);
    assert_eq!(outcome(&doc, 3), "pass", "{doc:#}");
    assert!(
        evidence(&doc, 3).starts_with("RUNNING; ")
            && evidence(&doc, 3).contains(" records in over the last 15 min (numRecordsIn"),
        "{doc:#}"
    );
    // Nothing was produced into the stream: steps 1 and 2 are still pending (exit 4).
    assert_eq!(outcome(&doc, 1), "pending", "{doc:#}");
    assert_code(&st, 4);
    assert_code(&lab.labctl(&["down", "--yes"]), 0);
}
