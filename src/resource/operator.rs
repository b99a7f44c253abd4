//! The IAM policy an operator (the person or CI role running labctl) needs for one
//! spec: what `up`, `status`, `down`, `produce`, `tail` and `leftovers` call, on the
//! spec's resources by exact ARN, with IAM writes and `iam:PassRole` limited to the role
//! path labctl creates its roles under ([`ROLE_PATH`]). Generated from the spec, so it
//! stays the same list of names `up` creates. `labctl iam-policy` prints it.
//!
//! Knows the spec and the actions labctl's resource modules call (one block per
//! service below); nothing of clients, ordering or output.

use serde_json::{json, Value};

use super::policy::{bucket_arn, delivery_arn, log_stream_arn, role_arn, stream_arn, ROLE_PATH};
use crate::spec::vars::Vars;
use crate::spec::Spec;

/// The Service Authorization Reference, where each action's resource types and
/// condition keys are listed (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
pub const ACTIONS_DOC: &str = "https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html";

/// `iam:PassRole` with `iam:PassedToService`: the roles may be handed only to the two
/// services that assume them (IAM User Guide, "Granting a user permissions to pass a
/// role to an AWS service": https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
pub const PASS_ROLE_DOC: &str =
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html";

/// Role ARNs under labctl's path, for IAM writes: `arn:…:iam::<account>:role/labctl/*`
/// (IAM User Guide, "IAM identifiers", paths in ARNs:
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
pub fn role_path_arn(v: &Vars) -> String {
    format!("arn:{}:iam::{}:role{ROLE_PATH}*", v.partition, v.account_id)
}

fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Option<Value> {
    if resources.is_empty() {
        return None;
    }
    Some(json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}))
}

fn arn(v: &Vars, service: &str, regional: bool, rest: &str) -> String {
    let region = if regional { v.region.as_str() } else { "" };
    format!(
        "arn:{}:{service}:{region}:{}:{rest}",
        v.partition, v.account_id
    )
}

