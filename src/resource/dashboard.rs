//! CloudWatch dashboard (the lab's step 7), generated from the spec: one row of
//! widgets for the stream, each delivery stream and the analytics application.
//! Dashboards cannot carry tags, so ownership is a structured marker: the body's first
//! widget is the text widget labctl writes, its markdown exactly [`header`] for the
//! pipeline ([`owner`]); a mention of the marker anywhere else, or a longer pipeline
//! name that starts with this one, is not ownership. A changed body is an update
//! (PutDashboard is an upsert), `down` deletes it.

use anyhow::{bail, Result};
use async_trait::async_trait;
use serde_json::{json, Value};

use super::metrics::{self, Metric, Of};
use super::model::{aws_err, sdk_code, Ctx, Drift, Observed, Ownership, Present, Resource};
use crate::spec::{Engine, SourceType, Spec};

pub struct Dashboard {
    name: String,
    pipeline: String,
    region: String,
    streams: Vec<String>,
    deliveries: Vec<(String, Of)>,
    apps: Vec<(String, Engine)>,
}

/// One line of a metric widget for a metric of [`metrics::TABLE`] on resource `value`
/// (its one dimension), read with the table's statistic.
fn line(x: Metric, value: &str) -> Value {
    json!([x.namespace, x.name, x.dimensions[0], value, {"stat": x.statistic}])
}

/// A per-input/output SQL metric (dimensions Application, Flow, Id): the Id is AWS's,
/// so the widget searches the metric's full dimension set for the application
/// (CloudWatch search expressions: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html).
fn search(x: Metric, app: &str, id: &str) -> Value {
    json!([{
        "id": id,
        "expression": format!(
            "SEARCH('{{{},{}}} MetricName=\"{}\" Application=\"{app}\"', '{}', 60)",
            x.namespace,
            x.dimensions.join(","),
            x.name,
            x.statistic
        ),
        "label": x.name
    }])
}

/// A Flink count that the service samples 4 times a minute: the sum, hidden, and the
/// sum divided by 4 shown (metrics::FLINK_DOC).
fn per_minute(x: Metric, app: &str, id: &str) -> Vec<Value> {
    vec![
        json!([x.namespace, x.name, x.dimensions[0], app, {"stat": x.statistic, "id": id, "visible": false}]),
        json!([{"expression": format!("{id}/4"), "label": format!("{} (per minute)", x.name), "id": format!("{id}pm")}]),
    ]
}

/// The ownership marker written into the dashboard's first widget.
pub fn marker(pipeline: &str) -> String {
    format!("labctl:pipeline={pipeline}")
}

/// The first widget's markdown: the dashboard's title and the ownership marker.
pub fn header(pipeline: &str) -> String {
    format!(
        "## Streaming pipeline `{pipeline}`\nManaged by labctl ({}). Changes made here are overwritten by `labctl up`.",
        marker(pipeline)
    )
}

/// The pipeline a dashboard body belongs to: its first widget is a text widget whose
/// markdown is exactly [`header`] for that pipeline. None for anything else.
pub fn owner(body: &Value) -> Option<String> {
    let first = body.get("widgets")?.as_array()?.first()?;
    if first.get("type")?.as_str()? != "text" {
        return None;
    }
    let md = first.get("properties")?.get("markdown")?.as_str()?;
    let rest = md.strip_prefix("## Streaming pipeline `")?;
    let p = &rest[..rest.find('`')?];
    (md == header(p)).then(|| p.to_string())
}

