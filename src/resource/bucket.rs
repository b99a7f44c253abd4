//! S3 bucket: the lab's storage (step 1). Created in the spec's region with default
//! encryption (SSE-S3), public access fully blocked, a policy that denies non-TLS
//! access, the lab's folder markers and the ownership tag. `down` empties every
//! object version and delete marker in batches of 1000, deletes it and waits until gone.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use indexmap::IndexMap;

use super::model::{
    aws_err, sdk_code, sdk_message, tag_drift, tags_for, Ctx, Drift, Observed, Ownership, Present,
    Resource,
};
use crate::engine::wait::{self, Bound, Poll};
use crate::spec::validate::OWNER_TAG;
use crate::spec::{BucketSpec, Spec};

const CREATE_WAIT: Bound = Bound::new(120, 500, 5000);
const DELETE_WAIT: Bound = Bound::new(300, 500, 10_000);

pub struct Bucket {
    name: String,
    folders: Vec<String>,
    force_destroy: bool,
    deny_insecure_transport: bool,
    tags: IndexMap<String, String>,
}

impl Bucket {
    pub fn new(spec: &Spec, b: &BucketSpec) -> Bucket {
        Bucket {
            name: b.name.clone(),
            folders: b.folders.clone(),
            force_destroy: b.force_destroy,
            deny_insecure_transport: b.deny_insecure_transport,
            tags: tags_for(spec, &b.tags),
        }
    }

