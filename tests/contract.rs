//! The contract check over the shipped spec: `up`, `status`, `produce`, `tail`, `down` and
//! `leftovers` of `pipeline.yaml` on both engines (Flink and kinesis-analytics-sql), every
//! request held to AWS's API models (botocore, pinned) by the stack's front with zero
//! violations (the harness fails the test otherwise), and each command's own operations among
//! those checked. And the check itself: a request broken on purpose, sent with the real SDK
//! through the front, is reported with its operation, member and rule, and fails its test.

mod common;

use std::collections::BTreeMap;

use common::*;

/// The shipped `pipeline.yaml` with its application on `engine`, and a stand-in connector jar
/// for Flink (the pinned ones are downloaded, which tests never do).
fn shipped(engine: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("pipeline.yaml")).expect("pipeline.yaml");
    let mut out = String::new();
    let mut in_applications = false;
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            in_applications = line == "applications:";
        }
        // AWS publishes no downtime metric for SQL applications: labctl refuses that alarm.
        if engine == "kinesis-analytics-sql" {
            if line == "  app-downtime:" {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with("    ") {
                continue;
            }
            skipping = false;
        }
        match engine {
            "flink" if t == "code: sql/aggregate.flink.sql" => {
                out.push_str(line);
                out.push_str("\n    jars: [lib/dummy-connector.jar]\n");
                continue;
            }
            "kinesis-analytics-sql" if t == "engine: flink" => {
                out.push_str("    engine: kinesis-analytics-sql\n");
                continue;
            }
            "kinesis-analytics-sql" if t == "code: sql/aggregate.flink.sql" => {
                out.push_str("    code: sql/aggregate.kda.sql\n");
                continue;
            }
            // Flink-only settings of the shipped application.
            "kinesis-analytics-sql"
                if in_applications
                    && line.starts_with("    ")
                    && !line.starts_with("     ")
                    && ["runtime:", "parallelism:", "artifact:", "logging:"]
                        .iter()
                        .any(|k| t.starts_with(k)) =>
            {
                continue;
            }
            "kinesis-analytics-sql"
                if in_applications
                    && line.starts_with("      log_group: /aws/kinesis-analytics/")
                    || line.starts_with("      log_stream: kinesis-analytics-log-stream") =>
            {
                continue;
            }
            _ => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    assert_ne!(
        out, text,
        "the shipped spec changed shape: {engine} not applied"
    );
    out
}

fn dummy_jar() -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file(
        "META-INF/services/org.apache.flink.table.factories.Factory",
        o,
    )
    .expect("entry");
    z.write_all(b"test.DummyFactory\n").expect("write");
    z.finish().expect("zip").into_inner()
}

fn lab(engine: &str) -> Stack {
    let stack = Stack::start();
    let dir = stack.dir.path();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
    for f in ["aggregate.kda.sql", "aggregate.flink.sql"] {
        std::fs::copy(root.join("sql").join(f), dir.join("sql").join(f)).expect("copy sql");
    }
    std::fs::write(dir.join("lib/dummy-connector.jar"), dummy_jar()).expect("jar");
    std::fs::write(dir.join("pipeline.yaml"), shipped(engine)).expect("spec");
    stack
}

