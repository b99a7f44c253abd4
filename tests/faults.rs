//! Faults on the wire: with 10% of requests throttled, failed (500/503), reset,
//! slowed or cut midway by the fault proxy (`labctl_local::faults`), each of the six
//! kinds seen, `up`, `status`, `produce` and `down` still succeed, every produced
//! record is in the stream exactly once, and `down` leaves nothing. A PutRecords whose
//! answer is lost after the write (`Fault::LostWrite`) makes duplicates: every record is
//! stored at least once and every copy carries the same `record_id`. Lost answers to
//! deletes and to CreateApplication are retried into "not found" / "in use" and
//! converge. A credential the endpoint rejects gives one clear error and no retry
//! storm. An endpoint that never answers makes labctl fail within its timeout, with a
//! message that says so.

mod common;
mod streams;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use labctl_local::faults::{self, Config, Fault};
use streams::*;

fn run(stack: &Stack, endpoint: &str, args: &[&str]) -> Output {
    labctl_cmd(stack, endpoint, args)
        .output()
        .expect("running labctl")
}

#[track_caller]
/// `status` of a lab where every resource is as declared but nothing flowed: exit 4
/// (not yet validated), never 3 (a failure) nor 1.
fn as_declared(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(4),
        "{what}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// What exists in the emulator, listed through the SDK (not through labctl).
fn inventory(stack: &Stack) -> Vec<String> {
    let cfg = stack.sdk_config();
    let (s3, kinesis) = (stack.s3(), stack.kinesis());
    let firehose = aws_sdk_firehose::Client::new(&cfg);
    let iam = aws_sdk_iam::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let cw = stack.cloudwatch();
    let sns = aws_sdk_sns::Client::new(&cfg);
    stack.block_on(async {
        let mut have = Vec::new();
        for b in s3.list_buckets().send().await.expect("buckets").buckets() {
            have.push(format!("bucket {}", b.name().unwrap_or("?")));
        }
        let streams = kinesis.list_streams().send().await.expect("streams");
        have.extend(streams.stream_names().iter().map(|s| format!("stream {s}")));
        let ds = firehose.list_delivery_streams().send().await.expect("ds");
        have.extend(
            ds.delivery_stream_names()
                .iter()
                .map(|d| format!("delivery stream {d}")),
        );
        for r in iam.list_roles().send().await.expect("roles").roles() {
            have.push(format!("role {}", r.role_name()));
        }
        let groups = logs.describe_log_groups().send().await.expect("groups");
        for g in groups.log_groups() {
            have.push(format!("log group {}", g.log_group_name().unwrap_or("?")));
        }
        let dashboards = cw.list_dashboards().send().await.expect("dashboards");
        for d in dashboards.dashboard_entries() {
            have.push(format!("dashboard {}", d.dashboard_name().unwrap_or("?")));
        }
        let alarms = cw.describe_alarms().send().await.expect("alarms");
        for a in alarms.metric_alarms() {
            have.push(format!("alarm {}", a.alarm_name().unwrap_or("?")));
        }
        for t in sns.list_topics().send().await.expect("topics").topics() {
            have.push(format!("topic {}", t.topic_arn().unwrap_or("?")));
        }
        have.sort();
        have
    })
}

#[test]
fn with_ten_percent_of_requests_faulted_every_command_succeeds_and_nothing_is_lost() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("fault"));
    let config = Config {
        latency: Duration::from_millis(400),
        ..Config::chaos(0.10, 20261125)
    };
    let proxy = stack
        .block_on(faults::start_with(0, &stack.front.url(), config))
        .expect("fault proxy");
    let url = proxy.url();

    let up = run(&stack, &url, &["up"]);
    ok(&up, "up through faults");
    let have = inventory(&stack);
    assert_eq!(
        have.len(),
        8,
        "one of each resource, no duplicates: {have:?}"
    );

    as_declared(&run(&stack, &url, &["status"]), "status through faults");

    let sent_file = stack.dir.path().join("sent.jsonl");
    let produced = run(
        &stack,
        &url,
        &[
            "produce",
            "--stream-name",
            "sensor-data-stream",
            "--max",
            "--count",
            "3000",
            "--seed",
            "9",
            "--out",
            &sent_file.display().to_string(),
            "--output",
            "json",
        ],
    );
    ok(&produced, "produce through faults");
    let doc = json(&produced);
    assert_eq!(
        (doc["sent"].as_u64(), doc["failed"].as_u64()),
        (Some(3000), Some(0)),
        "{doc}"
    );
    let mut sent = lines(&sent_file);
    let mut got: Vec<String> = read_all(&stack, "sensor-data-stream")
        .into_iter()
        .map(|g| g.data)
        .collect();
    sent.sort_unstable();
    got.sort_unstable();
    assert_eq!(sent.len(), 3000);
    assert_eq!(
        got.len(),
        sent.len(),
        "records in the stream: none lost, none twice"
    );
    assert_eq!(got, sent, "the stream holds exactly the records sent");

    ok(
        &run(&stack, &url, &["down", "--yes"]),
        "down through faults",
    );
    assert_eq!(
        inventory(&stack),
        Vec::<String>::new(),
        "down left something"
    );

    // The faults really happened, every kind of them.
    let seen = proxy.faults();
    let total: u64 = seen.values().sum();
    eprintln!("faults injected: {seen:?} ({total} in all)");
    assert!(total >= 10, "only {total} faults: {seen:?}");
    for kind in Fault::ALL {
        assert!(
            seen.get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?} was never injected: {seen:?}"
        );
    }
    assert!(
        !seen.contains_key(&Fault::LostWrite),
        "no write answer may be lost in this run (it asserts exactly once): {seen:?}"
    );
    assert!(proxy.failed_entries() > 0, "no PutRecords entry was failed");
}

