//! Issue 16, items 1, 2, 5, 6 and 9, against the local stack, state read back from the
//! endpoint: pruning what left the spec (plan/status/up/down), the run lock, `up`
//! refusing a plan with a blocked row before any change, `--adopt` confirmation, a
//! failed `up` on stderr, and `plan`'s changes-only view, summary and exit code 5.

mod common;

use common::*;

/// Two independent streams (no bucket: the tests need only tagged resources that
/// `up` can create side by side).
const SPEC: &str = r#"
version: 1
pipeline: test-lab
streams:
  sensor: {name: sensor-data-stream, mode: on-demand}
  other: {name: other-stream, mode: on-demand}
"#;

/// SPEC with its sensor stream renamed: the old stream is still tagged for test-lab.
fn renamed(to: &str) -> String {
    SPEC.replace("name: sensor-data-stream", &format!("name: {to}"))
}

fn streams(stack: &Stack) -> Vec<String> {
    let k = stack.kinesis();
    stack.block_on(async move {
        let out = k.list_streams().send().await.expect("list streams");
        let mut v = out.stream_names().to_vec();
        v.sort();
        v
    })
}

fn row<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {doc:#}"))
}

#[test]
fn a_renamed_stream_is_planned_reported_pruned_and_down_says_what_is_left() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    // up ends with the cost and what to run next.
    let out = stdout(&up);
    assert!(
        out.contains("cost: $") && out.contains("next: `labctl status`"),
        "{out}"
    );
    // Nothing pending: plain plan exits 0, and 0 with --detailed-exitcode too.
    let plan = stack.labctl(&["plan", "--detailed-exitcode"]);
    assert_code(&plan, 0);
    assert!(stdout(&plan).contains("No changes"), "{}", stdout(&plan));

    stack.write_spec(&renamed("sensor-data-stream-2"));
    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let old = row(&doc, "sensor-data-stream");
    assert_eq!(old["action"], "delete", "{doc:#}");
    let why = old["detail"].as_str().unwrap_or("");
    assert!(
        why.contains("tagged for pipeline test-lab, no longer in the spec"),
        "{why}"
    );
    assert_eq!(row(&doc, "sensor-data-stream-2")["action"], "create");
    assert_eq!(doc["changes"]["create"], 1, "{doc:#}");
    assert_eq!(doc["changes"]["delete"], 1, "{doc:#}");

    // The table: changes only, a summary line, exit 5 with --detailed-exitcode.
    let table = stack.labctl(&["plan", "--detailed-exitcode"]);
    assert_code(&table, 5);
    let text = stdout(&table);
    assert!(
        text.contains("Plan: 1 to create, 0 to update, 0 to replace, 1 to delete;"),
        "{text}"
    );
    assert!(!text.contains("no-change"), "unchanged rows shown: {text}");
    assert!(
        stdout(&stack.labctl(&["plan", "--all"])).contains("no-change"),
        "--all shows every row"
    );

    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 3);
    assert_eq!(
        row(&json(&status), "sensor-data-stream")["action"],
        "orphan"
    );

    // up creates the new stream, then deletes the old one; read back at the endpoint.
    assert_code(&stack.labctl(&["up"]), 0);
    assert_eq!(
        streams(&stack),
        vec!["other-stream", "sensor-data-stream-2"]
    );
    let plan = stack.labctl(&["plan", "--detailed-exitcode"]);
    assert_code(&plan, 0);

    // Renamed again, not applied: down deletes the orphan and the declared resources.
    stack.write_spec(&renamed("sensor-data-stream-3"));
    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert!(streams(&stack).is_empty(), "{:?}", streams(&stack));
    let text = stdout(&down);
    let last = text.trim_end().lines().last().unwrap_or("");
    assert_eq!(last, "nothing billable is left of this pipeline", "{text}");
}

#[test]
fn downs_last_line_names_what_it_could_not_delete() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    stack.write_spec(&renamed("sensor-data-stream-2"));
    // The old stream's deletion is refused.
    stack.front.inject(
        "DeleteStream",
        1,
        400,
        "AccessDeniedException",
        "not allowed",
    );
    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 1);
    let text = stdout(&down);
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("still there") && last.contains("sensor-data-stream"),
        "{text}"
    );
    assert_eq!(streams(&stack), vec!["sensor-data-stream"]);
}

