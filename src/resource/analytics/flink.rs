//! A Managed Service for Apache Flink application (v2) running the lab's aggregation in
//! Flink SQL: labctl builds the Python artifact ([`crate::artifact`]), uploads it to
//! the lab bucket under the code prefix (its key carries its checksum), and creates the
//! application with the run options (`python`, `jarfile`), the pipeline properties
//! main.py fills the SQL with, parallelism and CloudWatch logging from the spec, then
//! starts it. A changed SQL file or jar is a new artifact key: an in-place update with
//! the current version id, never a replacement. `down` stops it (forcing the stop
//! after a bound), deletes it with its CreateTimestamp and removes its artifacts.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_kinesisanalyticsv2::primitives::DateTime;
use aws_sdk_kinesisanalyticsv2::types::{
    ApplicationCodeConfiguration, ApplicationCodeConfigurationUpdate, ApplicationConfiguration,
    ApplicationConfigurationUpdate, ApplicationSnapshotConfiguration, CloudWatchLoggingOption,
    CloudWatchLoggingOptionUpdate, CodeContent, CodeContentType, CodeContentUpdate,
    ConfigurationType, EnvironmentProperties, EnvironmentPropertyUpdates,
    FlinkApplicationConfiguration, FlinkApplicationConfigurationUpdate, ParallelismConfiguration,
    ParallelismConfigurationUpdate, PropertyGroup, RuntimeEnvironment, S3ContentLocation,
    S3ContentLocationUpdate, Tag,
};
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use indexmap::IndexMap;

use super::{
    artifact_target, log_target, transient, with_iam_retry, FORCE_WAIT, GONE_WAIT, RUNNING_WAIT,
    SETTLE_WAIT, STOP_WAIT,
};
use crate::artifact::{self, Artifact, PROPERTY_GROUP, RUN_OPTIONS};
use crate::engine::wait::{self, Bound, Poll};
use crate::resource::model::{
    aws_err, sdk_code, tag_drift, tags_for, Ctx, Dependency, DownRelease, Drift, Observed,
    Ownership, Present, Resource, UpNeed,
};
use crate::resource::policy;
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{ApplicationSpec, Parallelism, Spec, StartingPosition};

/// The runtime when the spec names none.
pub const DEFAULT_RUNTIME: &str = "FLINK-1_20";
pub struct FlinkApp {
    id: String,
    name: String,
    runtime: String,
    role_arn: String,
    stream_arn: String,
    stream_name: String,
    delivery_name: String,
    position: &'static str,
    parallelism: Parallelism,
    code_path: String,
    jars: Vec<String>,
    bucket: String,
    prefix: String,
    log_stream_arn: String,
    log_group: String,
    log_stream: String,
    region: String,
    tags: IndexMap<String, String>,
    built: Mutex<Option<Artifact>>,
}

