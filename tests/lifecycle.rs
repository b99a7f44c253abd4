//! The foundation's life cycle against a real local stack: up, status, idempotent up,
//! down, down again; emptying a bucket with versions; leaving other owners' resources alone.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::*;

const BUCKET: &str = "lab-data-123456789012-us-east-1";

#[test]
fn up_status_up_down_down() {
    let stack = Stack::start();
    stack.write_spec(BASIC);

    let up = stack.labctl(&["up", "--output", "json"]);
    assert_code(&up, 0);
    let report = json(&up);
    let actions: Vec<(String, String)> = report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("data".to_string(), "create".to_string()),
            ("sensor".to_string(), "create".to_string())
        ]
    );

    // Checked through the SDK, not through labctl.
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    stack.block_on(async {
        let tags = s3
            .get_bucket_tagging()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket tags");
        assert!(tags
            .tag_set()
            .iter()
            .any(|t| t.key() == "labctl:pipeline" && t.value() == "test-lab"));
        assert!(tags
            .tag_set()
            .iter()
            .any(|t| t.key() == "course" && t.value() == "lab-1.2"));
        let enc = s3
            .get_bucket_encryption()
            .bucket(BUCKET)
            .send()
            .await
            .expect("encryption");
        let rule = enc
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .expect("a rule");
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .map(|d| d.sse_algorithm().as_str()),
            Some("AES256")
        );
        let pab = s3
            .get_public_access_block()
            .bucket(BUCKET)
            .send()
            .await
            .expect("public access block");
        let c = pab.public_access_block_configuration().expect("config");
        assert_eq!(
            (
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        for f in ["raw-stream/", "processed-stream/"] {
            s3.head_object()
                .bucket(BUCKET)
                .key(f)
                .send()
                .await
                .unwrap_or_else(|e| panic!("folder {f}: {e:?}"));
        }
        let d = kinesis
            .describe_stream_summary()
            .stream_name("sensor-data-stream")
            .send()
            .await
            .expect("stream");
        let d = d.stream_description_summary().expect("summary");
        assert_eq!(d.stream_status().as_str(), "ACTIVE");
        assert_eq!(
            d.stream_mode_details().map(|m| m.stream_mode().as_str()),
            Some("ON_DEMAND")
        );
        assert_eq!(d.retention_period_hours(), 48);
        let t = kinesis
            .list_tags_for_stream()
            .stream_name("sensor-data-stream")
            .send()
            .await
            .expect("tags");
        assert!(t
            .tags()
            .iter()
            .any(|t| t.key() == "labctl:pipeline" && t.value() == Some("test-lab")));
    });

    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 4); // as declared; checks pending (nothing produced): exit 4
    assert!(json(&status)["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r["action"] == "ok"));

    stack.front.clear();
    let again = stack.labctl(&["up"]);
    assert_code(&again, 0);
    assert!(stdout(&again).contains("2 no-change"), "{}", stdout(&again));
    assert_eq!(
        stack.front.mutating(),
        vec![],
        "a second up must not change anything"
    );
    assert!(
        !stack.front.requests().is_empty(),
        "the second up did observe through the front"
    );

    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    stack.block_on(async {
        let head = s3.head_bucket().bucket(BUCKET).send().await;
        assert!(head.is_err(), "bucket still exists after down");
        let d = kinesis
            .describe_stream_summary()
            .stream_name("sensor-data-stream")
            .send()
            .await;
        assert!(d.is_err(), "stream still exists after down");
    });

    let down2 = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down2, 0);
    assert!(json(&down2)["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r["action"] == "absent"));
}

#[test]
fn status_reports_drift_and_up_repairs_it() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    assert_code(&stack.labctl(&["up"]), 0);
    let kinesis = stack.kinesis();
    stack.block_on(async {
        kinesis
            .increase_stream_retention_period()
            .stream_name("sensor-data-stream")
            .retention_period_hours(72)
            .send()
            .await
            .expect("change retention");
    });
    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 3);
    let doc = json(&status);
    let row = doc["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == "sensor")
        .expect("sensor row")
        .clone();
    assert_eq!(row["action"], "drift");
    assert_eq!(row["drift"][0]["field"], "retention_hours");
    assert_eq!(row["drift"][0]["actual"], "72");
    assert_eq!(row["drift"][0]["desired"], "48");

    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, 0);
    assert!(
        stdout(&plan).contains("retention_hours: 72 -> 48"),
        "{}",
        stdout(&plan)
    );
    assert_code(&stack.labctl(&["up"]), 0);
    assert_code(&stack.labctl(&["status"]), 4); // as declared; checks pending (nothing produced): exit 4
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
}

