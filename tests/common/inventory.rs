//! What the endpoint holds, listed directly through the SDK (never through labctl): one
//! line per resource of any kind a lab can make (S3, Kinesis, IAM, Logs, Firehose,
//! KinesisAnalyticsV2, CloudWatch, SNS), with the state that convergence is about.
//! The kill harness (tests/kill.rs) and the idempotency test compare these listings; this
//! module knows nothing about labctl's output or its order of work.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::Stack;

/// The ownership tag labctl puts on everything it makes.
const OWNER: &str = "labctl:pipeline";

/// A short, stable digest of a document (policies, dashboard bodies), so that a listing
/// line stays readable but still changes when the document does.
fn digest(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// An SDK error as a short word for a listing line (the resource may be half made).
fn err<E: std::fmt::Debug>(e: E) -> String {
    let text = format!("{e:?}");
    let code = text
        .split("code: Some(\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("error");
    format!("<{code}>")
}

/// Every resource of every kind at the endpoint, one line each, sorted. An empty list
/// means the endpoint holds nothing a lab could have made.
pub fn inventory(stack: &Stack) -> Vec<String> {
    let mut lines = Vec::new();
    lines.extend(buckets(stack));
    lines.extend(streams(stack));
    lines.extend(roles(stack));
    lines.extend(log_groups(stack));
    lines.extend(delivery_streams(stack));
    lines.extend(applications(stack));
    lines.extend(dashboards_and_alarms(stack));
    lines.extend(topics(stack));
    lines.sort();
    lines
}

/// Each bucket with its owner tag, default encryption, public access block and keys.
fn buckets(stack: &Stack) -> Vec<String> {
    let s3 = stack.s3();
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = s3.list_buckets().send().await.expect("ListBuckets");
        for b in listed.buckets() {
            let name = b.name().unwrap_or("?");
            let owner = match s3.get_bucket_tagging().bucket(name).send().await {
                Ok(t) => t
                    .tag_set()
                    .iter()
                    .find(|t| t.key() == OWNER)
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            let sse = match s3.get_bucket_encryption().bucket(name).send().await {
                Ok(e) => e
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().as_str().to_string())
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            let pab = match s3.get_public_access_block().bucket(name).send().await {
                Ok(p) => p
                    .public_access_block_configuration()
                    .map(|c| {
                        format!(
                            "{:?}/{:?}/{:?}/{:?}",
                            c.block_public_acls(),
                            c.ignore_public_acls(),
                            c.block_public_policy(),
                            c.restrict_public_buckets()
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = s3
                    .list_objects_v2()
                    .bucket(name)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .expect("ListObjectsV2");
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .map(String::from),
                );
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            keys.sort();
            out.push(format!(
                "bucket {name} owner={owner} sse={sse} public-access-block={pab} keys={keys:?}"
            ));
        }
        out
    })
}

/// Each Kinesis stream with its status, mode, retention and owner tag.
fn streams(stack: &Stack) -> Vec<String> {
    let kinesis = stack.kinesis();
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = kinesis.list_streams().send().await.expect("ListStreams");
        for name in listed.stream_names() {
            let summary = match kinesis
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
            {
                Ok(d) => d
                    .stream_description_summary()
                    .map(|s| {
                        format!(
                            "{} {:?} retention={}",
                            s.stream_status().as_str(),
                            s.stream_mode_details().map(|m| m.stream_mode().as_str()),
                            s.retention_period_hours()
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            let owner = match kinesis
                .list_tags_for_stream()
                .stream_name(name)
                .send()
                .await
            {
                Ok(t) => t
                    .tags()
                    .iter()
                    .find(|t| t.key() == OWNER)
                    .and_then(|t| t.value())
                    .unwrap_or("-")
                    .to_string(),
                Err(e) => err(e),
            };
            out.push(format!("stream {name} {summary} owner={owner}"));
        }
        out
    })
}

/// Each IAM role with its trust policy, inline policies (documents digested), attached
/// policies and owner tag; and each customer-managed policy.
fn roles(stack: &Stack) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = iam.list_roles().send().await.expect("ListRoles");
        for r in listed.roles() {
            let name = r.role_name();
            let trust = digest(r.assume_role_policy_document().unwrap_or(""));
            let mut inline = Vec::new();
            match iam.list_role_policies().role_name(name).send().await {
                Ok(p) => {
                    for policy in p.policy_names() {
                        let doc = match iam
                            .get_role_policy()
                            .role_name(name)
                            .policy_name(policy)
                            .send()
                            .await
                        {
                            Ok(d) => digest(d.policy_document()),
                            Err(e) => err(e),
                        };
                        inline.push(format!("{policy}:{doc}"));
                    }
                }
                Err(e) => inline.push(err(e)),
            }
            let attached = match iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
            {
                Ok(a) => a
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_name())
                    .map(String::from)
                    .collect::<Vec<_>>(),
                Err(e) => vec![err(e)],
            };
            let owner = match iam.list_role_tags().role_name(name).send().await {
                Ok(t) => t
                    .tags()
                    .iter()
                    .find(|t| t.key() == OWNER)
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            out.push(format!(
                "role {name} trust={trust} inline={inline:?} attached={attached:?} owner={owner}"
            ));
        }
        let managed = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .send()
            .await
            .expect("ListPolicies");
        for p in managed.policies() {
            out.push(format!("policy {}", p.policy_name().unwrap_or("?")));
        }
        out
    })
}

/// Each log group with its retention, log streams and owner tag.
fn log_groups(stack: &Stack) -> Vec<String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = logs
            .describe_log_groups()
            .send()
            .await
            .expect("DescribeLogGroups");
        for g in listed.log_groups() {
            let name = g.log_group_name().unwrap_or("?");
            let streams = match logs
                .describe_log_streams()
                .log_group_name(name)
                .send()
                .await
            {
                Ok(s) => {
                    let mut names: Vec<String> = s
                        .log_streams()
                        .iter()
                        .filter_map(|s| s.log_stream_name())
                        .map(String::from)
                        .collect();
                    names.sort();
                    format!("{names:?}")
                }
                Err(e) => err(e),
            };
            #[allow(deprecated)] // ListTagsLogGroup: what labctl reads too (loggroup.rs)
            let owner = match logs.list_tags_log_group().log_group_name(name).send().await {
                Ok(t) => t
                    .tags()
                    .and_then(|t| t.get(OWNER))
                    .cloned()
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            out.push(format!(
                "log-group {name} retention={:?} streams={streams} owner={owner}",
                g.retention_in_days()
            ));
        }
        out
    })
}

/// Each Firehose delivery stream with its status, source, S3 destination and logging.
fn delivery_streams(stack: &Stack) -> Vec<String> {
    let firehose = aws_sdk_firehose::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = firehose
            .list_delivery_streams()
            .send()
            .await
            .expect("ListDeliveryStreams");
        for name in listed.delivery_stream_names() {
            let state = match firehose
                .describe_delivery_stream()
                .delivery_stream_name(name)
                .send()
                .await
            {
                Ok(d) => match d.delivery_stream_description() {
                    Some(d) => {
                        let s3 = d
                            .destinations()
                            .first()
                            .and_then(|x| x.extended_s3_destination_description());
                        let logging = s3
                            .and_then(|s| s.cloud_watch_logging_options())
                            .map(|l| {
                                format!(
                                    "{:?}:{:?}/{:?}",
                                    l.enabled(),
                                    l.log_group_name(),
                                    l.log_stream_name()
                                )
                            });
                        format!(
                            "{} source={} bucket={:?} prefix={:?} role={:?} buffering={:?} logging={logging:?}",
                            d.delivery_stream_status().as_str(),
                            d.delivery_stream_type().as_str(),
                            s3.map(|s| s.bucket_arn()),
                            s3.and_then(|s| s.prefix()),
                            s3.map(|s| s.role_arn()),
                            s3.and_then(|s| s.buffering_hints())
                                .map(|b| (b.interval_in_seconds(), b.size_in_mbs())),
                        )
                    }
                    None => "-".into(),
                },
                Err(e) => err(e),
            };
            out.push(format!("delivery-stream {name} {state}"));
        }
        out
    })
}