#[derive(Debug)]
struct Seen {
    status: String,
    version: i64,
    created: Option<DateTime>,
    arn: String,
    logging_id: Option<String>,
    fields: Vec<(&'static str, String)>,
}

/// Property groups in one comparable line: `group{k=v,…};…`, sorted.
fn groups_text(groups: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    groups
        .iter()
        .map(|(g, m)| {
            let kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{g}{{{}}}", kv.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

impl FlinkApp {
    /// DeleteApplication. The SDK's retry of a delete whose answer was lost finds the
    /// first one under way: "ResourceInUseException … is in DELETING state" (the API
    /// Reference lists ResourceInUseException for DeleteApplication); the delete is
    /// accepted if the application now reads DELETING or is gone.
    async fn send_delete(&self, ctx: &Ctx, created: DateTime) -> Result<()> {
        ctx.progress.step(&self.name, "deleting the application");
        let sent = ctx
            .aws
            .kinesisanalyticsv2
            .delete_application()
            .application_name(&self.name)
            .create_timestamp(created)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                match self.describe(ctx).await? {
                    None => Ok(()),
                    Some(s) if s.status == "DELETING" => Ok(()),
                    Some(_) => Err(aws_err(&format!("deleting application {}", self.name), e)),
                }
            }
            Err(e) => Err(aws_err(&format!("deleting application {}", self.name), e)),
        }
    }

    pub fn new(spec: &Spec, id: &str, a: &ApplicationSpec, vars: &Vars) -> FlinkApp {
        let (bucket_id, prefix) = artifact_target(spec, a).unwrap_or_default();
        let (group, stream, _) = log_target(a);
        let stream_name = spec
            .streams
            .get(&a.input.stream)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        FlinkApp {
            id: id.to_string(),
            name: a.name.clone(),
            runtime: a.runtime.clone().unwrap_or_else(|| DEFAULT_RUNTIME.into()),
            role_arn: spec
                .roles
                .get(&a.role)
                .map(|r| policy::role_arn(vars, &r.name))
                .unwrap_or_default(),
            stream_arn: policy::stream_arn(vars, &stream_name),
            stream_name,
            delivery_name: spec
                .delivery_streams
                .get(&a.output.delivery_stream)
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            position: match a.input.starting_position {
                StartingPosition::TrimHorizon => "TRIM_HORIZON",
                _ => "LATEST",
            },
            parallelism: a.parallelism.clone().unwrap_or_default(),
            code_path: a.code.clone(),
            jars: a.jars.clone(),
            bucket: spec
                .buckets
                .get(&bucket_id)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            prefix,
            log_stream_arn: policy::log_stream_arn(vars, &group, &stream),
            log_group: group.clone(),
            log_stream: stream.clone(),
            region: vars.region.clone(),
            tags: tags_for(spec, &a.tags),
            built: Mutex::new(None),
        }
    }

    /// The artifact: built once per process by [`artifact::prepare`] (`validate`,
    /// `plan` and `up` build it before any AWS call; other commands build it here).
    async fn artifact(&self, _ctx: &Ctx) -> Result<Artifact> {
        if let Some(a) = self.built.lock().ok().and_then(|g| g.clone()) {
            return Ok(a);
        }
        let a = artifact::prepare(&self.code_path, &self.jars, false)
            .await
            .with_context(|| {
                format!(
                    "the code artifact of application `{}` ({})",
                    self.id, self.name
                )
            })?;
        if let Ok(mut g) = self.built.lock() {
            *g = Some(a.clone());
        }
        Ok(a)
    }

    fn bucket_arn(&self) -> String {
        // The partition of the region, never a literal `arn:aws:` (IAM User Guide, ARNs).
        format!(
            "arn:{}:s3:::{}",
            crate::aws::partition(&self.region),
            self.bucket
        )
    }

    /// The property groups labctl gives the application.
    pub fn properties(&self, a: &Artifact) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut run = BTreeMap::new();
        run.insert("python".to_string(), "main.py".to_string());
        run.insert("jarfile".to_string(), a.jar_path.clone());
        let mut p = BTreeMap::new();
        p.insert("input.stream.arn".to_string(), self.stream_arn.clone());
        p.insert("input.stream.name".to_string(), self.stream_name.clone());
        p.insert(
            "input.starting.position".to_string(),
            self.position.to_string(),
        );
        p.insert("aws.region".to_string(), self.region.clone());
        p.insert(
            "output.delivery.stream".to_string(),
            self.delivery_name.clone(),
        );
        p.insert("sql.file".to_string(), a.sql_path.clone());
        let mut g = BTreeMap::new();
        g.insert(RUN_OPTIONS.to_string(), run);
        g.insert(PROPERTY_GROUP.to_string(), p);
        g
    }

    fn sdk_groups(&self, a: &Artifact) -> Result<Vec<PropertyGroup>> {
        self.properties(a)
            .into_iter()
            .map(|(id, map)| {
                PropertyGroup::builder()
                    .property_group_id(id)
                    .set_property_map(Some(map.into_iter().collect()))
                    .build()
                    .context("building a property group")
            })
            .collect()
    }

    fn parallelism_text(&self) -> String {
        let p = &self.parallelism;
        format!(
            "CUSTOM {} per KPU {} autoscaling {}",
            p.parallelism, p.per_kpu, p.auto_scaling
        )
    }

    fn desired_fields(&self, a: &Artifact) -> Vec<(&'static str, String)> {
        vec![
            ("runtime", self.runtime.clone()),
            ("role", self.role_arn.clone()),
            ("code.bucket", self.bucket_arn()),
            ("code.key", a.key(&self.prefix, &self.name)),
            ("properties", groups_text(&self.properties(a))),
            ("parallelism", self.parallelism_text()),
            ("logging", self.log_stream_arn.clone()),
        ]
    }

    async fn describe(&self, ctx: &Ctx) -> Result<Option<Seen>> {
        let out = match ctx
            .aws
            .kinesisanalyticsv2
            .describe_application()
            .application_name(&self.name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(aws_err(&format!("describing application {}", self.name), e)),
        };
        let Some(d) = out.application_detail() else {
            bail!("Managed Flink described {} without a detail", self.name)
        };
        let conf = d.application_configuration_description();
        let loc = conf
            .and_then(|c| c.application_code_configuration_description())
            .and_then(|c| c.code_content_description())
            .and_then(|c| c.s3_application_code_location_description());
        let mut groups: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for g in conf
            .and_then(|c| c.environment_property_descriptions())
            .map(|e| e.property_group_descriptions())
            .unwrap_or_default()
        {
            let map = g
                .property_map()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            groups.insert(g.property_group_id().to_string(), map);
        }
        let par = conf
            .and_then(|c| c.flink_application_configuration_description())
            .and_then(|f| f.parallelism_configuration_description());
        let parallelism = match par {
            Some(p) => format!(
                "{} {} per KPU {} autoscaling {}",
                p.configuration_type().map(|t| t.as_str()).unwrap_or(""),
                p.parallelism().unwrap_or(0),
                p.parallelism_per_kpu().unwrap_or(0),
                p.auto_scaling_enabled().unwrap_or(false)
            ),
            None => "(none)".into(),
        };
        let logging = d.cloud_watch_logging_option_descriptions().first();
        Ok(Some(Seen {
            status: d.application_status().as_str().to_string(),
            version: d.application_version_id(),
            created: d.create_timestamp().cloned(),
            arn: d.application_arn().to_string(),
            logging_id: logging
                .and_then(|l| l.cloud_watch_logging_option_id())
                .map(str::to_string),
            fields: vec![
                ("runtime", d.runtime_environment().as_str().to_string()),
                ("role", d.service_execution_role().unwrap_or("").to_string()),
                (
                    "code.bucket",
                    loc.map(|l| l.bucket_arn().to_string()).unwrap_or_default(),
                ),
                (
                    "code.key",
                    loc.map(|l| l.file_key().to_string()).unwrap_or_default(),
                ),
                ("properties", groups_text(&groups)),
                ("parallelism", parallelism),
                (
                    "logging",
                    logging
                        .map(|l| l.log_stream_arn().to_string())
                        .unwrap_or_else(|| "off".into()),
                ),
            ],
        }))
    }

    async fn tags(&self, ctx: &Ctx, arn: &str) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .kinesisanalyticsv2
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of application {}", self.name), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
            .collect())
    }

    fn sdk_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    /// The SHA-256 S3 holds for the object at `key` (base64), asked with ChecksumMode
    /// ENABLED (HeadObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html):
    /// None when there is no object, Some("") when it was stored without a SHA-256.
    /// ExpectedBucketOwner: another account's bucket answers 403, never an object.
    async fn stored_checksum(&self, ctx: &Ctx, key: &str) -> Result<Option<String>> {
        match ctx
            .aws
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .expected_bucket_owner(ctx.account())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.checksum_sha256().unwrap_or("").to_string())),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(None),
            Err(e) => Err(aws_err(
                &format!("looking up the artifact s3://{}/{key}", self.bucket),
                e,
            )),
        }
    }

    /// Put the artifact in the bucket unless the object at its key is already exactly
    /// it: the key is predictable, so anyone with s3:PutObject on the bucket could have
    /// planted code there. Trusted only when S3's SHA-256 of the stored object is the
    /// artifact's; otherwise it is replaced, uploaded with ChecksumAlgorithm SHA256 and
    /// the value, which S3 checks against the bytes it receives (PutObject,
    /// x-amz-checksum-sha256: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html),
    /// then read back the same way.
    async fn upload(&self, ctx: &Ctx, a: &Artifact) -> Result<String> {
        let key = a.key(&self.prefix, &self.name);
        let want = a.sha256_base64();
        let what = match self.stored_checksum(ctx, &key).await? {
            Some(have) if have == want => return Ok(key),
            Some(_) => "replacing the object at s3://{b}/{k}: its SHA-256 is not the artifact's (planted or damaged)",
            None => "uploading the code artifact to s3://{b}/{k}",
        };
        ctx.progress.step(
            &self.name,
            &format!(
                "{} ({} bytes)",
                what.replace("{b}", &self.bucket).replace("{k}", &key),
                a.bytes.len()
            ),
        );
        ctx.aws
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .expected_bucket_owner(ctx.account())
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&want)
            .body(a.bytes.clone().into())
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!(
                        "uploading the artifact of application {} to bucket {}",
                        self.name, self.bucket
                    ),
                    e,
                )
            })?;
        match self.stored_checksum(ctx, &key).await? {
            Some(have) if have == want => Ok(key),
            other => bail!(
                "the artifact at s3://{}/{key} does not read back with its SHA-256 ({want}) but {}; it is not used. Run `labctl up` again; if it persists, something else writes to that key",
                self.bucket,
                other.map(|c| if c.is_empty() { "none".to_string() } else { c }).unwrap_or_else(|| "no object".into())
            ),
        }
    }

    /// When the application already points at the artifact's key: whether the object
    /// there is still the artifact (S3's SHA-256 of it). A planted or damaged object is
    /// drift `code.sha256`, which `up` corrects by uploading the artifact again and
    /// updating the application's code (Managed Flink restarts it on the new code).
    async fn code_drift(&self, ctx: &Ctx, a: &Artifact, seen: &Seen) -> Result<Option<Drift>> {
        let key = a.key(&self.prefix, &self.name);
        let points_at = seen
            .fields
            .iter()
            .any(|(f, v)| *f == "code.key" && *v == key);
        if !points_at {
            return Ok(None);
        }
        let want = a.sha256_base64();
        Ok(match self.stored_checksum(ctx, &key).await? {
            Some(have) if have == want => None,
            Some(have) if have.is_empty() => {
                Some(Drift::new("code.sha256", "(none recorded)", want))
            }
            Some(have) => Some(Drift::new("code.sha256", have, want)),
            None => Some(Drift::new("code.sha256", "(no object)", want)),
        })
    }

    /// Remove this application's artifacts from the bucket, all but `keep`.
    async fn remove_artifacts(&self, ctx: &Ctx, keep: Option<&str>) -> Result<()> {
        if self.bucket.is_empty() {
            // `labctl leftovers` does not know the artifact bucket; it removes the bucket itself.
            return Ok(());
        }
        let prefix = artifact::folder(&self.prefix, &self.name);
        let listed = match ctx
            .aws
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .expected_bucket_owner(ctx.account())
            .prefix(&prefix)
            .send()
            .await
        {
            Ok(l) => l,
            Err(e) if sdk_code(&e) == Some("NoSuchBucket") => return Ok(()),
            Err(e) => {
                return Err(aws_err(
                    &format!("listing the artifacts of application {}", self.name),
                    e,
                ))
            }
        };
        for o in listed.contents() {
            let Some(k) = o.key() else { continue };
            if Some(k) == keep || !k.ends_with(".zip") {
                continue;
            }
            ctx.progress.step(
                &self.name,
                &format!("removing artifact s3://{}/{k}", self.bucket),
            );
            ctx.aws
                .s3
                .delete_object()
                .bucket(&self.bucket)
                .key(k)
                .expected_bucket_owner(ctx.account())
                .send()
                .await
                .map_err(|e| aws_err(&format!("removing artifact {k}"), e))?;
        }
        Ok(())
    }

    /// Wait while the application is in a transient status. The control plane is
    /// eventually consistent: an application just created may answer
    /// ResourceNotFoundException for a moment (Managed Flink API Reference,
    /// CreateApplication is asynchronous; AWS's eventual-consistency guidance for
    /// control planes), so "not found" is believed only after
    /// [`NOT_YET_VISIBLE_POLLS`](crate::resource::delivery::NOT_YET_VISIBLE_POLLS)
    /// answers in a row, as for Firehose.
    async fn settled(&self, ctx: &Ctx, what: &str) -> Result<Option<Seen>> {
        let misses = std::sync::atomic::AtomicUsize::new(0);
        wait::until(&ctx.progress, &self.name, what, SETTLE_WAIT, || async {
            use std::sync::atomic::Ordering::SeqCst;
            Ok(match self.describe(ctx).await? {
                None if misses.fetch_add(1, SeqCst) + 1
                    < crate::resource::delivery::NOT_YET_VISIBLE_POLLS =>
                {
                    Poll::Pending("not visible yet".into())
                }
                Some(s) if transient(&s.status) => Poll::Pending(s.status),
                other => Poll::Ready(other),
            })
        })
        .await
    }

    async fn wait_for(&self, ctx: &Ctx, status: &str, bound: Bound) -> Result<()> {
        wait::until(
            &ctx.progress,
            &self.name,
            &format!("the application to be {status}"),
            bound,
            || async {
                Ok(match self.describe(ctx).await? {
                    Some(s) if s.status == status => Poll::Ready(()),
                    Some(s) => Poll::Pending(s.status),
                    None => bail!(
                        "application {} disappeared while labctl waited for {status}; run the command again",
                        self.name
                    ),
                })
            },
        )
        .await
    }

    async fn start(&self, ctx: &Ctx) -> Result<()> {
        // The input and output must be usable before the job runs (see `dependency`).
        crate::engine::phase::proceed().await?;
        ctx.progress
            .step(&self.name, "starting the Flink application");
        ctx.aws
            .kinesisanalyticsv2
            .start_application()
            .application_name(&self.name)
            .send()
            .await
            .map_err(|e| aws_err(&format!("starting application {}", self.name), e))?;
        self.wait_started(ctx).await
    }

    /// After StartApplication: RUNNING, or a failed start reported at once. Managed
    /// Flink gives no failure status for a start: an application whose job cannot be
    /// submitted goes STARTING → READY and says why in its CloudWatch Logs stream
    /// (developer guide, "Troubleshooting" / "Application is stuck in a transient
    /// status", and "Setting up application logging"). So any status other than
    /// RUNNING after STARTING ends the wait with the newest error lines of the log
    /// stream; a READY seen only before STARTING (the start not visible yet) is given
    /// [`UNSEEN_START_POLLS`] polls.
    async fn wait_started(&self, ctx: &Ctx) -> Result<()> {
        let seen_starting = std::sync::atomic::AtomicBool::new(false);
        let ready_polls = std::sync::atomic::AtomicUsize::new(0);
        let outcome = wait::until(
            &ctx.progress,
            &self.name,
            "the application to be RUNNING",
            RUNNING_WAIT,
            || async {
                use std::sync::atomic::Ordering::SeqCst;
                let Some(s) = self.describe(ctx).await? else {
                    bail!(
                        "application {} disappeared while labctl waited for RUNNING; run the command again",
                        self.name
                    )
                };
                Ok(match start_outcome(
                    &s.status,
                    seen_starting.load(SeqCst),
                    ready_polls.load(SeqCst),
                ) {
                    StartOutcome::Running => Poll::Ready(None),
                    StartOutcome::Failed => Poll::Ready(Some(s.status)),
                    StartOutcome::Waiting => {
                        if s.status == "STARTING" {
                            seen_starting.store(true, SeqCst);
                        } else {
                            ready_polls.fetch_add(1, SeqCst);
                        }
                        Poll::Pending(s.status)
                    }
                })
            },
        )
        .await?;
        let Some(status) = outcome else {
            return Ok(());
        };
        let lines = self.newest_errors(ctx).await;
        Err(anyhow::Error::new(StartFailed {
            message: failed_start_message(
                &self.name,
                &status,
                &self.log_group,
                &self.log_stream,
                &lines,
            ),
        }))
    }

    /// The newest error lines of the application's log stream (GetLogEvents with
    /// startFromHead=false returns the latest events: CloudWatch Logs API reference,
    /// GetLogEvents), or why they could not be read.
    async fn newest_errors(&self, ctx: &Ctx) -> Result<Vec<String>, String> {
        let out = ctx
            .aws
            .logs
            .get_log_events()
            .log_group_name(&self.log_group)
            .log_stream_name(&self.log_stream)
            .start_from_head(false)
            .limit(LOG_EVENTS_READ)
            .send()
            .await
            .map_err(|e| crate::aws::errors::sdk_message(&e))?;
        let messages: Vec<String> = out
            .events()
            .iter()
            .filter_map(|e| e.message().map(str::to_string))
            .collect();
        Ok(error_lines(&messages, ERROR_LINES_SHOWN))
    }

    async fn stop(&self, ctx: &Ctx, force: bool) -> Result<()> {
        ctx.progress.step(
            &self.name,
            if force {
                "forcing the stop"
            } else {
                "stopping the application"
            },
        );
        match ctx
            .aws
            .kinesisanalyticsv2
            .stop_application()
            .application_name(&self.name)
            .force(force)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(aws_err(&format!("stopping application {}", self.name), e)),
        }
    }

    /// From RUNNING or STOPPING to READY: a plain stop, forced after [`STOP_WAIT`].
    async fn to_ready(&self, ctx: &Ctx, status: &str) -> Result<()> {
        if status == "RUNNING" {
            self.stop(ctx, false).await?;
        }
        if status == "FORCE_STOPPING" {
            return self.wait_for(ctx, "READY", FORCE_WAIT).await;
        }
        match self.wait_for(ctx, "READY", STOP_WAIT).await {
            Ok(()) => Ok(()),
            Err(e) => {
                ctx.progress
                    .step(&self.name, &format!("the stop did not end in time ({e:#})"));
                self.stop(ctx, true).await?;
                self.wait_for(ctx, "READY", FORCE_WAIT).await
            }
        }
    }

    fn code_update(&self, key: &str) -> ApplicationCodeConfigurationUpdate {
        ApplicationCodeConfigurationUpdate::builder()
            .code_content_type_update(CodeContentType::Zipfile)
            .code_content_update(
                CodeContentUpdate::builder()
                    .s3_content_location_update(
                        S3ContentLocationUpdate::builder()
                            .bucket_arn_update(self.bucket_arn())
                            .file_key_update(key)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    /// The new application's configuration: the code at `key`, the properties, the
    /// parallelism, no snapshots.
    fn configuration(&self, key: &str, a: &Artifact) -> Result<ApplicationConfiguration> {
        Ok(ApplicationConfiguration::builder()
            .application_code_configuration(
                ApplicationCodeConfiguration::builder()
                    .code_content_type(CodeContentType::Zipfile)
                    .code_content(
                        CodeContent::builder()
                            .s3_content_location(
                                S3ContentLocation::builder()
                                    .bucket_arn(self.bucket_arn())
                                    .file_key(key)
                                    .build()?,
                            )
                            .build(),
                    )
                    .build()?,
            )
            .environment_properties(
                EnvironmentProperties::builder()
                    .set_property_groups(Some(self.sdk_groups(a)?))
                    .build()?,
            )
            .flink_application_configuration(
                FlinkApplicationConfiguration::builder()
                    .parallelism_configuration(
                        ParallelismConfiguration::builder()
                            .configuration_type(ConfigurationType::Custom)
                            .parallelism(self.parallelism.parallelism)
                            .parallelism_per_kpu(self.parallelism.per_kpu)
                            .auto_scaling_enabled(self.parallelism.auto_scaling)
                            .build()?,
                    )
                    .build(),
            )
            // Nothing in the lab needs state across restarts; snapshots would also
            // make `down` take one before stopping.
            .application_snapshot_configuration(
                ApplicationSnapshotConfiguration::builder()
                    .snapshots_enabled(false)
                    .build()?,
            )
            .build())
    }

    /// CreateApplication, retried while IAM propagates the new role. True when the
    /// application already existed (a retried create whose first attempt went through,
    /// or someone else's): the caller checks whose it is before going on.
    async fn send_create(
        &self,
        ctx: &Ctx,
        conf: ApplicationConfiguration,
        logging: CloudWatchLoggingOption,
    ) -> Result<bool> {
        let existed = std::sync::atomic::AtomicBool::new(false);
        with_iam_retry(
            ctx,
            &self.name,
            &self.role_arn,
            "creating the application",
            || {
                let (conf, logging) = (conf.clone(), logging.clone());
                let existed = &existed;
                async move {
                    match ctx
                        .aws
                        .kinesisanalyticsv2
                        .create_application()
                        .application_name(&self.name)
                        .application_description(format!(
                            "labctl pipeline {}: per-sensor one-minute aggregates",
                            ctx.pipeline()
                        ))
                        .runtime_environment(RuntimeEnvironment::from(self.runtime.as_str()))
                        .service_execution_role(&self.role_arn)
                        .application_configuration(conf)
                        .cloud_watch_logging_options(logging)
                        .set_tags(Some(self.sdk_tags()))
                        .send()
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                            existed.store(true, std::sync::atomic::Ordering::Relaxed);
                            Ok(())
                        }
                        Err(e) => Err(aws_err(&format!("creating application {}", self.name), e)),
                    }
                }
            },
        )
        .await?;
        Ok(existed.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The configuration update for the drifted `fields`: code (now at `key`),
    /// properties, parallelism.
    fn configuration_update(
        &self,
        fields: &[&str],
        key: &str,
        a: &Artifact,
    ) -> Result<ApplicationConfigurationUpdate> {
        let mut conf = ApplicationConfigurationUpdate::builder();
        if fields.iter().any(|f| f.starts_with("code.")) {
            conf = conf.application_code_configuration_update(self.code_update(key));
        }
        if fields.contains(&"properties") {
            conf = conf.environment_property_updates(
                EnvironmentPropertyUpdates::builder()
                    .set_property_groups(Some(self.sdk_groups(a)?))
                    .build()?,
            );
        }
        if fields.contains(&"parallelism") {
            conf = conf.flink_application_configuration_update(
                FlinkApplicationConfigurationUpdate::builder()
                    .parallelism_configuration_update(
                        ParallelismConfigurationUpdate::builder()
                            .configuration_type_update(ConfigurationType::Custom)
                            .parallelism_update(self.parallelism.parallelism)
                            .parallelism_per_kpu_update(self.parallelism.per_kpu)
                            .auto_scaling_enabled_update(self.parallelism.auto_scaling)
                            .build(),
                    )
                    .build(),
            );
        }
        Ok(conf.build())
    }

    /// The logging option update, when `logging` drifted and the application has one.
    fn logging_update(
        &self,
        seen: &Seen,
        fields: &[&str],
    ) -> Result<Option<CloudWatchLoggingOptionUpdate>> {
        Ok(match (&seen.logging_id, fields.contains(&"logging")) {
            (Some(id), true) => Some(
                CloudWatchLoggingOptionUpdate::builder()
                    .cloud_watch_logging_option_id(id)
                    .log_stream_arn_update(&self.log_stream_arn)
                    .build()?,
            ),
            _ => None,
        })
    }

    /// UpdateApplication at `version`, retried while IAM propagates a changed role.
    async fn send_update(
        &self,
        ctx: &Ctx,
        version: i64,
        fields: &[&str],
        conf: ApplicationConfigurationUpdate,
        logging: Option<CloudWatchLoggingOptionUpdate>,
    ) -> Result<()> {
        with_iam_retry(
            ctx,
            &self.name,
            &self.role_arn,
            "updating the application",
            || {
                let (conf, logging) = (conf.clone(), logging.clone());
                async move {
                    let mut call = ctx
                        .aws
                        .kinesisanalyticsv2
                        .update_application()
                        .application_name(&self.name)
                        .current_application_version_id(version)
                        .application_configuration_update(conf);
                    if fields.contains(&"role") {
                        call = call.service_execution_role_update(&self.role_arn);
                    }
                    if fields.contains(&"runtime") {
                        call = call.runtime_environment_update(RuntimeEnvironment::from(
                            self.runtime.as_str(),
                        ));
                    }
                    if let Some(l) = logging {
                        call = call.cloud_watch_logging_option_updates(l);
                    }
                    call.send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_err(&format!("updating application {}", self.name), e))
                }
            },
        )
        .await
    }
}

#[async_trait]
impl Resource for FlinkApp {
    fn kind(&self) -> &'static str {
        "application"
    }
    fn name(&self) -> &str {
        &self.name
    }

    /// The input stream and the output delivery stream reach a Flink application only
    /// as runtime properties its job reads (Managed Flink API Reference,
    /// CreateApplication: EnvironmentProperties are free-form property groups; nothing in
    /// the request names a stream), so AWS has nothing to check of them at creation.
    /// `up`: the code is uploaded and the application created while they are still being
    /// made; it is started only once both are usable (CreateDeliveryStream: "Attempts to
    /// send data to a delivery stream that is not in the ACTIVE state cause an
    /// exception"; Kinesis CreateStream: writes and reads need ACTIVE).
    /// `down`: both may go once its DeleteApplication is accepted: "Managed Service for
    /// Apache Flink halts application execution and deletes the application" (API
    /// Reference, DeleteApplication); a halted application reads and writes nothing, as
    /// a stopped one: "After the application is stopped, Amazon Kinesis Analytics stops
    /// reading data from the input, the application stops processing data, and there is
    /// no output written to the destination" (StopApplication).
    /// The role, the log group and the artifact bucket stay strict: the application
    /// uses them until it is gone (it writes its logs while stopping; labctl removes
    /// its artifacts from the bucket after deleting it).
    fn dependency(&self, on: &str) -> Dependency {
        match on {
            "stream" | "delivery-stream" => Dependency {
                up: UpNeed::Proceed,
                down: DownRelease::Accepted,
            },
            _ => Dependency::STRICT,
        }
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(seen) = self.describe(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx, &seen.arn).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new(seen.status.clone(), ownership.clone());
        p.arn = Some(seen.arn.clone());
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        // Being removed (`down`): the delete needs only ownership and status; comparing
        // the code would first build the artifact (reading the ~74 MiB connector jar),
        // which delayed DeleteApplication, and so the delivery stream's delete that waits
        // for it, on `down`'s critical path (issue 17).
        if crate::engine::phase::removing() {
            return Ok(Observed::Present(p));
        }
        // Only `labctl leftovers` builds an application without its code (validation
        // makes sure every spec's code file exists): it deletes, so drift is moot.
        if !Path::new(&self.code_path).exists() {
            return Ok(Observed::Present(p));
        }
        // `up` and `plan` built the artifact before any AWS call; for `status` and
        // `down` a jar that cannot be had (offline with a cold cache) must not hide the
        // application: it is reported as a code drift that names the reason.
        let a = match self.artifact(ctx).await {
            Ok(a) => a,
            Err(e) => {
                let have = seen.fields.iter().find(|(f, _)| *f == "code.key");
                p.drift.push(Drift::new(
                    "code.key",
                    have.map(|(_, v)| v.as_str()).unwrap_or(""),
                    format!("(unknown: {e:#})"),
                ));
                return Ok(Observed::Present(p));
            }
        };
        for ((field, want), (_, have)) in self.desired_fields(&a).iter().zip(&seen.fields) {
            if want != have {
                let d = Drift::new(field, have, want);
                if *field == "logging" && seen.logging_id.is_none() {
                    p.replace.push(d);
                } else {
                    p.drift.push(d);
                }
            }
        }
        if let Some(d) = self.code_drift(ctx, &a, &seen).await? {
            p.drift.push(d);
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        if seen.status != "RUNNING" {
            p.drift.push(Drift::new("status", &seen.status, "RUNNING"));
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        let a = self.artifact(ctx).await?;
        let key = self.upload(ctx, &a).await?;
        let conf = self.configuration(&key, &a)?;
        let logging = CloudWatchLoggingOption::builder()
            .log_stream_arn(&self.log_stream_arn)
            .build()?;
        ctx.progress.step(
            &self.name,
            &format!("creating Flink application ({})", self.runtime),
        );
        let existed = self.send_create(ctx, conf, logging).await?;
        let Some(seen) = self.settled(ctx, "the new application to be READY").await? else {
            bail!(
                "application {} is not found right after creation; run `labctl up` again",
                self.name
            );
        };
        if existed {
            // Its tags were set by the create that made it: ours only if they say so.
            let tags = self.tags(ctx, &seen.arn).await?;
            let owner = tags.get(OWNER_TAG).map(String::as_str);
            if owner != Some(ctx.pipeline()) {
                bail!(
                    "application {} already existed when labctl created it and is {}; it was left alone (not configured, not started)",
                    self.name,
                    owner
                        .map(|p| format!("labctl pipeline `{p}`'s"))
                        .unwrap_or_else(|| "not tagged as this pipeline's".into())
                );
            }
        }
        self.start(ctx).await
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let Some(mut seen) = self
            .settled(ctx, "the application to finish its current transition")
            .await?
        else {
            return self.create(ctx).await;
        };
        let fields: Vec<&str> = present
            .drift
            .iter()
            .map(|d| d.field.as_str())
            .filter(|f| *f != "status" && *f != "tags")
            .collect();
        if !fields.is_empty() {
            let a = self.artifact(ctx).await?;
            let key = self.upload(ctx, &a).await?;
            ctx.progress.step(
                &self.name,
                &format!("updating {} (version {})", fields.join(", "), seen.version),
            );
            let conf = self.configuration_update(&fields, &key, &a)?;
            let logging = self.logging_update(&seen, &fields)?;
            self.send_update(ctx, seen.version, &fields, conf, logging)
                .await?;
            seen = match self.settled(ctx, "the update to finish").await? {
                Some(s) => s,
                None => bail!(
                    "application {} disappeared during its update; run `labctl up` again",
                    self.name
                ),
            };
            // The artifact the application used before is no longer needed.
            self.remove_artifacts(ctx, Some(&key)).await?;
        }
        if present.drift.iter().any(|d| d.field == "tags") {
            ctx.aws
                .kinesisanalyticsv2
                .tag_resource()
                .resource_arn(&seen.arn)
                .set_tags(Some(self.sdk_tags()))
                .send()
                .await
                .map_err(|e| aws_err(&format!("tagging application {}", self.name), e))?;
        }
        if seen.status == "READY" {
            self.start(ctx).await?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let first = self.describe(ctx).await?;
        let mut seen = match first {
            None => {
                self.remove_artifacts(ctx, None).await?;
                return Ok(());
            }
            Some(s) => s,
        };
        if matches!(
            seen.status.as_str(),
            "STARTING" | "UPDATING" | "AUTOSCALING"
        ) {
            // Do not wait for a start to finish only to stop it.
            self.stop(ctx, true).await?;
            seen.status = "FORCE_STOPPING".into();
        }
        // A RUNNING application is deleted as it is: "Managed Service for Apache Flink
        // halts application execution and deletes the application" (API Reference,
        // DeleteApplication), so no stop first. A stop under way ends first (READY).
        if matches!(seen.status.as_str(), "STOPPING" | "FORCE_STOPPING") {
            self.to_ready(ctx, &seen.status).await?;
        } else if !matches!(seen.status.as_str(), "READY" | "RUNNING" | "DELETING") {
            self.settled(ctx, "the application to settle before deletion")
                .await?;
        }
        let Some(seen) = self.describe(ctx).await? else {
            self.remove_artifacts(ctx, None).await?;
            return Ok(());
        };
        if seen.status != "DELETING" {
            let Some(created) = seen.created else {
                bail!("Managed Flink gave no CreateTimestamp for {}, which deletion needs; delete it in the console", self.name)
            };
            self.send_delete(ctx, created).await?;
        }
        // DELETING: its execution is halted, it reads and writes nothing any more, so its
        // input stream and output delivery stream may go (see `dependency`).
        crate::engine::phase::reached();
        wait::until(
            &ctx.progress,
            &self.name,
            "the application to be gone",
            GONE_WAIT,
            || async {
                Ok(match self.describe(ctx).await? {
                    None => Poll::Ready(()),
                    Some(s) => Poll::Pending(s.status),
                })
            },
        )
        .await?;
        let _ = present;
        self.remove_artifacts(ctx, None).await
    }
}

/// How many events of the log stream a failed start reads, and how many error lines
/// it shows.
const LOG_EVENTS_READ: i32 = 200;
const ERROR_LINES_SHOWN: usize = 12;

/// A start that ended anywhere but RUNNING: the whole report (status, log group and
/// stream, error lines, what to do). Typed so callers could tell it from a timeout.
#[derive(Debug)]
pub struct StartFailed {
    pub message: String,
}

impl std::fmt::Display for StartFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartFailed {}

#[derive(Debug, PartialEq, Eq)]
enum StartOutcome {
    Running,
    Failed,
    Waiting,
}

/// How many polls a READY that was never STARTING is taken for a start not yet visible.
const UNSEEN_START_POLLS: usize = 3;

/// One poll of a start: `seen_starting` says whether STARTING was seen before,
/// `ready_polls` how many earlier polls saw the application not STARTING.
fn start_outcome(status: &str, seen_starting: bool, ready_polls: usize) -> StartOutcome {
    match status {
        "RUNNING" => StartOutcome::Running,
        "STARTING" => StartOutcome::Waiting,
        "READY" if !seen_starting && ready_polls + 1 < UNSEEN_START_POLLS => StartOutcome::Waiting,
        _ => StartOutcome::Failed,
    }
}

/// The text of one log event: Managed Flink writes JSON events whose `messageType` is
/// the level and `message` (plus `throwableInformation`) the text (developer guide,
/// "Analyze logs with CloudWatch Logs Insights"); anything else is taken as it is.
/// None for an event that is not an error.
fn error_text(raw: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(raw) {
        let level = o.get("messageType").and_then(|v| v.as_str()).unwrap_or("");
        if level != "ERROR" {
            return None;
        }
        let mut text = o
            .get("message")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if let Some(t) = o.get("throwableInformation").and_then(|v| v.as_str()) {
            if let Some(first) = t.lines().next() {
                text = format!("{text} ({first})");
            }
        }
        return Some(text);
    }
    let looks = ["ERROR", "Error", "Exception", "Traceback", "Caused by"];
    looks
        .iter()
        .any(|w| raw.contains(w))
        .then(|| raw.trim_end().to_string())
}

/// The newest `n` error lines of `messages` (oldest first), or the newest `n` lines
/// of any kind when none is an error.
fn error_lines(messages: &[String], n: usize) -> Vec<String> {
    let errors: Vec<String> = messages.iter().filter_map(|m| error_text(m)).collect();
    let pick = if errors.is_empty() {
        messages.iter().map(|m| m.trim_end().to_string()).collect()
    } else {
        errors
    };
    let skip = pick.len().saturating_sub(n);
    pick.into_iter().skip(skip).collect()
}

/// What `up` says when the start failed.
fn failed_start_message(
    name: &str,
    status: &str,
    group: &str,
    stream: &str,
    lines: &Result<Vec<String>, String>,
) -> String {
    let mut m = format!(
        "application {name} failed to start: it went from STARTING to {status} instead of RUNNING. Its log group {group} (stream {stream}) "
    );
    match lines {
        Ok(l) if l.is_empty() => m.push_str("holds no events yet; look again there in a minute"),
        Ok(l) => {
            m.push_str("says (newest error lines):");
            for line in l {
                m.push_str("\n    ");
                m.push_str(line);
            }
        }
        Err(e) => m.push_str(&format!("could not be read ({e})")),
    }
    m.push_str("\nFix the cause (the SQL, the jar, the runtime properties or the role), then run `labctl up` again: it starts the application again and reports the outcome as soon as it is known.");
    m
}

#[cfg(test)]
mod start_tests {
    use super::*;

    #[test]
    fn a_start_fails_when_it_leaves_starting_for_anything_but_running() {
        assert_eq!(start_outcome("RUNNING", false, 0), StartOutcome::Running);
        assert_eq!(start_outcome("STARTING", false, 0), StartOutcome::Waiting);
        assert_eq!(start_outcome("READY", true, 0), StartOutcome::Failed);
        assert_eq!(
            start_outcome("FORCE_STOPPING", true, 0),
            StartOutcome::Failed
        );
        // READY before STARTING was ever seen: a few polls of grace, then a failure.
        assert_eq!(start_outcome("READY", false, 0), StartOutcome::Waiting);
        assert_eq!(
            start_outcome("READY", false, UNSEEN_START_POLLS - 1),
            StartOutcome::Failed
        );
    }

    #[test]
    fn error_lines_prefer_errors_and_keep_the_newest() {
        let ev = |t: &str, m: &str| {
            serde_json::json!({"messageType": t, "message": m, "applicationARN": "a"}).to_string()
        };
        let msgs = vec![
            ev("INFO", "starting"),
            ev("ERROR", "first"),
            "plain Traceback (most recent call last):".to_string(),
            ev("WARN", "careful"),
            ev("ERROR", "last"),
        ];
        assert_eq!(
            error_lines(&msgs, 2),
            vec!["plain Traceback (most recent call last):", "last"]
        );
        assert_eq!(error_lines(&msgs[..1], 5), vec![ev("INFO", "starting")]);
        let m = failed_start_message("app", "READY", "/g", "s", &Ok(vec!["boom".into()]));
        assert!(
            m.contains("STARTING to READY") && m.contains("/g") && m.contains("\n    boom"),
            "{m}"
        );
    }
}
