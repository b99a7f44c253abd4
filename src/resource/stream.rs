//! Kinesis data stream: the lab's ingestion point (step 2). On-demand by default or
//! provisioned with a shard count; retention from the spec. Creation waits CREATING
//! → ACTIVE; deletion waits for an in-progress create or update, then until gone.

use std::collections::HashMap;

use anyhow::{bail, Result};
use async_trait::async_trait;
use aws_sdk_kinesis::types::{ScalingType, StreamMode as AwsMode, StreamModeDetails, StreamStatus};
use indexmap::IndexMap;

use super::model::{
    aws_err, check_found_on_create, sdk_code, tag_drift, tags_for, Ctx, Drift, Observed, Ownership,
    Present, Resource,
};
use crate::engine::wait::{self, Bound, Poll};
use crate::spec::validate::OWNER_TAG;
use crate::spec::{Spec, StreamMode, StreamSpec};

// Poll every 1 s: a wait ends up to one poll interval after the stream changes, and
// these waits are on the critical path (issue 17: within 3% of it); one stream polled
// every second is 1 of DescribeStreamSummary's 20 TPS per account (Kinesis Data Streams
// API Reference, DescribeStreamSummary; docs/benchmarks.md).
const ACTIVE_WAIT: Bound = Bound::new(600, 1000, 1000);
const DELETE_WAIT: Bound = Bound::new(600, 1000, 1000);

pub struct Stream {
    name: String,
    mode: StreamMode,
    shards: Option<u32>,
    retention_hours: u32,
    tags: IndexMap<String, String>,
}

struct Seen {
    status: StreamStatus,
    mode: Option<AwsMode>,
    shards: i32,
    retention: i32,
    arn: String,
    created: Option<i64>,
}

fn mode_word(m: StreamMode) -> &'static str {
    match m {
        StreamMode::OnDemand => "on-demand",
        StreamMode::Provisioned => "provisioned",
    }
}

fn aws_mode(m: StreamMode) -> AwsMode {
    match m {
        StreamMode::OnDemand => AwsMode::OnDemand,
        StreamMode::Provisioned => AwsMode::Provisioned,
    }
}

impl Stream {
    pub fn new(spec: &Spec, s: &StreamSpec) -> Stream {
        Stream {
            name: s.name.clone(),
            mode: s.mode,
            shards: s.shards,
            retention_hours: s.retention_hours,
            tags: tags_for(spec, &s.tags),
        }
    }

