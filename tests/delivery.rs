//! Delivery streams and their roles against the local stack: every field read back
//! through the SDK, Direct PUT delivery into the bucket, in-place updates, role drift
//! repair, the IAM-propagation retry and a clean `down`.

mod common;

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use common::*;
use serde_json::Value;

const BUCKET: &str = "lab-data-123456789012-us-east-1";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/sensor-data-stream";
const DELIVERY_ROLE: &str = "arn:aws:iam::123456789012:role/labctl/lab-delivery";

const SPEC: &str = r#"
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
roles:
  delivery-role:
    name: lab-delivery
    service: firehose
  analytics-role:
    name: lab-analytics
    service: kinesis-analytics
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
      error_prefix: "errors/raw/!{firehose:error-output-type}/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
    logging:
      log_group: /aws/kinesisfirehose/sensor-data-delivery
      log_stream: DestinationDelivery
  processed:
    name: processed-sensor-data
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
      error_prefix: "errors/processed/!{firehose:error-output-type}/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: gzip
      encryption: bucket-default
applications:
  analytics:
    name: sensor-data-analytics
    engine: kinesis-analytics-sql
    role: analytics-role
    input: {stream: sensor}
    output: {delivery_stream: processed}
    code: sql/app.sql
"#;

fn firehose(stack: &Stack) -> aws_sdk_firehose::Client {
    aws_sdk_firehose::Client::new(&stack.sdk_config())
}

fn iam(stack: &Stack) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&stack.sdk_config())
}

fn decode(doc: &str) -> Value {
    let text = urlencoding::decode(doc).expect("url-encoded").into_owned();
    serde_json::from_str(&text).expect("policy json")
}

/// Every Resource named in a policy, flattened.
fn resources(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy["Statement"].as_array().expect("statements") {
        match &st["Resource"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string))),
            _ => {}
        }
    }
    out.sort();
    out
}

