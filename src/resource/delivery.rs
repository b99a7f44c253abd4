//! Firehose delivery stream to S3 (the lab's steps 3 and 6): a Kinesis stream or
//! Direct PUT as source, an extended S3 destination with time-partitioned prefixes,
//! buffering, compression, encryption and error logging from the spec.
//!
//! Firehose rules handled here: creation waits CREATING → ACTIVE and reports
//! CREATING_FAILED with AWS's reason; right after IAM changes, create and update fail
//! with specific InvalidArgumentException messages that are retried (and only those)
//! while IAM propagates; destination changes are applied in place with
//! UpdateDestination; a source change needs a replacement; a stream still CREATING is
//! waited for before deletion, and deletion waits until the stream is gone.

use std::collections::HashMap;

use anyhow::{bail, Result};
use async_trait::async_trait;
use aws_sdk_firehose::types::{
    BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamStatus,
    DeliveryStreamType, EncryptionConfiguration, ExtendedS3DestinationConfiguration,
    ExtendedS3DestinationUpdate, KinesisStreamSourceConfiguration, KmsEncryptionConfig,
    NoEncryptionConfig, Tag,
};
use indexmap::IndexMap;

use super::model::{
    aws_err, check_found_on_create, sdk_code, tag_drift, tags_for, Ctx, Dependency, DownRelease,
    Drift, Observed, Ownership, Present, Resource, UpNeed,
};
use super::policy;
use crate::engine::wait::{self, Bound, Poll};
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{Compression, DeliverySpec, Encryption, SourceType, Spec};

// Poll every 0.5 s: these waits are on `up`'s and `down`'s critical path, and a wait ends
// up to one poll interval after the delivery stream changes (issue 17: within 3% of the
// critical path). The lab's two delivery streams make at most 4 DescribeDeliveryStream
// calls per second; the Firehose quota page (general/latest/gr/fh.html) lists no
// per-call limit, and a throttled describe is retried by the SDK's standard retry mode.
const ACTIVE_WAIT: Bound = Bound::new(900, 500, 500);
const DELETE_WAIT: Bound = Bound::new(1200, 500, 500);
/// How many "not found" answers in a row a stream just created or changed gets before
/// labctl believes them (bounded: at most a few polls of [`ACTIVE_WAIT`]).
pub const NOT_YET_VISIBLE_POLLS: usize = 5;

/// The messages Firehose answers (as InvalidArgumentException) while a new or changed
/// role has not propagated through IAM yet. Only these are retried.
pub const IAM_PROPAGATION: &[&str] = &[
    "Firehose is unable to assume role",
    "is not authorized to perform",
    "Access was denied",
    "Verify that the IAM role has access",
];

/// Whether an error text is Firehose saying IAM has not propagated yet.
pub fn is_iam_propagation(message: &str) -> bool {
    message.contains("InvalidArgumentException")
        && IAM_PROPAGATION.iter().any(|m| message.contains(m))
}

pub struct Delivery {
    name: String,
    source: SourceType,
    stream_arn: Option<String>,
    role_arn: String,
    bucket_arn: String,
    prefix: String,
    error_prefix: Option<String>,
    interval: i32,
    size: i32,
    compression: CompressionFormat,
    kms_key: Option<String>,
    logging: Option<(String, String)>,
    tags: IndexMap<String, String>,
}

/// What Describe says, reduced to what labctl compares.
#[derive(Debug, Default)]
struct Seen {
    status: String,
    failure: Option<String>,
    version_id: String,
    destination_id: String,
    source_type: String,
    source_stream: Option<String>,
    fields: Vec<(&'static str, String)>,
}

fn compression(c: Compression) -> CompressionFormat {
    match c {
        Compression::None => CompressionFormat::Uncompressed,
        Compression::Gzip => CompressionFormat::Gzip,
        Compression::Snappy => CompressionFormat::Snappy,
        Compression::Zip => CompressionFormat::Zip,
        Compression::HadoopSnappy => CompressionFormat::HadoopSnappy,
    }
}

impl Delivery {
    pub fn new(spec: &Spec, d: &DeliverySpec, vars: &Vars) -> Delivery {
        let stream_arn = d
            .source
            .stream
            .as_ref()
            .and_then(|s| spec.streams.get(s))
            .map(|s| policy::stream_arn(vars, &s.name));
        let role_arn = spec
            .roles
            .get(&d.role)
            .map(|r| policy::role_arn(vars, &r.name))
            .unwrap_or_default();
        let bucket_arn = spec
            .buckets
            .get(&d.destination.bucket)
            .map(|b| policy::bucket_arn(vars, &b.name))
            .unwrap_or_default();
        Delivery {
            name: d.name.clone(),
            source: d.source.kind,
            stream_arn,
            role_arn,
            bucket_arn,
            prefix: d.destination.prefix.clone(),
            error_prefix: d.destination.error_prefix.clone(),
            interval: d.destination.buffering.interval_seconds,
            size: d.destination.buffering.size_mib,
            compression: compression(d.destination.compression),
            kms_key: match d.destination.encryption {
                Encryption::Kms => d.destination.kms_key_arn.clone(),
                Encryption::BucketDefault => None,
            },
            logging: d
                .logging
                .as_ref()
                .map(|l| (l.log_group.clone(), l.log_stream.clone())),
            tags: tags_for(spec, &d.tags),
        }
    }

