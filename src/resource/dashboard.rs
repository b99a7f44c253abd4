//! CloudWatch dashboard (the lab's step 7), generated from the spec: one row of
//! widgets for the stream, each delivery stream and the analytics application.
//! Dashboards cannot carry tags, so ownership is a marker in the body's first widget;
//! a changed body is an update (PutDashboard is an upsert), `down` deletes it.

use anyhow::{bail, Result};
use async_trait::async_trait;
use serde_json::{json, Value};

use super::model::{aws_err, sdk_code, Ctx, Drift, Observed, Ownership, Present, Resource};
use crate::spec::{Engine, Spec};

pub struct Dashboard {
    name: String,
    pipeline: String,
    region: String,
    streams: Vec<String>,
    deliveries: Vec<String>,
    apps: Vec<(String, Engine)>,
}

/// The ownership marker written into the dashboard's first widget.
pub fn marker(pipeline: &str) -> String {
    format!("labctl:pipeline={pipeline}")
}

fn metric_widget(
    title: &str,
    region: &str,
    x: u32,
    y: u32,
    metrics: Vec<Value>,
    stat: &str,
) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 8, "height": 6,
        "properties": {"title": title, "region": region, "view": "timeSeries", "stat": stat, "period": 60, "metrics": metrics}
    })
}

impl Dashboard {
    pub fn new(spec: &Spec, name: &str, region: &str) -> Dashboard {
        Dashboard {
            name: name.to_string(),
            pipeline: spec.pipeline.clone(),
            region: region.to_string(),
            streams: spec.streams.values().map(|s| s.name.clone()).collect(),
            deliveries: spec
                .delivery_streams
                .values()
                .map(|d| d.name.clone())
                .collect(),
            apps: spec
                .applications
                .values()
                .map(|a| (a.name.clone(), a.engine))
                .collect(),
        }
    }

    // check-lengths: allow (a flat table of widgets)
    /// The dashboard body for the spec.
    pub fn body(&self) -> Value {
        let r = &self.region;
        let mut widgets = vec![json!({
            "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
            "properties": {"markdown": format!("## Streaming pipeline `{}`\nManaged by labctl ({}). Changes made here are overwritten by `labctl up`.", self.pipeline, marker(&self.pipeline))}
        })];
        let mut y = 2;
        for s in &self.streams {
            let m = |name: &str| json!(["AWS/Kinesis", name, "StreamName", s]);
            widgets.push(metric_widget(
                &format!("{s}: records in"),
                r,
                0,
                y,
                vec![
                    m("IncomingRecords"),
                    m("PutRecord.Success"),
                    m("PutRecords.SuccessfulRecords"),
                ],
                "Sum",
            ));
            widgets.push(metric_widget(
                &format!("{s}: reads"),
                r,
                8,
                y,
                vec![
                    m("GetRecords.Success"),
                    m("GetRecords.IteratorAgeMilliseconds"),
                ],
                "Maximum",
            ));
            widgets.push(metric_widget(
                &format!("{s}: throttling"),
                r,
                16,
                y,
                vec![m("WriteProvisionedThroughputExceeded")],
                "Sum",
            ));
            y += 6;
        }
        for (i, d) in self.deliveries.iter().enumerate() {
            let m = |name: &str| json!(["AWS/Firehose", name, "DeliveryStreamName", d]);
            let x = (i as u32 % 3) * 8;
            widgets.push(metric_widget(
                &format!("{d}: delivery to S3"),
                r,
                x,
                y,
                vec![
                    m("IncomingRecords"),
                    m("DeliveryToS3.Success"),
                    m("DeliveryToS3.Records"),
                    m("DeliveryToS3.DataFreshness"),
                ],
                "Sum",
            ));
        }
        if !self.deliveries.is_empty() {
            y += 6;
        }
        for (a, engine) in &self.apps {
            let m = |name: &str| json!(["AWS/KinesisAnalytics", name, "Application", a]);
            let metrics = match engine {
                Engine::Flink => vec![
                    m("uptime"),
                    m("downtime"),
                    m("numRecordsIn"),
                    m("numRecordsOut"),
                    m("lastCheckpointDuration"),
                ],
                Engine::KinesisAnalyticsSql => {
                    vec![m("Success"), m("InputProcessing.OkRecords"), m("KPUs")]
                }
            };
            widgets.push(metric_widget(
                &format!("{a}: application"),
                r,
                0,
                y,
                metrics,
                "Maximum",
            ));
            y += 6;
        }
        json!({"widgets": widgets})
    }

    async fn get(&self, ctx: &Ctx) -> Result<Option<Value>> {
        match ctx
            .aws
            .cloudwatch
            .get_dashboard()
            .dashboard_name(&self.name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.dashboard_body()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null),
            )),
            Err(e)
                if matches!(
                    sdk_code(&e),
                    Some("ResourceNotFound" | "ResourceNotFoundException")
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_err(&format!("reading dashboard {}", self.name), e)),
        }
    }

    async fn put(&self, ctx: &Ctx) -> Result<()> {
        let out = ctx
            .aws
            .cloudwatch
            .put_dashboard()
            .dashboard_name(&self.name)
            .dashboard_body(self.body().to_string())
            .send()
            .await
            .map_err(|e| aws_err(&format!("writing dashboard {}", self.name), e))?;
        if let Some(m) = out.dashboard_validation_messages().first() {
            bail!(
                "CloudWatch rejected part of dashboard {}: {}",
                self.name,
                m.message().unwrap_or("no reason given")
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Dashboard {
    fn kind(&self) -> &'static str {
        "dashboard"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(body) = self.get(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let text = body.to_string();
        let ownership = if text.contains(&marker(&self.pipeline)) {
            Ownership::Ours
        } else if let Some(i) = text.find("labctl:pipeline=") {
            let rest = &text[i + "labctl:pipeline=".len()..];
            Ownership::OtherPipeline(
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect(),
            )
        } else {
            Ownership::Untagged
        };
        let mut p = Present::new("exists", ownership.clone());
        p.arn = Some(format!(
            "arn:{}:cloudwatch::{}:dashboard/{}",
            ctx.partition(),
            ctx.account(),
            self.name
        ));
        if ctx.inspects(&ownership) && body != self.body() {
            p.drift.push(Drift::new(
                "body",
                "differs from the generated dashboard",
                "the generated dashboard",
            ));
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        ctx.progress.step(&self.name, "writing dashboard");
        self.put(ctx).await
    }

    async fn update(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        ctx.progress.step(&self.name, "rewriting dashboard");
        self.put(ctx).await
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        ctx.progress.step(&self.name, "deleting dashboard");
        match ctx
            .aws
            .cloudwatch
            .delete_dashboards()
            .dashboard_names(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    sdk_code(&e),
                    Some("ResourceNotFound" | "ResourceNotFoundException")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_err(&format!("deleting dashboard {}", self.name), e)),
        }
    }
}
