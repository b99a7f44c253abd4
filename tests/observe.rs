//! Observing the pipeline on the local stack: the dashboard's widgets, the alarms'
//! thresholds, and each data-flow check passing, failing and pending in the right
//! situations, driven by records, objects and alarm states put into the stack.

mod common;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::Value;

const BUCKET: &str = "lab-data-123456789012-us-east-1";

const SPEC: &str = r#"
version: 1
pipeline: test-lab
buckets:
  data:
    name: lab-data-${account_id}-${region}
streams:
  sensor:
    name: sensor-data-stream
    mode: on-demand
roles:
  delivery-role: {name: lab-delivery, service: firehose}
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/year=!{timestamp:yyyy}/"
      error_prefix: "errors/!{firehose:error-output-type}/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
dashboards:
  dashboard: {name: Streaming-Pipeline-Dashboard}
alarms:
  freshness:
    name: lab-freshness
    metric: delivery-freshness
    target: raw
    threshold: 900
    period_seconds: 300
    topic: alerts
  iterator:
    name: lab-iterator-age
    metric: iterator-age
    target: sensor
    threshold: 60000
topics:
  alerts: {name: lab-alarms}
"#;

/// `status` with aggregates landed but nothing flowing through the stream: nothing failed,
/// the lab is not yet validated (exit 4).
const AGGREGATES_LANDED: i32 = 4;

/// Validate a report against docs/status.schema.json.
#[track_caller]
fn assert_schema(doc: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../docs/status.schema.json")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/status.schema.json: {errors:#?}\n{doc:#}"
    );
}

fn checks(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["step"].to_string(),
                c["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn check(doc: &Value, step: u64) -> Value {
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["step"] == step)
        .cloned()
        .expect("the check")
}

#[test]
fn dashboard_and_alarms_match_the_spec_and_down_removes_them() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    let cw = stack.cloudwatch();
    stack.block_on(async {
        let d = cw
            .get_dashboard()
            .dashboard_name("Streaming-Pipeline-Dashboard")
            .send()
            .await
            .expect("dashboard");
        let body: Value = serde_json::from_str(d.dashboard_body().expect("body")).expect("json");
        let text = body.to_string();
        for metric in [
            "IncomingRecords",
            "PutRecord.Success",
            "PutRecords.SuccessfulRecords",
            "GetRecords.Success",
            "GetRecords.IteratorAgeMilliseconds",
            "WriteProvisionedThroughputExceeded",
            "DeliveryToS3.Success",
            "DeliveryToS3.DataFreshness",
            "DeliveryToS3.Records",
        ] {
            assert!(
                text.contains(&format!("\"{metric}\"")),
                "dashboard lacks {metric}"
            );
        }
        assert!(
            text.contains("\"sensor-data-stream\"") && text.contains("\"sensor-data-delivery\"")
        );
        assert!(text.contains("labctl:pipeline=test-lab"));

        let alarms = cw
            .describe_alarms()
            .alarm_names("lab-freshness")
            .alarm_names("lab-iterator-age")
            .send()
            .await
            .expect("alarms");
        let a = alarms.metric_alarms();
        assert_eq!(a.len(), 2);
        let f = a
            .iter()
            .find(|x| x.alarm_name() == Some("lab-freshness"))
            .expect("freshness");
        assert_eq!(
            (f.metric_name(), f.threshold(), f.period()),
            (Some("DeliveryToS3.DataFreshness"), Some(900.0), Some(300))
        );
        assert_eq!(
            f.alarm_actions(),
            ["arn:aws:sns:us-east-1:123456789012:lab-alarms"]
        );
        let i = a
            .iter()
            .find(|x| x.alarm_name() == Some("lab-iterator-age"))
            .expect("iterator");
        assert_eq!(
            (i.metric_name(), i.threshold()),
            (Some("GetRecords.IteratorAgeMilliseconds"), Some(60000.0))
        );
        assert_eq!(i.dimensions()[0].value(), Some("sensor-data-stream"));
    });

    // A changed threshold is an in-place update.
    stack.write_spec(&SPEC.replace("threshold: 900", "threshold: 600"));
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, 0);
    assert!(
        stdout(&plan).contains("threshold: 900 -> 600"),
        "{}",
        stdout(&plan)
    );
    stack.front.clear();
    assert_code(&stack.labctl(&["up"]), 0);
    // The update, read back from the endpoint: the new threshold, the rest as it was, and
    // no delete on the way (PutMetricAlarm overwrites in place).
    assert_eq!(stack.front.count("PutMetricAlarm"), 1);
    assert_eq!(stack.front.count("DeleteAlarms"), 0);
    stack.block_on(async {
        let d = cw
            .describe_alarms()
            .alarm_names("lab-freshness")
            .send()
            .await
            .expect("alarms");
        let f = d.metric_alarms().first().expect("the freshness alarm");
        assert_eq!(
            (f.metric_name(), f.threshold(), f.period()),
            (Some("DeliveryToS3.DataFreshness"), Some(600.0), Some(300))
        );
        assert_eq!(
            f.alarm_actions(),
            ["arn:aws:sns:us-east-1:123456789012:lab-alarms"]
        );
    });

    assert_code(&stack.labctl(&["down", "--yes"]), 0);
    let sns = aws_sdk_sns::Client::new(&stack.sdk_config());
    stack.block_on(async {
        assert!(
            cw.get_dashboard()
                .dashboard_name("Streaming-Pipeline-Dashboard")
                .send()
                .await
                .is_err(),
            "dashboard left behind"
        );
        let alarms = cw.describe_alarms().send().await.expect("alarms");
        assert!(alarms.metric_alarms().is_empty(), "alarms left behind");
        let topics = sns.list_topics().send().await.expect("topics");
        assert!(topics.topics().is_empty(), "topic left behind");
    });
}

