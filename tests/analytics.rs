//! The analytics application on the local stack (moto behind labctl's front, whose
//! Kinesis Analytics emulator answers both APIs): each engine is created, started and
//! reported RUNNING with exactly the spec's configuration read back through the SDK;
//! the Flink artifact holds what its properties name and main.py fills every
//! placeholder; a `down` interrupted while the application is STOPPING is finished by
//! a second `down`; AWS's discontinuation refusal becomes labctl's one paragraph.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use labctl_local::emulator::{self, Api, Emulator, Timing};
use labctl_local::front;

const APP: &str = "sensor-data-analytics";
const ROLE: &str = "arn:aws:iam::123456789012:role/labctl/lab-analytics";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/sensor-data-stream";
const DELIVERY_ARN: &str =
    "arn:aws:firehose:us-east-1:123456789012:deliverystream/processed-sensor-data";
const BUCKET: &str = "lab-data-123456789012-us-east-1";

fn spec(application: &str) -> String {
    analytics_lab(APP, "", application)
}

const SQL_APP: &str = r#"    engine: kinesis-analytics-sql
    code: sql/aggregate.kda.sql
"#;

const FLINK_APP: &str = r#"    engine: flink
    runtime: FLINK-1_20
    code: sql/aggregate.flink.sql
    jars: [lib/dummy-connector.jar]
    parallelism: {parallelism: 2, per_kpu: 1}
    artifact: {bucket: data, prefix: code/}
    logging: {log_group: /aws/kinesis-analytics/sensor-data-analytics, log_stream: app-log}
"#;

