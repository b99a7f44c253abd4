//! IAM documents generated from the spec: each role's trust policy (the service,
//! limited to this account) and its one inline policy, scoped to the exact ARNs of
//! the resources that use the role. No `*` action; a resource ending in `*` only as an
//! S3 object-key prefix or as listed in [`WILDCARD_RESOURCES`], each entry with the AWS
//! page that requires it.

use serde_json::{json, Value};

use crate::spec::vars::Vars;
use crate::spec::{Encryption, Engine, RoleService, SourceType, Spec};

/// A wildcard resource AWS documents as needed, for the one action it is granted to.
#[derive(Debug, Clone, Copy)]
pub struct Wildcard {
    pub action: &'static str,
    /// The resource, with `{partition}`, `{region}`, `{account}` and `{log_group}`.
    pub resource: &'static str,
    /// The AWS page that requires it.
    pub source: &'static str,
}

/// The Managed Flink guide, "How Amazon Managed Service for Apache Flink works with IAM",
/// section "Permissions to access the application code and application logs": a role
/// created by automation tools must add these (s3:GetObject and s3:GetObjectVersion on the
/// code, logs:DescribeLogGroups on `log-group:*`, logs:DescribeLogStreams on the group's
/// `log-stream:*`, logs:PutLogEvents on the stream).
pub const FLINK_ROLE_DOC: &str = "https://docs.aws.amazon.com/managed-flink/latest/java/security_iam_service-with-iam.html#security_iam_application_permissions";

/// Resources that must hold a `*` because AWS documents nothing narrower for that action.
/// A test fails on any other `*` resource (S3 object-key prefixes aside).
pub const WILDCARD_RESOURCES: &[Wildcard] = &[
    Wildcard {
        action: "logs:DescribeLogGroups",
        resource: "arn:{partition}:logs:{region}:{account}:log-group:*",
        source: FLINK_ROLE_DOC,
    },
    Wildcard {
        action: "logs:DescribeLogStreams",
        resource: "arn:{partition}:logs:{region}:{account}:log-group:{log_group}:log-stream:*",
        source: FLINK_ROLE_DOC,
    },
];

/// An allow-list entry's resource for these vars and log group.
pub fn wildcard_resource(w: &Wildcard, v: &Vars, log_group: &str) -> String {
    w.resource
        .replace("{partition}", &v.partition)
        .replace("{region}", &v.region)
        .replace("{account}", &v.account_id)
        .replace("{log_group}", log_group)
}

/// Name of the one inline policy labctl puts on each role.
pub const INLINE_POLICY: &str = "labctl-least-privilege";

/// The read actions a Kinesis consumer (Firehose or the analytics app) needs.
const KINESIS_READ: &[&str] = &[
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetShardIterator",
    "kinesis:GetRecords",
    "kinesis:ListShards",
];

pub fn stream_arn(v: &Vars, name: &str) -> String {
    format!(
        "arn:{}:kinesis:{}:{}:stream/{name}",
        v.partition, v.region, v.account_id
    )
}
pub fn bucket_arn(v: &Vars, name: &str) -> String {
    format!("arn:{}:s3:::{name}", v.partition)
}
pub fn delivery_arn(v: &Vars, name: &str) -> String {
    format!(
        "arn:{}:firehose:{}:{}:deliverystream/{name}",
        v.partition, v.region, v.account_id
    )
}
/// The path labctl creates its roles under, so that `leftovers` and `down` list them
/// with ListRoles' PathPrefix instead of every role of the account. A role's ARN holds
/// its path: `arn:<partition>:iam::<account>:role/labctl/<name>` (IAM User Guide, "IAM
/// identifiers", Paths: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names).
pub const ROLE_PATH: &str = "/labctl/";

pub fn role_arn(v: &Vars, name: &str) -> String {
    format!(
        "arn:{}:iam::{}:role{ROLE_PATH}{name}",
        v.partition, v.account_id
    )
}
pub fn log_stream_arn(v: &Vars, group: &str, stream: &str) -> String {
    format!(
        "arn:{}:logs:{}:{}:log-group:{group}:log-stream:{stream}",
        v.partition, v.region, v.account_id
    )
}