#[test]
fn delivery_streams_and_roles_match_the_spec() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    let fh = firehose(&stack);
    let iam = iam(&stack);
    stack.block_on(async {
        let d = fh.describe_delivery_stream().delivery_stream_name("sensor-data-delivery").send().await.expect("describe raw");
        let d = d.delivery_stream_description().expect("description");
        assert_eq!(d.delivery_stream_status().as_str(), "ACTIVE");
        assert_eq!(d.delivery_stream_type().as_str(), "KinesisStreamAsSource");
        let src = d.source().and_then(|s| s.kinesis_stream_source_description()).expect("kinesis source");
        assert_eq!(src.kinesis_stream_arn(), Some(STREAM_ARN));
        assert_eq!(src.role_arn(), Some(DELIVERY_ROLE));
        let x = d.destinations()[0].extended_s3_destination_description().expect("extended s3");
        assert_eq!(x.role_arn(), DELIVERY_ROLE);
        assert_eq!(x.bucket_arn(), format!("arn:aws:s3:::{BUCKET}"));
        assert_eq!(x.prefix(), Some("raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"));
        assert_eq!(x.error_output_prefix(), Some("errors/raw/!{firehose:error-output-type}/"));
        let b = x.buffering_hints().expect("buffering");
        assert_eq!((b.interval_in_seconds(), b.size_in_mbs()), (Some(60), Some(1)));
        assert_eq!(x.compression_format().as_str(), "UNCOMPRESSED");
        assert!(x.encryption_configuration().and_then(|e| e.no_encryption_config()).is_some());
        let l = x.cloud_watch_logging_options().expect("logging");
        assert_eq!(
            (l.enabled(), l.log_group_name(), l.log_stream_name()),
            (Some(true), Some("/aws/kinesisfirehose/sensor-data-delivery"), Some("DestinationDelivery"))
        );
        let t = fh.list_tags_for_delivery_stream().delivery_stream_name("sensor-data-delivery").send().await.expect("tags");
        assert!(t.tags().iter().any(|t| t.key() == "labctl:pipeline" && t.value() == Some("test-lab")));

        let p = fh.describe_delivery_stream().delivery_stream_name("processed-sensor-data").send().await.expect("describe processed");
        let p = p.delivery_stream_description().expect("description");
        assert_eq!(p.delivery_stream_type().as_str(), "DirectPut");
        let x = p.destinations()[0].extended_s3_destination_description().expect("extended s3");
        assert_eq!(x.prefix(), Some("processed-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"));
        assert_eq!(x.compression_format().as_str(), "GZIP");

        // Roles: trust policies with the account condition, inline policies naming exactly the lab's ARNs.
        let role = iam.get_role().role_name("lab-delivery").send().await.expect("role");
        let trust = decode(role.role().expect("role").assume_role_policy_document().expect("trust"));
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], "firehose.amazonaws.com");
        // Firehose's documented condition (policy::trust_condition).
        assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "123456789012");
        let names = iam.list_role_policies().role_name("lab-delivery").send().await.expect("policies");
        assert_eq!(names.policy_names(), ["labctl-least-privilege"]);
        let pol = iam.get_role_policy().role_name("lab-delivery").policy_name("labctl-least-privilege").send().await.expect("policy");
        let pol = decode(pol.policy_document());
        let mut want = vec![
            STREAM_ARN.to_string(),
            format!("arn:aws:s3:::{BUCKET}"),
            format!("arn:aws:s3:::{BUCKET}/raw-stream/year=*"),
            format!("arn:aws:s3:::{BUCKET}/errors/raw/*"),
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesisfirehose/sensor-data-delivery:log-stream:DestinationDelivery".to_string(),
            format!("arn:aws:s3:::{BUCKET}"),
            format!("arn:aws:s3:::{BUCKET}/processed-stream/year=*"),
            format!("arn:aws:s3:::{BUCKET}/errors/processed/*"),
        ];
        want.sort();
        assert_eq!(resources(&pol), want);
        let actions: Vec<String> = pol["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
        for a in ["kinesis:GetRecords", "kinesis:ListShards", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucketMultipartUploads", "logs:PutLogEvents"] {
            assert!(actions.iter().any(|x| x == a), "missing {a}");
        }

        let role = iam.get_role().role_name("lab-analytics").send().await.expect("analytics role");
        let trust = decode(role.role().expect("role").assume_role_policy_document().expect("trust"));
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], "kinesisanalytics.amazonaws.com");
        assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
        let pol = iam.get_role_policy().role_name("lab-analytics").policy_name("labctl-least-privilege").send().await.expect("policy");
        let pol = decode(pol.policy_document());
        assert_eq!(
            resources(&pol),
            vec!["arn:aws:firehose:us-east-1:123456789012:deliverystream/processed-sensor-data".to_string(), STREAM_ARN.to_string()]
        );
        let tags = iam.list_role_tags().role_name("lab-analytics").send().await.expect("role tags");
        assert!(tags.tags().iter().any(|t| t.key() == "labctl:pipeline" && t.value() == "test-lab"));
    });

    // A batch put into the Direct PUT stream lands in the bucket (the emulator delivers at once).
    let s3 = stack.s3();
    stack.block_on(async {
        let records: Vec<Record> = (0..5)
            .map(|i| {
                Record::builder()
                    .data(Blob::new(format!(
                        "{{\"sensor_id\":\"sensor-00{i}\",\"avg_temperature\":20.5}}\n"
                    )))
                    .build()
                    .expect("record")
            })
            .collect();
        let out = fh
            .put_record_batch()
            .delivery_stream_name("processed-sensor-data")
            .set_records(Some(records))
            .send()
            .await
            .expect("put batch");
        assert_eq!(out.failed_put_count(), 0);
        let list = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("processed-stream/")
            .send()
            .await
            .expect("list");
        let keys: Vec<&str> = list
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| !k.ends_with('/'))
            .collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let body = s3
            .get_object()
            .bucket(BUCKET)
            .key(keys[0])
            .send()
            .await
            .expect("get")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert!(!body.is_empty());
    });

    // down leaves no role, policy, log group or delivery stream behind.
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let list = fh.list_delivery_streams().send().await.expect("list");
        assert!(
            list.delivery_stream_names().is_empty(),
            "{:?}",
            list.delivery_stream_names()
        );
        let roles = iam.list_roles().send().await.expect("roles");
        assert!(
            roles
                .roles()
                .iter()
                .all(|r| !r.role_name().starts_with("lab-")),
            "roles left behind"
        );
        for r in ["lab-delivery", "lab-analytics"] {
            assert!(
                iam.list_role_policies().role_name(r).send().await.is_err(),
                "role {r} still answers"
            );
        }
        let groups = logs.describe_log_groups().send().await.expect("log groups");
        assert!(groups.log_groups().is_empty(), "log groups left behind");
    });
}

