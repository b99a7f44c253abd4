//! Issue 16, item 5 ("a step known to fail"): once AWS refused to create a Kinesis Data
//! Analytics for SQL application in an account and region (the local emulator refuses
//! as AWS does since 2025-10-15, `--sql-discontinued`), labctl remembers it: the next
//! `plan` shows the application's create `blocked` with why, `up` refuses before its
//! first change (no mutating request reaches the front), `up --partial` applies the
//! rest without asking AWS again; the record is an owner-only file, and one planted as
//! a symbolic link is not trusted.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::*;
use labctl_local::emulator::{self, Api, Emulator};
use labctl_local::front::{self, Front};

const APP: &str = "sensor-data-analytics";

fn spec(extra_stream: bool) -> String {
    let extra = if extra_stream {
        "  other:\n    name: other-stream\n    mode: on-demand\n"
    } else {
        ""
    };
    analytics_lab(
        APP,
        extra,
        "    engine: kinesis-analytics-sql\n    code: sql/aggregate.kda.sql\n",
    )
}

struct Lab {
    stack: Stack,
    emu: Emulator,
    front: Front,
}

impl Lab {
    fn start() -> Lab {
        let stack = Stack::start();
        let emu = Emulator::new(emulator::Config {
            kinesis_endpoint: Some(stack.moto_url.clone()),
            sql_discontinued: true,
            ..emulator::Config::default()
        });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let front = stack
            .block_on(front::start_with(port, &stack.moto_url, emu.clone()))
            .expect("front with the emulator");
        let dir = stack.dir.path();
        std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(
            root.join("sql/aggregate.kda.sql"),
            dir.join("sql/aggregate.kda.sql"),
        )
        .expect("copy sql");
        Lab { stack, emu, front }
    }

    fn write(&self, extra_stream: bool) {
        std::fs::write(
            self.stack.dir.path().join("pipeline.yaml"),
            spec(extra_stream),
        )
        .expect("spec");
    }

    fn labctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(self.stack.dir.path())
            .args(args)
            .args(["--endpoint-url", &self.front.url(), "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("running labctl")
    }

    fn record(&self) -> PathBuf {
        self.stack
            .dir
            .path()
            .join(".labctl/journal/123456789012-us-east-1.refusals.json")
    }

    fn streams(&self) -> Vec<String> {
        let k = self.stack.kinesis();
        self.stack.block_on(async move {
            let out = k.list_streams().send().await.expect("list streams");
            let mut v = out.stream_names().to_vec();
            v.sort();
            v
        })
    }
}

fn app_row(doc: &serde_json::Value) -> &serde_json::Value {
    doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == APP)
        .unwrap_or_else(|| panic!("no application row: {doc:#}"))
}

#[test]
fn a_refused_sql_application_is_blocked_next_time_before_any_change() {
    let lab = Lab::start();
    lab.write(false);

    // First up: AWS (the emulator) refuses the SQL application.
    let up = lab.labctl(&["up"]);
    assert_code(&up, 1);
    let out = format!("{}{}", stdout(&up), stderr(&up));
    assert!(
        out.contains("Kinesis Data Analytics for SQL applications is discontinued"),
        "{out}"
    );
    assert_eq!(lab.emu.status(Api::V1, "us-east-1", APP), None);
    let record = lab.record();
    let mode = std::fs::symlink_metadata(&record)
        .expect("the refusal is recorded")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "owner-only");

    // plan: the application's create is blocked, saying when and what AWS said.
    let plan = lab.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let row = app_row(&doc);
    assert_eq!(row["action"], "blocked", "{doc:#}");
    let why = row["detail"].as_str().unwrap_or("");
    assert!(
        why.contains("AWS refused to create SQL applications")
            && why.contains("account 123456789012, region us-east-1 at ")
            && why.contains("discontinued")
            && why.contains("engine: flink"),
        "{why}"
    );

    // up refuses before the first change: nothing mutating reaches the front.
    lab.write(true);
    let before = lab.front.mutating().len();
    let up = lab.labctl(&["up"]);
    assert_code(&up, 1);
    assert!(
        stderr(&up).contains("up refused before any change"),
        "{}",
        stderr(&up)
    );
    let sent: Vec<String> = lab.front.mutating()[before..]
        .iter()
        .map(|r| r.operation.clone())
        .collect();
    assert!(sent.is_empty(), "mutating requests sent: {sent:?}");
    assert!(!lab.streams().contains(&"other-stream".to_string()));

    // up --partial applies the rest, and does not ask AWS for the SQL application again.
    let creates = lab.front.count("CreateApplication");
    let partial = lab.labctl(&["up", "--partial"]);
    assert_code(&partial, 1);
    assert_eq!(lab.front.count("CreateApplication"), creates);
    assert_eq!(
        lab.streams(),
        vec!["other-stream".to_string(), "sensor-data-stream".to_string()]
    );
    assert_eq!(lab.emu.status(Api::V1, "us-east-1", APP), None);

    // A record planted as a symbolic link is not trusted.
    let elsewhere = lab.stack.dir.path().join("elsewhere.json");
    std::fs::copy(&record, &elsewhere).expect("copy");
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_file(&record).expect("rm");
    std::os::unix::fs::symlink(&elsewhere, &record).expect("symlink");
    let plan = lab.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    assert_eq!(app_row(&doc)["action"], "create", "{doc:#}");
    assert!(stderr(&plan).contains("symbolic link"), "{}", stderr(&plan));

    // Deleting the record forgets the refusal.
    std::fs::remove_file(&record).expect("rm");
    let plan = lab.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    assert_eq!(app_row(&json(&plan))["action"], "create");
}
