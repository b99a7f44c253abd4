//! The kill harness: `labctl up` and `labctl down` are killed with SIGKILL after each
//! successive mutating request they make (the front holds the next one), then the
//! next run must finish the job: `up` converges to a healthy `status`, and `down`
//! leaves nothing (checked through the SDK, not through labctl).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn(stack: &Stack, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(args)
        .args([
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
            "-q",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn labctl")
}

/// Run `args` and SIGKILL it once it tries its (n+1)-th mutating request.
/// Returns false when the command finished before reaching that point.
fn kill_after(stack: &Stack, args: &[&str], n: usize) -> bool {
    stack.front.release();
    stack.front.hold_after_mutating(n);
    let mut child = spawn(stack, args);
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        if stack.front.held() > 0 {
            child.kill().expect("SIGKILL");
            break true;
        }
        if child.try_wait().expect("wait").is_some() {
            break false;
        }
        assert!(
            Instant::now() < deadline,
            "labctl neither finished nor reached mutating request {n}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.wait();
    stack.front.release();
    killed
}

/// Everything the spec could leave behind, listed through the SDK.
fn leftovers(stack: &Stack) -> Vec<String> {
    let cfg = stack.sdk_config();
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    let firehose = aws_sdk_firehose::Client::new(&cfg);
    let iam = aws_sdk_iam::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let cw = stack.cloudwatch();
    let sns = aws_sdk_sns::Client::new(&cfg);
    stack.block_on(async {
        let mut left = Vec::new();
        for b in s3.list_buckets().send().await.expect("buckets").buckets() {
            left.push(format!("bucket {}", b.name().unwrap_or("?")));
        }
        for s in kinesis
            .list_streams()
            .send()
            .await
            .expect("streams")
            .stream_names()
        {
            left.push(format!("stream {s}"));
        }
        for d in firehose
            .list_delivery_streams()
            .send()
            .await
            .expect("deliveries")
            .delivery_stream_names()
        {
            left.push(format!("delivery stream {d}"));
        }
        for r in iam.list_roles().send().await.expect("roles").roles() {
            left.push(format!("role {}", r.role_name()));
        }
        for g in logs
            .describe_log_groups()
            .send()
            .await
            .expect("log groups")
            .log_groups()
        {
            left.push(format!("log group {}", g.log_group_name().unwrap_or("?")));
        }
        for d in cw
            .list_dashboards()
            .send()
            .await
            .expect("dashboards")
            .dashboard_entries()
        {
            left.push(format!("dashboard {}", d.dashboard_name().unwrap_or("?")));
        }
        for a in cw
            .describe_alarms()
            .send()
            .await
            .expect("alarms")
            .metric_alarms()
        {
            left.push(format!("alarm {}", a.alarm_name().unwrap_or("?")));
        }
        for t in sns.list_topics().send().await.expect("topics").topics() {
            left.push(format!("topic {}", t.topic_arn().unwrap_or("?")));
        }
        left
    })
}

/// `status` of a lab where every resource is as declared but nothing flowed: exit 4.
fn status_as_declared(stack: &Stack, what: &str) {
    let out = stack.labctl(&["status"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{what}: exit {:?}\n{}\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
}

fn run_ok(stack: &Stack, args: &[&str], what: &str) {
    let out = stack.labctl(args);
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n{}\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn up_killed_after_every_mutating_request_is_finished_or_removed_by_the_next_run() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("kill"));
    // A full, uninterrupted run tells how many mutating requests `up` makes.
    stack.front.clear();
    run_ok(&stack, &["up"], "clean up");
    let total = stack.front.mutating().len();
    assert!(total >= 15, "only {total} mutating requests");
    run_ok(&stack, &["down", "--yes"], "clean down");
    assert_eq!(leftovers(&stack), Vec::<String>::new());

    let mut points = 0;
    for n in 1..total {
        // Killed, then `down`: nothing left.
        if !kill_after(&stack, &["up"], n) {
            break;
        }
        points += 1;
        run_ok(
            &stack,
            &["down", "--yes"],
            &format!("down after up was killed at request {n}"),
        );
        assert_eq!(
            leftovers(&stack),
            Vec::<String>::new(),
            "left behind after up was killed at request {n}, then down"
        );

        // Killed, then `up`: converges to a healthy status; then `down` leaves nothing.
        assert!(kill_after(&stack, &["up"], n));
        run_ok(
            &stack,
            &["up"],
            &format!("up after up was killed at request {n}"),
        );
        status_as_declared(
            &stack,
            &format!("status after up was killed at request {n}"),
        );
        run_ok(&stack, &["down", "--yes"], "down");
        assert_eq!(leftovers(&stack), Vec::<String>::new());
    }
    assert!(
        points + 1 >= total / 2,
        "killed at only {points} of {total} points"
    );
}

#[test]
fn down_killed_after_every_mutating_request_is_finished_by_the_next_down() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("kill"));
    run_ok(&stack, &["up"], "up");
    stack.front.clear();
    run_ok(&stack, &["down", "--yes"], "clean down");
    let total = stack.front.mutating().len();
    assert!(total >= 8, "only {total} mutating requests");
    for n in 1..total {
        run_ok(&stack, &["up"], "up");
        if !kill_after(&stack, &["down", "--yes"], n) {
            break;
        }
        run_ok(
            &stack,
            &["down", "--yes"],
            &format!("down after down was killed at request {n}"),
        );
        assert_eq!(
            leftovers(&stack),
            Vec::<String>::new(),
            "left behind after down was killed at request {n}"
        );
    }
}

#[test]
fn ctrl_c_lets_in_flight_work_finish_and_reports_what_was_not_done() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("kill"));
    stack.front.release();
    stack.front.hold_after_mutating(3);
    let child = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args([
            "up",
            "--output",
            "json",
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.front.held() == 0 {
        assert!(
            Instant::now() < deadline,
            "up never reached its fourth mutating request"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    std::thread::sleep(Duration::from_millis(300));
    // The held request is dropped (503); the SDK retries it and the node in flight finishes.
    stack.front.release();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(doc["interrupted"], true);
    let rows = doc["resources"].as_array().expect("rows");
    let not_started = rows.iter().filter(|r| r["action"] == "not-started").count();
    let done = rows.iter().filter(|r| r["action"] == "create").count();
    assert!(not_started > 0 && done > 0, "{doc:#}");
    assert!(rows
        .iter()
        .filter(|r| r["action"] == "not-started")
        .all(|r| r["detail"]
            .as_str()
            .unwrap_or("")
            .contains("run the command again")));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("interrupted: letting in-flight operations finish"));
    // The next run finishes the job.
    run_ok(&stack, &["up"], "up after Ctrl-C");
    status_as_declared(&stack, "status after Ctrl-C");
    run_ok(&stack, &["down", "--yes"], "down");
    assert_eq!(leftovers(&stack), Vec::<String>::new());
}