    /// The bucket policy labctl puts: deny every request not made over TLS.
    pub fn policy(&self, partition: &str) -> String {
        let arn = format!("arn:{partition}:s3:::{}", self.name);
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, format!("{arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }]
        })
        .to_string()
    }

    /// Whether the TLS-only policy applies: whenever the spec asks for it, whatever the
    /// endpoint (AWS is the contract; the local stack accepts the policy and, like any
    /// endpoint labctl reaches over plain HTTP, is the operator's to secure).
    fn wants_policy(&self, _ctx: &Ctx) -> bool {
        self.deny_insecure_transport
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        match ctx
            .aws
            .s3
            .get_bucket_tagging()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .send()
            .await
        {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()),
            Err(e) if sdk_code(&e) == Some("NoSuchTagSet") => Ok(HashMap::new()),
            Err(e) => Err(aws_err(
                &format!("reading the tags of bucket {}", self.name),
                e,
            )),
        }
    }

    async fn put_tags(&self, ctx: &Ctx, existing: &HashMap<String, String>) -> Result<()> {
        let mut all: IndexMap<String, String> = existing
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.extend(self.tags.clone());
        let tags: Vec<Tag> = all
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .context("building the tag set")?;
        ctx.aws
            .s3
            .put_bucket_tagging()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| aws_err(&format!("tagging bucket {}", self.name), e))?;
        Ok(())
    }

    async fn put_encryption(&self, ctx: &Ctx) -> Result<()> {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()?,
            )
            .build();
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()?;
        ctx.aws
            .s3
            .put_bucket_encryption()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .server_side_encryption_configuration(conf)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("turning on encryption for bucket {}", self.name),
                    e,
                )
            })?;
        Ok(())
    }

    async fn put_public_access_block(&self, ctx: &Ctx) -> Result<()> {
        let conf = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        ctx.aws
            .s3
            .put_public_access_block()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .public_access_block_configuration(conf)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("blocking public access to bucket {}", self.name),
                    e,
                )
            })?;
        Ok(())
    }

    async fn put_policy(&self, ctx: &Ctx) -> Result<()> {
        ctx.aws
            .s3
            .put_bucket_policy()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .policy(self.policy(ctx.partition()))
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("setting the TLS-only policy of bucket {}", self.name),
                    e,
                )
            })?;
        Ok(())
    }

    async fn put_folder(&self, ctx: &Ctx, key: &str) -> Result<()> {
        ctx.aws
            .s3
            .put_object()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .key(key)
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .map_err(|e| aws_err(&format!("creating folder {key} in bucket {}", self.name), e))?;
        Ok(())
    }

    /// Why HeadBucket answered 403. S3 answers 403 both when the caller lacks
    /// s3:ListBucket on a bucket of its own account and when another account owns the
    /// name (HeadBucket, https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html;
    /// an ExpectedBucketOwner mismatch is a 403 too, so it cannot tell them apart:
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
    /// ListBuckets lists only the caller's account's buckets
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html), so the name
    /// among them means ours.
    async fn forbidden(&self, ctx: &Ctx) -> String {
        let listed = ctx
            .aws
            .s3
            .list_buckets()
            .prefix(&self.name)
            .send()
            .await
            .map(|out| out.buckets().iter().any(|b| b.name() == Some(&self.name)));
        forbidden_reason(listed.ok())
    }

    /// The bucket's creation time as ListBuckets reports it (this account's buckets
    /// only: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html), which
    /// the create journal compares with its entry; None when it cannot be read.
    async fn created(&self, ctx: &Ctx) -> Option<i64> {
        let out = ctx
            .aws
            .s3
            .list_buckets()
            .prefix(&self.name)
            .send()
            .await
            .ok()?;
        out.buckets()
            .iter()
            .find(|b| b.name() == Some(&self.name))
            .and_then(|b| b.creation_date())
            .map(|t| t.secs())
    }

    async fn exists(&self, ctx: &Ctx) -> Result<Option<Result<Option<String>, String>>> {
        match ctx
            .aws
            .s3
            .head_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .send()
            .await
        {
            Ok(out) => Ok(Some(Ok(out.bucket_region().map(str::to_string)))),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                match status {
                    Some(404) => Ok(None),
                    Some(403) => Ok(Some(Err(self.forbidden(ctx).await))),
                    _ => Err(aws_err(&format!("looking up bucket {}", self.name), e)),
                }
            }
        }
    }

    async fn drift(
        &self,
        ctx: &Ctx,
        region: Option<&str>,
        tags: &HashMap<String, String>,
    ) -> Result<(Vec<Drift>, Vec<Drift>)> {
        let mut drift = Vec::new();
        let mut replace = Vec::new();
        if let Some(r) = region {
            if r != ctx.region() {
                replace.push(Drift::new("region", r, ctx.region()));
            }
        }
        if let Some(d) = tag_drift(tags, &self.tags) {
            drift.push(d);
        }
        let enc = self.encryption(ctx).await?;
        if enc == "none" {
            drift.push(Drift::new("encryption", enc, "AES256"));
        }
        let pab = self.public_access_blocked(ctx).await?;
        if !pab {
            drift.push(Drift::new(
                "public_access_block",
                "not fully blocked",
                "all four settings on",
            ));
        }
        if !self.wants_policy(ctx) {
            return self.folder_drift(ctx, drift).await.map(|d| (d, replace));
        }
        if let Some(d) = self.policy_drift(ctx).await? {
            drift.push(d);
        }
        self.folder_drift(ctx, drift).await.map(|d| (d, replace))
    }

    /// The bucket's default encryption algorithm, or "none".
    async fn encryption(&self, ctx: &Ctx) -> Result<String> {
        let s3 = &ctx.aws.s3;
        let enc = match s3
            .get_bucket_encryption()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .send()
            .await
        {
            Ok(out) => out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_string())
                .unwrap_or_else(|| "none".into()),
            Err(e) if sdk_code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                "none".into()
            }
            Err(e) => {
                return Err(aws_err(
                    &format!("reading the encryption of bucket {}", self.name),
                    e,
                ))
            }
        };
        Ok(enc)
    }

    /// Whether all four public access block settings are on.
    async fn public_access_blocked(&self, ctx: &Ctx) -> Result<bool> {
        let s3 = &ctx.aws.s3;
        let pab = match s3
            .get_public_access_block()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .send()
            .await
        {
            Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) if sdk_code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => false,
            Err(e) => {
                return Err(aws_err(
                    &format!("reading the public access block of bucket {}", self.name),
                    e,
                ))
            }
        };
        Ok(pab)
    }

    /// How the bucket policy differs from the one that denies non-TLS access, if it does.
    async fn policy_drift(&self, ctx: &Ctx) -> Result<Option<Drift>> {
        let s3 = &ctx.aws.s3;
        let policy = match s3
            .get_bucket_policy()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .send()
            .await
        {
            Ok(out) => out.policy().map(str::to_string),
            Err(e) if sdk_code(&e) == Some("NoSuchBucketPolicy") => None,
            Err(e) => {
                return Err(aws_err(
                    &format!("reading the policy of bucket {}", self.name),
                    e,
                ))
            }
        };
        let want: serde_json::Value = serde_json::from_str(&self.policy(ctx.partition()))?;
        let have: Option<serde_json::Value> =
            policy.as_deref().and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() == Some(&want) {
            return Ok(None);
        }
        // An existing policy: the keys that differ, with both values (not just "differs").
        Ok(Some(
            match have.as_ref().and_then(|h| super::jsondiff::sides(h, &want)) {
                Some((actual, desired)) => Drift::new("policy", actual, desired),
                None => Drift::new("policy", "none", "deny non-TLS access"),
            },
        ))
    }

    async fn folder_drift(&self, ctx: &Ctx, mut drift: Vec<Drift>) -> Result<Vec<Drift>> {
        let s3 = &ctx.aws.s3;
        for f in &self.folders {
            match s3
                .head_object()
                .bucket(&self.name)
                .expected_bucket_owner(ctx.account())
                .key(f)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => {
                    drift.push(Drift::new(&format!("folders.{f}"), "missing", "present"));
                }
                Err(e) => {
                    return Err(aws_err(
                        &format!("looking for folder {f} in bucket {}", self.name),
                        e,
                    ))
                }
            }
        }
        Ok(drift)
    }

    /// Delete every object version and delete marker, 1000 per request; objects are
    /// deleted only when `force_destroy` or the user confirmed the loss (`confirmed`).
    async fn empty(&self, ctx: &Ctx, confirmed: bool) -> Result<u64> {
        let s3 = &ctx.aws.s3;
        let mut removed = 0u64;
        loop {
            let mut batch: Vec<ObjectIdentifier> = Vec::new();
            let out = s3
                .list_object_versions()
                .bucket(&self.name)
                .expected_bucket_owner(ctx.account())
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| aws_err(&format!("listing the objects of bucket {}", self.name), e))?;
            for v in out.versions() {
                if let Some(k) = v.key() {
                    batch.push(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(v.version_id().map(str::to_string))
                            .build()?,
                    );
                }
            }
            for m in out.delete_markers() {
                if let Some(k) = m.key() {
                    batch.push(
                        ObjectIdentifier::builder()
                            .key(k)
                            .set_version_id(m.version_id().map(str::to_string))
                            .build()?,
                    );
                }
            }
            if batch.is_empty() {
                return Ok(removed);
            }
            if !self.force_destroy && !confirmed {
                bail!(
                    "bucket {} is not empty and `force_destroy` is false; empty it yourself or set `force_destroy: true`",
                    self.name
                );
            }
            for chunk in batch.chunks(1000) {
                let n = chunk.len() as u64;
                let del = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()?;
                let res = s3
                    .delete_objects()
                    .bucket(&self.name)
                    .expected_bucket_owner(ctx.account())
                    .delete(del)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_err(&format!("deleting objects from bucket {}", self.name), e)
                    })?;
                if let Some(err) = res.errors().first() {
                    bail!(
                        "could not delete object {} from bucket {}: {}",
                        err.key().unwrap_or("?"),
                        self.name,
                        err.message().unwrap_or("no reason given")
                    );
                }
                removed += n;
                ctx.progress.step(
                    &self.name,
                    &format!("emptied {removed} object versions so far"),
                );
            }
        }
    }
}

