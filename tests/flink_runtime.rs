//! The real Flink job on the local stack (issue 14, part 2): `labctl up` of the shipped
//! pipeline.yaml against a front whose emulator runs jobs (labctl_local::flink, with
//! the PyFlink of `scripts/pyflink install` and the machine's Java) starts the
//! application's own zip (main.py, the SQL, the connector jar labctl assembled) in
//! PyFlink; RUNNING comes from the job; records put on the stream are read, and the
//! job's numRecordsIn reaches CloudWatch (read back from the endpoint); `labctl down`
//! stops the job and its process group is gone. One JVM at a time: this file has one test.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use labctl_local::emulator::{self, Api, Emulator};
use labctl_local::flink::{Runner, RunnerConfig};
use labctl_local::front;

const APP: &str = "sensor-data-analytics";

fn pyflink() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("LABCTL_LOCAL_PYFLINK") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".labctl/pyflink/bin/python");
    assert!(
        p.exists(),
        "PyFlink not installed: run `scripts/pyflink install` (or set LABCTL_LOCAL_PYFLINK)"
    );
    p
}

fn labctl(stack: &Stack, url: &str, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(stack.dir.path())
        .args(args)
        .args(["--endpoint-url", url, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if let Some(home) = std::env::var_os("HOME") {
        let m2 = Path::new(&home).join(".m2/repository");
        if m2.is_dir() && std::env::var_os("LABCTL_MAVEN_REPOSITORY").is_none() {
            c.env("LABCTL_MAVEN_REPOSITORY", m2);
        }
    }
    c.output().expect("running labctl")
}

/// Whether any process of this process group is alive (`kill -0 -<pgid>`).
fn group_alive(pgid: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn up_runs_the_real_job_and_down_stops_it() {
    let python = pyflink();
    if let Some(why) = labctl_local::flink::missing(&python) {
        panic!("the Flink runtime cannot run here: {why}");
    }
    let stack = Stack::start();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let url = format!("http://127.0.0.1:{port}");
    let emu = Emulator::new(emulator::Config {
        kinesis_endpoint: Some(stack.moto_url.clone()),
        ..emulator::Config::default()
    })
    .with_flink(Runner::new(RunnerConfig::new(
        python,
        &stack.moto_url,
        &url,
    )));
    let f = stack
        .block_on(front::start_with(port, &stack.moto_url, emu.clone()))
        .expect("front with the Flink runtime");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    for f in [
        "pipeline.yaml",
        "sql/aggregate.flink.sql",
        "sql/aggregate.kda.sql",
    ] {
        std::fs::copy(root.join(f), dir.join(f)).expect("copying the shipped lab");
    }

    let t0 = Instant::now();
    let up = labctl(&stack, &url, &["up"]);
    assert_code(&up, 0);
    eprintln!(
        "up (with the job RUNNING): {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        emu.status(Api::V2, "us-east-1", APP).as_deref(),
        Some("RUNNING")
    );
    let pids = emu.job_pids();
    assert_eq!(pids.len(), 1, "one job process: {pids:?}");

    // Records for the job: the shipped spec starts at NOW (LATEST), so put them a
    // little after RUNNING, a batch every 2 s until numRecordsIn shows them.
    let kinesis = stack.kinesis();
    let cw = stack.cloudwatch();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = 0.0;
    let mut n = 0;
    while Instant::now() < deadline {
        let batch: Vec<_> = (0..10)
            .map(|i| {
                n += 1;
                let body = format!(
                    r#"{{"sensor_id":"sensor-00{}","temperature":21.5,"humidity":50.0,"timestamp":"2026-01-01T10:00:{:02}Z"}}"#,
                    i % 3 + 1,
                    n % 60
                );
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .data(aws_sdk_kinesis::primitives::Blob::new(body.into_bytes()))
                    .partition_key(format!("k{i}"))
                    .build()
                    .expect("entry")
            })
            .collect();
        stack.block_on(async {
            kinesis
                .put_records()
                .stream_name("sensor-data-stream")
                .set_records(Some(batch))
                .send()
                .await
                .expect("PutRecords")
        });
        seen = stack.block_on(async {
            let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
            let start = aws_smithy_types::DateTime::from_secs(now.secs() - 900);
            let end = aws_smithy_types::DateTime::from_secs(now.secs() + 60);
            let out = cw
                .get_metric_statistics()
                .namespace("AWS/KinesisAnalytics")
                .metric_name("numRecordsIn")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("Application")
                        .value(APP)
                        .build(),
                )
                .start_time(start)
                .end_time(end)
                .period(60)
                .statistics(aws_sdk_cloudwatch::types::Statistic::Maximum)
                .send()
                .await
                .expect("GetMetricStatistics");
            out.datapoints()
                .iter()
                .filter_map(|d| d.maximum())
                .fold(0.0, f64::max)
        });
        if seen > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!(
        "front saw: ListShards {} GetShardIterator {} GetRecords {} PutRecordBatch {}",
        f.count("ListShards"),
        f.count("GetShardIterator"),
        f.count("GetRecords"),
        f.count("PutRecordBatch")
    );
    eprintln!(
        "numRecordsIn {seen} after {:.1}s ({n} records put)",
        t0.elapsed().as_secs_f64()
    );
    assert!(seen > 0.0, "numRecordsIn never above 0 in CloudWatch");

    let down = labctl(&stack, &url, &["down", "--yes"]);
    assert_code(&down, 0);
    assert_eq!(emu.status(Api::V2, "us-east-1", APP), None);
    // DeleteApplication halts the job (SIGTERM, SIGKILL after 10 s): it ends, though
    // possibly after the application is gone. A bound so a job that never ends fails.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(emu.job_pids().is_empty() && pids.iter().all(|p| !group_alive(*p))) {
        assert!(
            Instant::now() < deadline,
            "the job's processes are still alive: {:?}",
            pids.iter().filter(|p| group_alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
