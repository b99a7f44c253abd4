//! Issue 16 item 8: `status --watch` quits on Ctrl-C at any moment, a refresh in
//! progress included; `status` before `up` says so in one line.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SPEC: &str = "version: 1\npipeline: watch-lab\nstreams:\n  sensor: {name: watch-stream, mode: on-demand}\nbuckets:\n  data: {name: \"watch-data-${account_id}-${region}\"}\n";

#[test]
fn ctrl_c_during_a_refresh_quits_the_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), SPEC).expect("spec");
    // An endpoint that accepts and never answers: the first refresh hangs in its first call.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir.path())
        .args([
            "status",
            "--watch",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &url,
        ])
        .env("AWS_ACCESS_KEY_ID", "a")
        .env("AWS_SECRET_ACCESS_KEY", "b")
        .env("LABCTL_TIMEOUT_SECONDS", "600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("labctl");
    // Wait until it says it is waiting: the refresh is in progress.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .expect("stderr closed before the waiting line")
            .expect("line");
        if line.contains("still waiting for") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill")
        .success());
    // A hang guard, not a timing assertion: the call it interrupts would wait 600 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("status --watch ignored Ctrl-C during a refresh");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.code().is_some(),
        "ended by the signal, not by quitting: {status:?}"
    );
}

#[test]
fn status_before_up_says_so_in_one_line() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let out = stack.labctl(&["status"]);
    assert_code(&out, 3);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("nothing of pipeline watch-lab exists yet") && text.contains("labctl up"),
        "{text}"
    );
    // JSON still lists every resource.
    let json = json(&stack.labctl(&["status", "--output", "json"]));
    assert_eq!(
        json["resources"].as_array().map(|a| a.len()),
        Some(2),
        "{json}"
    );
}