#[async_trait]
impl Resource for Bucket {
    fn kind(&self) -> &'static str {
        "bucket"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let region = match self.exists(ctx).await? {
            None => return Ok(Observed::Absent),
            Some(Err(why)) => {
                return Ok(Observed::Present(Present::new(
                    "exists",
                    Ownership::Inaccessible(why),
                )))
            }
            Some(Ok(r)) => r,
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new("exists", ownership.clone());
        p.arn = Some(format!("arn:{}:s3:::{}", ctx.partition(), self.name));
        if ownership == Ownership::Untagged {
            // For the create journal: is this the bucket an interrupted create made?
            p.created = self.created(ctx).await;
        }
        if ctx.inspects(&ownership) {
            let (drift, replace) = self.drift(ctx, region.as_deref(), &tags).await?;
            p.drift = drift;
            p.replace = replace;
            if !p.replace.is_empty() {
                // A replacement deletes every object version: plan shows the loss, and
                // delete refuses it (see `data_at_stake`).
                p.replace.extend(self.data_at_stake(ctx).await);
            }
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        let mut req = ctx.aws.s3.create_bucket().bucket(&self.name);
        if ctx.region() != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(ctx.region()))
                    .build(),
            );
        }
        ctx.progress.step(&self.name, "creating bucket");
        let already = match req.send().await {
            Ok(_) => false,
            // This account's bucket: an SDK retry of a create that went through, or a
            // bucket someone else made meanwhile. Only the ownership tag tells.
            Err(e) if sdk_code(&e) == Some("BucketAlreadyOwnedByYou") => true,
            Err(e) if sdk_code(&e) == Some("BucketAlreadyExists") => bail!(
                "bucket name {} is taken by another AWS account (bucket names are global); put ${{account_id}} in the name in the spec",
                self.name
            ),
            Err(e) => return Err(anyhow::anyhow!("creating bucket {}: {}", self.name, sdk_message(&e))),
        };
        wait::until(
            &ctx.progress,
            &self.name,
            "the bucket to exist",
            CREATE_WAIT,
            || async {
                Ok(match self.exists(ctx).await? {
                    Some(_) => Poll::Ready(()),
                    None => Poll::Pending("not visible yet".into()),
                })
            },
        )
        .await?;
        // Before labctl tags or configures anything: a create that found the bucket
        // already there (BucketAlreadyOwnedByYou; in us-east-1 S3 answers 200 OK to a
        // create of a bucket the account owns: CreateBucket,
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html) must not
        // take over a bucket that is not ours.
        let found = self.tags(ctx).await?;
        match found.get(OWNER_TAG) {
            Some(p) if p != ctx.pipeline() => bail!(
                "bucket {} already exists and belongs to labctl pipeline `{p}`; it was left alone. Give this pipeline's bucket another name",
                self.name
            ),
            None if already => bail!(
                "bucket {} appeared while labctl was creating it and is not tagged as this pipeline's; it was left alone. If it is the lab's, run `labctl up --adopt`",
                self.name
            ),
            _ => {}
        }
        // What the create made, for the journal: a later run tells this bucket from
        // another of the same name by its creation time.
        let arn = format!("arn:{}:s3:::{}", ctx.partition(), self.name);
        let created = self.created(ctx).await;
        ctx.journal
            .created(self.kind(), &self.name, Some(&arn), created);
        // The ownership tag first, so that an interruption leaves a bucket labctl recognises.
        self.put_tags(ctx, &HashMap::new()).await?;
        self.put_public_access_block(ctx).await?;
        self.put_encryption(ctx).await?;
        for f in &self.folders {
            self.put_folder(ctx, f).await?;
        }
        if self.wants_policy(ctx) {
            self.put_policy(ctx).await?;
        }
        Ok(())
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        for d in &present.drift {
            ctx.progress.step(
                &self.name,
                &format!("updating {}: {} -> {}", d.field, d.actual, d.desired),
            );
            match d.field.as_str() {
                "tags" => self.put_tags(ctx, &self.tags(ctx).await?).await?,
                "encryption" => self.put_encryption(ctx).await?,
                "public_access_block" => self.put_public_access_block(ctx).await?,
                "policy" => self.put_policy(ctx).await?,
                f if f.starts_with("folders.") => {
                    self.put_folder(ctx, &f["folders.".len()..]).await?
                }
                other => bail!(
                    "bucket {}: labctl cannot change `{other}` in place",
                    self.name
                ),
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let confirmed = ctx.data_loss_confirmed.contains(&self.name);
        if let Some(d) = present.replace.iter().find(|d| d.field == DATA_AT_STAKE) {
            if !confirmed {
                bail!(
                    "bucket {} holds {}; replacing it would delete them, and labctl does not destroy data to replace a bucket unless told to. Check --region / the spec's region; to replace it anyway, confirm on a terminal or pass `up --allow-data-loss`",
                    self.name,
                    d.actual
                );
            }
            ctx.progress.step(
                &self.name,
                &format!("deleting {} (data loss confirmed)", d.actual),
            );
        }
        ctx.progress.step(
            &self.name,
            "emptying bucket (all versions and delete markers)",
        );
        // Emptied again until DeleteBucket succeeds: an object may land after an empty
        // (a Firehose delivery stream being deleted "might continue to accept records"
        // and flush its buffer: Firehose API Reference, DeleteDeliveryStream), and S3
        // refuses to delete a bucket with any object version left (DeleteBucket: "All
        // objects (including all object versions and delete markers) in the bucket must
        // be deleted before the bucket itself can be deleted"; error BucketNotEmpty,
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html).
        let mut refused = 0;
        loop {
            let n = self.empty(ctx, confirmed).await?;
            ctx.progress.step(
                &self.name,
                &format!("deleting bucket ({n} object versions removed)"),
            );
            match ctx
                .aws
                .s3
                .delete_bucket()
                .bucket(&self.name)
                .expected_bucket_owner(ctx.account())
                .send()
                .await
            {
                Ok(_) => break,
                Err(e) if sdk_code(&e) == Some("NoSuchBucket") => break,
                Err(e) if sdk_code(&e) == Some("BucketNotEmpty") && refused < EMPTY_AGAIN => {
                    refused += 1;
                    ctx.progress.step(
                        &self.name,
                        "objects landed after the bucket was emptied; emptying it again",
                    );
                }
                Err(e) => return Err(aws_err(&format!("deleting bucket {}", self.name), e)),
            }
        }
        wait::until(
            &ctx.progress,
            &self.name,
            "the bucket to be gone",
            DELETE_WAIT,
            || async {
                Ok(match self.exists(ctx).await? {
                    None => Poll::Ready(()),
                    Some(_) => Poll::Pending("still visible".into()),
                })
            },
        )
        .await
    }
}