    async fn describe(&self, ctx: &Ctx) -> Result<Option<Seen>> {
        match ctx
            .aws
            .kinesis
            .describe_stream_summary()
            .stream_name(&self.name)
            .send()
            .await
        {
            Ok(out) => {
                let Some(d) = out.stream_description_summary() else {
                    bail!("Kinesis described stream {} without a summary", self.name)
                };
                let status = d.stream_status().as_str();
                if !aws_sdk_kinesis::types::StreamStatus::values().contains(&status) {
                    bail!(
                        "describing stream {}: DescribeStreamSummary answered the status `{}`, which Kinesis does not document; run the command again, and check the endpoint if it persists",
                        self.name,
                        status
                    );
                }
                Ok(Some(Seen {
                    status: d.stream_status().clone(),
                    mode: d.stream_mode_details().map(|m| m.stream_mode().clone()),
                    shards: d.open_shard_count(),
                    retention: d.retention_period_hours(),
                    arn: d.stream_arn().to_string(),
                    created: Some(d.stream_creation_timestamp().secs()),
                }))
            }
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(aws_err(&format!("describing stream {}", self.name), e)),
        }
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .kinesis
            .list_tags_for_stream()
            .stream_name(&self.name)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of stream {}", self.name), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn put_tags(&self, ctx: &Ctx) -> Result<()> {
        ctx.aws
            .kinesis
            .add_tags_to_stream()
            .stream_name(&self.name)
            .set_tags(Some(self.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_err(&format!("tagging stream {}", self.name), e))?;
        Ok(())
    }

    /// Wait until the stream is ACTIVE (not CREATING or UPDATING).
    async fn wait_active(&self, ctx: &Ctx) -> Result<Seen> {
        wait::until(
            &ctx.progress,
            &self.name,
            "the stream to become ACTIVE",
            ACTIVE_WAIT,
            || async {
                Ok(match self.describe(ctx).await? {
                    Some(s) if s.status == StreamStatus::Active => Poll::Ready(s),
                    Some(s) if s.status == StreamStatus::Deleting => bail!(
                        "stream {} is being deleted; wait for it to go, then run `up` again",
                        self.name
                    ),
                    Some(s) => Poll::Pending(s.status.as_str().to_string()),
                    None => Poll::Pending("not visible yet".into()),
                })
            },
        )
        .await
    }

    async fn set_retention(&self, ctx: &Ctx, current: i32) -> Result<()> {
        let want = self.retention_hours as i32;
        if want > current {
            ctx.aws
                .kinesis
                .increase_stream_retention_period()
                .stream_name(&self.name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(|e| {
                    aws_err(&format!("raising the retention of stream {}", self.name), e)
                })?;
        } else if want < current {
            ctx.aws
                .kinesis
                .decrease_stream_retention_period()
                .stream_name(&self.name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(|e| {
                    aws_err(
                        &format!("lowering the retention of stream {}", self.name),
                        e,
                    )
                })?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Stream {
    fn kind(&self) -> &'static str {
        "stream"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(seen) = self.describe(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new(seen.status.as_str(), ownership);
        p.arn = Some(seen.arn.clone());
        p.created = seen.created;
        let want_mode = aws_mode(self.mode);
        let have_mode = seen.mode.clone().unwrap_or(AwsMode::Provisioned);
        if have_mode != want_mode {
            p.drift
                .push(Drift::new("mode", have_mode.as_str(), want_mode.as_str()));
        }
        if let (StreamMode::Provisioned, Some(n)) = (self.mode, self.shards) {
            if seen.shards != n as i32 {
                p.drift.push(Drift::new("shards", seen.shards, n));
            }
        }
        if seen.retention != self.retention_hours as i32 {
            p.drift.push(Drift::new(
                "retention_hours",
                seen.retention,
                self.retention_hours,
            ));
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        ctx.progress.step(
            &self.name,
            &format!("creating stream ({})", mode_word(self.mode)),
        );
        let mut req = ctx
            .aws
            .kinesis
            .create_stream()
            .stream_name(&self.name)
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(aws_mode(self.mode))
                    .build()?,
            )
            // Tags on the create call itself, so the stream is never unowned on AWS.
            .set_tags(Some(self.tags.clone().into_iter().collect()));
        if let Some(n) = self.shards {
            req = req.shard_count(n as i32);
        }
        match req.send().await {
            Ok(_) => {}
            // A retried create whose first attempt went through (tagged by it), or a
            // stream someone made meanwhile: only the ownership tag tells
            // (CreateStream: ResourceInUseException "The resource is not available for
            // this operation", https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html).
            Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                let tags = self.tags(ctx).await?;
                let owner = tags.get(OWNER_TAG).map(String::as_str);
                check_found_on_create(ctx, self.kind(), &self.name, owner)?;
            }
            Err(e) => return Err(aws_err(&format!("creating stream {}", self.name), e)),
        }
        let seen = self.wait_active(ctx).await?;
        // Some endpoints ignore tags on CreateStream; tagging again is idempotent.
        self.put_tags(ctx).await?;
        if seen.retention != self.retention_hours as i32 {
            self.set_retention(ctx, seen.retention).await?;
            self.wait_active(ctx).await?;
        }
        Ok(())
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let mut seen = self.wait_active(ctx).await?;
        for d in &present.drift {
            ctx.progress.step(
                &self.name,
                &format!("updating {}: {} -> {}", d.field, d.actual, d.desired),
            );
            match d.field.as_str() {
                "tags" => self.put_tags(ctx).await?,
                "retention_hours" => self.set_retention(ctx, seen.retention).await?,
                "mode" => {
                    ctx.aws
                        .kinesis
                        .update_stream_mode()
                        .stream_arn(&seen.arn)
                        .stream_mode_details(
                            StreamModeDetails::builder()
                                .stream_mode(aws_mode(self.mode))
                                .build()?,
                        )
                        .send()
                        .await
                        .map_err(|e| {
                            aws_err(
                                &format!("changing the capacity mode of stream {}", self.name),
                                e,
                            )
                        })?;
                }
                "shards" => {
                    let n = self.shards.unwrap_or(1) as i32;
                    ctx.aws
                        .kinesis
                        .update_shard_count()
                        .stream_name(&self.name)
                        .target_shard_count(n)
                        .scaling_type(ScalingType::UniformScaling)
                        .send()
                        .await
                        .map_err(|e| aws_err(&format!("resharding stream {}", self.name), e))?;
                }
                other => bail!(
                    "stream {}: labctl cannot change `{other}` in place",
                    self.name
                ),
            }
            seen = self.wait_active(ctx).await?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        if present.state == "CREATING" || present.state == "UPDATING" {
            // Kinesis refuses to delete a stream in the middle of a change.
            self.wait_active(ctx).await?;
        }
        if present.state != "DELETING" {
            ctx.progress.step(&self.name, "deleting stream");
            match ctx
                .aws
                .kinesis
                .delete_stream()
                .stream_name(&self.name)
                .enforce_consumer_deletion(true)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(()),
                Err(e) => return Err(aws_err(&format!("deleting stream {}", self.name), e)),
            }
        }
        wait::until(
            &ctx.progress,
            &self.name,
            "the stream to be gone",
            DELETE_WAIT,
            || async {
                Ok(match self.describe(ctx).await? {
                    None => Poll::Ready(()),
                    Some(s) => Poll::Pending(s.status.as_str().to_string()),
                })
            },
        )
        .await
    }
}