fn metric_widget(title: &str, region: &str, x: u32, y: u32, metrics: Vec<Value>) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 8, "height": 6,
        "properties": {"title": title, "region": region, "view": "timeSeries", "period": 60, "metrics": metrics}
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
                .map(|d| {
                    let of = match d.source.kind {
                        SourceType::KinesisStream => Of::DeliveryFromKinesis,
                        _ => Of::DeliveryDirectPut,
                    };
                    (d.name.clone(), of)
                })
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
            "properties": {"markdown": header(&self.pipeline)}
        })];
        let mut y = 2;
        for s in &self.streams {
            let m = |name: &str| line(metrics::get("AWS/Kinesis", name, Of::Stream), s);
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
            ));
            widgets.push(metric_widget(
                &format!("{s}: throttling"),
                r,
                16,
                y,
                vec![m("WriteProvisionedThroughputExceeded")],
            ));
            y += 6;
        }
        for (i, (d, of)) in self.deliveries.iter().enumerate() {
            let m = |name: &str| line(metrics::get("AWS/Firehose", name, *of), d);
            let x = (i as u32 % 3) * 8;
            let ingest = match of {
                Of::DeliveryFromKinesis => "DataReadFromKinesisStream.Records",
                _ => "IncomingRecords",
            };
            widgets.push(metric_widget(
                &format!("{d}: delivery to S3"),
                r,
                x,
                y,
                vec![
                    m(ingest),
                    m("DeliveryToS3.Records"),
                    m("DeliveryToS3.Success"),
                    m("DeliveryToS3.DataFreshness"),
                ],
            ));
        }
        if !self.deliveries.is_empty() {
            y += 6;
        }
        for (a, engine) in &self.apps {
            let metrics = match engine {
                Engine::Flink => {
                    let m = |name: &str| metrics::get("AWS/KinesisAnalytics", name, Of::FlinkApp);
                    let mut v = vec![line(m("uptime"), a), line(m("downtime"), a)];
                    v.extend(per_minute(m("numRecordsIn"), a, "recin"));
                    v.extend(per_minute(m("numRecordsOut"), a, "recout"));
                    v.push(line(m("lastCheckpointDuration"), a));
                    v
                }
                Engine::KinesisAnalyticsSql => {
                    let m = |name: &str| metrics::get("AWS/KinesisAnalytics", name, Of::SqlApp);
                    vec![
                        search(m("Records"), a, "records"),
                        search(m("Success"), a, "success"),
                        search(m("MillisBehindLatest"), a, "behind"),
                        line(m("KPUs"), a),
                    ]
                }
            };
            widgets.push(metric_widget(
                &format!("{a}: application"),
                r,
                0,
                y,
                metrics,
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
        let ownership = match owner(&body) {
            Some(p) if p == self.pipeline => Ownership::Ours,
            Some(p) => Ownership::OtherPipeline(p),
            None => Ownership::Untagged,
        };
        let mut p = Present::new("exists", ownership.clone());
        p.arn = Some(format!(
            "arn:{}:cloudwatch::{}:dashboard/{}",
            ctx.partition(),
            ctx.account(),
            self.name
        ));
        // The keys that differ, with both values (not just "differs").
        if let (true, Some((actual, desired))) = (
            ctx.inspects(&ownership),
            super::jsondiff::sides(&body, &self.body()),
        ) {
            p.drift.push(Drift::new("body", actual, desired));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: &str) -> Spec {
        serde_yaml::from_str(&format!("version: 1\npipeline: {p}\n")).expect("spec")
    }

    #[test]
    fn ownership_is_the_exact_first_widget_not_a_substring() {
        let lab = Dashboard::new(&spec("streaming-lab"), "d", "us-east-1").body();
        assert_eq!(owner(&lab).as_deref(), Some("streaming-lab"));
        // `streaming` is a prefix of `streaming-lab`: not its owner.
        assert_ne!(owner(&lab).as_deref(), Some("streaming"));
        // A hand-made dashboard that mentions the marker in a text widget.
        let hand = json!({"widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
             "properties": {"markdown": "Ops board (labctl:pipeline=x) — do not delete"}},
            {"type": "text", "x": 0, "y": 2, "width": 24, "height": 2,
             "properties": {"markdown": header("x")}}
        ]});
        assert_eq!(owner(&hand), None);
        // The header moved off the first widget, or a metric widget first: not a marker.
        let mut moved = Dashboard::new(&spec("x"), "d", "us-east-1").body();
        if let Some(w) = moved["widgets"].as_array_mut() {
            w.insert(0, metric_widget("t", "us-east-1", 0, 0, Vec::new()));
        }
        assert_eq!(owner(&moved), None);
        // Text after the header: not labctl's header any more.
        let mut edited = Dashboard::new(&spec("x"), "d", "us-east-1").body();
        edited["widgets"][0]["properties"]["markdown"] = json!(format!("{}\nmine", header("x")));
        assert_eq!(owner(&edited), None);
        assert_eq!(owner(&json!("not an object")), None);
    }
}
