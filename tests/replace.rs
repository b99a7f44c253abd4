//! The replace path: a delivery stream AWS cannot change in place (one left in
//! CREATING_FAILED, one whose source changed) and a Flink application without its
//! CloudWatch logging option are shown as `replace` by `plan` first, then `up` makes
//! exactly one delete and one create of that resource (counted at the front), and the
//! final state is read back from the endpoint.

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

fn kav2_client(stack: &Stack) -> aws_sdk_kinesisanalyticsv2::Client {
    // The applications live in the front's emulator.
    let cfg = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    aws_sdk_kinesisanalyticsv2::Client::from_conf(cfg)
}

#[test]
fn a_flink_application_without_its_logging_option_is_replaced() {
    use aws_sdk_kinesisanalyticsv2::types as kav2;
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&flink_lab("rl"));
    assert_code(&stack.labctl(&["up"]), 0);
    // The application made again, ours (tagged) but without CloudWatch logging: its
    // logging option cannot be added in labctl's update, so up replaces it.
    let client = kav2_client(&stack);
    let name = "sensor-data-analytics";
    stack.block_on(async {
        let d = client
            .describe_application()
            .application_name(name)
            .send()
            .await
            .expect("describe");
        let d = d.application_detail().expect("detail");
        if d.application_status().as_str() == "RUNNING" {
            client
                .stop_application()
                .application_name(name)
                .force(true)
                .send()
                .await
                .expect("stop");
        }
        for _ in 0..200 {
            let s = client
                .describe_application()
                .application_name(name)
                .send()
                .await
                .expect("describe");
            if s.application_detail()
                .is_some_and(|d| d.application_status().as_str() == "READY")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let d = client
            .describe_application()
            .application_name(name)
            .send()
            .await
            .expect("describe");
        let d = d.application_detail().expect("detail");
        client
            .delete_application()
            .application_name(name)
            .set_create_timestamp(d.create_timestamp().cloned())
            .send()
            .await
            .expect("delete");
        for _ in 0..600 {
            let gone = client
                .describe_application()
                .application_name(name)
                .send()
                .await
                .is_err();
            if gone {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let code = kav2::ApplicationCodeConfiguration::builder()
            .code_content_type(kav2::CodeContentType::Zipfile)
            .code_content(
                kav2::CodeContent::builder()
                    .s3_content_location(
                        kav2::S3ContentLocation::builder()
                            .bucket_arn("arn:aws:s3:::rl-data-123456789012-us-east-1")
                            .file_key("code/old.zip")
                            .build()
                            .expect("location"),
                    )
                    .build(),
            )
            .build()
            .expect("code");
        client
            .create_application()
            .application_name(name)
            .runtime_environment(kav2::RuntimeEnvironment::Flink120)
            .service_execution_role("arn:aws:iam::123456789012:role/labctl/rl-analytics")
            .application_configuration(
                kav2::ApplicationConfiguration::builder()
                    .application_code_configuration(code)
                    .build(),
            )
            .tags(
                kav2::Tag::builder()
                    .key("labctl:pipeline")
                    .value("rl-lab")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("create");
    });
    let row = plan_row(&stack, "analytics");
    assert_eq!(row["action"], "replace", "{row:#}");
    assert!(row["drift"].to_string().contains("logging"), "{row:#}");

    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert_eq!(
        (
            stack.front.count("DeleteApplication"),
            stack.front.count("CreateApplication")
        ),
        (1, 1),
        "one delete and one create of the application"
    );
    let logging = stack.block_on(async {
        let d = client
            .describe_application()
            .application_name(name)
            .send()
            .await
            .expect("describe");
        d.application_detail()
            .map(|d| {
                d.cloud_watch_logging_option_descriptions()
                    .iter()
                    .map(|l| l.log_stream_arn().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
    assert_eq!(
        logging,
        ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/rl:log-stream:app-log"]
    );
    assert_eq!(plan_row(&stack, "analytics")["action"], "no-change");
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
}