/// A local stack whose front uses an emulator the test can steer.
struct Lab {
    stack: Stack,
    emu: Emulator,
    url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Lab {
    fn start(timing: Timing) -> Lab {
        let stack = Stack::start();
        let emu = Emulator::new(emulator::Config {
            timing,
            kinesis_endpoint: Some(stack.moto_url.clone()),
            ..emulator::Config::default()
        });
        let port = free_port();
        let f = stack
            .block_on(front::start_with(port, &stack.moto_url, emu.clone()))
            .expect("front with the emulator");
        let url = f.url();
        // Files the spec names: the real SQL files, and a small stand-in connector jar.
        let dir = stack.dir.path();
        std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
        std::fs::create_dir_all(dir.join("lib")).expect("lib dir");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for f in ["aggregate.kda.sql", "aggregate.flink.sql"] {
            std::fs::copy(root.join("sql").join(f), dir.join("sql").join(f)).expect("copy sql");
        }
        std::fs::write(dir.join("lib/dummy-connector.jar"), dummy_jar()).expect("jar");
        Lab { stack, emu, url }
    }

    fn write(&self, application: &str) {
        std::fs::write(
            self.stack.dir.path().join("pipeline.yaml"),
            spec(application),
        )
        .expect("spec");
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
        c.current_dir(self.stack.dir.path())
            .args(args)
            .args(["--endpoint-url", &self.url, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("NO_COLOR", "1")
            .env("LABCTL_CACHE_DIR", self.stack.dir.path().join("no-cache"))
            .stdin(Stdio::null());
        c
    }

    fn labctl(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("running labctl")
    }

    fn v1(&self) -> aws_sdk_kinesisanalytics::Client {
        aws_sdk_kinesisanalytics::Client::new(&self.config())
    }
    fn v2(&self) -> aws_sdk_kinesisanalyticsv2::Client {
        aws_sdk_kinesisanalyticsv2::Client::new(&self.config())
    }
    fn config(&self) -> aws_config::SdkConfig {
        let url = self.url.clone();
        self.stack.block_on(async move {
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
}

/// A jar (zip) with one class-like entry and a factory registration.
fn dummy_jar() -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file(
        "META-INF/services/org.apache.flink.table.factories.Factory",
        o,
    )
    .expect("entry");
    z.write_all(b"test.DummyFactory\n").expect("write");
    z.start_file("test/DummyFactory.class", o).expect("entry");
    z.write_all(b"not really a class").expect("write");
    z.finish().expect("zip").into_inner()
}

#[test]
fn sql_engine_up_reads_back_the_spec_and_runs() {
    let lab = Lab::start(Timing::uniform(Duration::from_millis(300)));
    lab.write(SQL_APP);
    let up = lab.labctl(&["up"]);
    assert_code(&up, 0);
    let err = stderr(&up);
    assert!(
        err.contains("waiting for the application to be RUNNING"),
        "{err}"
    );
    let v1 = lab.v1();
    lab.stack.block_on(async {
        let d = v1
            .describe_application()
            .application_name(APP)
            .send()
            .await
            .expect("describe");
        let d = d.application_detail().expect("detail");
        assert_eq!(d.application_status().as_str(), "RUNNING");
        let code = std::fs::read_to_string(lab.stack.dir.path().join("sql/aggregate.kda.sql"))
            .expect("sql");
        assert_eq!(d.application_code(), Some(code.as_str()));
        let i = &d.input_descriptions()[0];
        assert_eq!(i.name_prefix(), Some("SOURCE_SQL_STREAM"));
        assert_eq!(i.in_app_stream_names(), ["SOURCE_SQL_STREAM_001"]);
        let k = i.kinesis_streams_input_description().expect("stream input");
        assert_eq!(
            (k.resource_arn(), k.role_arn()),
            (Some(STREAM_ARN), Some(ROLE))
        );
        let s = i.input_schema().expect("schema");
        assert_eq!(
            s.record_format().map(|f| f.record_format_type().as_str()),
            Some("JSON")
        );
        let cols: Vec<(String, String, String)> = s
            .record_columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    c.sql_type().to_string(),
                    c.mapping().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want = [
            ("sensor_id", "VARCHAR(16)", "$.sensor_id"),
            ("COL_timestamp", "VARCHAR(32)", "$.timestamp"),
            ("temperature", "DOUBLE", "$.temperature"),
            ("humidity", "DOUBLE", "$.humidity"),
            ("pressure", "DOUBLE", "$.pressure"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(cols, want);
        assert_eq!(
            i.input_starting_position_configuration()
                .and_then(|p| p.input_starting_position())
                .map(|p| p.as_str()),
            Some("TRIM_HORIZON")
        );
        let o = &d.output_descriptions()[0];
        assert_eq!(o.name(), Some("DESTINATION_SQL_STREAM"));
        let f = o
            .kinesis_firehose_output_description()
            .expect("firehose output");
        assert_eq!(
            (f.resource_arn(), f.role_arn()),
            (Some(DELIVERY_ARN), Some(ROLE))
        );
        assert_eq!(
            o.destination_schema()
                .map(|s| s.record_format_type().as_str()),
            Some("JSON")
        );
        let tags = v1
            .list_tags_for_resource()
            .resource_arn(d.application_arn())
            .send()
            .await
            .expect("tags");
        assert!(tags
            .tags()
            .iter()
            .any(|t| t.key() == "labctl:pipeline" && t.value() == Some("test-lab")));
    });
    // Idempotent: a second `up` changes nothing (no mutating request reaches the
    // endpoint), and `status` finds everything as declared; nothing is produced here, so
    // the checks are pending or not-observable: exit 4, not 0.
    let before = lab.stack.front.mutating().len();
    let again = lab.labctl(&["up"]);
    assert_code(&again, 0);
    let sent: Vec<String> = lab.stack.front.mutating()[before..]
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        sent.is_empty(),
        "a second up sent mutating requests: {sent:?}"
    );
    let status = lab.labctl(&["status"]);
    assert_code(&status, 4);

    // A changed SQL file is an update with the current version id, not a replacement.
    let path = lab.stack.dir.path().join("sql/aggregate.kda.sql");
    let mut sql = std::fs::read_to_string(&path).expect("sql");
    sql.push_str("\n-- changed\n");
    std::fs::write(&path, &sql).expect("write");
    let up = lab.labctl(&["up"]);
    assert_code(&up, 0);
    lab.stack.block_on(async {
        let d = v1
            .describe_application()
            .application_name(APP)
            .send()
            .await
            .expect("describe");
        let d = d.application_detail().expect("detail");
        assert_eq!(
            (d.application_version_id(), d.application_code()),
            (2, Some(sql.as_str()))
        );
        assert_eq!(d.application_status().as_str(), "RUNNING");
    });

    let down = lab.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert_eq!(lab.emu.status(Api::V1, "us-east-1", APP), None);
}

#[test]
fn flink_engine_up_uploads_the_artifact_and_runs() {
    let lab = Lab::start(Timing::uniform(Duration::from_millis(300)));
    lab.write(FLINK_APP);
    let up = lab.labctl(&["up"]);
    assert_code(&up, 0);
    let v2 = lab.v2();
    let s3 = lab.stack.s3();
    let (key, props) = lab.stack.block_on(async {
        let d = v2.describe_application().application_name(APP).send().await.expect("describe");
        let d = d.application_detail().expect("detail");
        assert_eq!(d.application_status().as_str(), "RUNNING");
        assert_eq!(d.runtime_environment().as_str(), "FLINK-1_20");
        assert_eq!(d.service_execution_role(), Some(ROLE));
        let conf = d.application_configuration_description().expect("configuration");
        let code = conf.application_code_configuration_description().expect("code");
        assert_eq!(code.code_content_type().as_str(), "ZIPFILE");
        let loc = code.code_content_description().and_then(|c| c.s3_application_code_location_description()).expect("s3 location");
        assert_eq!(loc.bucket_arn(), format!("arn:aws:s3:::{BUCKET}"));
        assert!(loc.file_key().starts_with("code/sensor-data-analytics/") && loc.file_key().ends_with(".zip"), "{}", loc.file_key());
        let par = conf.flink_application_configuration_description().and_then(|f| f.parallelism_configuration_description()).expect("parallelism");
        assert_eq!((par.configuration_type().map(|t| t.as_str()), par.parallelism(), par.parallelism_per_kpu(), par.auto_scaling_enabled()), (Some("CUSTOM"), Some(2), Some(1), Some(false)));
        let log = &d.cloud_watch_logging_option_descriptions()[0];
        assert_eq!(log.log_stream_arn(), "arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/sensor-data-analytics:log-stream:app-log");
        let mut props: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for g in conf.environment_property_descriptions().map(|e| e.property_group_descriptions()).unwrap_or_default() {
            props.insert(g.property_group_id().to_string(), g.property_map().iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        let run = &props["kinesis.analytics.flink.run.options"];
        assert_eq!(run.get("python").map(String::as_str), Some("main.py"));
        assert_eq!(run.get("jarfile").map(String::as_str), Some("lib/dummy-connector.jar"));
        let p = &props["PipelineProperties"];
        assert_eq!(p.get("input.stream.arn").map(String::as_str), Some(STREAM_ARN));
        assert_eq!(p.get("aws.region").map(String::as_str), Some("us-east-1"));
        assert_eq!(p.get("output.delivery.stream").map(String::as_str), Some("processed-sensor-data"));
        assert_eq!(p.get("input.starting.position").map(String::as_str), Some("TRIM_HORIZON"));
        (loc.file_key().to_string(), props)
    });

    // The artifact: main.py at the root, the SQL and the jar where the properties say.
    let zip = lab.stack.block_on(async {
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .expect("artifact in the bucket");
        o.body.collect().await.expect("body").into_bytes().to_vec()
    });
    let entries = labctl::artifact::entries(&zip).expect("a zip");
    let sql_path = &props["PipelineProperties"]["sql.file"];
    let jar_path = &props["kinesis.analytics.flink.run.options"]["jarfile"];
    assert_eq!(
        entries.keys().cloned().collect::<Vec<_>>(),
        vec![jar_path.clone(), "main.py".to_string(), sql_path.clone()]
    );
    assert_eq!(entries[jar_path], dummy_jar());
    let sql = std::fs::read(lab.stack.dir.path().join("sql/aggregate.flink.sql")).expect("sql");
    assert_eq!(entries[sql_path], sql);

    // main.py, run by Python on the unpacked zip with these very properties, fills
    // every placeholder of the SQL.
    let work = tempfile::tempdir().expect("tempdir");
    for (p, data) in &entries {
        let f = work.path().join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("dirs");
        std::fs::write(f, data).expect("unpack");
    }
    let groups: Vec<serde_json::Value> = props
        .iter()
        .map(|(g, m)| serde_json::json!({"PropertyGroupId": g, "PropertyMap": m}))
        .collect();
    let props_file = work.path().join("application_properties.json");
    std::fs::write(&props_file, serde_json::to_string(&groups).expect("json")).expect("props");
    let script = r#"
import json, sys, main
props = main.load_properties()
sql = open(props["sql.file"]).read()
out = main.substitute(sql, props)
stmts = main.statements(out)
print(json.dumps({"sql": out, "statements": stmts}))
"#;
    let out = Command::new("python3")
        .current_dir(work.path())
        .args(["-c", script])
        .env("LABCTL_APPLICATION_PROPERTIES", &props_file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let filled = v["sql"].as_str().expect("sql");
    assert!(!filled.contains("${"), "{filled}");
    assert!(
        // The 4.x Kinesis source names the stream (flink/pom.xml, sql/aggregate.flink.sql).
        filled.contains("'stream' = 'sensor-data-stream'"),
        "{filled}"
    );
    assert!(
        filled.contains("'delivery-stream' = 'processed-sensor-data'"),
        "{filled}"
    );
    let stmts: Vec<String> = v["statements"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    assert_eq!(stmts.len(), 3, "{stmts:?}");
    assert!(
        stmts[0].starts_with("CREATE TABLE sensor_readings")
            && stmts[2].starts_with("INSERT INTO processed_sensor_data"),
        "{stmts:?}"
    );

    // A changed SQL file is a new artifact and an in-place update.
    let path = lab.stack.dir.path().join("sql/aggregate.flink.sql");
    let mut text = String::from_utf8(sql).expect("utf-8");
    text.push_str("\n-- changed\n");
    std::fs::write(&path, &text).expect("write");
    let plan = lab.labctl(&["plan"]);
    assert_code(&plan, 0);
    let up = lab.labctl(&["up"]);
    assert_code(&up, 0);
    let new_key = lab.stack.block_on(async {
        let d = v2
            .describe_application()
            .application_name(APP)
            .send()
            .await
            .expect("describe");
        let d = d.application_detail().expect("detail");
        assert_eq!(
            (d.application_status().as_str(), d.application_version_id()),
            ("RUNNING", 2)
        );
        d.application_configuration_description()
            .and_then(|c| c.application_code_configuration_description())
            .and_then(|c| c.code_content_description())
            .and_then(|c| c.s3_application_code_location_description())
            .map(|l| l.file_key().to_string())
            .expect("key")
    });
    assert_ne!(new_key, key);
    let keys = |lab: &Lab| {
        lab.stack.block_on(async {
            let l = s3
                .list_objects_v2()
                .bucket(BUCKET)
                .prefix("code/")
                .send()
                .await
                .expect("list");
            l.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        keys(&lab),
        vec![new_key.clone()],
        "the old artifact is removed"
    );

    let down = lab.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert_eq!(lab.emu.status(Api::V2, "us-east-1", APP), None);
}

#[test]
fn interrupted_down_is_finished_by_a_second_down() {
    let lab = Lab::start(Timing::uniform(Duration::from_millis(200)));
    lab.write(FLINK_APP);
    assert_code(&lab.labctl(&["up"]), 0);
    // Deleting now takes long: `down` deletes a running application as it is
    // (DeleteApplication halts execution) and is killed while it is DELETING.
    lab.emu.set_timing(Timing {
        deleting: Duration::from_secs(4),
        ..Timing::uniform(Duration::from_millis(200))
    });
    let mut child = lab
        .command(&["down", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("down");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lab.emu.status(Api::V2, "us-east-1", APP).as_deref() != Some("DELETING") {
        assert!(
            Instant::now() < deadline,
            "the application never went DELETING"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(
        lab.emu.status(Api::V2, "us-east-1", APP).as_deref(),
        Some("DELETING")
    );
    let second = lab.labctl(&["down", "--yes"]);
    assert_code(&second, 0);
    let err = stderr(&second);
    assert!(
        err.contains("waiting for the application to be gone: DELETING"),
        "{err}"
    );
    assert_eq!(lab.emu.status(Api::V2, "us-east-1", APP), None);
}

#[test]
fn discontinued_sql_service_names_the_switch_to_flink() {
    let lab = Lab::start(Timing::uniform(Duration::from_millis(100)));
    lab.emu.set_sql_discontinued(true);
    lab.write(SQL_APP);
    let up = lab.labctl(&["up"]);
    assert_code(&up, 1);
    let out = format!("{}{}", stdout(&up), stderr(&up));
    assert!(
        out.contains("Kinesis Data Analytics for SQL applications is discontinued"),
        "{out}"
    );
    assert!(
        out.contains("set `applications.analytics.engine: flink`"),
        "{out}"
    );
    assert!(out.contains("sql/aggregate.flink.sql"), "{out}");
    assert_eq!(lab.emu.status(Api::V1, "us-east-1", APP), None);
}