/// How many times `delete` empties the bucket again after S3 refused to delete it as
/// not empty (objects kept landing), before it gives up with S3's error.
const EMPTY_AGAIN: u32 = 10;

/// The drift field that marks a replacement (or a delete of a bucket found in another
/// region) as destroying data.
pub const DATA_AT_STAKE: &str = "data";

impl Bucket {
    /// When the bucket must be replaced: the object versions that would be lost (folder
    /// markers, empty objects whose key ends with `/`, aside), as a drift that `plan`
    /// shows and `delete` refuses; None when there are none. A bucket whose objects
    /// cannot be listed counts as holding data (ListObjectVersions:
    /// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html).
    async fn data_at_stake(&self, ctx: &Ctx) -> Option<Drift> {
        let out = ctx
            .aws
            .s3
            .list_object_versions()
            .bucket(&self.name)
            .expected_bucket_owner(ctx.account())
            .max_keys(1000)
            .send()
            .await;
        let held = match out {
            Ok(o) => {
                let n = o
                    .versions()
                    .iter()
                    .filter(|v| !(v.size() == Some(0) && v.key().is_some_and(|k| k.ends_with('/'))))
                    .count();
                match (n, o.is_truncated().unwrap_or(false)) {
                    (0, false) => return None,
                    (n, true) => format!("at least {n} object versions"),
                    (n, false) => format!("{n} object versions"),
                }
            }
            Err(e) => format!("objects that cannot be counted ({})", sdk_message(&e)),
        };
        Some(Drift::new(
            DATA_AT_STAKE,
            held,
            "deleted by the replacement",
        ))
    }
}

