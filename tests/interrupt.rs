//! Ctrl-C during `labctl up`: in-flight API calls finish, waits stop at once, the
//! report says the state each resource was left in, exit 0 only when all was done, a
//! second Ctrl-C exits 130 with what is known, and the next run finishes the job
//! (checked through the SDK, not through labctl). The SIGKILL harness is tests/kill.rs.

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
        .contains("interrupted: in-flight API calls finish, waits stop now"));
    // The next run finishes the job.
    run_ok(&stack, &["up"], "up after Ctrl-C");
    status_as_declared(&stack, "status after Ctrl-C");
    run_ok(&stack, &["down", "--yes"], "down");
    assert_eq!(inventory(&stack), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Waits stop at once (issue 16 item 10): a running labctl, SIGINT by pid, its output read
// while it runs (the tests wait for what it says, never for a time).

/// A labctl run in the background, its stdout and stderr collected as they come.
struct Running {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    err: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    mut from: impl std::io::Read + Send + 'static,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    std::thread::JoinHandle<()>,
) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = buf.clone();
    let handle = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock().expect("buffer").extend_from_slice(&chunk[..n]);
        }
    });
    (buf, handle)
}

fn spawn_labctl(stack: &Stack, args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(args)
        .args([
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn labctl");
    let (out, r1) = collect(child.stdout.take().expect("stdout"));
    let (err, r2) = collect(child.stderr.take().expect("stderr"));
    Running {
        child,
        out,
        err,
        readers: vec![r1, r2],
    }
}

impl Running {
    fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().expect("buffer")).into_owned()
    }

    fn sigint(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill -INT");
    }

    /// Wait (bounded against a hang: reaching the bound is a failure) until `cond`.
    fn wait_for(&mut self, what: &str, cond: impl Fn(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !cond(self) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "labctl exited ({status}) before {what}\n{}",
                    self.stderr_now()
                );
            }
            assert!(
                Instant::now() < deadline,
                "never: {what}\n{}",
                self.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The exit code, stdout and stderr once it exits; a hang past the bound fails.
    fn finish(mut self, bound: Duration, what: &str) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + bound;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{what}: labctl still running {}s after Ctrl-C\n{}",
                    bound.as_secs(),
                    self.stderr_now()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = String::from_utf8_lossy(&self.out.lock().expect("buffer")).into_owned();
        (status.code(), out, self.stderr_now())
    }
}

/// What the endpoint says of the lab's delivery stream while the test holds its
/// transition: CREATING, however often it is asked (until `clear_injections`).
fn creating_forever(stack: &Stack) {
    let creating = serde_json::json!({"DeliveryStreamDescription": {
        "DeliveryStreamName": "sensor-data-delivery",
        "DeliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/sensor-data-delivery",
        "DeliveryStreamStatus": "CREATING",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "VersionId": "1",
        "Destinations": [],
        "HasMoreDestinations": false
    }});
    // The plan and the execution each observe it (not found); every later describe is
    // the wait after CreateDeliveryStream.
    stack
        .front
        .answer("DescribeDeliveryStream", 2, 1_000_000, &creating);
}

#[test]
fn ctrl_c_stops_a_wait_at_once_and_reports_the_state_each_resource_was_left_in() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("waits"));
    creating_forever(&stack);
    let mut up = spawn_labctl(&stack, &["up", "--output", "json"]);
    up.wait_for("up waits for the delivery stream", |r| {
        r.stderr_now().contains("sensor-data-delivery waiting for")
    });
    up.sigint();
    // The endpoint answers CREATING until the test says otherwise: the transition never
    // completes, so only a wait that stopped lets labctl exit (the bound is against a
    // hang, far below the wait's own bound).
    let (code, out, err) = up.finish(Duration::from_secs(60), "Ctrl-C while waiting");
    assert_eq!(code, Some(1), "{out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(
        (&doc["interrupted"], &doc["ok"]),
        (&serde_json::json!(true), &serde_json::json!(false)),
        "{doc:#}"
    );
    let rows = doc["resources"].as_array().expect("rows");
    let raw = rows.iter().find(|r| r["id"] == "raw").expect("the raw row");
    assert_eq!(raw["action"], "interrupted", "{doc:#}");
    assert_eq!(raw["state"], "CREATING", "{doc:#}");
    assert!(
        raw["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("created, still CREATING — not waited for"),
        "{doc:#}"
    );
    // Nothing failed: each row is done, cut short, or not started.
    assert!(
        rows.iter().all(|r| matches!(
            r["action"].as_str(),
            Some("create" | "interrupted" | "not-started")
        )),
        "{doc:#}"
    );
    assert!(rows.iter().any(|r| r["action"] == "create"), "{doc:#}");
    // stderr: the progress line, then each resource's state, the last line what to run.
    assert!(
        err.contains("interrupted: in-flight API calls finish, waits stop now"),
        "{err}"
    );
    assert!(
        err.contains("up interrupted; each resource was left:"),
        "{err}"
    );
    assert!(
        err.contains(
            "raw (delivery-stream sensor-data-delivery): created, still CREATING — not waited for"
        ),
        "{err}"
    );
    let last = err.lines().last().unwrap_or("");
    assert!(last.contains("run `labctl up` again"), "{err}");

    // The transition ends; the next `up` finishes the job, read back at the endpoint.
    stack.front.clear_injections();
    run_ok(&stack, &["up"], "up after Ctrl-C");
    let held = inventory(&stack);
    assert!(
        held.iter()
            .any(|l| l.starts_with("delivery-stream sensor-data-delivery ACTIVE")),
        "{held:#?}"
    );
    assert!(
        held.iter()
            .any(|l| l.starts_with("stream sensor-data-stream")),
        "{held:#?}"
    );
    status_as_declared(&stack, "status after the second up");
}