#[test]
fn down_empties_a_bucket_with_versions() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    assert_code(&stack.labctl(&["up"]), 0);
    let s3 = stack.s3();
    stack.block_on(async {
        s3.put_bucket_versioning()
            .bucket(BUCKET)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
        for i in 0..1205 {
            let key = format!("raw-stream/obj-{}", i % 600);
            s3.put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(vec![b'x'; 10]))
                .send()
                .await
                .expect("put");
        }
        s3.delete_object()
            .bucket(BUCKET)
            .key("raw-stream/obj-1")
            .send()
            .await
            .expect("delete marker");
        let v = s3
            .list_object_versions()
            .bucket(BUCKET)
            .send()
            .await
            .expect("versions");
        assert!(
            v.is_truncated() == Some(true),
            "more than one page of versions"
        );
    });
    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    stack.block_on(async {
        assert!(
            s3.head_bucket().bucket(BUCKET).send().await.is_err(),
            "bucket still exists"
        );
    });
}

#[test]
fn foreign_resources_are_never_touched() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    stack.block_on(async {
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("foreign bucket");
        kinesis
            .create_stream()
            .stream_name("sensor-data-stream")
            .shard_count(1)
            .send()
            .await
            .expect("foreign stream");
    });
    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    assert!(
        stdout(&up).contains("without the tag labctl:pipeline"),
        "{}",
        stdout(&up)
    );
    assert_eq!(
        stack.front.mutating(),
        vec![],
        "up changed a resource it does not own"
    );

    let status = stack.labctl(&["status"]);
    assert_code(&status, 3);
    assert!(stdout(&status).contains("not-ours"));

    stack.front.clear();
    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert!(stdout(&down).contains("left-alone"));
    assert_eq!(
        stack.front.mutating(),
        vec![],
        "down changed a resource it does not own"
    );
    stack.block_on(async {
        s3.head_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("foreign bucket still there");
        kinesis
            .describe_stream_summary()
            .stream_name("sensor-data-stream")
            .send()
            .await
            .expect("foreign stream still there");
    });
}

#[test]
fn local_without_a_stack_says_how_to_start_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), BASIC).expect("spec");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir.path())
        .args(["--local", "status"])
        .env("LABCTL_LOCAL_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .expect("run");
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("nothing answers at") && err.contains("scripts/local-stack start"),
        "{err}"
    );
}

#[test]
fn adopt_takes_over_untagged_resources_after_saying_what_changes() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    stack.block_on(async {
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket");
        kinesis
            .create_stream()
            .stream_name("sensor-data-stream")
            .shard_count(1)
            .send()
            .await
            .expect("stream");
        // Someone else's: tagged for another pipeline. Never adopted.
    });
    let plan = stack.labctl(&["plan", "--adopt", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let rows = doc["resources"].as_array().expect("rows");
    let stream = rows
        .iter()
        .find(|r| r["id"] == "sensor")
        .expect("stream row");
    assert_eq!(stream["action"], "adopt");
    let fields: Vec<&str> = stream["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"mode") && fields.contains(&"retention_hours") && fields.contains(&"tags"),
        "{fields:?}"
    );

    let up = stack.labctl(&["up", "--adopt", "--yes"]);
    assert_code(&up, 0);
    let err = stderr(&up);
    assert!(
        err.contains("adopting (--adopt): ") && err.contains("mode: PROVISIONED -> ON_DEMAND"),
        "{err}"
    );
    assert_code(&stack.labctl(&["status"]), 4); // as declared; checks pending (nothing produced): exit 4
    stack.block_on(async {
        let tags = s3
            .get_bucket_tagging()
            .bucket(BUCKET)
            .send()
            .await
            .expect("tags");
        assert!(tags
            .tag_set()
            .iter()
            .any(|t| t.key() == "labctl:pipeline" && t.value() == "test-lab"));
    });
    assert_code(&stack.labctl(&["down", "--yes"]), 0);

    // A resource tagged for another pipeline is never adopted.
    stack.block_on(async {
        kinesis
            .create_stream()
            .stream_name("sensor-data-stream")
            .shard_count(1)
            .send()
            .await
            .expect("stream");
        kinesis
            .add_tags_to_stream()
            .stream_name("sensor-data-stream")
            .tags("labctl:pipeline", "someone-else")
            .send()
            .await
            .expect("tag");
    });
    stack.front.clear();
    let up = stack.labctl(&["up", "--adopt"]);
    assert_code(&up, 1);
    assert!(
        stdout(&up).contains("belongs to the labctl pipeline `someone-else`"),
        "{}",
        stdout(&up)
    );
    assert!(
        stack
            .front
            .mutating()
            .iter()
            .all(|r| r.service != "kinesis"),
        "touched the other pipeline's stream"
    );
}