    fn source_type(&self) -> DeliveryStreamType {
        match self.source {
            SourceType::KinesisStream => DeliveryStreamType::KinesisStreamAsSource,
            SourceType::DirectPut => DeliveryStreamType::DirectPut,
        }
    }

    /// The destination fields as labctl wants them, in the same shape as [`Seen::fields`].
    fn desired_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("destination.role", self.role_arn.clone()),
            ("destination.bucket", self.bucket_arn.clone()),
            ("destination.prefix", self.prefix.clone()),
            (
                "destination.error_prefix",
                self.error_prefix.clone().unwrap_or_default(),
            ),
            (
                "destination.buffering.interval_seconds",
                self.interval.to_string(),
            ),
            ("destination.buffering.size_mib", self.size.to_string()),
            (
                "destination.compression",
                self.compression.as_str().to_string(),
            ),
            (
                "destination.encryption",
                self.kms_key
                    .clone()
                    .map(|k| format!("KMS {k}"))
                    .unwrap_or_else(|| "NoEncryption".into()),
            ),
            (
                "logging",
                self.logging
                    .as_ref()
                    .map(|(g, s)| format!("{g}/{s}"))
                    .unwrap_or_else(|| "off".into()),
            ),
        ]
    }

    fn hints(&self) -> BufferingHints {
        BufferingHints::builder()
            .interval_in_seconds(self.interval)
            .size_in_mbs(self.size)
            .build()
    }

    fn encryption(&self) -> EncryptionConfiguration {
        match &self.kms_key {
            Some(k) => EncryptionConfiguration::builder()
                .set_kms_encryption_config(
                    KmsEncryptionConfig::builder()
                        .awskms_key_arn(k)
                        .build()
                        .ok(),
                )
                .build(),
            None => EncryptionConfiguration::builder()
                .no_encryption_config(NoEncryptionConfig::NoEncryption)
                .build(),
        }
    }

    fn logging_options(&self) -> CloudWatchLoggingOptions {
        match &self.logging {
            Some((g, s)) => CloudWatchLoggingOptions::builder()
                .enabled(true)
                .log_group_name(g)
                .log_stream_name(s)
                .build(),
            None => CloudWatchLoggingOptions::builder().enabled(false).build(),
        }
    }

    async fn describe(&self, ctx: &Ctx) -> Result<Option<Seen>> {
        let out = match ctx
            .aws
            .firehose
            .describe_delivery_stream()
            .delivery_stream_name(&self.name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => {
                return Err(aws_err(
                    &format!("describing delivery stream {}", self.name),
                    e,
                ))
            }
        };
        let Some(d) = out.delivery_stream_description() else {
            bail!("Firehose described {} without a description", self.name)
        };
        let status = d.delivery_stream_status().as_str();
        if !DeliveryStreamStatus::values().contains(&status) {
            bail!(
                "describing delivery stream {}: DescribeDeliveryStream answered the status `{}`, which Firehose does not document; run the command again, and check the endpoint if it persists",
                self.name,
                status
            );
        }
        let mut seen = Seen {
            status: d.delivery_stream_status().as_str().to_string(),
            failure: d
                .failure_description()
                .map(|f| format!("{}: {}", f.r#type().as_str(), f.details())),
            version_id: d.version_id().to_string(),
            source_type: d.delivery_stream_type().as_str().to_string(),
            source_stream: d
                .source()
                .and_then(|s| s.kinesis_stream_source_description())
                .and_then(|k| k.kinesis_stream_arn())
                .map(str::to_string),
            ..Seen::default()
        };
        if let Some(dest) = d.destinations().first() {
            seen.destination_id = dest.destination_id().to_string();
            if let Some(x) = dest.extended_s3_destination_description() {
                seen.fields = s3_fields(x);
            } else {
                seen.fields = vec![("destination.type", "not extended S3".into())];
            }
        }
        Ok(Some(seen))
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .firehose
            .list_tags_for_delivery_stream()
            .delivery_stream_name(&self.name)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("reading the tags of delivery stream {}", self.name),
                    e,
                )
            })?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
            .collect())
    }

    fn fh_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    /// Wait while CREATING (or UPDATING); fail on CREATING_FAILED with AWS's reason.
    /// Firehose's control plane is eventually consistent: a stream just created (or
    /// changed) may answer ResourceNotFoundException for a moment, so "not found" is
    /// believed only after [`NOT_YET_VISIBLE_POLLS`] answers in a row (Firehose API
    /// Reference, CreateDeliveryStream: "asynchronous operation … returns immediately";
    /// AWS's eventual-consistency guidance for control planes).
    async fn wait_settled(&self, ctx: &Ctx, what: &str) -> Result<Option<Seen>> {
        let misses = std::sync::atomic::AtomicUsize::new(0);
        wait::until(&ctx.progress, &self.name, what, ACTIVE_WAIT, || async {
            use std::sync::atomic::Ordering::SeqCst;
            Ok(match self.describe(ctx).await? {
                None if misses.fetch_add(1, SeqCst) + 1 < NOT_YET_VISIBLE_POLLS => {
                    Poll::Pending("not visible yet".into())
                }
                None => Poll::Ready(None),
                Some(s)
                    if s.status == DeliveryStreamStatus::Creating.as_str()
                        || s.status == "UPDATING" =>
                {
                    Poll::Pending(s.status)
                }
                Some(s) => Poll::Ready(Some(s)),
            })
        })
        .await
    }

    fn failed(&self, seen: &Seen) -> anyhow::Error {
        anyhow::anyhow!(
            "delivery stream {} is {} ({}); run `labctl up` again to replace it, or `labctl down` to remove it",
            self.name,
            seen.status,
            seen.failure.as_deref().unwrap_or("AWS gave no reason")
        )
    }

    /// Run a Firehose call, retrying only IAM-propagation refusals, with progress.
    async fn with_iam_retry<F, Fut>(&self, ctx: &Ctx, what: &str, call: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        wait::retry_iam_propagation(
            &ctx.progress,
            &self.name,
            "Firehose",
            &self.role_arn,
            what,
            is_iam_propagation,
            call,
        )
        .await
    }

    fn destination_update(&self) -> ExtendedS3DestinationUpdate {
        ExtendedS3DestinationUpdate::builder()
            .role_arn(&self.role_arn)
            .bucket_arn(&self.bucket_arn)
            .prefix(&self.prefix)
            .set_error_output_prefix(self.error_prefix.clone())
            .buffering_hints(self.hints())
            .compression_format(self.compression.clone())
            .encryption_configuration(self.encryption())
            .cloud_watch_logging_options(self.logging_options())
            .build()
    }
}