/// A Managed Service for Apache Flink client at the stack's front (the front serves the
/// KinesisAnalyticsV2 API; its requests are not mutating, so the counts stay true).
pub fn analytics_v2(stack: &Stack) -> aws_sdk_kinesisanalyticsv2::Client {
    let c = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    aws_sdk_kinesisanalyticsv2::Client::from_conf(c)
}

/// Each Flink application with its status, runtime, role, code and logging.
fn applications(stack: &Stack) -> Vec<String> {
    let v2 = analytics_v2(stack);
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = v2
            .list_applications()
            .send()
            .await
            .expect("ListApplications");
        for a in listed.application_summaries() {
            let name = a.application_name();
            let state = match v2
                .describe_application()
                .application_name(name)
                .send()
                .await
            {
                Ok(d) => match d.application_detail() {
                    Some(d) => {
                        let code = d
                            .application_configuration_description()
                            .and_then(|c| c.application_code_configuration_description())
                            .and_then(|c| c.code_content_description())
                            .and_then(|c| c.s3_application_code_location_description())
                            .map(|l| format!("{}/{}", l.bucket_arn(), l.file_key()));
                        let logging: Vec<String> = d
                            .cloud_watch_logging_option_descriptions()
                            .iter()
                            .map(|l| l.log_stream_arn().to_string())
                            .collect();
                        format!(
                            "{} runtime={} role={:?} code={code:?} logging={logging:?}",
                            d.application_status().as_str(),
                            d.runtime_environment().as_str(),
                            d.service_execution_role(),
                        )
                    }
                    None => "-".into(),
                },
                Err(e) => err(e),
            };
            out.push(format!("application {name} {state}"));
        }
        out
    })
}