// check-lengths: allow (a flat table of statements, one block per service)
/// The operator's policy for `spec` (resolved names) in the account and region of `v`.
pub fn operator_policy(spec: &Spec, v: &Vars) -> Value {
    let buckets: Vec<String> = spec
        .buckets
        .values()
        .map(|b| bucket_arn(v, &b.name))
        .collect();
    let objects: Vec<String> = buckets.iter().map(|b| format!("{b}/*")).collect();
    let streams: Vec<String> = spec
        .streams
        .values()
        .map(|s| stream_arn(v, &s.name))
        .collect();
    let deliveries: Vec<String> = spec
        .delivery_streams
        .values()
        .map(|d| delivery_arn(v, &d.name))
        .collect();
    let apps: Vec<String> = spec
        .applications
        .values()
        .map(|a| {
            arn(
                v,
                "kinesisanalytics",
                true,
                &format!("application/{}", a.name),
            )
        })
        .collect();
    let mut groups: Vec<String> = Vec::new();
    for d in spec.delivery_streams.values() {
        if let Some(l) = &d.logging {
            groups.push(l.log_group.clone());
        }
    }
    for a in spec.applications.values() {
        groups.push(super::analytics::log_target(a).0);
    }
    groups.sort();
    groups.dedup();
    let log_groups: Vec<String> = groups
        .iter()
        .flat_map(|g| {
            [
                arn(v, "logs", true, &format!("log-group:{g}")),
                log_stream_arn(v, g, "*"),
            ]
        })
        .collect();
    let dashboards: Vec<String> = spec
        .dashboards
        .values()
        .map(|d| arn(v, "cloudwatch", false, &format!("dashboard/{}", d.name)))
        .collect();
    let alarms: Vec<String> = spec
        .alarms
        .values()
        .map(|a| arn(v, "cloudwatch", true, &format!("alarm:{}", a.name)))
        .collect();
    let topics: Vec<String> = spec
        .topics
        .values()
        .map(|t| arn(v, "sns", true, &t.name))
        .collect();
    let roles: Vec<String> = spec.roles.values().map(|r| role_arn(v, &r.name)).collect();
    let statements = [
        // Calls whose actions take no resource ARN (Service Authorization Reference:
        // their resource column is empty, so only "*" grants them): listing for
        // `leftovers` and the bucket-ownership check, metrics for `status`.
        // sts:GetCallerIdentity needs no permission at all (STS API Reference).
        allow(
            "ListAndReadMetrics",
            &[
                "s3:ListAllMyBuckets",
                "kinesis:ListStreams",
                "firehose:ListDeliveryStreams",
                "kinesisanalytics:ListApplications",
                "kinesisanalytics:DiscoverInputSchema",
                "cloudwatch:ListDashboards",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetMetricStatistics",
                "logs:DescribeLogGroups",
                "tag:GetResources",
                "iam:ListRoles",
            ],
            vec!["*".into()],
        ),
        allow(
            "Buckets",
            &[
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetBucketLocation",
                "s3:GetBucketTagging",
                "s3:PutBucketTagging",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketPolicy",
                "s3:PutBucketPolicy",
            ],
            buckets,
        ),
        allow(
            "BucketObjects",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
            objects,
        ),
        allow(
            "Streams",
            &[
                "kinesis:CreateStream",
                "kinesis:DeleteStream",
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:ListShards",
                "kinesis:AddTagsToStream",
                "kinesis:ListTagsForStream",
                "kinesis:IncreaseStreamRetentionPeriod",
                "kinesis:DecreaseStreamRetentionPeriod",
                "kinesis:UpdateShardCount",
                "kinesis:UpdateStreamMode",
                "kinesis:PutRecord",
                "kinesis:PutRecords",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
            ],
            streams,
        ),
        allow(
            "DeliveryStreams",
            &[
                "firehose:CreateDeliveryStream",
                "firehose:DeleteDeliveryStream",
                "firehose:DescribeDeliveryStream",
                "firehose:UpdateDestination",
                "firehose:TagDeliveryStream",
                "firehose:ListTagsForDeliveryStream",
                "firehose:PutRecord",
                "firehose:PutRecordBatch",
            ],
            deliveries,
        ),
        // IAM writes only under labctl's role path: the roles of any other path (the
        // account's own, an administrator's) are out of reach.
        allow(
            "RolesUnderLabctlPath",
            &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:TagRole",
                "iam:ListRoleTags",
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:DetachRolePolicy",
            ],
            vec![role_path_arn(v)],
        ),
        allow(
            "Applications",
            &[
                "kinesisanalytics:CreateApplication",
                "kinesisanalytics:DeleteApplication",
                "kinesisanalytics:DescribeApplication",
                "kinesisanalytics:UpdateApplication",
                "kinesisanalytics:StartApplication",
                "kinesisanalytics:StopApplication",
                "kinesisanalytics:TagResource",
                "kinesisanalytics:ListTagsForResource",
            ],
            apps,
        ),
        allow(
            "LogGroups",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagLogGroup",
                "logs:TagResource",
                "logs:ListTagsLogGroup",
                "logs:ListTagsForResource",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:GetLogEvents",
            ],
            log_groups,
        ),
        allow(
            "Dashboards",
            &[
                "cloudwatch:PutDashboard",
                "cloudwatch:GetDashboard",
                "cloudwatch:DeleteDashboards",
            ],
            dashboards,
        ),
        allow(
            "Alarms",
            &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:ListTagsForResource",
            ],
            alarms,
        ),
        allow(
            "Topics",
            &[
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:TagResource",
                "sns:ListTagsForResource",
            ],
            topics,
        ),
        // The spec's roles only, to the two services that use them.
        allow("PassTheLabsRoles", &["iam:PassRole"], roles).map(|mut s| {
            s["Condition"] = json!({"StringEquals": {"iam:PassedToService": [
                "firehose.amazonaws.com",
                "kinesisanalytics.amazonaws.com"
            ]}});
            s
        }),
    ];
    json!({
        "Version": "2012-10-17",
        "Statement": statements.into_iter().flatten().collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_writes_and_pass_role_stay_under_the_labctl_path() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
        let loaded = crate::spec::load(&file).expect("pipeline.yaml");
        let v = Vars::sample(Some("eu-west-1"), &loaded.spec.pipeline);
        let spec = loaded.spec.resolve(&v);
        let doc = operator_policy(&spec, &v);
        let mut saw_pass = false;
        for s in doc["Statement"].as_array().expect("statements") {
            let actions: Vec<&str> = s["Action"]
                .as_array()
                .expect("actions")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let resources: Vec<&str> = s["Resource"]
                .as_array()
                .expect("resources")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let iam_write = actions
                .iter()
                .any(|a| a.starts_with("iam:") && *a != "iam:ListRoles");
            if iam_write {
                for r in &resources {
                    assert!(
                        r.starts_with("arn:aws:iam::123456789012:role/labctl/"),
                        "{r} in {s}"
                    );
                }
            }
            if actions.contains(&"iam:PassRole") {
                saw_pass = true;
                assert_eq!(actions, ["iam:PassRole"]);
                assert!(!resources.iter().any(|r| r.ends_with('*')), "{s}");
                assert!(s["Condition"]["StringEquals"]["iam:PassedToService"].is_array());
            }
            if resources.contains(&"*") {
                assert_eq!(s["Sid"], "ListAndReadMetrics", "only listing is on *: {s}");
            }
        }
        assert!(saw_pass);
    }
}
