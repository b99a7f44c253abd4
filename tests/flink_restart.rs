//! A job that dies while RUNNING, on the local Flink runtime: Managed Flink restarts a
//! failed job and the application stays RUNNING while `fullRestarts` counts up and
//! `downtime` grows (developer guide, "Metrics and dimensions in Managed Service for
//! Apache Flink"). The job here is a stand-in main.py (Python only, no JVM) that serves
//! the few Flink REST answers the runner reads and logs the mini cluster's REST line;
//! its first run dies after a few seconds, the second keeps running. Checked: the
//! status never leaves RUNNING, CloudWatch (read back) has fullRestarts ≥ 1,
//! downtime > 0 and the job's numRecordsIn, and StopApplication ends the process.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use labctl_local::emulator::{self, Api, Emulator};
use labctl_local::flink::{Runner, RunnerConfig};
use labctl_local::front;

const MAIN_PY: &str = r#"
import http.server, json, os, sys, threading, time
log_dir = os.environ["FLINK_LOG_DIR"]
os.makedirs(log_dir, exist_ok=True)
runs = os.path.join(os.path.dirname(os.environ["LABCTL_APPLICATION_PROPERTIES"]), "runs")
n = int(open(runs).read()) if os.path.exists(runs) else 0
open(runs, "w").write(str(n + 1))

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = self.path
        if p.startswith("/jobs/overview"):
            body = {"jobs": [{"jid": "j1", "state": "RUNNING"}]}
        elif p == "/jobs/j1":
            body = {"vertices": [{"id": "v1", "name": "Source: readings"}]}
        elif p.startswith("/jobs/j1/vertices/v1/metrics?get="):
            body = [{"id": "0.Source__readings.numRecordsOut", "value": "7"}]
        elif p.startswith("/jobs/j1/vertices/v1/metrics"):
            body = [{"id": "0.Source__readings.numRecordsOut"}, {"id": "0.numRecordsIn"}]
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
if n == 0:
    time.sleep(4)
    print("java.lang.RuntimeException: the stand-in job dies", file=sys.stderr)
    sys.exit(1)
while True:
    time.sleep(1)
"#;

#[test]
fn a_job_that_dies_is_restarted_and_counted() {
    let python = std::path::PathBuf::from("python3");
    let stack = Stack::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}");
    let mut cfg = RunnerConfig::new(python, &stack.moto_url, &url);
    cfg.restart_delay = Duration::from_secs(1);
    cfg.metrics_every = Duration::from_secs(1);
    let emu = Emulator::new(emulator::Config {
        kinesis_endpoint: Some(stack.moto_url.clone()),
        ..emulator::Config::default()
    })
    .with_flink(Runner::new(cfg));
    stack
        .block_on(front::start_with(port, &stack.moto_url, emu.clone()))
        .expect("front with the Flink runtime");

    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("main.py", zip::write::SimpleFileOptions::default())
        .expect("entry");
    z.write_all(MAIN_PY.as_bytes()).expect("write");
    let zip_bytes = z.finish().expect("zip").into_inner();
    let sdk = stack.sdk_config();
    let s3 = stack.s3();
    let v2 = aws_sdk_kinesisanalyticsv2::Client::from_conf(
        aws_sdk_kinesisanalyticsv2::config::Builder::from(&sdk)
            .endpoint_url(&url)
            .build(),
    );
    let cw = stack.cloudwatch();
    let statuses = stack.block_on(async {
        use aws_sdk_kinesisanalyticsv2::types::*;
        s3.create_bucket().bucket("code").send().await.expect("bucket");
        s3.put_object()
            .bucket("code")
            .key("job.zip")
            .body(zip_bytes.into())
            .send()
            .await
            .expect("put zip");
        let run = PropertyGroup::builder()
            .property_group_id("kinesis.analytics.flink.run.options")
            .property_map("python", "main.py")
            .property_map("jarfile", "lib/none.jar")
            .build()
            .expect("group");
        let code = ApplicationCodeConfiguration::builder()
            .code_content_type(CodeContentType::Zipfile)
            .code_content(
                CodeContent::builder()
                    .s3_content_location(
                        S3ContentLocation::builder()
                            .bucket_arn("arn:aws:s3:::code")
                            .file_key("job.zip")
                            .build()
                            .expect("location"),
                    )
                    .build(),
            )
            .build()
            .expect("code");
        v2.create_application()
            .application_name("dies")
            .runtime_environment(RuntimeEnvironment::Flink120)
            .service_execution_role("arn:aws:iam::123456789012:role/r")
            .application_configuration(
                ApplicationConfiguration::builder()
                    .application_code_configuration(code)
                    .environment_properties(
                        EnvironmentProperties::builder()
                            .property_groups(run)
                            .build()
                            .expect("properties"),
                    )
                    .build(),
            )
            .cloud_watch_logging_options(
                CloudWatchLoggingOption::builder()
                    .log_stream_arn("arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/dies:log-stream:app")
                    .build()
                    .expect("logging"),
            )
            .send()
            .await
            .expect("CreateApplication");
        v2.start_application()
            .application_name("dies")
            .send()
            .await
            .expect("StartApplication");
        // Watch the status until CloudWatch shows a restart, then a little longer.
        let mut seen: Vec<String> = Vec::new();
        let mut restarted = 0;
        for _ in 0..120 {
            let s = v2
                .describe_application()
                .application_name("dies")
                .send()
                .await
                .expect("describe")
                .application_detail()
                .map(|d| d.application_status().as_str().to_string())
                .unwrap_or_default();
            if seen.last() != Some(&s) {
                seen.push(s);
            }
            if max_metric(&cw, "fullRestarts").await >= 1.0 {
                restarted += 1;
                if restarted > 8 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        seen
    });
    assert_eq!(
        statuses,
        ["STARTING", "RUNNING"],
        "the status never leaves RUNNING"
    );
    let (restarts, downtime, records) = stack.block_on(async {
        (
            max_metric(&cw, "fullRestarts").await,
            max_metric(&cw, "downtime").await,
            max_metric(&cw, "numRecordsIn").await,
        )
    });
    assert!(restarts >= 1.0, "fullRestarts {restarts}");
    assert!(downtime > 0.0, "downtime {downtime}");
    assert_eq!(records, 7.0);
    let pids = emu.job_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    stack.block_on(async {
        v2.stop_application()
            .application_name("dies")
            .send()
            .await
            .expect("StopApplication");
        for _ in 0..80 {
            if emu.status(Api::V2, "us-east-1", "dies").as_deref() == Some("READY") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    assert_eq!(
        emu.status(Api::V2, "us-east-1", "dies").as_deref(),
        Some("READY")
    );
    assert!(emu.job_pids().is_empty());
    for p in pids {
        let alive = std::process::Command::new("kill")
            .args(["-0", "--", &format!("-{p}")])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(!alive, "process group {p} still alive after the stop");
    }
}

async fn max_metric(cw: &aws_sdk_cloudwatch::Client, name: &str) -> f64 {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let out = cw
        .get_metric_statistics()
        .namespace("AWS/KinesisAnalytics")
        .metric_name(name)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("Application")
                .value("dies")
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_secs(now.secs() - 900))
        .end_time(aws_smithy_types::DateTime::from_secs(now.secs() + 60))
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .send()
        .await
        .expect("GetMetricStatistics");
    out.datapoints()
        .iter()
        .filter_map(|d| d.maximum())
        .fold(0.0, f64::max)
}
