//! Test support: a fresh local AWS stack per test (a moto server on a free port,
//! behind the local crate's recording front, `labctl_local::front`), a way to run the
//! real `labctl` binary against it, and SDK clients to check results without going
//! through labctl.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use labctl_local::firehose::TimeScale;
use labctl_local::front::{self, Front};

/// The factor on the Firehose delivery's waits in every test front: a 60 s buffering
/// interval lasts 6 s and each shard is read every 0.1 s (see `labctl_local::firehose`).
pub const DELIVERY_SCALE: f64 = 0.1;

/// The moto server executable: `LABCTL_MOTO_SERVER`, else the one `scripts/local-stack install` made.
pub fn moto_server() -> PathBuf {
    if let Ok(p) = std::env::var("LABCTL_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".labctl/venv/bin/moto_server");
    assert!(p.exists(), "moto server not installed: run `scripts/local-stack install` first (or set LABCTL_MOTO_SERVER)");
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One fresh emulator and its front, gone when dropped.
pub struct Stack {
    moto: Child,
    pub moto_url: String,
    pub front: Front,
    /// A second front for the tests' own CloudWatch clients (CloudWatch speaks
    /// rpc-v2-cbor, which only the front translates for moto); its requests stay out
    /// of `front`'s log.
    check_front: Front,
    runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    /// Every request this stack's fronts receive, held to AWS's API models (last field: it
    /// reports, and fails the test on a violation, after the rest is gone; see [`ContractCheck`]).
    pub contract: ContractCheck,
}

impl Stack {
    pub fn start() -> Stack {
        let port = free_port();
        let moto = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let moto_url = format!("http://127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let front = runtime
            .block_on(front::start_scaled(0, &moto_url, TimeScale(DELIVERY_SCALE)))
            .expect("front");
        let check_front = runtime
            .block_on(front::start(0, &moto_url))
            .expect("check front");
        let contract = ContractCheck::start(&moto_url);
        Stack {
            moto,
            moto_url,
            front,
            check_front,
            runtime,
            dir: tempfile::tempdir().expect("tempdir"),
            contract,
        }
    }

    /// Run labctl with `args` against this stack (`--endpoint-url` to the front).
    pub fn labctl(&self, args: &[&str]) -> Output {
        self.labctl_in(self.dir.path(), args)
    }

    pub fn labctl_in(&self, dir: &Path, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(dir)
            .args(args)
            .args(["--endpoint-url", &self.front.url(), "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("running labctl");
        out
    }

    /// Write a spec file (and an empty SQL file it may point at) into the test's directory.
    pub fn write_spec(&self, text: &str) -> PathBuf {
        std::fs::create_dir_all(self.dir.path().join("sql")).expect("sql dir");
        std::fs::write(self.dir.path().join("sql/app.sql"), "-- test\n").expect("sql file");
        let p = self.dir.path().join("pipeline.yaml");
        std::fs::write(&p, text).expect("writing spec");
        p
    }

    /// An SDK config pointing at moto directly (not through the front).
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let url = self.moto_url.clone();
        self.block_on(async move {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(url)
                .credentials_provider(aws_credential_types::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load()
                .await
        })
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let c = aws_sdk_s3::config::Builder::from(&self.sdk_config())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(c)
    }

    /// A CloudWatch client for checks, through a front of its own (see `check_front`).
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let c = aws_sdk_cloudwatch::config::Builder::from(&self.sdk_config())
            .endpoint_url(self.check_front.url())
            .build();
        aws_sdk_cloudwatch::Client::from_conf(c)
    }

    /// A CloudWatch awsQuery call straight to moto (form POST), for test set-up the
    /// front's translation does not cover (SetAlarmState is not a call labctl makes).
    /// Returns moto's status and body.
    pub fn cloudwatch_query(&self, params: &[(&str, &str)]) -> (u16, String) {
        use std::io::{Read, Write};
        let mut body = String::from("Version=2010-08-01");
        for (k, v) in params {
            body.push_str(&format!(
                "&{}={}",
                urlencoding::encode(k),
                urlencoding::encode(v)
            ));
        }
        let host = self.moto_url.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(host).expect("connecting to moto");
        // moto takes the service and region from the credential scope; it checks no signature.
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(req.as_bytes()).expect("writing to moto");
        let mut answer = String::new();
        conn.read_to_string(&mut answer)
            .expect("reading moto's answer");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, answer)
    }

    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk_config())
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert an exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

/// The JSON document a command printed with `--output json`.
#[track_caller]
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

/// The bucket-and-stream spec used by the foundation tests.
pub const BASIC: &str = r#"
version: 1
pipeline: test-lab
tags: {course: lab-1.2}
buckets:
  data:
    name: lab-data-${account_id}-${region}
streams:
  sensor:
    name: sensor-data-stream
    mode: on-demand
    retention_hours: 48
"#;

/// The lab without its application (bucket, stream, role, logged delivery stream,
/// dashboard, alarm, topic), its names starting with `name`: the spec the kill harness
/// and the fault tests drive.
/// A small lab with a Flink application (names prefixed with `p`) whose code is the
/// shipped SQL and whose one jar is a stand-in (`lib/dummy-connector.jar`), so `up` needs
/// no connector download; [`write_flink_files`] puts both beside the spec.
pub fn flink_lab(p: &str) -> String {
    format!(
        r#"
version: 1
pipeline: {p}-lab
buckets:
  data:
    name: {p}-data-${{account_id}}-${{region}}
streams:
  sensor:
    name: {p}-sensor-stream
    mode: on-demand
roles:
  delivery-role:
    name: {p}-delivery
    service: firehose
  analytics-role:
    name: {p}-analytics
    service: kinesis-analytics
delivery_streams:
  processed:
    name: {p}-processed
    source: {{type: direct-put}}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {{interval_seconds: 60, size_mib: 1}}
      compression: none
      encryption: bucket-default
applications:
  analytics:
    name: sensor-data-analytics
    role: analytics-role
    input: {{stream: sensor, starting_position: TRIM_HORIZON}}
    output: {{delivery_stream: processed}}
    engine: flink
    runtime: FLINK-1_20
    code: sql/aggregate.flink.sql
    jars: [lib/dummy-connector.jar]
    parallelism: {{parallelism: 1, per_kpu: 1}}
    artifact: {{bucket: data, prefix: code/}}
    logging: {{log_group: /aws/kinesis-analytics/{p}, log_stream: app-log}}
"#
    )
}

/// The shipped Flink SQL and a stand-in connector jar under `dir`, for [`flink_lab`].
pub fn write_flink_files(dir: &Path) {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("sql/aggregate.flink.sql"),
        dir.join("sql/aggregate.flink.sql"),
    )
    .expect("sql");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("test/Dummy.class", zip::write::SimpleFileOptions::default())
        .expect("entry");
    z.write_all(b"not really a class").expect("write");
    std::fs::write(
        dir.join("lib/dummy-connector.jar"),
        z.finish().expect("zip").into_inner(),
    )
    .expect("jar");
}

pub fn small_lab(name: &str) -> String {
    format!(
        r#"
version: 1
pipeline: {name}-lab
buckets:
  data: {{name: "{name}-data-${{account_id}}-${{region}}"}}
streams:
  sensor: {{name: sensor-data-stream, mode: on-demand}}
roles:
  delivery-role: {{name: {name}-delivery, service: firehose}}
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {{type: kinesis-stream, stream: sensor}}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/year=!{{timestamp:yyyy}}/"
      error_prefix: "errors/!{{firehose:error-output-type}}/"
      buffering: {{interval_seconds: 60, size_mib: 1}}
      compression: none
      encryption: bucket-default
    logging: {{log_group: /aws/kinesisfirehose/sensor-data-delivery, log_stream: DestinationDelivery}}
dashboards:
  dashboard: {{name: {name}-dashboard}}
alarms:
  iterator: {{name: {name}-iterator-age, metric: iterator-age, target: sensor, threshold: 60000, topic: alerts}}
topics:
  alerts: {{name: {name}-alarms}}
"#
    )
}

// ---------------------------------------------------------------------------------------
// The contract check: every request a stack's fronts receive (labctl's, through any fault
// proxy, and the tests' own clients that go through a front) is held to AWS's API models
// (botocore's service JSON, pinned in scripts/local-stack; labctl_local::contract). A
// violation or an unidentified request fails the test that sent it when its stack is
// dropped; each test binary's tally goes to target/contract/<binary>-<pid>.json, which
// scripts/test adds up.

/// `LABCTL_CONTRACT_CHECK=off` runs the tests without the check (CI never sets it).
pub const CONTRACT_CHECK_ENV: &str = "LABCTL_CONTRACT_CHECK";

/// The models, loaded once per test binary; None only when the check is switched off.
fn contract_models() -> Option<std::sync::Arc<labctl_local::contract::Contract>> {
    use labctl_local::contract::{
        botocore_data_dir_from_env, botocore_version, Contract, BOTOCORE_DATA_ENV, LABCTL_SERVICES,
        PINNED_BOTOCORE,
    };
    static MODELS: std::sync::OnceLock<Option<std::sync::Arc<Contract>>> =
        std::sync::OnceLock::new();
    MODELS
        .get_or_init(|| {
            if std::env::var(CONTRACT_CHECK_ENV).as_deref() == Ok("off") {
                eprintln!(
                    "contract check OFF ({CONTRACT_CHECK_ENV}=off): requests are not checked"
                );
                return None;
            }
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".labctl/venv");
            let loaded = botocore_data_dir_from_env(Some(&venv)).and_then(|dir| {
                // The venv's models are the pinned ones (an explicit directory is the user's).
                let version = botocore_version(&dir);
                if std::env::var_os(BOTOCORE_DATA_ENV).is_none()
                    && version.as_deref() != Some(PINNED_BOTOCORE)
                {
                    anyhow::bail!(
                        "{} holds botocore {version:?}, not the pinned {PINNED_BOTOCORE}",
                        dir.display()
                    );
                }
                Contract::load(&dir, LABCTL_SERVICES)
            });
            match loaded {
                Ok(c) => Some(std::sync::Arc::new(c)),
                Err(e) => panic!(
                    "contract check: AWS's API models did not load: {e:#}\n\
                     run `scripts/local-stack install` (it pins botocore next to moto), or set \
                     LABCTL_BOTOCORE_DATA to botocore's data directory \
                     ({CONTRACT_CHECK_ENV}=off skips the check; CI never does)"
                ),
            }
        })
        .clone()
}

/// The contract check of one stack: registered for its moto (every front forwarding there
/// is checked); on drop, its tally joins the binary's file and its failures fail the test.
pub struct ContractCheck {
    upstream: String,
    checks: Option<std::sync::Arc<labctl_local::contract::hook::Checks>>,
    /// Violations and unidentified requests a test took on purpose ([`Self::take_failures`]):
    /// counted, but not as the suite's violations.
    taken: std::sync::Mutex<(u64, u64)>,
}

impl ContractCheck {
    pub fn start(upstream: &str) -> ContractCheck {
        let checks = contract_models().map(labctl_local::contract::hook::Checks::new);
        if let Some(c) = &checks {
            labctl_local::contract::hook::register(upstream, c.clone());
        }
        ContractCheck {
            upstream: upstream.to_string(),
            checks,
            taken: std::sync::Mutex::new((0, 0)),
        }
    }

    /// What was checked so far (empty when the check is off).
    pub fn tally(&self) -> labctl_local::contract::Tally {
        self.checks.as_ref().map(|c| c.tally()).unwrap_or_default()
    }

    /// The failures so far, taken: a test that breaks a request on purpose takes them, so
    /// that its stack's drop does not fail it and the suite's total does not count them.
    pub fn take_failures(&self) -> Vec<labctl_local::contract::hook::Failure> {
        use labctl_local::contract::CheckError;
        let failures = self
            .checks
            .as_ref()
            .map(|c| c.take_failures())
            .unwrap_or_default();
        if let Ok(mut t) = self.taken.lock() {
            for f in &failures {
                match &f.error {
                    CheckError::Violations(vs) => t.0 += vs.len() as u64,
                    CheckError::Unidentified(_) => t.1 += 1,
                }
            }
        }
        failures
    }

    /// Panics, listing each failure (operation, member, rule), if any request so far broke
    /// the models or was unidentified; what the stack's drop does at the end of each test.
    #[track_caller]
    pub fn assert_clean(&self) {
        let failures = self.take_failures();
        if let Some(msg) = Self::failure_message(&failures) {
            panic!("{msg}");
        }
    }

    fn failure_message(failures: &[labctl_local::contract::hook::Failure]) -> Option<String> {
        if failures.is_empty() {
            return None;
        }
        let list: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
        Some(format!(
            "contract check: {} request(s) broke AWS's API models (botocore):\n{}",
            failures.len(),
            list.join("\n")
        ))
    }

    /// Adds this stack's tally to the binary's and rewrites target/contract/<binary>-<pid>.json.
    /// `failed` lists the failures that failed a test (kept in the file for the summary).
    fn write_tally(tally: &labctl_local::contract::Tally, taken: (u64, u64), failed: &[String]) {
        type Process = Option<(labctl_local::contract::Tally, (u64, u64), Vec<String>)>;
        static PROCESS: std::sync::Mutex<Process> = std::sync::Mutex::new(None);
        let Ok(mut all) = PROCESS.lock() else { return };
        let (all, all_taken, all_failed) = all.get_or_insert_with(Default::default);
        all.merge(tally);
        all_failed.extend_from_slice(failed);
        all_taken.0 += taken.0;
        all_taken.1 += taken.1;
        let mut doc = all.to_json();
        doc["violations"] = all.violations().saturating_sub(all_taken.0).into();
        doc["unidentified"] = all.unidentified().saturating_sub(all_taken.1).into();
        doc["failures"] = serde_json::json!(all_failed);
        doc["taken_on_purpose"] = serde_json::json!({
            "violations": all_taken.0,
            "unidentified": all_taken.1,
        });
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("contract");
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            // Linux names a rebuilt running binary "<path> (deleted)".
            .map(|s| s.trim_end_matches(" (deleted)").to_string())
            .unwrap_or_else(|| "tests".into());
        let file = dir.join(format!("{binary}-{}.json", std::process::id()));
        let tmp = file.with_extension("tmp");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&tmp, doc.to_string()))
            .and_then(|_| std::fs::rename(&tmp, &file));
        if let Err(e) = written {
            eprintln!("contract check: writing {}: {e}", file.display());
        }
    }
}