/// The fixed part of a Firehose prefix: everything before the first `!{` expression.
pub fn static_prefix(prefix: &str) -> &str {
    match prefix.find("!{") {
        Some(i) => &prefix[..i],
        None => prefix,
    }
}

fn service_principal(s: RoleService) -> &'static str {
    match s {
        RoleService::Firehose => "firehose.amazonaws.com",
        RoleService::KinesisAnalytics => "kinesisanalytics.amazonaws.com",
    }
}

/// The condition that limits a service's use of the role to this account, as each
/// service documents it:
/// - Firehose: `sts:ExternalId` = the account id (Firehose Developer Guide, "Controlling
///   access with Amazon Data Firehose", section "Allow Firehose to assume an IAM role":
///   https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#firehose-assume-role).
///   Nothing documents that Firehose sends `aws:SourceAccount` when it assumes a delivery
///   role, and a condition on an absent key evaluates false, so it is not used here.
/// - Kinesis Analytics: `aws:SourceAccount` = the account id (Managed Flink guide,
///   "Cross-service confused deputy prevention":
///   https://docs.aws.amazon.com/managed-flink/latest/java/iam-cross-service-confused-deputy-prevention.html).
pub fn trust_condition(service: RoleService, v: &Vars) -> Value {
    match service {
        RoleService::Firehose => json!({"StringEquals": {"sts:ExternalId": v.account_id}}),
        RoleService::KinesisAnalytics => {
            json!({"StringEquals": {"aws:SourceAccount": v.account_id}})
        }
    }
}

/// Trust policy: only the service, and only on behalf of this account.
pub fn trust_policy(service: RoleService, v: &Vars) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service_principal(service)},
            "Action": "sts:AssumeRole",
            "Condition": trust_condition(service, v)
        }]
    })
}

fn statement(sid: String, actions: &[&str], resources: Vec<String>) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources})
}

/// The condition on every S3 statement: the bucket must belong to this account.
/// Bucket names are global and the lab's are predictable, so a bucket of the same name
/// in another account (created after `down`, say) would otherwise receive the lab's
/// data or serve it code. `s3:ResourceAccount` is the bucket owner's account id
/// (Service Authorization Reference, "Condition keys for Amazon S3":
/// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html#amazons3-policy-keys;
/// announced in https://aws.amazon.com/about-aws/whats-new/2020/12/new-iam-condition-keys-amazon-s3-limit-requests-buckets-owned-specific-aws-accounts-specific-tls-versions/).
pub fn s3_owner_condition(v: &Vars) -> Value {
    json!({"StringEquals": {"s3:ResourceAccount": v.account_id}})
}

/// An S3 statement: [`statement`] limited to buckets of this account.
fn s3_statement(sid: String, actions: &[&str], resources: Vec<String>, v: &Vars) -> Value {
    let mut st = statement(sid, actions, resources);
    st["Condition"] = s3_owner_condition(v);
    st
}

fn sid(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split(|c: char| !c.is_ascii_alphanumeric()))
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