#[test]
fn data_flow_checks_follow_what_is_in_the_stack() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);

    // Nothing produced: records and raw data pending, monitoring passes; the lab is
    // not validated yet (exit 4).
    let st = stack.labctl(&["status", "--output", "json"]);
    assert_code(&st, 4);
    let doc = json(&st);
    assert_schema(&doc);
    assert_eq!(doc["ok"], false);
    assert_eq!(check(&doc, 1)["outcome"], "pending");
    assert!(check(&doc, 1)["action"]
        .as_str()
        .unwrap_or("")
        .contains("labctl produce"));
    assert_eq!(check(&doc, 2)["outcome"], "pending");
    assert!(check(&doc, 2)["cause"]
        .as_str()
        .unwrap_or("")
        .contains("no records are arriving"));
    assert_eq!(check(&doc, 5)["outcome"], "pass");

    // Records in the stream and a fresh raw object: both pass, with evidence.
    let kinesis = stack.kinesis();
    let s3 = stack.s3();
    stack.block_on(async {
        for i in 0..7 {
            let rec = format!("{{\"sensor_id\":\"sensor-00{i}\",\"timestamp\":\"2026-11-25T10:00:0{i}\",\"temperature\":21.5,\"humidity\":50.0,\"pressure\":1000.0}}");
            kinesis.put_record().stream_name("sensor-data-stream").partition_key(format!("sensor-00{i}")).data(Blob::new(rec)).send().await.expect("put");
        }
        let body = "{\"sensor_id\":\"sensor-001\",\"timestamp\":\"t\",\"temperature\":20.1,\"humidity\":40,\"pressure\":1001}{\"sensor_id\":\"sensor-002\",\"timestamp\":\"t\",\"temperature\":30.2,\"humidity\":41,\"pressure\":999}";
        s3.put_object().bucket(BUCKET).key("raw-stream/year=2026/part-1").body(ByteStream::from(body.as_bytes().to_vec())).send().await.expect("object");
    });
    // (exit 4: the spec has no application, so steps 3 and 4 cannot pass)
    let st = stack.labctl(&["status", "--output", "json"]);
    assert_code(&st, 4);
    let doc = json(&st);
    assert_eq!(check(&doc, 1)["outcome"], "pass", "{doc:#}");
    assert!(check(&doc, 1)["evidence"]
        .as_str()
        .unwrap_or("")
        .contains("7 records"));
    assert_eq!(check(&doc, 2)["outcome"], "pass", "{doc:#}");
    assert!(check(&doc, 2)["evidence"]
        .as_str()
        .unwrap_or("")
        .contains("raw-stream/year=2026/part-1"));

    // A newer object with a broken record: fail, naming the key.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    stack.block_on(async {
        s3.put_object()
            .bucket(BUCKET)
            .key("raw-stream/year=2026/part-2")
            .body(ByteStream::from(
                b"{\"sensor_id\":\"sensor-001\",\"temperature\":20}{not json".to_vec(),
            ))
            .send()
            .await
            .expect("object");
    });
    let st = stack.labctl(&["status", "--output", "json"]);
    assert_code(&st, 3);
    let doc = json(&st);
    assert_schema(&doc);
    assert_eq!(doc["ok"], false);
    assert_eq!(check(&doc, 2)["outcome"], "fail");
    assert!(
        check(&doc, 2)["evidence"]
            .as_str()
            .unwrap_or("")
            .contains("raw-stream/year=2026/part-2"),
        "{doc:#}"
    );

    // An alarm in ALARM fails the monitoring check.
    let (status, answer) = stack.cloudwatch_query(&[
        ("Action", "SetAlarmState"),
        ("AlarmName", "lab-iterator-age"),
        ("StateValue", "ALARM"),
        ("StateReason", "test"),
    ]);
    assert_eq!(status, 200, "SetAlarmState: {answer}");
    let st = stack.labctl(&["status", "--output", "json"]);
    assert_code(&st, 3); // a check fails
    let doc = json(&st);
    assert_eq!(check(&doc, 5)["outcome"], "fail");
    assert!(check(&doc, 5)["evidence"]
        .as_str()
        .unwrap_or("")
        .contains("lab-iterator-age"));
    let steps: Vec<String> = checks(&doc).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5"]);
}

