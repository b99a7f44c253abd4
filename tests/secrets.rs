//! No credential ever reaches the output: every command runs at `-vv` (AWS request
//! logging), in table and JSON form, and failing, with recognisable fake credentials
//! in the environment; neither stdout nor stderr may hold the access key id, the
//! secret key or the session token, nor a recognisable piece of them.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

const ACCESS_KEY: &str = "AKIAFAKEKEYLABCTL7Q2X";
const SECRET: &str = "fakeSecretKeyLabctl/Zq8wXv2Lm9Np4Rt6Yu1Io3Pa5Sd7Fg";
const TOKEN: &str = "FakeSessionTokenLabctl//////////wEaCXVzLWVhc3QtMSJHMEUCIQDfakefakefake==";

const SPEC: &str = r#"
version: 1
pipeline: secret-lab
buckets:
  data: {name: "secret-data-${account_id}-${region}"}
streams:
  sensor: {name: sensor-data-stream, mode: on-demand}
roles:
  delivery-role: {name: secret-delivery, service: firehose}
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
dashboards:
  dashboard: {name: Secret-Dashboard}
"#;

fn run(stack: &Stack, endpoint: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(stack.dir.path())
        .args(args)
        .args(["-vv", "--endpoint-url", endpoint, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("LABCTL_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("running labctl")
}

/// Pieces that would give a credential away: each whole, and long slices of each.
fn needles() -> Vec<String> {
    let mut n = Vec::new();
    for s in [ACCESS_KEY, SECRET, TOKEN] {
        n.push(s.to_string());
        let chars: Vec<char> = s.chars().collect();
        for w in chars.windows(12).step_by(6) {
            n.push(w.iter().collect());
        }
    }
    n.push("x-amz-security-token".into());
    n
}

#[test]
fn no_command_prints_a_credential_even_at_vv() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let url = stack.front.url();
    let commands: Vec<Vec<&str>> = vec![
        vec!["validate"],
        vec!["graph"],
        vec!["plan"],
        vec!["plan", "--output", "json"],
        vec!["up"],
        vec!["up", "--output", "json"],
        vec!["status"],
        vec!["status", "--output", "json"],
        vec![
            "produce",
            "--stream-name",
            "sensor-data-stream",
            "--count",
            "20",
            "--max",
        ],
        vec![
            "produce",
            "--stream-name",
            "sensor-data-stream",
            "--count",
            "5",
            "--max",
            "--output",
            "json",
        ],
        vec![
            "tail",
            "--stream-name",
            "sensor-data-stream",
            "--from",
            "trim-horizon",
            "--count",
            "10",
            "--format",
            "json",
        ],
        vec!["down", "--yes"],
        vec!["down", "--yes", "--output", "json"],
        // Failures: a stream that does not exist, and a spec error.
        vec!["tail", "--stream-name", "no-such-stream", "--count", "1"],
        vec!["produce", "--stream-name", "no-such-stream", "--count", "1"],
    ];
    let needles = needles();
    let mut leaks = Vec::new();
    let mut check = |what: String, out: &Output| {
        let text = format!("{}\n{}", stdout(out), stderr(out));
        for n in &needles {
            if text.contains(n.as_str()) {
                let at = text.find(n.as_str()).unwrap_or(0);
                let from = text[..at].char_indices().rev().nth(150).map_or(0, |c| c.0);
                let line = &text[from..(at + n.len() + 50).min(text.len())];
                leaks.push(format!("{what}: `{n}` in …{line}…"));
                break;
            }
        }
    };
    let mut logged = 0;
    for args in &commands {
        let out = run(&stack, &url, args, &[]);
        logged += stderr(&out).lines().count();
        let should_work = !args.contains(&"no-such-stream") && args[0] != "status";
        assert!(
            !should_work || out.status.success(),
            "{args:?} failed, so its output proves little:\n{}",
            stderr(&out)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        check(args.join(" "), &out);
    }
    // A failing AWS call (nothing answers in time) and a credential the endpoint rejects.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
    let out = run(
        &stack,
        &silent_url,
        &["status"],
        &[("LABCTL_TIMEOUT_SECONDS", "1")],
    );
    check("status against a silent endpoint".into(), &out);
    stack.write_spec("version: 1\npipeline: Bad Name\n");
    let out = run(&stack, &url, &["plan", "--output", "json"], &[]);
    check("plan of a bad spec".into(), &out);
    drop(silent);
    assert!(logged > 100, "-vv logged only {logged} lines: is it on?");
    assert!(
        leaks.is_empty(),
        "credentials in the output:\n{}",
        leaks.join("\n")
    );
}
