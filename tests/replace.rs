//! The replace path: a delivery stream AWS cannot change in place (one left in
//! CREATING_FAILED, one whose source changed) is shown as `replace` by `plan` first, then
//! `up` makes exactly one DeleteDeliveryStream and one CreateDeliveryStream for it
//! (counted at the front), and the final state is read back from the endpoint.

mod common;

use common::*;
use serde_json::Value;

const SPEC: &str = r#"
version: 1
pipeline: replace-lab
buckets:
  data: {name: "replace-data-${account_id}-${region}"}
streams:
  sensor: {name: replace-sensor-stream, mode: on-demand}
roles:
  delivery-role: {name: replace-delivery, service: firehose}
delivery_streams:
  processed:
    name: replace-processed
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#;

/// The `plan --output json` row of `id`.
fn plan_row(stack: &Stack, id: &str) -> Value {
    let plan = stack.labctl(&["plan", "--output", "json"]);
    let doc = json(&plan);
    doc["resources"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == id).cloned())
        .unwrap_or_else(|| panic!("no row {id}: {doc:#}"))
}

/// The delivery stream as the endpoint (moto, directly) holds it: status, source type,
/// source stream ARN, and the ownership tag.
fn read_back(stack: &Stack) -> (String, String, Option<String>, Option<String>) {
    let firehose = aws_sdk_firehose::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let d = firehose
            .describe_delivery_stream()
            .delivery_stream_name("replace-processed")
            .send()
            .await
            .expect("the delivery stream exists");
        let d = d.delivery_stream_description().expect("description");
        let tags = firehose
            .list_tags_for_delivery_stream()
            .delivery_stream_name("replace-processed")
            .send()
            .await
            .expect("tags");
        let owner = tags
            .tags()
            .iter()
            .find(|t| t.key() == "labctl:pipeline")
            .and_then(|t| t.value().map(str::to_string));
        let source = d
            .source()
            .and_then(|s| s.kinesis_stream_source_description())
            .and_then(|k| k.kinesis_stream_arn().map(str::to_string));
        (
            d.delivery_stream_status().as_str().to_string(),
            d.delivery_stream_type().as_str().to_string(),
            source,
            owner,
        )
    })
}

/// Exactly one delete and one create of the delivery stream in the front's log.
#[track_caller]
fn one_delete_one_create(stack: &Stack) {
    let ops: Vec<String> = stack
        .front
        .mutating()
        .into_iter()
        .filter(|r| r.service == "firehose")
        .map(|r| r.operation)
        .collect();
    assert_eq!(
        ops,
        ["DeleteDeliveryStream", "CreateDeliveryStream"],
        "the delivery stream's mutating requests"
    );
}

#[test]
fn a_delivery_stream_in_creating_failed_is_replaced() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    // From now on the endpoint answers it as CREATING_FAILED, until it is deleted.
    stack.front.delivery().fail_creation(
        "replace-processed",
        "UNKNOWN_ERROR",
        "Access was denied to the destination bucket",
    );
    let row = plan_row(&stack, "processed");
    assert_eq!(row["action"], "replace", "{row:#}");
    assert!(
        row["drift"].to_string().contains("CREATING_FAILED"),
        "{row:#}"
    );
    // plan asked again: still failed (the front keeps answering it until the delete).
    assert_eq!(plan_row(&stack, "processed")["action"], "replace");

    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    one_delete_one_create(&stack);
    let (status, kind, _, owner) = read_back(&stack);
    assert_eq!(status, "ACTIVE");
    assert_eq!(kind, "DirectPut");
    assert_eq!(owner.as_deref(), Some("replace-lab"));
    assert_eq!(plan_row(&stack, "processed")["action"], "no-change");
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
}

#[test]
fn a_delivery_stream_whose_source_changed_is_replaced() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    let (_, kind, _, _) = read_back(&stack);
    assert_eq!(kind, "DirectPut");

    stack.write_spec(&SPEC.replace(
        "source: {type: direct-put}",
        "source: {type: kinesis-stream, stream: sensor}",
    ));
    let row = plan_row(&stack, "processed");
    assert_eq!(row["action"], "replace", "{row:#}");
    assert!(row["drift"].to_string().contains("source.type"), "{row:#}");

    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    one_delete_one_create(&stack);
    let (status, kind, source, owner) = read_back(&stack);
    assert_eq!(status, "ACTIVE");
    assert_eq!(kind, "KinesisStreamAsSource");
    assert_eq!(
        source.as_deref(),
        Some("arn:aws:kinesis:us-east-1:123456789012:stream/replace-sensor-stream")
    );
    assert_eq!(owner.as_deref(), Some("replace-lab"));
    assert_eq!(plan_row(&stack, "processed")["action"], "no-change");
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
}