/// Each CloudWatch dashboard (body digested) and metric alarm (metric, threshold, actions).
fn dashboards_and_alarms(stack: &Stack) -> Vec<String> {
    let cw = stack.cloudwatch();
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = cw.list_dashboards().send().await.expect("ListDashboards");
        for d in listed.dashboard_entries() {
            let name = d.dashboard_name().unwrap_or("?");
            let body = match cw.get_dashboard().dashboard_name(name).send().await {
                Ok(g) => digest(g.dashboard_body().unwrap_or("")),
                Err(e) => err(e),
            };
            out.push(format!("dashboard {name} body={body}"));
        }
        let alarms = cw.describe_alarms().send().await.expect("DescribeAlarms");
        for a in alarms.metric_alarms() {
            let dims: Vec<String> = a
                .dimensions()
                .iter()
                .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
                .collect();
            out.push(format!(
                "alarm {} {:?}/{:?} {dims:?} {:?} {:?} threshold={:?} period={:?} periods={:?} actions={:?}",
                a.alarm_name().unwrap_or("?"),
                a.namespace(),
                a.metric_name(),
                a.statistic(),
                a.comparison_operator(),
                a.threshold(),
                a.period(),
                a.evaluation_periods(),
                a.alarm_actions(),
            ));
        }
        out
    })
}

/// Each SNS topic with its owner tag.
fn topics(stack: &Stack) -> Vec<String> {
    let sns = aws_sdk_sns::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let mut out = Vec::new();
        let listed = sns.list_topics().send().await.expect("ListTopics");
        for t in listed.topics() {
            let arn = t.topic_arn().unwrap_or("?");
            let owner = match sns.list_tags_for_resource().resource_arn(arn).send().await {
                Ok(t) => t
                    .tags()
                    .iter()
                    .find(|t| t.key() == OWNER)
                    .map(|t| t.value().to_string())
                    .unwrap_or_else(|| "-".into()),
                Err(e) => err(e),
            };
            out.push(format!("topic {arn} owner={owner}"));
        }
        out
    })
}
