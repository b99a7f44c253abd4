//! Resources labctl did not make are never touched, for every kind: a bucket, stream,
//! two roles, a delivery stream, a log group, an application, a dashboard, an alarm and
//! a topic with the spec's names, made directly against the endpoint without the
//! ownership tag. `up` (and `up --partial`) and `down` make no mutating request at all
//! (counted at the front) and every one is still there, untagged, at the same version.
//! `up --adopt --yes` takes each kind over (the tag read back from the endpoint); when
//! adopting would need a replacement (a role under another path, a delivery stream with
//! another source, an application without logging) `up --adopt` refuses before any
//! change and says why.

mod common;

use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DeliveryStreamType, EncryptionConfiguration,
    ExtendedS3DestinationConfiguration, NoEncryptionConfig,
};
use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};
use aws_sdk_kinesisanalyticsv2::types as kav2;
use common::*;
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const TAG: &str = "labctl:pipeline";

/// [`flink_lab`] with a dashboard, an alarm and its topic: every kind labctl makes.
fn every_kind(p: &str) -> String {
    format!(
        "{}dashboards:\n  dashboard: {{name: {p}-dashboard}}\nalarms:\n  iterator: {{name: {p}-iterator-age, metric: iterator-age, target: sensor, threshold: 60000, topic: alerts}}\ntopics:\n  alerts: {{name: {p}-alarms}}\n",
        flink_lab(p)
    )
}

/// How the foreign resources are made.
#[derive(Clone, Copy, PartialEq)]
enum Made {
    /// As the spec declares them (roles under labctl's path, the declared source,
    /// logging on the application): `--adopt` can take each over in place.
    Adoptable,
    /// A role under `/`, a delivery stream reading a Kinesis stream (the spec: Direct
    /// PUT) and an application without logging: adopting them needs a replacement.
    NeedsReplacement,
}

fn kav2_client(stack: &Stack) -> aws_sdk_kinesisanalyticsv2::Client {
    // The applications live in the front's emulator.
    let cfg = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    aws_sdk_kinesisanalyticsv2::Client::from_conf(cfg)
}