/// What a 403 on HeadBucket means, given whether ListBuckets (this account's buckets)
/// holds the name: Some(true) ours, Some(false) another account's, None unknown.
pub fn forbidden_reason(ours: Option<bool>) -> String {
    match ours {
        Some(true) => "access denied on this account's own bucket: the credentials lack s3:ListBucket on it (HeadBucket); grant it to the caller".into(),
        Some(false) => "access denied: the name is taken by another AWS account; choose another bucket name".into(),
        None => "access denied: either another AWS account owns the name, or the credentials lack s3:ListBucket on it (and s3:ListAllMyBuckets, so labctl cannot tell which)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_says_whose_bucket_it_is() {
        assert!(forbidden_reason(Some(true)).contains("own bucket"));
        assert!(forbidden_reason(Some(false)).contains("another AWS account"));
        assert!(!forbidden_reason(Some(false)).contains("own bucket"));
        assert!(forbidden_reason(None).contains("either"));
    }

    #[test]
    fn the_policy_denies_every_non_tls_request_to_the_bucket_and_its_objects() {
        let spec: Spec =
            serde_yaml::from_str("version: 1\npipeline: p\nbuckets:\n  b: {name: my-bucket}\n")
                .expect("spec");
        let b = Bucket::new(&spec, &spec.buckets["b"]);
        let doc: serde_json::Value = serde_json::from_str(&b.policy("aws")).expect("json");
        let st = &doc["Statement"][0];
        assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            (
                st["Effect"].as_str(),
                st["Principal"].as_str(),
                st["Action"].as_str()
            ),
            (Some("Deny"), Some("*"), Some("s3:*"))
        );
        assert_eq!(
            st["Resource"],
            serde_json::json!(["arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket/*"])
        );
        assert_eq!(
            st["Condition"],
            serde_json::json!({"Bool": {"aws:SecureTransport": "false"}})
        );
    }
}