fn lock_file(stack: &Stack) -> std::path::PathBuf {
    stack
        .dir
        .path()
        .join(".labctl/journal/test-lab-123456789012-us-east-1.lock")
}

fn write_lock(stack: &Stack, pid: u32) {
    let p = lock_file(stack);
    std::fs::create_dir_all(p.parent().expect("dir")).expect("dir");
    let holder = serde_json::json!({
        "host": labctl::engine::lock::host_name(),
        "pid": pid,
        "command": "labctl up",
        "since": 1_790_000_000u64,
    });
    std::fs::write(&p, holder.to_string()).expect("lock");
}

#[test]
fn a_held_lock_refuses_naming_the_holder_and_a_stale_one_is_taken_over() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    // Held by a live process (this test).
    write_lock(&stack, std::process::id());
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    let err = stderr(&up);
    assert!(
        err.contains("another labctl run holds the lock")
            && err.contains(&format!("pid {} on host", std::process::id()))
            && err.contains("`labctl up`"),
        "{err}"
    );
    assert!(stack.front.mutating().is_empty(), "changed something");

    // Held by a process that is gone: taken over.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("wait");
    write_lock(&stack, dead);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(
        stderr(&up).contains("taking over a stale lock"),
        "{}",
        stderr(&up)
    );
    assert!(!lock_file(&stack).exists(), "the lock is released");
}

#[test]
fn two_concurrent_ups_do_not_race() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(stack.dir.path())
            .args(["up", "--endpoint-url", &stack.front.url()])
            .args(["--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("labctl")
    };
    let (a, b) = (spawn(), spawn());
    let outs = [
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    ];
    // Each either ran alone, or waited and refused naming the holder; never a race.
    for o in &outs {
        if o.status.code() != Some(0) {
            assert_code(o, 1);
            assert!(stderr(o).contains("holds the lock"), "{}", stderr(o));
        }
    }
    assert!(outs.iter().any(|o| o.status.code() == Some(0)));
    assert_eq!(
        stack.front.count("CreateStream"),
        2,
        "each stream created once"
    );
}

/// An untagged stream with the spec's name (someone else's).
fn foreign_stream(stack: &Stack) {
    let k = stack.kinesis();
    stack.block_on(async move {
        k.create_stream()
            .stream_name("sensor-data-stream")
            .shard_count(1)
            .send()
            .await
            .expect("create");
    });
}

#[test]
fn up_refuses_a_blocked_plan_before_any_change_unless_partial() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    foreign_stream(&stack);
    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    let err = stderr(&up);
    assert!(
        err.contains("up refused before any change") && err.contains("--partial"),
        "{err}"
    );
    assert!(
        stack.front.mutating().is_empty(),
        "{:?}",
        stack.front.mutating()
    );
    let doc_up = stack.labctl(&["up", "--output", "json"]);
    assert_code(&doc_up, 1); // the plan is refused: a resource is blocked
    let doc = json(&doc_up);
    assert_eq!(row(&doc, "sensor-data-stream")["action"], "blocked");

    // --partial applies the rest: the other stream is created, the foreign one left alone.
    let up = stack.labctl(&["up", "--partial"]);
    assert_code(&up, 1);
    assert_eq!(stack.front.count("CreateStream"), 1);
    assert_eq!(streams(&stack), vec!["other-stream", "sensor-data-stream"]);
    let tags = stack.block_on({
        let k = stack.kinesis();
        async move {
            k.list_tags_for_stream()
                .stream_name("sensor-data-stream")
                .send()
                .await
                .expect("tags")
        }
    });
    assert!(tags.tags().is_empty(), "the foreign stream was tagged");

    // --adopt takes it over only when confirmed: refused on a non-terminal without --yes.
    stack.front.clear();
    let up = stack.labctl(&["up", "--adopt"]);
    assert_code(&up, 2);
    assert!(stderr(&up).contains("pass --yes"), "{}", stderr(&up));
    assert!(stack.front.mutating().is_empty());
    assert_code(&stack.labctl(&["up", "--adopt", "--yes"]), 0);
}

