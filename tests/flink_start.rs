//! A Flink application whose start fails is reported at once (issue 12, part 6): the
//! emulator's test hook makes the next StartApplication go STARTING → READY and writes
//! the job's error lines to the application's log stream in moto, as Managed Flink
//! does for a job that cannot be submitted. `labctl up` must end with exit 1, the
//! application's log group and those lines, after a few polls (counted from its
//! progress lines: well under 30 s of the waiter's schedule, not 20 minutes), and a
//! second `up` starts the application again and reports RUNNING. With the Flink runtime
//! (PyFlink and Java), a zip whose main.py raises goes STARTING → READY with its
//! traceback in the log stream.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use labctl_local::emulator::{self, Api, Emulator, Timing};
use labctl_local::front;

const APP: &str = "sensor-data-analytics";
const GROUP: &str = "/aws/kinesis-analytics/sensor-data-analytics";

const SPEC: &str = r#"
version: 1
pipeline: start-lab
buckets:
  data:
    name: start-data-${account_id}-${region}
streams:
  sensor:
    name: sensor-data-stream
    mode: on-demand
roles:
  delivery-role:
    name: start-delivery
    service: firehose
  analytics-role:
    name: start-analytics
    service: kinesis-analytics
delivery_streams:
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
    logging: {log_group: /aws/kinesis-analytics/sensor-data-analytics, log_stream: app-log}
"#;

fn dummy_jar() -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("test/Dummy.class", o).expect("entry");
    z.write_all(b"not really a class").expect("write");
    z.finish().expect("zip").into_inner()
}

fn labctl(stack: &Stack, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(args)
        .args(["--endpoint-url", url, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .env("LABCTL_CACHE_DIR", stack.dir.path().join("no-cache"))
        .stdin(Stdio::null())
        .output()
        .expect("running labctl")
}

/// The `x-labctl-local-capabilities` header of a v2 ListApplications answer of the front.
fn v2_capabilities(url: &str) -> Option<String> {
    use std::io::Read;
    let host = url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(host).expect("connecting to the front");
    let body = "{}";
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: KinesisAnalytics_20180523.ListApplications\r\nAuthorization: AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/kinesisanalytics/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).expect("writing");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("reading");
    answer.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-labctl-local-capabilities:")
            .map(|v| v.trim().to_string())
    })
}

/// The waiter's progress lines for RUNNING, and the largest "Ns of at most" in them.
fn running_waits(err: &str) -> (usize, u64) {
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("waiting for the application to be RUNNING:"))
        .collect();
    let most = lines
        .iter()
        .filter_map(|l| l.split(" (").last())
        .filter_map(|t| t.split('s').next())
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    (lines.len(), most)
}

#[test]
fn a_failed_start_is_reported_at_once_with_the_log_lines() {
    let stack = Stack::start();
    let emu = Emulator::new(emulator::Config {
        timing: Timing::uniform(Duration::from_millis(600)),
        kinesis_endpoint: Some(stack.moto_url.clone()),
        ..emulator::Config::default()
    });
    let f = stack
        .block_on(front::start_with(0, &stack.moto_url, emu.clone()))
        .expect("front with the emulator");
    let url = f.url();
    // Without a Flink runtime the front says v2 is a control plane only.
    assert_eq!(v2_capabilities(&url).as_deref(), Some("control-plane"));
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

    let lines = vec![
        "Traceback (most recent call last):".to_string(),
        "ValueError: no runtime property for placeholder(s): input.stream.label".to_string(),
    ];
    emu.fail_next_start(lines.clone());
    let up = labctl(&stack, &url, &["up"]);
    assert_code(&up, 1);
    let all = format!("{}\n{}", stdout(&up), stderr(&up));
    assert!(all.contains("failed to start"), "{all}");
    assert!(all.contains("STARTING to READY"), "{all}");
    assert!(all.contains(GROUP), "{all}");
    for l in &lines {
        assert!(all.contains(l.as_str()), "missing {l:?} in:\n{all}");
    }
    // Seen within the waiter's first polls (1 s, then doubling): far below 30 s of its
    // schedule, where the bound for RUNNING is 20 minutes.
    let (polls, most) = running_waits(&stderr(&up));
    assert!((1..=3).contains(&polls), "{polls} waits:\n{all}");
    assert!(most < 30, "waited {most}s:\n{all}");
    assert_eq!(
        emu.status(Api::V2, "us-east-1", APP).as_deref(),
        Some("READY")
    );

    // The rerun starts it again and does not wait long: the start works this time.
    let again = labctl(&stack, &url, &["up"]);
    assert_code(&again, 0);
    let (_, most) = running_waits(&stderr(&again));
    assert!(most < 30, "{}", stderr(&again));
    assert_eq!(
        emu.status(Api::V2, "us-east-1", APP).as_deref(),
        Some("RUNNING")
    );
}