/// Runs one command and returns the operations checked while it ran ("service Operation" → n).
fn run(stack: &Stack, args: &[&str], codes: &[i32]) -> BTreeMap<String, u64> {
    let before = stack.contract.tally();
    let o = stack.labctl(args);
    assert!(
        o.status.code().is_some_and(|c| codes.contains(&c)),
        "{args:?} exited {:?}, expected one of {codes:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    let after = stack.contract.tally();
    let mut ops = BTreeMap::new();
    for ((svc, op), n) in after.per_operation() {
        let was = before
            .per_operation()
            .get(&(svc.clone(), op.clone()))
            .copied()
            .unwrap_or(0);
        if *n > was {
            ops.insert(format!("{svc} {op}"), n - was);
        }
    }
    ops
}

#[track_caller]
fn covers(command: &str, ops: &BTreeMap<String, u64>, want: &[&str]) {
    for w in want {
        assert!(
            ops.contains_key(*w),
            "`{command}` sent no checked {w}; checked: {ops:?}"
        );
    }
}

/// The whole lifecycle of the shipped spec on one engine; returns the tally's summary.
fn lifecycle(engine: &str, analytics: &str) -> String {
    let stack = lab(engine);
    let up = run(&stack, &["up"], &[0]);
    covers(
        "up",
        &up,
        &[
            "sts GetCallerIdentity",
            "s3 CreateBucket",
            "kinesis CreateStream",
            "iam CreateRole",
            "iam PutRolePolicy",
            "firehose CreateDeliveryStream",
            "logs CreateLogGroup",
            &format!("{analytics} CreateApplication"),
            "cloudwatch PutDashboard",
            "cloudwatch PutMetricAlarm",
            "sns CreateTopic",
        ],
    );
    // 0 validated, 4 not yet (no data has gone through): both read every resource.
    let status = run(&stack, &["status"], &[0, 4]);
    covers(
        "status",
        &status,
        &[
            "kinesis DescribeStreamSummary",
            "firehose DescribeDeliveryStream",
            &format!("{analytics} DescribeApplication"),
        ],
    );
    let produce = run(
        &stack,
        &["produce", "--max", "--count", "50", "--seed", "1"],
        &[0],
    );
    covers("produce", &produce, &["kinesis PutRecords"]);
    let tail = run(
        &stack,
        &[
            "tail",
            "--from",
            "trim-horizon",
            "--count",
            "50",
            "--poll",
            "100ms",
            "--output",
            "json",
        ],
        &[0],
    );
    covers(
        "tail",
        &tail,
        &["kinesis GetShardIterator", "kinesis GetRecords"],
    );
    let down = run(&stack, &["down", "--yes"], &[0]);
    covers(
        "down",
        &down,
        &[
            "kinesis DeleteStream",
            "firehose DeleteDeliveryStream",
            &format!("{analytics} DeleteApplication"),
            "iam DeleteRole",
            "s3 DeleteBucket",
        ],
    );
    let leftovers = run(&stack, &["leftovers", "--output", "json"], &[0]);
    covers(
        "leftovers",
        &leftovers,
        &["resourcegroupstaggingapi GetResources"],
    );
    let tally = stack.contract.tally();
    assert_eq!(tally.violations(), 0, "{}", tally.report());
    assert_eq!(tally.unidentified(), 0, "{}", tally.report());
    let summary = format!("{engine}: {}", tally.summary());
    println!("{summary}");
    summary
}

#[test]
fn the_shipped_spec_on_flink_keeps_to_the_models() {
    lifecycle("flink", "kinesisanalyticsv2");
}

#[test]
fn the_shipped_spec_on_the_sql_engine_keeps_to_the_models() {
    lifecycle("kinesis-analytics-sql", "kinesisanalytics");
}

/// A Kinesis client sending through the stack's checked front, one attempt per call.
fn kinesis_through_front(stack: &Stack) -> aws_sdk_kinesis::Client {
    let c = aws_sdk_kinesis::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kinesis::Client::from_conf(c)
}

/// The real SDK does not check StreamName's pattern; the front's check does.
fn send_bad_create_stream(stack: &Stack) {
    let k = kinesis_through_front(stack);
    // Whatever moto answers, the request has been checked by then.
    let _ = stack.block_on(k.create_stream().stream_name("bad name!").send());
}

#[test]
fn a_request_broken_on_purpose_is_caught_with_member_and_rule() {
    let stack = Stack::start();
    let k = kinesis_through_front(&stack);
    stack
        .block_on(
            k.create_stream()
                .stream_name("good-name")
                .shard_count(1)
                .send(),
        )
        .expect("a valid CreateStream");
    assert!(stack.contract.take_failures().is_empty());
    send_bad_create_stream(&stack);
    let failures = stack.contract.take_failures();
    let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(
        text[0].starts_with("kinesis CreateStream: member StreamName: rule pattern"),
        "{}",
        text[0]
    );
    assert!(text[0].contains("bad name!"), "{}", text[0]);
    let t = stack.contract.tally();
    assert_eq!((t.requests(), t.violations()), (2, 1), "{}", t.report());
}

#[test]
fn a_violation_fails_the_test_that_sent_it() {
    let stack = Stack::start();
    send_bad_create_stream(&stack);
    // What the stack's drop runs at the end of every test (taking the failure, so this
    // test's own drop passes).
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        stack.contract.assert_clean()
    }));
    let err = failed.expect_err("a violation did not fail the test");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("kinesis CreateStream: member StreamName: rule pattern"),
        "{msg}"
    );
    stack.contract.assert_clean();
}

#[test]
fn an_unidentified_request_fails_too() {
    let stack = Stack::start();
    // Signed for a service labctl never calls: no loaded model signs as it.
    use std::io::{Read, Write};
    let host = stack.front.url().trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&host).expect("connecting to the front");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    conn.write_all(req.as_bytes()).expect("writing");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    let failures = stack.contract.take_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let text = failures[0].to_string();
    assert!(text.starts_with("unidentified request POST /"), "{text}");
    assert!(text.contains("dynamodb"), "{text}");
}