#[test]
fn every_kind_of_fault_alone_is_survived() {
    // Each kind at 15%, on a short run: up then down. (Above that, five faulted
    // attempts in a row, the SDK's retry bound, become likely somewhere in a run.)
    for kind in Fault::ALL {
        let stack = Stack::start();
        stack.write_spec(&small_lab("fault"));
        let config = Config {
            kinds: vec![kind],
            latency: Duration::from_millis(200),
            ..Config::chaos(0.15, 7)
        };
        let proxy = stack
            .block_on(faults::start_with(0, &stack.front.url(), config))
            .expect("fault proxy");
        ok(
            &run(&stack, &proxy.url(), &["up"]),
            &format!("up with {kind:?}"),
        );
        ok(
            &run(&stack, &proxy.url(), &["down", "--yes"]),
            &format!("down with {kind:?}"),
        );
        assert_eq!(inventory(&stack), Vec::<String>::new(), "{kind:?}");
        assert!(
            proxy.faults().get(&kind).copied().unwrap_or(0) > 0,
            "{kind:?} never drawn"
        );
    }
}

/// Accepts connections and never answers.
fn silent_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_endpoint_that_never_answers_fails_within_the_timeout() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("fault"));
    let silent = silent_endpoint();
    for args in [
        &["status"][..],
        &["up"][..],
        &["down", "--yes"][..],
        &[
            "produce",
            "--stream-name",
            "sensor-data-stream",
            "--count",
            "5",
            "--max-attempts",
            "1",
        ][..],
        &[
            "tail",
            "--stream-name",
            "sensor-data-stream",
            "--count",
            "1",
        ][..],
    ] {
        let started = Instant::now();
        let out = labctl_cmd(&stack, &silent, args)
            .env("LABCTL_TIMEOUT_SECONDS", "2")
            .output()
            .expect("running labctl");
        let took = started.elapsed();
        assert_code(&out, 1);
        let err = stderr(&out);
        assert!(
            (err.contains("no answer from") && err.contains("within 2 s"))
                || err.contains("timed out"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // Generous: the bound is 2 s per call; the point is that it ends.
        assert!(took < Duration::from_secs(60), "{args:?} took {took:?}");
    }
}

#[test]
fn a_create_whose_answer_is_lost_is_retried_into_already_exists_and_not_made_twice() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("fault"));
    let proxy = stack
        .block_on(faults::start_with(
            0,
            &stack.front.url(),
            Config::entries(0.0, 1),
        ))
        .expect("fault proxy");
    // The first answer of each create is lost after the stack made the resource;
    // S3's CreateBucket is the first `PUT` of a run.
    let creates = [
        "PUT",
        "CreateStream",
        "CreateRole",
        "CreateLogGroup",
        "CreateLogStream",
        "CreateDeliveryStream",
        "CreateTopic",
    ];
    for op in creates {
        proxy.rewrite(op, 1, faults::Rewrite::Lose);
    }
    stack.front.clear();
    ok(
        &run(&stack, &proxy.url(), &["up"]),
        "up with lost create answers",
    );
    for op in creates.iter().filter(|o| **o != "PUT") {
        assert!(
            stack.front.count(op) >= 2,
            "{op} was not retried after its answer was lost ({} calls)",
            stack.front.count(op)
        );
    }
    assert_eq!(inventory(&stack).len(), 8, "{:?}", inventory(&stack));
    as_declared(
        &run(&stack, &proxy.url(), &["status"]),
        "status after lost creates",
    );
    ok(&run(&stack, &proxy.url(), &["down", "--yes"]), "down");
    assert_eq!(inventory(&stack), Vec::<String>::new());
}