/// Make every resource of [`every_kind`]`(p)` directly against the endpoint, untagged.
fn make_foreign(stack: &Stack, p: &str, made: Made) {
    let cfg = stack.sdk_config();
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    let iam = aws_sdk_iam::Client::new(&cfg);
    let firehose = aws_sdk_firehose::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let cw = stack.cloudwatch();
    let kav2 = kav2_client(stack);
    let bucket = format!("{p}-data-{ACCOUNT}-us-east-1");
    let path = match made {
        Made::Adoptable => "/labctl/",
        Made::NeedsReplacement => "/",
    };
    let role_arn = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role{path}{name}");
    let trust = |service: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
        .to_string()
    };
    let stream_name = format!("{p}-sensor-stream");
    let group = format!("/aws/kinesis-analytics/{p}");
    stack.block_on(async {
        s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
        kinesis
            .create_stream()
            .stream_name(&stream_name)
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::OnDemand)
                    .build()
                    .expect("mode"),
            )
            .send()
            .await
            .expect("stream");
        for (name, service) in [
            (format!("{p}-delivery"), "firehose.amazonaws.com"),
            (format!("{p}-analytics"), "kinesisanalytics.amazonaws.com"),
        ] {
            iam.create_role()
                .role_name(&name)
                .path(path)
                .assume_role_policy_document(trust(service))
                .send()
                .await
                .expect("role");
        }
        logs.create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .expect("log group");
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name("app-log")
            .send()
            .await
            .expect("log stream");
        let dest = ExtendedS3DestinationConfiguration::builder()
            .role_arn(role_arn(&format!("{p}-delivery")))
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .prefix("processed-stream/")
            .buffering_hints(
                BufferingHints::builder()
                    .interval_in_seconds(60)
                    .size_in_mbs(1)
                    .build(),
            )
            .compression_format(CompressionFormat::Uncompressed)
            .encryption_configuration(
                EncryptionConfiguration::builder()
                    .no_encryption_config(NoEncryptionConfig::NoEncryption)
                    .build(),
            )
            .build()
            .expect("destination");
        let mut ds = firehose
            .create_delivery_stream()
            .delivery_stream_name(format!("{p}-processed"))
            .extended_s3_destination_configuration(dest);
        if made == Made::NeedsReplacement {
            ds = ds
                .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
                .kinesis_stream_source_configuration(
                    aws_sdk_firehose::types::KinesisStreamSourceConfiguration::builder()
                        .kinesis_stream_arn(format!(
                            "arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream_name}"
                        ))
                        .role_arn(role_arn(&format!("{p}-delivery")))
                        .build()
                        .expect("source"),
                );
        } else {
            ds = ds.delivery_stream_type(DeliveryStreamType::DirectPut);
        }
        ds.send().await.expect("delivery stream");
        let code = kav2::ApplicationCodeConfiguration::builder()
            .code_content_type(kav2::CodeContentType::Zipfile)
            .code_content(
                kav2::CodeContent::builder()
                    .s3_content_location(
                        kav2::S3ContentLocation::builder()
                            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                            .file_key("code/someone-elses.zip")
                            .build()
                            .expect("location"),
                    )
                    .build(),
            )
            .build()
            .expect("code");
        let mut app = kav2
            .create_application()
            .application_name("sensor-data-analytics")
            .runtime_environment(kav2::RuntimeEnvironment::Flink120)
            .service_execution_role(role_arn(&format!("{p}-analytics")))
            .application_configuration(
                kav2::ApplicationConfiguration::builder()
                    .application_code_configuration(code)
                    .build(),
            );
        if made == Made::Adoptable {
            app = app.cloud_watch_logging_options(
                kav2::CloudWatchLoggingOption::builder()
                    .log_stream_arn(format!(
                        "arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:log-stream:app-log"
                    ))
                    .build()
                    .expect("logging"),
            );
        }
        app.send().await.expect("application");
        cw.put_dashboard()
            .dashboard_name(format!("{p}-dashboard"))
            .dashboard_body(r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":2,"properties":{"markdown":"someone else's"}}]}"#)
            .send()
            .await
            .expect("dashboard");
        let topic = sns
            .create_topic()
            .name(format!("{p}-alarms"))
            .send()
            .await
            .expect("topic");
        cw.put_metric_alarm()
            .alarm_name(format!("{p}-iterator-age"))
            .namespace("AWS/Kinesis")
            .metric_name("GetRecords.IteratorAgeMilliseconds")
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name("StreamName")
                    .value(&stream_name)
                    .build(),
            )
            .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
            .alarm_actions(topic.topic_arn().unwrap_or_default())
            .send()
            .await
            .expect("alarm");
    });
}

