//! Eventual consistency: a delivery stream that answers ResourceNotFoundException
//! right after its create (as Firehose's control plane can) is polled again, a bounded
//! number of times, instead of failing `up`; one that never appears still fails.

mod common;

use common::*;

#[test]
fn not_found_right_after_create_is_retried() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("ev"));
    // The first three describes say the stream does not exist: the observe before the
    // create (absent: create it), then two polls right after the create.
    stack.front.inject(
        "DescribeDeliveryStream",
        3,
        400,
        "ResourceNotFoundException",
        "Firehose sensor-data-delivery under account 123456789012 not found.",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(stderr(&up).contains("not visible yet"), "{}", stderr(&up));
    assert_eq!(stack.front.count("CreateDeliveryStream"), 1);
}

#[test]
fn a_stream_that_never_appears_still_fails() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("ev2"));
    stack.front.inject(
        "DescribeDeliveryStream",
        1000,
        400,
        "ResourceNotFoundException",
        "Firehose sensor-data-delivery under account 123456789012 not found.",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    assert!(stdout(&up).contains("disappeared"), "{}", stdout(&up));
}

/// A Flink application that answers ResourceNotFoundException right after its create
/// (Managed Flink's control plane is eventually consistent too) is polled again, and
/// `up` goes on to start it; CreateApplication is sent once.
#[test]
fn a_flink_application_not_found_right_after_create_is_retried() {
    use std::io::Write;
    let stack = Stack::start();
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("sql/aggregate.flink.sql"),
        dir.join("sql/aggregate.flink.sql"),
    )
    .expect("sql");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("test/Dummy.class", zip::write::SimpleFileOptions::default())
        .expect("entry");
    z.write_all(b"not really a class").expect("write");
    let jar = z.finish().expect("zip").into_inner();
    std::fs::write(dir.join("lib/dummy-connector.jar"), jar).expect("jar");
    stack.write_spec(FLINK_SPEC);
    // The observe before the create (absent: create it), then two polls right after it.
    stack.front.inject(
        "DescribeApplication",
        3,
        400,
        "ResourceNotFoundException",
        "Application sensor-data-analytics is not found",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(stderr(&up).contains("not visible yet"), "{}", stderr(&up));
    assert_eq!(stack.front.count("CreateApplication"), 1);
    assert_eq!(stack.front.count("StartApplication"), 1);
}

const FLINK_SPEC: &str = r#"
version: 1
pipeline: ev-flink
buckets:
  data:
    name: evf-data-${account_id}-${region}
streams:
  sensor:
    name: sensor-data-stream
    mode: on-demand
roles:
  delivery-role:
    name: evf-delivery
    service: firehose
  analytics-role:
    name: evf-analytics
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
