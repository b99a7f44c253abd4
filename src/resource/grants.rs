//! What a role's generated policy may grant on: only resources this pipeline owns or
//! that do not exist yet (labctl is about to create them, and their create re-checks
//! ownership). Before a role's inline policy is written, each S3 bucket, Kinesis stream,
//! Firehose delivery stream and log group its statements name is looked up; one that exists
//! without `labctl:pipeline=<this pipeline>` stops the role (issue 18: a role policy
//! must never grant on a resource labctl does not own). Knows the ARN shapes of those
//! four services and their tag-reading calls; nothing of roles or the engine.

use anyhow::{bail, Result};
use serde_json::Value;

use super::model::{aws_err, sdk_code, Ctx};
use crate::spec::validate::OWNER_TAG;

/// A resource a policy statement names, by kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Bucket(String),
    Stream(String),
    DeliveryStream(String),
    LogGroup(String),
}

/// The buckets, streams and delivery streams a policy document's statements name
/// (ARN formats: S3 `arn:p:s3:::bucket[/key]`, Kinesis `arn:p:kinesis:r:a:stream/name`,
/// Firehose `arn:p:firehose:r:a:deliverystream/name`, CloudWatch Logs
/// `arn:p:logs:r:a:log-group:name[:*|:log-stream:…]`; Service Authorization Reference,
/// "Resource types defined by" each service). Wildcards name nothing.
fn targets(policy: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    for s in &statements {
        let arns: Vec<&str> = match &s["Resource"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(v) => v.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for arn in arns {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let (Some(service), Some(rest)) = (parts.get(2), parts.get(5)) else {
                continue;
            };
            let t = match *service {
                "s3" => rest
                    .split('/')
                    .next()
                    .map(|b| Target::Bucket(b.to_string())),
                "kinesis" => rest
                    .strip_prefix("stream/")
                    .map(|n| Target::Stream(n.to_string())),
                "firehose" => rest
                    .strip_prefix("deliverystream/")
                    .map(|n| Target::DeliveryStream(n.to_string())),
                "logs" => rest
                    .strip_prefix("log-group:")
                    .and_then(|n| n.split(':').next())
                    .map(|n| Target::LogGroup(n.to_string())),
                _ => None,
            };
            if let Some(t) = t.filter(|t| !name_of(t).is_empty() && !name_of(t).contains('*')) {
                out.push(t);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn name_of(t: &Target) -> &str {
    match t {
        Target::Bucket(n) | Target::Stream(n) | Target::DeliveryStream(n) | Target::LogGroup(n) => {
            n
        }
    }
}

/// Fail when `policy` names a resource that exists and is not this pipeline's.
pub async fn check(ctx: &Ctx, role: &str, policy: &Value) -> Result<()> {
    for t in targets(policy) {
        let (kind, owner) = match &t {
            Target::Bucket(n) => ("bucket", bucket_owner(ctx, n).await?),
            Target::Stream(n) => ("stream", stream_owner(ctx, n).await?),
            Target::DeliveryStream(n) => ("delivery-stream", delivery_owner(ctx, n).await?),
            Target::LogGroup(n) => ("log-group", log_group_owner(ctx, n).await?),
        };
        // Untagged or not yet readable while labctl's own create of it is under way
        // (journaled before it starts; a bucket is tagged just after CreateBucket, a
        // stream by the create itself): that create re-checks ownership when it finds the
        // name taken. Asked after the look, of this run (`begun_here`: the create may
        // have ended meanwhile, since the role's check runs beside the other creates) or
        // of an earlier run that did not finish (`entry`).
        let creating = matches!(owner, Owner::Tagged(None) | Owner::Unreadable(_))
            && (ctx.journal.begun_here(kind, name_of(&t))
                || ctx.journal.entry(kind, name_of(&t)).is_some());
        // `up --adopt` (confirmed on a terminal, or --yes) takes untagged resources of
        // the spec's names over in this same run: granting on them is granting on ours.
        let adopting = ctx.adopt && matches!(owner, Owner::Tagged(None));
        if owner.absent() || owner.is_ours(ctx) || creating || adopting {
            continue;
        }
        bail!(
            "role {role} would grant on {kind} {}, which exists and {}; labctl writes no policy granting on a resource it does not own (rename it in the spec, or take it over with `labctl up --adopt` if it is the lab's)",
            name_of(&t),
            owner.describe()
        );
    }
    Ok(())
}

enum Owner {
    Absent,
    /// The ownership tag's value, if any.
    Tagged(Option<String>),
    /// Exists but its tags cannot be read (another account's bucket: 403).
    Unreadable(String),
}

impl Owner {
    fn absent(&self) -> bool {
        matches!(self, Owner::Absent)
    }
    fn is_ours(&self, ctx: &Ctx) -> bool {
        matches!(self, Owner::Tagged(Some(p)) if p == ctx.pipeline())
    }
    fn describe(&self) -> String {
        match self {
            Owner::Absent => "is absent".into(),
            Owner::Tagged(None) => format!("has no {OWNER_TAG} tag"),
            Owner::Tagged(Some(p)) => format!("belongs to labctl pipeline `{p}`"),
            Owner::Unreadable(why) => format!("cannot be read as this account's ({why})"),
        }
    }
}

/// GetBucketTagging with ExpectedBucketOwner (403 when another account owns it:
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
async fn bucket_owner(ctx: &Ctx, name: &str) -> Result<Owner> {
    match ctx
        .aws
        .s3
        .get_bucket_tagging()
        .bucket(name)
        .expected_bucket_owner(ctx.account())
        .send()
        .await
    {
        Ok(out) => Ok(Owner::Tagged(
            out.tag_set()
                .iter()
                .find(|t| t.key() == OWNER_TAG)
                .map(|t| t.value().to_string()),
        )),
        Err(e) if sdk_code(&e) == Some("NoSuchTagSet") => Ok(Owner::Tagged(None)),
        Err(e) if sdk_code(&e) == Some("NoSuchBucket") => Ok(Owner::Absent),
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
            Ok(Owner::Unreadable("access denied".into()))
        }
        Err(e) => Err(aws_err(&format!("reading the tags of bucket {name}"), e)),
    }
}

async fn stream_owner(ctx: &Ctx, name: &str) -> Result<Owner> {
    match ctx
        .aws
        .kinesis
        .list_tags_for_stream()
        .stream_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Owner::Tagged(
            out.tags()
                .iter()
                .find(|t| t.key() == OWNER_TAG)
                .and_then(|t| t.value().map(str::to_string)),
        )),
        Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(Owner::Absent),
        Err(e) => Err(aws_err(&format!("reading the tags of stream {name}"), e)),
    }
}

async fn delivery_owner(ctx: &Ctx, name: &str) -> Result<Owner> {
    match ctx
        .aws
        .firehose
        .list_tags_for_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Owner::Tagged(
            out.tags()
                .iter()
                .find(|t| t.key() == OWNER_TAG)
                .and_then(|t| t.value().map(str::to_string)),
        )),
        Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(Owner::Absent),
        Err(e) => Err(aws_err(
            &format!("reading the tags of delivery stream {name}"),
            e,
        )),
    }
}