/// The runtime's side of the same story: with PyFlink and Java, a zip whose main.py
/// raises is a job that cannot be submitted: STARTING → READY, and its traceback in the
/// application's log stream (read back from moto). No JVM starts: main.py raises first.
#[test]
fn the_runtime_reports_a_main_py_that_raises() {
    let python = std::env::var_os("LABCTL_LOCAL_PYFLINK")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".labctl/pyflink/bin/python")
        });
    if let Some(why) = labctl_local::flink::missing(&python) {
        panic!("the Flink runtime cannot run here: {why} (run `scripts/pyflink install`)");
    }
    let stack = Stack::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}");
    let emu = Emulator::new(emulator::Config {
        kinesis_endpoint: Some(stack.moto_url.clone()),
        ..emulator::Config::default()
    })
    .with_flink(labctl_local::flink::Runner::new(
        labctl_local::flink::RunnerConfig::new(python, &stack.moto_url, &url),
    ));
    stack
        .block_on(front::start_with(port, &stack.moto_url, emu.clone()))
        .expect("front with the Flink runtime");
    // With it, v2 is not marked control-plane only.
    assert_eq!(v2_capabilities(&url), None);

    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file("main.py", o).expect("entry");
    z.write_all(
        b"raise ValueError('no runtime property for placeholder(s): input.stream.label')\n",
    )
    .expect("write");
    let zip_bytes = z.finish().expect("zip").into_inner();
    let s3 = stack.s3();
    let sdk = stack.sdk_config();
    let v2 = aws_sdk_kinesisanalyticsv2::Client::from_conf(
        aws_sdk_kinesisanalyticsv2::config::Builder::from(&sdk)
            .endpoint_url(&url)
            .build(),
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let stream_arn =
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/broken:log-stream:app";
    let statuses = stack.block_on(async {
        use aws_sdk_kinesisanalyticsv2::types::*;
        s3.create_bucket()
            .bucket("code")
            .send()
            .await
            .expect("bucket");
        s3.put_object()
            .bucket("code")
            .key("broken.zip")
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
        v2.create_application()
            .application_name("broken")
            .runtime_environment(RuntimeEnvironment::Flink120)
            .service_execution_role("arn:aws:iam::123456789012:role/r")
            .application_configuration(
                ApplicationConfiguration::builder()
                    .application_code_configuration(
                        ApplicationCodeConfiguration::builder()
                            .code_content_type(CodeContentType::Zipfile)
                            .code_content(
                                CodeContent::builder()
                                    .s3_content_location(
                                        S3ContentLocation::builder()
                                            .bucket_arn("arn:aws:s3:::code")
                                            .file_key("broken.zip")
                                            .build()
                                            .expect("location"),
                                    )
                                    .build(),
                            )
                            .build()
                            .expect("code"),
                    )
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
                    .log_stream_arn(stream_arn)
                    .build()
                    .expect("logging"),
            )
            .send()
            .await
            .expect("CreateApplication");
        v2.start_application()
            .application_name("broken")
            .send()
            .await
            .expect("StartApplication");
        let mut seen = Vec::new();
        for _ in 0..120 {
            let d = v2
                .describe_application()
                .application_name("broken")
                .send()
                .await
                .expect("describe");
            let s = d
                .application_detail()
                .map(|d| d.application_status().as_str().to_string())
                .unwrap_or_default();
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if s != "STARTING" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        seen
    });
    assert_eq!(statuses, ["STARTING", "READY"]);
    let messages = stack.block_on(async {
        let out = logs
            .get_log_events()
            .log_group_name("/aws/kinesis-analytics/broken")
            .log_stream_name("app")
            .send()
            .await
            .expect("GetLogEvents");
        out.events()
            .iter()
            .filter_map(|e| e.message().map(str::to_string))
            .collect::<Vec<_>>()
    });
    let all = messages.join("\n");
    assert!(all.contains("ValueError: no runtime property"), "{all}");
    assert!(all.contains("could not be submitted"), "{all}");
    assert!(all.contains("\"messageType\":\"ERROR\""), "{all}");
    assert!(emu.job_pids().is_empty());
}
