//! A resource that appears between `up`'s observation and its create, made by someone
//! else, is never taken over (issue 18): the create's "already exists" answer is
//! followed by a look at the ownership tag, and a resource that is not this pipeline's
//! is left as it was (not tagged, configured or started) and not recorded as labctl's
//! in the create journal, so a later `down` leaves it too.
//!
//! The race is staged without timing: the foreign resource is made first, directly at
//! the endpoint and untagged, and the front answers labctl's describes of it with
//! ResourceNotFoundException (as AWS answers before it exists) until the create has run.
//! Everything asserted is read back from the endpoint.

mod common;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    ExtendedS3DestinationConfiguration, NoEncryptionConfig,
};
use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};
use common::*;

const TAG: &str = "labctl:pipeline";

/// `up` through the front with `describe` answered "not found" `times` times; exit 1
/// and the refusal named.
fn up_refused(stack: &Stack, describe: &str, times: usize, kind: &str, name: &str) {
    stack.front.inject(
        describe,
        times,
        400,
        "ResourceNotFoundException",
        "not found",
    );
    let up = stack.labctl(&["up"]);
    stack.front.clear_injections();
    assert_code(&up, 1);
    let said = format!("{}{}", stdout(&up), stderr(&up));
    assert!(
        said.contains(&format!(
            "{kind} {name} already existed when labctl created it"
        )),
        "{said}"
    );
}

#[test]
fn a_stream_made_by_someone_else_during_up_is_left_alone() {
    let stack = Stack::start();
    stack.write_spec(
        "version: 1\npipeline: race-lab\nstreams:\n  sensor: {name: race-stream, mode: on-demand, retention_hours: 48}\n",
    );
    let kinesis = stack.kinesis();
    let tags = |k: &aws_sdk_kinesis::Client| {
        stack.block_on(async {
            let t = k
                .list_tags_for_stream()
                .stream_name("race-stream")
                .send()
                .await
                .expect("tags of the foreign stream");
            let r = k
                .describe_stream_summary()
                .stream_name("race-stream")
                .send()
                .await
                .expect("the foreign stream");
            (
                t.tags()
                    .iter()
                    .map(|t| t.key().to_string())
                    .collect::<Vec<_>>(),
                r.stream_description_summary()
                    .map(|s| s.retention_period_hours()),
            )
        })
    };
    stack.block_on(async {
        kinesis
            .create_stream()
            .stream_name("race-stream")
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::OnDemand)
                    .build()
                    .expect("mode"),
            )
            .send()
            .await
            .expect("foreign stream");
    });
    let before = tags(&kinesis);
    up_refused(&stack, "DescribeStreamSummary", 20, "stream", "race-stream");
    let after = tags(&kinesis);
    assert!(!after.0.iter().any(|k| k == TAG), "tagged: {after:?}");
    assert_eq!(before, after, "the foreign stream was changed");
    assert_eq!(
        stack.front.count("AddTagsToStream") + stack.front.count("IncreaseStreamRetentionPeriod"),
        0
    );

    // Not vouched for by the journal: `down` leaves it.
    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert_eq!(
        tags(&kinesis),
        after,
        "down changed or deleted the foreign stream"
    );
}

#[test]
fn a_delivery_stream_made_by_someone_else_during_up_is_left_alone() {
    let stack = Stack::start();
    stack.write_spec(
        r#"version: 1
pipeline: race-lab
buckets:
  data: {name: "race-data-${account_id}"}
roles:
  delivery-role: {name: race-delivery, service: firehose}
delivery_streams:
  raw:
    name: race-delivery-stream
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw/"
      error_prefix: "errors/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#,
    );
    let firehose = aws_sdk_firehose::Client::new(&stack.sdk_config());
    let seen = || {
        stack.block_on(async {
            let t = firehose
                .list_tags_for_delivery_stream()
                .delivery_stream_name("race-delivery-stream")
                .send()
                .await
                .expect("tags of the foreign delivery stream");
            let d = firehose
                .describe_delivery_stream()
                .delivery_stream_name("race-delivery-stream")
                .send()
                .await
                .expect("the foreign delivery stream");
            (
                t.tags()
                    .iter()
                    .map(|t| t.key().to_string())
                    .collect::<Vec<_>>(),
                d.delivery_stream_description()
                    .map(|d| d.version_id().to_string()),
            )
        })
    };
    stack.block_on(async {
        firehose
            .create_delivery_stream()
            .delivery_stream_name("race-delivery-stream")
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn("arn:aws:iam::123456789012:role/someone-else")
                    .bucket_arn("arn:aws:s3:::someone-elses-bucket")
                    .prefix("theirs/")
                    .buffering_hints(
                        BufferingHints::builder()
                            .interval_in_seconds(300)
                            .size_in_mbs(5)
                            .build(),
                    )
                    .compression_format(CompressionFormat::Uncompressed)
                    .encryption_configuration(
                        EncryptionConfiguration::builder()
                            .no_encryption_config(NoEncryptionConfig::NoEncryption)
                            .build(),
                    )
                    .build()
                    .expect("destination"),
            )
            .send()
            .await
            .expect("foreign delivery stream");
    });
    let before = seen();
    up_refused(
        &stack,
        "DescribeDeliveryStream",
        20,
        "delivery-stream",
        "race-delivery-stream",
    );
    let after = seen();
    assert!(!after.0.iter().any(|k| k == TAG), "tagged: {after:?}");
    assert_eq!(before, after, "the foreign delivery stream was changed");
    assert_eq!(
        stack.front.count("TagDeliveryStream") + stack.front.count("UpdateDestination"),
        0
    );

    let down = stack.labctl(&["down", "--yes"]);
    assert_code(&down, 0);
    assert_eq!(
        seen(),
        after,
        "down changed or deleted the foreign delivery stream"
    );
}
