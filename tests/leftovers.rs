//! `labctl leftovers` and the check at the end of `down`, on the local stack.

mod common;

use common::*;
use serde_json::Value;

const A: &str = r#"
version: 1
pipeline: lab-a
buckets:
  data: {name: "a-data-${account_id}-${region}"}
streams:
  sensor: {name: a-stream, mode: on-demand}
roles:
  delivery-role: {name: a-delivery, service: firehose}
delivery_streams:
  raw:
    name: a-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
    logging: {log_group: /aws/kinesisfirehose/a-delivery, log_stream: DestinationDelivery}
dashboards:
  dashboard: {name: A-Dashboard}
alarms:
  iterator: {name: a-iterator-age, metric: iterator-age, target: sensor, threshold: 60000, topic: alerts}
topics:
  alerts: {name: a-alarms}
"#;

const B: &str = r#"
version: 1
pipeline: lab-b
streams:
  sensor: {name: b-stream, mode: on-demand}
"#;

fn names(doc: &Value, pipeline: &str) -> Vec<String> {
    let mut v: Vec<String> = doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["pipeline"] == pipeline)
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn finds_every_pipeline_and_deletes_one() {
    let stack = Stack::start();
    stack.write_spec(A);
    assert_code(&stack.labctl(&["up"]), 0);
    let b_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(b_dir.path().join("pipeline.yaml"), B).expect("spec b");
    assert_code(&stack.labctl_in(b_dir.path(), &["up"]), 0);

    let out = stack.labctl(&["leftovers", "--output", "json"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(
        names(&doc, "lab-a"),
        vec![
            "alarm a-iterator-age",
            "bucket a-data-123456789012-us-east-1",
            "dashboard A-Dashboard",
            "delivery-stream a-delivery",
            "log-group /aws/kinesisfirehose/a-delivery",
            "role a-delivery",
            "stream a-stream",
            "topic a-alarms",
        ]
    );
    assert_eq!(names(&doc, "lab-b"), vec!["stream b-stream"]);
    let stream = doc["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["name"] == "a-stream")
        .expect("stream")
        .clone();
    assert_eq!(stream["usd_per_hour"], 0.04);
    assert!(stream["age_seconds"].as_u64().is_some());

    // Without --yes on a non-terminal, --delete refuses before any change.
    stack.front.clear();
    assert_code(&stack.labctl(&["leftovers", "--delete"]), 2);
    assert_eq!(stack.front.mutating(), vec![]);

    let del = stack.labctl(&[
        "leftovers",
        "--pipeline",
        "lab-a",
        "--delete",
        "--yes",
        "--output",
        "json",
    ]);
    assert_code(&del, 0);
    let after = json(&stack.labctl(&["leftovers", "--output", "json"]));
    assert_eq!(names(&after, "lab-a"), Vec::<String>::new());
    assert_eq!(names(&after, "lab-b"), vec!["stream b-stream"]);
    let (s3, k) = (stack.s3(), stack.kinesis());
    stack.block_on(async {
        assert!(s3
            .list_buckets()
            .send()
            .await
            .expect("buckets")
            .buckets()
            .is_empty());
        assert_eq!(
            k.list_streams()
                .send()
                .await
                .expect("streams")
                .stream_names(),
            ["b-stream"]
        );
    });
}

#[test]
fn down_deletes_what_still_carries_the_tag() {
    let stack = Stack::start();
    stack.write_spec(B);
    assert_code(&stack.labctl(&["up"]), 0);
    // Something of this pipeline that the spec no longer declares.
    let k = stack.kinesis();
    stack.block_on(async {
        k.create_stream()
            .stream_name("old-b-stream")
            .shard_count(1)
            .send()
            .await
            .expect("create");
        k.add_tags_to_stream()
            .stream_name("old-b-stream")
            .tags("labctl:pipeline", "lab-b")
            .send()
            .await
            .expect("tag");
    });
    // down deletes it too (pruning, issue 16): it is listed as deleted, and nothing remains.
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    let pruned = doc["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "old-b-stream")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(pruned["action"], "delete", "{doc:#}");
    assert!(
        doc["remaining"].as_array().expect("remaining").is_empty(),
        "{doc:#}"
    );
    stack.block_on(async {
        assert!(k
            .list_streams()
            .send()
            .await
            .expect("streams")
            .stream_names()
            .is_empty());
    });
    let clean = stack.labctl(&["down", "--yes"]);
    assert_code(&clean, 0);
    assert!(
        stdout(&clean)
            .contains("checked: nothing tagged labctl:pipeline=lab-b remains in us-east-1"),
        "{}",
        stdout(&clean)
    );
}