impl Drop for ContractCheck {
    fn drop(&mut self) {
        let Some(checks) = self.checks.take() else {
            return;
        };
        labctl_local::contract::hook::unregister(&self.upstream);
        let taken = self.taken.lock().map(|t| *t).unwrap_or_default();
        let failures = checks.take_failures();
        let failed: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        Self::write_tally(&checks.tally(), taken, &failed);
        let Some(msg) = Self::failure_message(&failures) else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The shipped lab, what the endpoint holds (listed directly), and the JSON documents'
// schema: shared by tests/kill.rs, tests/idempotent.rs and tests/check_outcomes.rs.

pub mod inventory;

/// The shipped pipeline.yaml and its SQL files, copied into `dir` (its connector jar comes
/// from flink/connectors.lock through labctl's cache, as for a user).
pub fn write_shipped_lab(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    for f in [
        "pipeline.yaml",
        "sql/aggregate.flink.sql",
        "sql/aggregate.kda.sql",
    ] {
        std::fs::copy(root.join(f), dir.join(f)).expect("copying the shipped lab");
    }
    dir.join("pipeline.yaml")
}

/// Validate a `--output json` document (plan, up, status or down) against
/// docs/status.schema.json.
#[track_caller]
pub fn assert_schema(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/status.schema.json"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "document does not match docs/status.schema.json: {errors:#?}\n{doc:#}"
    );
}

/// The lab with an analytics application named `app` (its stream, roles, bucket and the
/// delivery stream it writes to), `extra_streams` spliced in after the stream
/// (`  id:\n    name: …` lines) and `application` the application's engine lines.
pub fn analytics_lab(app: &str, extra_streams: &str, application: &str) -> String {
    format!(
        r#"
version: 1
pipeline: test-lab
buckets:
  data:
    name: lab-data-${{account_id}}-${{region}}
streams:
  sensor:
    name: sensor-data-stream
    mode: on-demand
{extra_streams}roles:
  delivery-role:
    name: lab-delivery
    service: firehose
  analytics-role:
    name: lab-analytics
    service: kinesis-analytics
delivery_streams:
  processed:
    name: processed-sensor-data
    source: {{type: direct-put}}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {{interval_seconds: 60, size_mib: 1}}
      compression: none
      encryption: bucket-default
applications:
  analytics:
    name: {app}
    role: analytics-role
    input: {{stream: sensor, starting_position: TRIM_HORIZON}}
    output: {{delivery_stream: processed}}
{application}
"#
    )
}