/// What `describe` compares of an extended S3 destination, as (field, value) pairs.
fn s3_fields(
    x: &aws_sdk_firehose::types::ExtendedS3DestinationDescription,
) -> Vec<(&'static str, String)> {
    let enc = x.encryption_configuration();
    let encryption = match enc.and_then(|e| e.kms_encryption_config()) {
        Some(k) => format!("KMS {}", k.awskms_key_arn()),
        None => "NoEncryption".into(),
    };
    let logging = match x.cloud_watch_logging_options() {
        Some(l) if l.enabled() == Some(true) => format!(
            "{}/{}",
            l.log_group_name().unwrap_or(""),
            l.log_stream_name().unwrap_or("")
        ),
        _ => "off".into(),
    };
    vec![
        ("destination.role", x.role_arn().to_string()),
        ("destination.bucket", x.bucket_arn().to_string()),
        ("destination.prefix", x.prefix().unwrap_or("").to_string()),
        (
            "destination.error_prefix",
            x.error_output_prefix().unwrap_or("").to_string(),
        ),
        (
            "destination.buffering.interval_seconds",
            x.buffering_hints()
                .and_then(|b| b.interval_in_seconds())
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        (
            "destination.buffering.size_mib",
            x.buffering_hints()
                .and_then(|b| b.size_in_mbs())
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ),
        (
            "destination.compression",
            x.compression_format().as_str().to_string(),
        ),
        ("destination.encryption", encryption),
        ("logging", logging),
    ]
}

#[async_trait]
impl Resource for Delivery {
    fn kind(&self) -> &'static str {
        "delivery-stream"
    }
    fn name(&self) -> &str {
        &self.name
    }

    /// `down`: the Kinesis source may go once this delivery stream's delete is accepted.
    /// Firehose API Reference, DeleteDeliveryStream: the call is asynchronous, the stream
    /// is "marked for deletion" and DELETING, removal "is a low priority operation", and
    /// "applications should not wait for streams in the DELETING state to be removed".
    /// Kinesis API Reference, DeleteStream: shut down the applications operating on the
    /// stream first (a deleting delivery stream is being shut down); one that still reads
    /// gets ResourceNotFoundException; only registered (enhanced fan-out) consumers make
    /// DeleteStream refuse, and Firehose reads with GetRecords (labctl sends
    /// EnforceConsumerDeletion anyway).
    /// `up`: the source must be ACTIVE first: CreateDeliveryStream
    /// (KinesisStreamSourceConfiguration) does not say whether a stream still CREATING is
    /// accepted, so labctl does not try.
    /// Everything else is strict: the bucket, the role and the log group outlive the
    /// delivery stream, because one in DELETING "might continue to accept records" and may
    /// still flush its buffer to the bucket (as the role) and log errors to the group.
    fn dependency(&self, on: &str) -> Dependency {
        match on {
            "stream" => Dependency {
                up: UpNeed::Start,
                down: DownRelease::Accepted,
            },
            _ => Dependency::STRICT,
        }
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(seen) = self.describe(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new(seen.status.clone(), ownership.clone());
        p.arn = Some(policy::delivery_arn(&ctx.vars, &self.name));
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        if seen.status == "CREATING_FAILED" || seen.status == "DELETING_FAILED" {
            p.replace.push(Drift::new("status", &seen.status, "ACTIVE"));
        }
        let want_type = self.source_type();
        if seen.source_type != want_type.as_str() {
            p.replace.push(Drift::new(
                "source.type",
                &seen.source_type,
                want_type.as_str(),
            ));
        } else if self.source == SourceType::KinesisStream && seen.source_stream != self.stream_arn
        {
            p.replace.push(Drift::new(
                "source.stream",
                seen.source_stream.as_deref().unwrap_or("none"),
                self.stream_arn.as_deref().unwrap_or("none"),
            ));
        }
        let have: HashMap<&str, &String> = seen.fields.iter().map(|(k, v)| (*k, v)).collect();
        for (field, want) in self.desired_fields() {
            match have.get(field) {
                Some(v) if *v == &want => {}
                Some(v) => p.drift.push(Drift::new(field, v, &want)),
                None => p.drift.push(Drift::new(field, "unknown", &want)),
            }
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        let dest = ExtendedS3DestinationConfiguration::builder()
            .role_arn(&self.role_arn)
            .bucket_arn(&self.bucket_arn)
            .prefix(&self.prefix)
            .set_error_output_prefix(self.error_prefix.clone())
            .buffering_hints(self.hints())
            .compression_format(self.compression.clone())
            .encryption_configuration(self.encryption())
            .cloud_watch_logging_options(self.logging_options())
            .build()?;
        let source = match (&self.source, &self.stream_arn) {
            (SourceType::KinesisStream, Some(arn)) => Some(
                KinesisStreamSourceConfiguration::builder()
                    .kinesis_stream_arn(arn)
                    .role_arn(&self.role_arn)
                    .build()?,
            ),
            _ => None,
        };
        ctx.progress.step(
            &self.name,
            &format!("creating delivery stream ({})", self.source_type().as_str()),
        );
        let existed = std::sync::atomic::AtomicBool::new(false);
        self.with_iam_retry(ctx, "creating the delivery stream", || {
            let req = ctx
                .aws
                .firehose
                .create_delivery_stream()
                .delivery_stream_name(&self.name)
                .delivery_stream_type(self.source_type())
                .set_kinesis_stream_source_configuration(source.clone())
                .extended_s3_destination_configuration(dest.clone())
                .set_tags(Some(self.fh_tags()));
            let existed = &existed;
            async move {
                match req.send().await {
                    Ok(_) => Ok(()),
                    // A retried create whose first attempt went through, or a delivery
                    // stream someone made meanwhile: its tags tell, below.
                    Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                        existed.store(true, std::sync::atomic::Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => Err(aws_err(
                        &format!("creating delivery stream {}", self.name),
                        e,
                    )),
                }
            }
        })
        .await?;
        if existed.load(std::sync::atomic::Ordering::Relaxed) {
            // Tags given to CreateDeliveryStream are the create's own
            // (https://docs.aws.amazon.com/firehose/latest/APIReference/API_CreateDeliveryStream.html):
            // ours only if they say so.
            let tags = self.tags(ctx).await?;
            let owner = tags.get(OWNER_TAG).map(String::as_str);
            check_found_on_create(ctx, self.kind(), &self.name, owner)?;
        }
        match self
            .wait_settled(ctx, "the delivery stream to become ACTIVE")
            .await?
        {
            Some(s) if s.status == DeliveryStreamStatus::Active.as_str() => Ok(()),
            Some(s) => Err(self.failed(&s)),
            None => bail!(
                "delivery stream {} disappeared while it was being created; run `labctl up` again",
                self.name
            ),
        }
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let Some(seen) = self
            .wait_settled(ctx, "the delivery stream to settle before updating")
            .await?
        else {
            bail!(
                "delivery stream {} disappeared; run `labctl up` again",
                self.name
            )
        };
        let dest_changes: Vec<&Drift> =
            present.drift.iter().filter(|d| d.field != "tags").collect();
        if !dest_changes.is_empty() {
            for d in &dest_changes {
                ctx.progress.step(
                    &self.name,
                    &format!(
                        "updating {} in place: {} -> {}",
                        d.field, d.actual, d.desired
                    ),
                );
            }
            self.with_iam_retry(ctx, "updating the destination", || {
                let req = ctx
                    .aws
                    .firehose
                    .update_destination()
                    .delivery_stream_name(&self.name)
                    .current_delivery_stream_version_id(&seen.version_id)
                    .destination_id(&seen.destination_id)
                    .extended_s3_destination_update(self.destination_update());
                async move {
                    req.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_err(&format!("updating delivery stream {}", self.name), e))
                }
            })
            .await?;
        }
        if present.drift.iter().any(|d| d.field == "tags") {
            ctx.aws
                .firehose
                .tag_delivery_stream()
                .delivery_stream_name(&self.name)
                .set_tags(Some(self.fh_tags()))
                .send()
                .await
                .map_err(|e| aws_err(&format!("tagging delivery stream {}", self.name), e))?;
        }
        self.wait_settled(ctx, "the delivery stream to become ACTIVE again")
            .await?;
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        if present.state == DeliveryStreamStatus::Creating.as_str() {
            // Firehose refuses to delete a stream that is still being created.
            self.wait_settled(
                ctx,
                "the delivery stream to finish creating before deleting it",
            )
            .await?;
        }
        if present.state != DeliveryStreamStatus::Deleting.as_str() {
            ctx.progress.step(&self.name, "deleting delivery stream");
            match ctx
                .aws
                .firehose
                .delete_delivery_stream()
                .delivery_stream_name(&self.name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(()),
                Err(e) => {
                    return Err(aws_err(
                        &format!("deleting delivery stream {}", self.name),
                        e,
                    ))
                }
            }
        }
        // DELETING: what only this delivery stream read from may go (see `dependency`).
        crate::engine::phase::reached();
        wait::until(
            &ctx.progress,
            &self.name,
            "the delivery stream to be gone (minutes on AWS)",
            DELETE_WAIT,
            || async {
                Ok(match self.describe(ctx).await? {
                    None => Poll::Ready(()),
                    Some(s) if s.status == "DELETING_FAILED" => bail!("{}", self.failed(&s)),
                    Some(s) => Poll::Pending(s.status),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_propagation_messages_are_retried() {
        assert!(is_iam_propagation("creating x: InvalidArgumentException: Firehose is unable to assume role arn:aws:iam::1:role/r"));
        assert!(is_iam_propagation(
            "InvalidArgumentException: Role arn is not authorized to perform: s3:PutObject"
        ));
        assert!(!is_iam_propagation(
            "InvalidArgumentException: BufferingHints.SizeInMBs must be at least 1"
        ));
        assert!(!is_iam_propagation(
            "LimitExceededException: Firehose is unable to assume role"
        ));
    }
}