/// The log group's tags (ListTagsLogGroup, as the log group resource reads them;
/// ResourceNotFoundException when there is none: CloudWatch Logs API Reference).
async fn log_group_owner(ctx: &Ctx, name: &str) -> Result<Owner> {
    #[allow(deprecated)]
    let asked = ctx
        .aws
        .logs
        .list_tags_log_group()
        .log_group_name(name)
        .send()
        .await;
    match asked {
        Ok(out) => Ok(Owner::Tagged(
            out.tags().and_then(|t| t.get(OWNER_TAG)).cloned(),
        )),
        Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(Owner::Absent),
        Err(e) => Err(aws_err(&format!("reading the tags of log group {name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_buckets_streams_delivery_streams_and_log_groups_once() {
        let doc = serde_json::json!({"Statement": [
            {"Resource": ["arn:aws:s3:::b1", "arn:aws:s3:::b1/raw/*"]},
            {"Resource": "arn:aws:kinesis:us-east-1:123456789012:stream/s1"},
            {"Resource": ["arn:aws:firehose:us-east-1:123456789012:deliverystream/d1",
                          "arn:aws:logs:us-east-1:123456789012:log-group:g:*",
                          "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:s", "*",
                          "arn:aws:s3:::*"]}
        ]});
        assert_eq!(
            targets(&doc),
            vec![
                Target::Bucket("b1".into()),
                Target::Stream("s1".into()),
                Target::DeliveryStream("d1".into()),
                Target::LogGroup("g".into())
            ]
        );
    }
}