// check-lengths: allow (a flat table of statements, one block per grant)
/// The inline policy of role `role_id`: what the resources using it need, exactly.
pub fn inline_policy(spec: &Spec, role_id: &str, v: &Vars) -> Value {
    let mut st: Vec<Value> = Vec::new();
    for (id, d) in spec
        .delivery_streams
        .iter()
        .filter(|(_, d)| d.role == role_id)
    {
        if let (SourceType::KinesisStream, Some(s)) = (d.source.kind, &d.source.stream) {
            if let Some(stream) = spec.streams.get(s) {
                st.push(statement(
                    sid(&["Read", id]),
                    KINESIS_READ,
                    vec![stream_arn(v, &stream.name)],
                ));
            }
        }
        if let Some(b) = spec.buckets.get(&d.destination.bucket) {
            let arn = bucket_arn(v, &b.name);
            st.push(s3_statement(
                sid(&["Bucket", id]),
                &[
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                vec![arn.clone()],
                v,
            ));
            let mut objects = vec![format!("{arn}/{}*", static_prefix(&d.destination.prefix))];
            if let Some(e) = &d.destination.error_prefix {
                objects.push(format!("{arn}/{}*", static_prefix(e)));
            }
            objects.dedup();
            st.push(s3_statement(
                sid(&["Write", id]),
                &["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                objects,
                v,
            ));
        }
        if let (Encryption::Kms, Some(k)) = (d.destination.encryption, &d.destination.kms_key_arn) {
            st.push(statement(
                sid(&["Kms", id]),
                &["kms:GenerateDataKey", "kms:Decrypt"],
                vec![k.clone()],
            ));
        }
        if let Some(l) = &d.logging {
            st.push(statement(
                sid(&["Logs", id]),
                &["logs:PutLogEvents"],
                vec![log_stream_arn(v, &l.log_group, &l.log_stream)],
            ));
        }
    }
    for (id, a) in spec.applications.iter().filter(|(_, a)| a.role == role_id) {
        if let Some(stream) = spec.streams.get(&a.input.stream) {
            st.push(statement(
                sid(&["Read", id]),
                KINESIS_READ,
                vec![stream_arn(v, &stream.name)],
            ));
        }
        if let Some(d) = spec.delivery_streams.get(&a.output.delivery_stream) {
            st.push(statement(
                sid(&["Deliver", id]),
                &[
                    "firehose:PutRecord",
                    "firehose:PutRecordBatch",
                    "firehose:DescribeDeliveryStream",
                ],
                vec![delivery_arn(v, &d.name)],
            ));
        }
        if a.engine == Engine::Flink {
            // Its own artifacts only: their keys are `<prefix><name>/<checksum>.zip`, a
            // folder of its own (`agg`'s grant does not reach `agg-v2`'s code).
            // GetObject and GetObjectVersion on the code ([`FLINK_ROLE_DOC`]).
            if let Some((bucket, prefix)) = crate::resource::analytics::artifact_target(spec, a) {
                if let Some(b) = spec.buckets.get(&bucket) {
                    st.push(s3_statement(
                        sid(&["Code", id]),
                        &["s3:GetObject", "s3:GetObjectVersion"],
                        vec![format!(
                            "{}/{}*",
                            bucket_arn(v, &b.name),
                            crate::artifact::folder(&prefix, &a.name)
                        )],
                        v,
                    ));
                }
            }
            let (group, stream, _) = crate::resource::analytics::log_target(a);
            // The log actions [`FLINK_ROLE_DOC`] lists; the wildcards are allow-listed.
            for w in WILDCARD_RESOURCES {
                st.push(statement(
                    sid(&[w.action, id]),
                    &[w.action],
                    vec![wildcard_resource(w, v, &group)],
                ));
            }
            st.push(statement(
                sid(&["Logs", id]),
                &["logs:PutLogEvents"],
                vec![log_stream_arn(v, &group, &stream)],
            ));
        }
    }
    json!({"Version": "2012-10-17", "Statement": st})
}

/// A policy document in a canonical form for comparison: single strings become
/// one-element lists, lists are sorted, statements sorted by Sid.
pub fn canonical(doc: &Value) -> Value {
    fn norm(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v) {
                            (
                                "Action" | "Resource" | "NotAction" | "NotResource",
                                Value::String(s),
                            ) => json!([s]),
                            _ => norm(v),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(norm).collect();
                items.sort_by_key(|x| x.to_string());
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    norm(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_prefixes() {
        assert_eq!(
            static_prefix("raw-stream/year=!{timestamp:yyyy}/"),
            "raw-stream/year="
        );
        assert_eq!(static_prefix("processed/"), "processed/");
    }

    #[test]
    fn canonical_ignores_order_and_string_vs_list() {
        let a = json!({"Statement": [{"Action": "s3:GetObject", "Resource": ["b", "a"]}]});
        let b = json!({"Statement": [{"Action": ["s3:GetObject"], "Resource": ["a", "b"]}]});
        assert_eq!(canonical(&a), canonical(&b));
    }
}