/// The analytics application (Flink, served by the front's emulator) under the same faults.
const APP_SPEC: &str = r#"
version: 1
pipeline: fault-app-lab
buckets:
  data: {name: "fault-app-${account_id}-${region}"}
streams:
  sensor: {name: sensor-data-stream, mode: on-demand}
roles:
  delivery-role: {name: fault-app-delivery, service: firehose}
  analytics-role: {name: fault-app-analytics, service: kinesis-analytics}
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
    engine: flink
    runtime: FLINK-1_20
    role: analytics-role
    input: {stream: sensor, starting_position: TRIM_HORIZON}
    output: {delivery_stream: processed}
    code: sql/aggregate.flink.sql
    jars: [lib/dummy-connector.jar]
    artifact: {bucket: data, prefix: code/}
"#;

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

#[test]
fn with_ten_percent_faulted_the_flink_application_comes_and_goes() {
    let stack = Stack::start();
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("sql/aggregate.flink.sql"),
        dir.join("sql/aggregate.flink.sql"),
    )
    .expect("copy sql");
    std::fs::write(dir.join("lib/dummy-connector.jar"), dummy_jar()).expect("jar");
    std::fs::write(dir.join("pipeline.yaml"), APP_SPEC).expect("spec");
    let config = Config {
        latency: Duration::from_millis(300),
        ..Config::chaos(0.10, 424242)
    };
    let proxy = stack
        .block_on(faults::start_with(0, &stack.front.url(), config))
        .expect("fault proxy");
    let url = proxy.url();
    ok(&run(&stack, &url, &["up"]), "up with the application");
    as_declared(
        &run(&stack, &url, &["status"]),
        "status with the application",
    );
    ok(
        &run(&stack, &url, &["down", "--yes"]),
        "down with the application",
    );
    assert_eq!(
        inventory(&stack),
        Vec::<String>::new(),
        "down left something"
    );
    let total: u64 = proxy.faults().values().sum();
    assert!(total > 0, "no fault was injected");
}

/// `record_id` of a record as produce writes it.
fn record_id(data: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(data).expect("a produced record is JSON");
    v["record_id"]
        .as_str()
        .expect("a produced record has a record_id")
        .to_string()
}

#[test]
fn put_records_answers_lost_after_the_write_make_duplicates_that_share_their_record_id() {
    let stack = Stack::start();
    create_stream(&stack, "lost-writes", 2);
    // A third of the data writes are stored, then their answer is cut.
    let config = Config {
        entry_share: 0.0,
        kinds: vec![Fault::LostWrite],
        ..Config::chaos(0.34, 31)
    };
    let proxy = stack
        .block_on(faults::start_with(0, &stack.front.url(), config))
        .expect("fault proxy");
    let sent_file = stack.dir.path().join("sent.jsonl");
    let produced = run(
        &stack,
        &proxy.url(),
        &[
            "produce",
            "--stream-name",
            "lost-writes",
            "--rate",
            "4000",
            "--count",
            "2000",
            "--seed",
            "5",
            "--out",
            &sent_file.display().to_string(),
            "--output",
            "json",
        ],
    );
    ok(&produced, "produce with lost write answers");
    let doc = json(&produced);
    assert_eq!(
        (doc["sent"].as_u64(), doc["failed"].as_u64()),
        (Some(2000), Some(0)),
        "{doc}"
    );
    let lost = proxy.faults().get(&Fault::LostWrite).copied().unwrap_or(0);
    assert!(lost > 0, "no write answer was lost: {:?}", proxy.faults());

    let sent = lines(&sent_file);
    assert_eq!(sent.len(), 2000);
    let mut by_id: std::collections::BTreeMap<String, String> = Default::default();
    for line in &sent {
        let prev = by_id.insert(record_id(line), line.clone());
        assert!(
            prev.is_none(),
            "two records sent with one record_id: {line}"
        );
    }
    let got = read_all(&stack, "lost-writes");
    let mut copies: std::collections::BTreeMap<String, usize> = Default::default();
    for g in &got {
        let id = record_id(&g.data);
        let Some(original) = by_id.get(&id) else {
            panic!("a record in the stream that was never sent: {}", g.data);
        };
        assert_eq!(&g.data, original, "a copy differs from the record sent");
        *copies.entry(id).or_insert(0) += 1;
    }
    // At least once: every record sent is stored.
    let missing: Vec<&String> = by_id
        .keys()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "records sent but not stored: {missing:?}"
    );
    // And the lost answers did make duplicates, told apart by nothing but their id.
    let twice = copies.values().filter(|n| **n > 1).count();
    eprintln!(
        "{lost} write answers lost; {} records stored for 2000 sent, {twice} ids stored more than once",
        got.len()
    );
    assert!(
        got.len() > sent.len() && twice > 0,
        "no duplicate stored although {lost} answers were lost"
    );
    assert_eq!(got.len(), copies.values().sum::<usize>());
}