#[test]
fn processed_rows_out_of_range_are_flagged() {
    let stack = Stack::start();
    let spec = format!(
        "{SPEC}{}",
        r#"  analytics-role: {name: lab-analytics, service: kinesis-analytics}
"#
    );
    // Add an application and the processed delivery stream it writes to.
    let spec = spec.replace(
        "roles:\n  delivery-role: {name: lab-delivery, service: firehose}\n",
        "roles:\n  delivery-role: {name: lab-delivery, service: firehose}\n  analytics-role: {name: lab-analytics, service: kinesis-analytics}\n",
    );
    let spec = spec
        .trim_end_matches("  analytics-role: {name: lab-analytics, service: kinesis-analytics}\n")
        .to_string()
        + r#"
applications:
  analytics:
    name: sensor-data-analytics
    engine: flink
    role: analytics-role
    input: {stream: sensor}
    output: {delivery_stream: processed}
    code: sql/app.sql
"#;
    let spec = spec.replace(
        "dashboards:",
        r#"  processed:
    name: processed-sensor-data
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
dashboards:"#,
    );
    stack.write_spec(&spec);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert_code(&stack.labctl(&["validate"]), 0);
    let s3 = stack.s3();
    let bucket_ready =
        stack.block_on(async { s3.head_bucket().bucket(BUCKET).send().await.is_ok() });
    assert!(bucket_ready, "{}", stdout(&up));
    stack.block_on(async {
        let rows = [
            r#"{"sensor_id":"sensor-001","avg_temperature":25.0,"min_temperature":20.0,"max_temperature":30.0,"avg_humidity":50.0,"window_start_time":"2026-11-25 10:00:00","window_end_time":"2026-11-25 10:01:00"}"#,
            r#"{"sensor_id":"sensor-002","avg_temperature":35.0,"min_temperature":20.0,"max_temperature":52.5,"avg_humidity":50.0,"window_start_time":"2026-11-25 10:00:00","window_end_time":"2026-11-25 10:01:00"}"#,
        ]
        .join("\n");
        s3.put_object().bucket(BUCKET).key("processed-stream/part-1").body(ByteStream::from(rows.into_bytes())).send().await.expect("object");
    });
    let st = stack.labctl(&["status", "--output", "json"]);
    assert_code(&st, AGGREGATES_LANDED);
    let doc = json(&st);
    assert_schema(&doc);
    assert_eq!(check(&doc, 4)["outcome"], "pass", "{doc:#}");
    let sensors = doc["sensors"].as_array().expect("sensor table");
    assert_eq!(sensors.len(), 2);
    assert_eq!(sensors[0]["sensor_id"], "sensor-001");
    assert_eq!(sensors[0]["flagged"], false);
    assert_eq!(sensors[1]["sensor_id"], "sensor-002");
    assert_eq!(sensors[1]["max_temperature"], 52.5);
    assert_eq!(sensors[1]["flagged"], true);
    let table = stack.labctl(&["status"]);
    assert_code(&table, AGGREGATES_LANDED);
    assert!(
        stdout(&table).contains("OUT OF RANGE"),
        "{}",
        stdout(&table)
    );
}