#[test]
fn a_failed_up_says_what_failed_on_stderr() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    stack.front.inject(
        "CreateStream",
        1,
        400,
        "AccessDeniedException",
        "not allowed",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    let err = stderr(&up);
    assert!(
        err.contains(") failed: creating stream")
            && err.contains("AccessDeniedException")
            && err.contains("up did not finish"),
        "{err}"
    );
}

#[test]
fn plan_names_the_dashboard_keys_that_changed() {
    let stack = Stack::start();
    let spec = format!("{SPEC}dashboards:\n  board: {{name: test-dashboard}}\n");
    stack.write_spec(&spec);
    assert_code(&stack.labctl(&["up"]), 0);
    // Someone widens the first widget by hand (the marker stays: still ours).
    let cw = stack.cloudwatch();
    stack.block_on(async move {
        let got = cw
            .get_dashboard()
            .dashboard_name("test-dashboard")
            .send()
            .await
            .expect("get");
        let mut body: serde_json::Value =
            serde_json::from_str(got.dashboard_body().expect("body")).expect("json");
        body["widgets"][0]["width"] = serde_json::json!(7);
        cw.put_dashboard()
            .dashboard_name("test-dashboard")
            .dashboard_body(body.to_string())
            .send()
            .await
            .expect("put");
    });
    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let board = row(&doc, "test-dashboard");
    assert_eq!(board["action"], "update", "{doc:#}");
    let drift = &board["drift"][0];
    assert_eq!(drift["field"], "body");
    assert_eq!(drift["actual"], "{widgets[0].width: 7}", "{doc:#}");
    assert_eq!(drift["desired"], "{widgets[0].width: 24}", "{doc:#}");
    // up puts it back.
    assert_code(&stack.labctl(&["up"]), 0);
    assert_code(&stack.labctl(&["plan", "--detailed-exitcode"]), 0);
}

/// Run labctl on a pseudo-terminal (util-linux `script`), typing `answer`; None when
/// `script` is not installed.
fn on_terminal(stack: &Stack, args: &str, answer: &str) -> Option<std::process::Output> {
    use std::io::Write;
    let which = std::process::Command::new("script")
        .arg("--version")
        .output();
    if which.map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("`script` is not installed: the terminal prompt is not exercised");
        return None;
    }
    let cmd = format!(
        "{} {args} --endpoint-url {} --region us-east-1",
        env!("CARGO_BIN_EXE_labctl"),
        stack.front.url()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(stack.dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.as_bytes())
        .expect("typing");
    Some(child.wait_with_output().expect("script"))
}

#[test]
fn the_down_prompt_shows_where_and_what_and_adopt_asks_on_a_terminal() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    stack.write_spec(&renamed("sensor-data-stream-2"));
    let Some(out) = on_terminal(&stack, "down", "no\n") else {
        return;
    };
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("account 123456789012, region us-east-1, endpoint http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("other-stream")
            && text.contains("sensor-data-stream  (no longer in the spec)"),
        "{text}"
    );
    assert!(
        text.contains("not confirmed; nothing was deleted"),
        "{text}"
    );
    assert_eq!(streams(&stack), vec!["other-stream", "sensor-data-stream"]);

    // up --adopt on a terminal lists what it takes over and asks.
    let k = stack.kinesis();
    stack.block_on(async move {
        k.create_stream()
            .stream_name("sensor-data-stream-2")
            .shard_count(1)
            .send()
            .await
            .expect("create");
    });
    let Some(out) = on_terminal(&stack, "up --adopt", "no\n") else {
        return;
    };
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("takes over these resources") && text.contains("stream sensor-data-stream-2"),
        "{text}"
    );
    assert!(
        text.contains("not confirmed; nothing was changed"),
        "{text}"
    );
    let Some(out) = on_terminal(&stack, "up --adopt", "yes\n") else {
        return;
    };
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("next: `labctl status`"), "{text}");
    assert_eq!(
        streams(&stack),
        vec!["other-stream", "sensor-data-stream-2"]
    );
}