/// The applications the front's emulator holds.
fn applications(stack: &Stack) -> Vec<String> {
    let cfg = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    let kav2 = aws_sdk_kinesisanalyticsv2::Client::from_conf(cfg);
    stack.block_on(async {
        let apps = kav2.list_applications().send().await.expect("applications");
        apps.application_summaries()
            .iter()
            .map(|a| a.application_name().to_string())
            .collect()
    })
}

#[test]
fn lost_answers_to_create_application_and_to_every_delete_converge() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&flink_lab("lost"));
    let proxy = stack
        .block_on(faults::start_with(
            0,
            &stack.front.url(),
            Config::entries(0.0, 1),
        ))
        .expect("fault proxy");
    // CreateApplication is made by the emulator, then its answer is cut: the retry
    // meets ResourceInUseException, and up goes on with the one application.
    proxy.rewrite("CreateApplication", 1, faults::Rewrite::Lose);
    stack.front.clear();
    ok(
        &run(&stack, &proxy.url(), &["up"]),
        "up with a lost CreateApplication answer",
    );
    assert!(
        stack.front.count("CreateApplication") >= 2,
        "CreateApplication was not sent again after its answer was lost"
    );
    assert_eq!(applications(&stack), ["sensor-data-analytics"]);
    let made = inventory(&stack);
    assert_eq!(made.len(), 6, "one of each, no duplicates: {made:?}");

    // Every delete's first answer is lost after the stack deleted: the retry finds it
    // gone, and down still succeeds with nothing left.
    let deletes = [
        "DeleteApplication",
        "DeleteDeliveryStream",
        "DeleteStream",
        "DeleteRolePolicy",
        "DeleteRole",
        "DeleteLogGroup",
        "DELETE",
    ];
    for op in deletes {
        proxy.rewrite(op, 1, faults::Rewrite::Lose);
    }
    stack.front.clear();
    ok(
        &run(&stack, &proxy.url(), &["down", "--yes"]),
        "down with lost delete answers",
    );
    for op in deletes {
        assert!(
            stack.front.count(op) >= 1,
            "{op} was never sent (its lost answer was not exercised)"
        );
    }
    assert_eq!(
        inventory(&stack),
        Vec::<String>::new(),
        "down left something"
    );
    assert_eq!(applications(&stack), Vec::<String>::new());
    // Nothing was waiting to happen: a second down changes nothing.
    stack.front.clear();
    ok(
        &run(&stack, &proxy.url(), &["down", "--yes"]),
        "second down",
    );
    assert_eq!(
        stack.front.mutating(),
        Vec::new(),
        "the second down changed something"
    );
}

#[test]
fn a_credential_the_endpoint_rejects_gives_one_clear_error_and_no_retry_storm() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("creds"));
    let proxy = stack
        .block_on(faults::start_with(
            0,
            &stack.front.url(),
            Config::entries(0.0, 1),
        ))
        .expect("fault proxy");
    proxy.reject_credentials();
    // The SDK's bound for one call (aws/connect.rs: standard retries, 5 attempts); a
    // refusal is not transient, so one attempt is what AWS's SDKs make.
    const ONE_CALL: u64 = 5;
    for args in [
        &["up"][..],
        &["status"][..],
        &["plan"][..],
        &["down", "--yes"][..],
        &[
            "produce",
            "--stream-name",
            "sensor-data-stream",
            "--count",
            "5",
        ][..],
    ] {
        let before = proxy.requests();
        let out = run(&stack, &proxy.url(), args);
        let sent = proxy.requests() - before;
        assert_code(&out, 1);
        let err = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            err.contains("InvalidClientTokenId") || err.contains("UnrecognizedClientException"),
            "{args:?}: the error does not name AWS's refusal:\n{err}"
        );
        assert!(
            err.contains("The security token included in the request is invalid"),
            "{args:?}: AWS's message is not shown:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            (1..=ONE_CALL).contains(&sent),
            "{args:?}: {sent} requests for a refused credential (at most {ONE_CALL}, one call's attempts)"
        );
        assert_eq!(
            stack.front.mutating(),
            Vec::new(),
            "{args:?} got past the refusal"
        );
    }
    assert_eq!(inventory(&stack), Vec::<String>::new());
}
