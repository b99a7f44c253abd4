//! Ctrl-C during `labctl up`: in-flight work finishes, the report says what was not
//! done, and the next run finishes the job (checked through the SDK, not through
//! labctl). The SIGKILL harness is tests/kill.rs.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::inventory::inventory;
use common::*;

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
    assert_eq!(inventory(&stack), Vec::<String>::new());
}
