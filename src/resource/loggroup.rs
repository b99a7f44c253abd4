//! CloudWatch Logs group and stream for a delivery stream's error logging. Not
//! declared on its own in the spec: labctl adds one for each delivery stream with
//! `logging:` (node id `<delivery id>/logs`), creates it before the delivery stream and
//! removes it after.

use std::collections::HashMap;

use anyhow::{bail, Result};
use async_trait::async_trait;
use indexmap::IndexMap;

use super::model::{
    aws_err, sdk_code, tag_drift, Ctx, Drift, Observed, Ownership, Present, Resource,
};
use crate::spec::validate::OWNER_TAG;

pub struct LogGroup {
    pub group: String,
    pub stream: String,
    pub retention_days: i32,
    pub tags: IndexMap<String, String>,
}

impl LogGroup {
    async fn find(&self, ctx: &Ctx) -> Result<Option<Option<i32>>> {
        let out = ctx
            .aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(&self.group)
            .send()
            .await
            .map_err(|e| aws_err(&format!("looking up log group {}", self.group), e))?;
        Ok(out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(self.group.as_str()))
            .map(|g| g.retention_in_days()))
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        #[allow(deprecated)]
        let out = ctx
            .aws
            .logs
            .list_tags_log_group()
            .log_group_name(&self.group)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of log group {}", self.group), e))?;
        Ok(out.tags().cloned().unwrap_or_default())
    }

    async fn has_stream(&self, ctx: &Ctx) -> Result<bool> {
        // A group found by `leftovers` names no stream; an empty prefix breaks
        // DescribeLogStreams' model (logStreamNamePrefix: min length 1, botocore logs).
        if self.stream.is_empty() {
            return Ok(false);
        }
        let out = ctx
            .aws
            .logs
            .describe_log_streams()
            .log_group_name(&self.group)
            .log_stream_name_prefix(&self.stream)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("listing the streams of log group {}", self.group),
                    e,
                )
            })?;
        Ok(out
            .log_streams()
            .iter()
            .any(|s| s.log_stream_name() == Some(self.stream.as_str())))
    }

    async fn put_retention(&self, ctx: &Ctx) -> Result<()> {
        ctx.aws
            .logs
            .put_retention_policy()
            .log_group_name(&self.group)
            .retention_in_days(self.retention_days)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("setting the retention of log group {}", self.group),
                    e,
                )
            })?;
        Ok(())
    }

    async fn put_stream(&self, ctx: &Ctx) -> Result<()> {
        match ctx
            .aws
            .logs
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(&self.stream)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if sdk_code(&e) == Some("ResourceAlreadyExistsException") => Ok(()),
            Err(e) => Err(aws_err(
                &format!("creating log stream {} in {}", self.stream, self.group),
                e,
            )),
        }
    }
}

#[async_trait]
impl Resource for LogGroup {
    fn kind(&self) -> &'static str {
        "log-group"
    }
    fn name(&self) -> &str {
        &self.group
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(retention) = self.find(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new("exists", ownership.clone());
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        if retention != Some(self.retention_days) {
            p.drift.push(Drift::new(
                "retention_days",
                retention
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "never expire".into()),
                self.retention_days,
            ));
        }
        if !self.has_stream(ctx).await? {
            p.drift
                .push(Drift::new("log_stream", "missing", &self.stream));
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        ctx.progress.step(&self.group, "creating log group");
        match ctx
            .aws
            .logs
            .create_log_group()
            .log_group_name(&self.group)
            .set_tags(Some(self.tags.clone().into_iter().collect()))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if sdk_code(&e) == Some("ResourceAlreadyExistsException") => {
                if self.tags(ctx).await?.get(OWNER_TAG).map(String::as_str) != Some(ctx.pipeline())
                {
                    bail!("log group {} appeared while labctl was creating it and is not tagged as ours; it was left alone", self.group);
                }
            }
            Err(e) => return Err(aws_err(&format!("creating log group {}", self.group), e)),
        }
        self.put_retention(ctx).await?;
        self.put_stream(ctx).await
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        for d in &present.drift {
            ctx.progress.step(
                &self.group,
                &format!("updating {}: {} -> {}", d.field, d.actual, d.desired),
            );
            match d.field.as_str() {
                "retention_days" => self.put_retention(ctx).await?,
                "log_stream" => self.put_stream(ctx).await?,
                "tags" => {
                    #[allow(deprecated)]
                    ctx.aws
                        .logs
                        .tag_log_group()
                        .log_group_name(&self.group)
                        .set_tags(Some(self.tags.clone().into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws_err(&format!("tagging log group {}", self.group), e))?;
                }
                other => bail!(
                    "log group {}: labctl cannot change `{other}` in place",
                    self.group
                ),
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        ctx.progress.step(&self.group, "deleting log group");
        match ctx
            .aws
            .logs
            .delete_log_group()
            .log_group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(aws_err(&format!("deleting log group {}", self.group), e)),
        }
    }
}