#[test]
fn buffering_change_is_an_in_place_update() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    let fh = firehose(&stack);
    let before = stack.block_on(async {
        let d = fh
            .describe_delivery_stream()
            .delivery_stream_name("sensor-data-delivery")
            .send()
            .await
            .expect("describe");
        let d = d.delivery_stream_description().expect("d").clone();
        (
            d.delivery_stream_arn().to_string(),
            d.create_timestamp().map(|t| t.secs()),
        )
    });

    stack.write_spec(&SPEC.replacen(
        "buffering: {interval_seconds: 60, size_mib: 1}",
        "buffering: {interval_seconds: 120, size_mib: 1}",
        1,
    ));
    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let changed: Vec<&Value> = doc["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["action"] != "no-change" && r["action"] != "not-built")
        .collect();
    assert_eq!(changed.len(), 1, "{doc:#}");
    assert_eq!(changed[0]["id"], "raw");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(
        changed[0]["drift"][0]["field"],
        "destination.buffering.interval_seconds"
    );
    assert_eq!(changed[0]["drift"][0]["actual"], "60");
    assert_eq!(changed[0]["drift"][0]["desired"], "120");

    stack.front.clear();
    assert_code(&stack.labctl(&["up"]), 0);
    assert_eq!(stack.front.count("UpdateDestination"), 1);
    assert_eq!(
        stack.front.count("CreateDeliveryStream") + stack.front.count("DeleteDeliveryStream"),
        0
    );
    let after = stack.block_on(async {
        let d = fh
            .describe_delivery_stream()
            .delivery_stream_name("sensor-data-delivery")
            .send()
            .await
            .expect("describe");
        let d = d.delivery_stream_description().expect("d").clone();
        let x = d.destinations()[0]
            .extended_s3_destination_description()
            .expect("s3")
            .clone();
        assert_eq!(
            x.buffering_hints().and_then(|b| b.interval_in_seconds()),
            Some(120)
        );
        (
            d.delivery_stream_arn().to_string(),
            d.create_timestamp().map(|t| t.secs()),
        )
    });
    assert_eq!(
        before, after,
        "same ARN and creation time: updated, not recreated"
    );
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, 0);
    assert!(!stdout(&plan).contains(" update "), "{}", stdout(&plan));
}

#[test]
fn role_drift_is_reported_and_repaired() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    let iam = iam(&stack);
    stack.block_on(async {
        let pol = iam.get_role_policy().role_name("lab-delivery").policy_name("labctl-least-privilege").send().await.expect("policy");
        let mut doc = decode(pol.policy_document());
        doc["Statement"].as_array_mut().expect("statements").push(serde_json::json!({"Effect": "Allow", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}));
        iam.put_role_policy().role_name("lab-delivery").policy_name("labctl-least-privilege").policy_document(doc.to_string()).send().await.expect("tamper");
    });
    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 3);
    let doc = json(&status);
    let row = doc["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == "delivery-role")
        .expect("row")
        .clone();
    assert_eq!(row["action"], "drift");
    assert_eq!(row["drift"][0]["field"], "policy");

    assert_code(&stack.labctl(&["up"]), 0);
    assert_code(&stack.labctl(&["status"]), 4); // as declared; checks pending (nothing produced): exit 4
    stack.block_on(async {
        let pol = iam
            .get_role_policy()
            .role_name("lab-delivery")
            .policy_name("labctl-least-privilege")
            .send()
            .await
            .expect("policy");
        assert!(!pol.policy_document().contains("DeleteBucket"));
    });
}