#[test]
fn ctrl_c_after_the_last_step_exits_0() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("late"));
    // How many mutating requests a whole `up` makes, and what it leaves.
    stack.front.clear();
    run_ok(&stack, &["up"], "first up");
    let total = stack.front.mutating().len();
    let converged = inventory(&stack);
    run_ok(&stack, &["down", "--yes"], "down");
    // Again; once every change was made, every request is held: labctl is caught
    // reading back what it made, with nothing left to do.
    stack.front.clear();
    stack.front.hold_all_after_mutating(total);
    let mut up = spawn_labctl(&stack, &["up", "--output", "json"]);
    up.wait_for("up made every change", |_| stack.front.held() > 0);
    up.sigint();
    up.wait_for("labctl saw the Ctrl-C", |r| {
        r.stderr_now()
            .contains("interrupted: in-flight API calls finish")
    });
    // The held reads are dropped (503); the SDK retries them and they finish.
    stack.front.release();
    let (code, out, err) = up.finish(Duration::from_secs(60), "Ctrl-C after the last step");
    assert_eq!(code, Some(0), "{out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(doc["interrupted"], true, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert!(
        err.contains("up: Ctrl-C came after the last step: everything was done"),
        "{err}"
    );
    assert_eq!(stack.front.mutating().len(), total);
    assert_eq!(inventory(&stack), converged);
}

#[test]
fn a_second_ctrl_c_exits_130_and_prints_what_is_known() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("twice"));
    stack.front.release();
    stack.front.hold_after_mutating(3);
    let mut up = spawn_labctl(&stack, &["up", "--output", "json"]);
    up.wait_for("up reached its fourth mutating request", |_| {
        stack.front.held() > 0
    });
    up.sigint();
    up.wait_for("labctl saw the first Ctrl-C", |r| {
        r.stderr_now()
            .contains("interrupted: in-flight API calls finish")
    });
    // The fourth request is still held: an API call in flight, which the first Ctrl-C
    // lets finish; the second does not wait for it.
    up.sigint();
    let (code, out, err) = up.finish(Duration::from_secs(60), "second Ctrl-C");
    stack.front.release();
    assert_eq!(code, Some(130), "{out}\n{err}");
    assert!(err.contains("second Ctrl-C: quitting now"), "{err}");
    let known: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.contains("second Ctrl-C"))
        .collect();
    assert!(known.iter().any(|l| l.contains(": in flight")), "{err}");
    assert!(known.iter().any(|l| l.ends_with(": not started")), "{err}");
    let last = known.last().copied().unwrap_or("");
    assert!(last.contains("run `labctl up` again"), "{err}");
}

#[test]
fn ctrl_c_stops_the_wait_for_a_delete_in_down() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("downwait"));
    run_ok(&stack, &["up"], "up");
    // From now on the endpoint says the delivery stream is DELETING, however often asked.
    let deleting = serde_json::json!({"DeliveryStreamDescription": {
        "DeliveryStreamName": "sensor-data-delivery",
        "DeliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/sensor-data-delivery",
        "DeliveryStreamStatus": "DELETING",
        "DeliveryStreamType": "KinesisStreamAsSource",
        "VersionId": "1",
        "Destinations": [],
        "HasMoreDestinations": false
    }});
    stack
        .front
        .answer("DescribeDeliveryStream", 0, 1_000_000, &deleting);
    let mut down = spawn_labctl(&stack, &["down", "--yes", "--output", "json"]);
    down.wait_for("down waits for the delivery stream", |r| {
        r.stderr_now().contains("sensor-data-delivery waiting for")
    });
    down.sigint();
    let (code, out, err) = down.finish(Duration::from_secs(60), "Ctrl-C while down waits");
    assert_eq!(code, Some(1), "{out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(doc["interrupted"], true, "{doc:#}");
    let rows = doc["resources"].as_array().expect("rows");
    let raw = rows.iter().find(|r| r["id"] == "raw").expect("the raw row");
    assert_eq!(raw["action"], "interrupted", "{doc:#}");
    assert_eq!(raw["state"], "DELETING", "{doc:#}");
    assert!(
        raw["detail"]
            .as_str()
            .unwrap_or("")
            .contains("still DELETING — not waited for"),
        "{doc:#}"
    );
    // What waits for the delivery stream to be gone (its bucket, its role) was not started.
    assert!(
        rows.iter()
            .any(|r| r["action"] == "not-started" && r["id"] == "data"),
        "{doc:#}"
    );
    assert!(
        err.contains("down interrupted; each resource was left:"),
        "{err}"
    );
    assert!(
        err.lines()
            .last()
            .unwrap_or("")
            .contains("run `labctl down` again"),
        "{err}"
    );
    // The next down finishes: nothing is left at the endpoint.
    stack.front.clear_injections();
    run_ok(&stack, &["down", "--yes"], "down after Ctrl-C");
    assert_eq!(inventory(&stack), Vec::<String>::new());
}