/// Each resource of [`every_kind`]`(p)` as the endpoint holds it: present or not, its
/// ownership tag, and a version or setting that any change would move. Read directly
/// (moto, or the front's emulator for the application), never through labctl.
fn held(stack: &Stack, p: &str) -> Vec<(String, String)> {
    let cfg = stack.sdk_config();
    let s3 = stack.s3();
    let kinesis = stack.kinesis();
    let iam = aws_sdk_iam::Client::new(&cfg);
    let firehose = aws_sdk_firehose::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let cw = stack.cloudwatch();
    let kav2 = kav2_client(stack);
    let bucket = format!("{p}-data-{ACCOUNT}-us-east-1");
    let tag_of = |tags: Vec<(String, String)>| {
        tags.into_iter()
            .find(|(k, _)| k == TAG)
            .map(|(_, v)| v)
            .unwrap_or_else(|| "untagged".into())
    };
    stack.block_on(async {
        let mut out = Vec::new();
        let b = match s3.get_bucket_tagging().bucket(&bucket).send().await {
            Ok(t) => tag_of(
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            ),
            Err(_) if s3.head_bucket().bucket(&bucket).send().await.is_ok() => "untagged".into(),
            Err(_) => "absent".into(),
        };
        out.push(("bucket".into(), b));
        let stream = format!("{p}-sensor-stream");
        let s = match kinesis
            .list_tags_for_stream()
            .stream_name(&stream)
            .send()
            .await
        {
            Ok(t) => tag_of(
                t.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
                    .collect(),
            ),
            Err(_) => "absent".into(),
        };
        out.push(("stream".into(), s));
        for role in [format!("{p}-delivery"), format!("{p}-analytics")] {
            let r = match iam.get_role().role_name(&role).send().await {
                Ok(r) => {
                    let r = r.role().cloned();
                    let tags = r
                        .as_ref()
                        .map(|r| {
                            r.tags()
                                .iter()
                                .map(|t| (t.key().to_string(), t.value().to_string()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let policies = iam
                        .list_role_policies()
                        .role_name(&role)
                        .send()
                        .await
                        .map(|l| l.policy_names().join(","))
                        .unwrap_or_default();
                    format!("{} policies [{policies}]", tag_of(tags))
                }
                Err(_) => "absent".into(),
            };
            out.push((format!("role {role}"), r));
        }
        let name = format!("{p}-processed");
        let d = match firehose
            .describe_delivery_stream()
            .delivery_stream_name(&name)
            .send()
            .await
        {
            Ok(d) => {
                let version = d
                    .delivery_stream_description()
                    .map(|d| d.version_id().to_string())
                    .unwrap_or_default();
                let tags = firehose
                    .list_tags_for_delivery_stream()
                    .delivery_stream_name(&name)
                    .send()
                    .await
                    .map(|t| {
                        t.tags()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{} version {version}", tag_of(tags))
            }
            Err(_) => "absent".into(),
        };
        out.push(("delivery stream".into(), d));
        let group = format!("/aws/kinesis-analytics/{p}");
        let g = logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .expect("log groups");
        let g = match g
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group.as_str()))
        {
            Some(found) => {
                let arn = found
                    .arn()
                    .unwrap_or_default()
                    .trim_end_matches(":*")
                    .to_string();
                let tags = logs
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map(|t| t.tags().cloned().unwrap_or_default().into_iter().collect())
                    .unwrap_or_default();
                format!("{} retention {:?}", tag_of(tags), found.retention_in_days())
            }
            None => "absent".into(),
        };
        out.push(("log group".into(), g));
        let a = match kav2
            .describe_application()
            .application_name("sensor-data-analytics")
            .send()
            .await
        {
            Ok(a) => {
                let detail = a.application_detail().cloned();
                let arn = detail
                    .as_ref()
                    .map(|d| d.application_arn().to_string())
                    .unwrap_or_default();
                let version = detail
                    .as_ref()
                    .map(|d| d.application_version_id())
                    .unwrap_or_default();
                let tags = kav2
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map(|t| {
                        t.tags()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{} version {version}", tag_of(tags))
            }
            Err(_) => "absent".into(),
        };
        out.push(("application".into(), a));
        let dash = match cw
            .get_dashboard()
            .dashboard_name(format!("{p}-dashboard"))
            .send()
            .await
        {
            Ok(d) => {
                let body: Value =
                    serde_json::from_str(d.dashboard_body().unwrap_or("{}")).unwrap_or_default();
                if body.to_string().contains(&format!("{TAG}={p}-lab")) {
                    format!("{p}-lab")
                } else {
                    format!("untagged {body}")
                }
            }
            Err(_) => "absent".into(),
        };
        out.push(("dashboard".into(), dash));
        let alarms = cw
            .describe_alarms()
            .alarm_names(format!("{p}-iterator-age"))
            .send()
            .await
            .expect("alarms");
        let al = match alarms.metric_alarms().first() {
            Some(a) => {
                let tags = cw
                    .list_tags_for_resource()
                    .resource_arn(a.alarm_arn().unwrap_or_default())
                    .send()
                    .await
                    .map(|t| {
                        t.tags()
                            .iter()
                            .map(|t| {
                                (
                                    t.key().unwrap_or("").to_string(),
                                    t.value().unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{} threshold {:?}", tag_of(tags), a.threshold())
            }
            None => "absent".into(),
        };
        out.push(("alarm".into(), al));
        let arn = format!("arn:aws:sns:us-east-1:{ACCOUNT}:{p}-alarms");
        let t = match sns.list_tags_for_resource().resource_arn(&arn).send().await {
            Ok(t) => tag_of(
                t.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            ),
            Err(_) => "absent".into(),
        };
        out.push(("topic".into(), t));
        out
    })
}

/// The `plan --output json` rows' (id, action).
fn plan_actions(doc: &Value) -> Vec<(String, String)> {
    doc["rows"]
        .as_array()
        .or_else(|| doc["resources"].as_array())
        .expect("plan rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn foreign_resources_of_every_kind_are_never_touched() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&every_kind("fx"));
    make_foreign(&stack, "fx", Made::Adoptable);
    let before = held(&stack, "fx");
    assert_eq!(before.len(), 10, "{before:?}");
    for (what, state) in &before {
        assert!(state.starts_with("untagged"), "{what}: {state}");
    }

    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let rows = plan_actions(&json(&plan));
    assert!(!rows.is_empty());
    for (id, action) in &rows {
        assert_eq!(action, "blocked", "{id} would be {action}: {rows:?}");
    }

    for args in [
        &["up"][..],
        &["up", "--partial"][..],
        &["down", "--yes"][..],
    ] {
        stack.front.clear();
        let out = stack.labctl(args);
        let mutating = stack.front.mutating();
        assert!(
            mutating.is_empty(),
            "{args:?} changed something labctl did not make: {mutating:?}\n{}",
            stderr(&out)
        );
        match args {
            ["up"] => {
                assert_code(&out, 1);
                let err = stderr(&out);
                assert!(err.contains("up refused before any change"), "{err}");
                assert!(err.contains("labctl up --adopt"), "{err}");
            }
            ["down", ..] => assert_code(&out, 0),
            _ => {}
        }
        assert_eq!(
            held(&stack, "fx"),
            before,
            "{args:?}: a foreign resource changed"
        );
    }
}

#[test]
fn adopt_takes_over_every_kind_and_the_tag_is_read_back() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&every_kind("fa"));
    make_foreign(&stack, "fa", Made::Adoptable);

    let plan = stack.labctl(&["plan", "--adopt", "--output", "json"]);
    assert_code(&plan, 0);
    let rows = plan_actions(&json(&plan));
    for (id, action) in &rows {
        assert_eq!(action, "adopt", "{id}: {rows:?}");
    }
    let up = stack.labctl(&["up", "--adopt", "--yes"]);
    assert_code(&up, 0);
    for (what, state) in held(&stack, "fa") {
        assert!(
            state.starts_with("fa-lab"),
            "{what} was not adopted: {state}\n{}",
            stderr(&up)
        );
    }
    // Adopted is ours: a second up changes nothing, down removes everything.
    stack.front.clear();
    assert_code(&stack.labctl(&["up"]), 0);
    assert_eq!(stack.front.mutating(), Vec::new());
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
    for (what, state) in held(&stack, "fa") {
        assert_eq!(state, "absent", "{what} left after down");
    }
}

#[test]
fn adoption_that_would_need_a_replacement_is_refused_and_says_why() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&every_kind("fr"));
    make_foreign(&stack, "fr", Made::NeedsReplacement);
    let before = held(&stack, "fr");

    let plan = stack.labctl(&["plan", "--adopt", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let rows = doc["rows"]
        .as_array()
        .or_else(|| doc["resources"].as_array())
        .expect("rows")
        .clone();
    for id in ["delivery-role", "analytics-role", "processed", "analytics"] {
        let row = rows
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no row {id}: {doc:#}"));
        assert_eq!(row["action"], "blocked", "{id}: {row:#}");
        assert!(
            row["detail"]
                .as_str()
                .unwrap_or("")
                .contains("adopting it would need a replacement"),
            "{id}: {row:#}"
        );
    }
    let fields = |id: &str| -> String {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["drift"].to_string())
            .unwrap_or_default()
    };
    assert!(fields("delivery-role").contains("path"), "{doc:#}");
    assert!(fields("processed").contains("source.type"), "{doc:#}");
    assert!(fields("analytics").contains("logging"), "{doc:#}");

    stack.front.clear();
    let up = stack.labctl(&["up", "--adopt", "--yes"]);
    assert_code(&up, 1);
    let err = stderr(&up);
    assert!(err.contains("up refused before any change"), "{err}");
    assert!(
        err.contains("adopting it would need a replacement, and labctl does not delete what it did not create"),
        "{err}"
    );
    assert_eq!(stack.front.mutating(), Vec::new(), "{err}");
    assert_eq!(held(&stack, "fr"), before, "a foreign resource changed");
}