const PROPAGATION: &str = "Firehose is unable to assume role arn:aws:iam::123456789012:role/labctl/lab-delivery. Please check the role provided.";

#[test]
fn iam_propagation_errors_are_retried_and_only_those() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    // Three propagation refusals, then the emulator answers.
    stack.front.inject(
        "CreateDeliveryStream",
        3,
        400,
        "InvalidArgumentException",
        PROPAGATION,
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(
        stderr(&up).contains("IAM is propagating"),
        "{}",
        stderr(&up)
    );
    // 2 streams: 3 refused attempts plus one successful create each.
    assert_eq!(stack.front.count("CreateDeliveryStream"), 5);
    assert_code(&stack.labctl(&["down", "--yes"]), 0);

    // Any other validation error is not retried.
    stack.front.clear();
    stack.front.inject(
        "CreateDeliveryStream",
        1,
        400,
        "InvalidArgumentException",
        "BufferingHints.SizeInMBs is invalid",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    assert!(
        stdout(&up).contains("BufferingHints.SizeInMBs is invalid"),
        "{}",
        stdout(&up)
    );
    assert!(!stderr(&up).contains("IAM is propagating"));
    // One refused (not retried) plus the other stream's create.
    assert_eq!(stack.front.count("CreateDeliveryStream"), 2);
}

#[test]
fn iam_propagation_retry_gives_up_at_its_bound() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    stack.front.inject(
        "CreateDeliveryStream",
        1000,
        400,
        "InvalidArgumentException",
        PROPAGATION,
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args([
            "up",
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("LABCTL_IAM_PROPAGATION_SECONDS", "3")
        .output()
        .expect("run");
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "Firehose still cannot use role arn:aws:iam::123456789012:role/labctl/lab-delivery after"
        ),
        "{text}"
    );
    assert!(text.contains("run `labctl up` again"), "{text}");
    assert!(stack.front.count("CreateDeliveryStream") >= 4);
}

#[test]
fn creating_failed_is_reported_with_aws_reason() {
    let stack = Stack::start();
    // One delivery stream, so the describes are in a known order: the plan and the
    // execution each observe it (not found), then the wait after the create.
    let spec = r#"
version: 1
pipeline: test-lab
buckets:
  data: {name: "lab-data-${account_id}-${region}"}
roles:
  delivery-role: {name: lab-delivery, service: firehose}
delivery_streams:
  processed:
    name: processed-sensor-data
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#;
    stack.write_spec(spec);
    let failed = serde_json::json!({"DeliveryStreamDescription": {
        "DeliveryStreamName": "processed-sensor-data",
        "DeliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/processed-sensor-data",
        "DeliveryStreamStatus": "CREATING_FAILED",
        "FailureDescription": {"Type": "UNKNOWN_ERROR", "Details": "Access was denied to the destination bucket"},
        "DeliveryStreamType": "DirectPut",
        "VersionId": "1",
        "Destinations": [],
        "HasMoreDestinations": false
    }});
    stack.front.answer("DescribeDeliveryStream", 2, 50, &failed);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    let text = stdout(&up);
    assert!(
        text.contains(
            "is CREATING_FAILED (UNKNOWN_ERROR: Access was denied to the destination bucket)"
        ) && text.contains("run `labctl up` again to replace it"),
        "{text}"
    );
    stack.front.clear_injections();
    assert_code(&stack.labctl(&["up"]), 0);
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
}
