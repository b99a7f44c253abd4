//! CloudWatch alarms on the pipeline's health (delivery freshness, iterator age,
//! write throttling, application downtime) and the SNS topic they may notify.
//! PutMetricAlarm is an upsert, so a changed threshold is an in-place update.

use std::collections::HashMap;

use anyhow::{bail, Result};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use indexmap::IndexMap;

use super::metrics::{self, Metric, Of};
use super::model::{
    aws_err, sdk_code, tag_drift, tags_for, Ctx, Drift, Observed, Ownership, Present, Resource,
};
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{AlarmMetric, AlarmSpec, Engine, Spec, TopicSpec};

/// The documented metric ([`metrics::TABLE`]) each alarm kind watches on its target;
/// None when AWS publishes no such metric for it: Kinesis Analytics for SQL has no
/// `downtime` (its metrics page lists none), only Managed Flink does.
pub fn metric_for(m: AlarmMetric, engine: Option<Engine>) -> Option<Metric> {
    let (ns, name, of) = match m {
        AlarmMetric::DeliveryFreshness => {
            ("AWS/Firehose", "DeliveryToS3.DataFreshness", Of::Delivery)
        }
        AlarmMetric::IteratorAge => (
            "AWS/Kinesis",
            "GetRecords.IteratorAgeMilliseconds",
            Of::Stream,
        ),
        AlarmMetric::WriteThrottling => (
            "AWS/Kinesis",
            "WriteProvisionedThroughputExceeded",
            Of::Stream,
        ),
        AlarmMetric::AppDowntime => match engine {
            Some(Engine::KinesisAnalyticsSql) => return None,
            _ => ("AWS/KinesisAnalytics", "downtime", Of::FlinkApp),
        },
    };
    metrics::lookup(ns, name, of).copied()
}

/// Namespace, metric, dimension name and statistic of each alarm kind (Flink for the
/// application), from [`metrics::TABLE`].
pub fn metric_of(m: AlarmMetric) -> (&'static str, &'static str, &'static str, Statistic) {
    let x = metric_for(m, Some(Engine::Flink)).unwrap_or(metrics::get("", "", Of::Stream));
    (
        x.namespace,
        x.name,
        x.dimensions.first().copied().unwrap_or(""),
        Statistic::from(x.statistic),
    )
}

pub struct Alarm {
    name: String,
    metric: AlarmMetric,
    /// The engine of the application an app-downtime alarm watches.
    engine: Option<Engine>,
    target_name: String,
    threshold: f64,
    period: i32,
    evaluation_periods: i32,
    topic_arn: Option<String>,
    tags: IndexMap<String, String>,
}

impl Alarm {
    pub fn new(spec: &Spec, a: &AlarmSpec, vars: &Vars) -> Alarm {
        let target_name = match a.metric {
            AlarmMetric::DeliveryFreshness => {
                spec.delivery_streams.get(&a.target).map(|d| d.name.clone())
            }
            AlarmMetric::IteratorAge | AlarmMetric::WriteThrottling => {
                spec.streams.get(&a.target).map(|s| s.name.clone())
            }
            AlarmMetric::AppDowntime => spec.applications.get(&a.target).map(|x| x.name.clone()),
        }
        .unwrap_or_default();
        let topic_arn = a
            .topic
            .as_ref()
            .and_then(|t| spec.topics.get(t))
            .map(|t| topic_arn(vars, &t.name));
        let engine = match a.metric {
            AlarmMetric::AppDowntime => spec.applications.get(&a.target).map(|x| x.engine),
            _ => None,
        };
        Alarm {
            name: a.name.clone(),
            metric: a.metric,
            engine,
            target_name,
            threshold: a.threshold,
            period: a.period_seconds,
            evaluation_periods: a.evaluation_periods,
            topic_arn,
            tags: tags_for(spec, &a.tags),
        }
    }

    /// The documented metric this alarm watches, or None (see [`metric_for`]).
    pub fn metric(&self) -> Option<Metric> {
        metric_for(self.metric, self.engine)
    }

    fn arn(&self, ctx: &Ctx) -> String {
        format!(
            "arn:{}:cloudwatch:{}:{}:alarm:{}",
            ctx.partition(),
            ctx.region(),
            ctx.account(),
            self.name
        )
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(self.arn(ctx))
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of alarm {}", self.name), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or("").to_string(),
                    t.value().unwrap_or("").to_string(),
                )
            })
            .collect())
    }

    fn cw_tags(&self) -> Vec<aws_sdk_cloudwatch::types::Tag> {
        self.tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_cloudwatch::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
            })
            .collect()
    }

    async fn put(&self, ctx: &Ctx) -> Result<()> {
        if self.metric().is_none() {
            bail!(
                "alarm {}: AWS publishes no downtime metric for a Kinesis Data Analytics for SQL application (only Managed Flink has `downtime`; {}); remove the alarm or use `engine: flink`",
                self.name,
                metrics::KDA_SQL_DOC
            );
        }
        let (ns, metric, dim, stat) = metric_of(self.metric);
        ctx.aws
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(&self.name)
            .alarm_description(format!(
                "labctl pipeline {}: {} of {}",
                ctx.pipeline(),
                metric,
                self.target_name
            ))
            .namespace(ns)
            .metric_name(metric)
            .dimensions(
                Dimension::builder()
                    .name(dim)
                    .value(&self.target_name)
                    .build(),
            )
            .statistic(stat)
            .period(self.period)
            .evaluation_periods(self.evaluation_periods)
            .threshold(self.threshold)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            .set_alarm_actions(self.topic_arn.clone().map(|a| vec![a]))
            .set_tags(Some(self.cw_tags()))
            .send()
            .await
            .map_err(|e| aws_err(&format!("writing alarm {}", self.name), e))?;
        Ok(())
    }
}

/// The settings of an alarm as CloudWatch describes it, in the order of [`wanted_settings`].
fn observed_settings(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> [(&'static str, String); 7] {
    let dims: Vec<String> = a
        .dimensions()
        .iter()
        .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
        .collect();
    [
        (
            "metric",
            format!(
                "{}/{}",
                a.namespace().unwrap_or(""),
                a.metric_name().unwrap_or("")
            ),
        ),
        ("dimensions", dims.join(",")),
        (
            "statistic",
            a.statistic()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        ),
        (
            "threshold",
            a.threshold().map(|t| t.to_string()).unwrap_or_default(),
        ),
        (
            "period_seconds",
            a.period().map(|t| t.to_string()).unwrap_or_default(),
        ),
        (
            "evaluation_periods",
            a.evaluation_periods()
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ),
        ("topic", a.alarm_actions().join(",")),
    ]
}

/// The settings the spec wants for an alarm, in the order of [`observed_settings`].
fn wanted_settings(alarm: &Alarm) -> [(&'static str, String); 7] {
    let (ns, metric, dim, stat) = metric_of(alarm.metric);
    [
        ("metric", format!("{ns}/{metric}")),
        ("dimensions", format!("{dim}={}", alarm.target_name)),
        ("statistic", stat.as_str().to_string()),
        ("threshold", alarm.threshold.to_string()),
        ("period_seconds", alarm.period.to_string()),
        ("evaluation_periods", alarm.evaluation_periods.to_string()),
        ("topic", alarm.topic_arn.clone().unwrap_or_default()),
    ]
}

#[async_trait]
impl Resource for Alarm {
    fn kind(&self) -> &'static str {
        "alarm"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let out = ctx
            .aws
            .cloudwatch
            .describe_alarms()
            .alarm_names(&self.name)
            .send()
            .await
            .map_err(|e| aws_err(&format!("looking up alarm {}", self.name), e))?;
        let Some(a) = out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(self.name.as_str()))
        else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let state = a
            .state_value()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        let mut p = Present::new(state, ownership.clone());
        p.arn = Some(self.arn(ctx));
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        let have = observed_settings(a);
        let want = wanted_settings(self);
        for ((field, h), (_, w)) in have.iter().zip(want.iter()) {
            if h != w {
                p.drift.push(Drift::new(field, h, w));
            }
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        ctx.progress.step(&self.name, "creating alarm");
        self.put(ctx).await
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        for d in &present.drift {
            ctx.progress.step(
                &self.name,
                &format!("updating {}: {} -> {}", d.field, d.actual, d.desired),
            );
        }
        self.put(ctx).await?;
        if present.drift.iter().any(|d| d.field == "tags") {
            ctx.aws
                .cloudwatch
                .tag_resource()
                .resource_arn(self.arn(ctx))
                .set_tags(Some(self.cw_tags()))
                .send()
                .await
                .map_err(|e| aws_err(&format!("tagging alarm {}", self.name), e))?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        ctx.progress.step(&self.name, "deleting alarm");
        ctx.aws
            .cloudwatch
            .delete_alarms()
            .alarm_names(&self.name)
            .send()
            .await
            .map_err(|e| aws_err(&format!("deleting alarm {}", self.name), e))?;
        Ok(())
    }
}

pub fn topic_arn(v: &Vars, name: &str) -> String {
    format!(
        "arn:{}:sns:{}:{}:{name}",
        v.partition, v.region, v.account_id
    )
}

/// An SNS topic for alarm notifications.
pub struct Topic {
    name: String,
    arn: String,
    tags: IndexMap<String, String>,
}

impl Topic {
    pub fn new(spec: &Spec, t: &TopicSpec, vars: &Vars) -> Topic {
        Topic {
            name: t.name.clone(),
            arn: topic_arn(vars, &t.name),
            tags: tags_for(spec, &t.tags),
        }
    }

    fn sns_tags(&self) -> Vec<aws_sdk_sns::types::Tag> {
        self.tags
            .iter()
            .filter_map(|(k, v)| {
                aws_sdk_sns::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .ok()
            })
            .collect()
    }
}

#[async_trait]
impl Resource for Topic {
    fn kind(&self) -> &'static str {
        "topic"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        match ctx
            .aws
            .sns
            .get_topic_attributes()
            .topic_arn(&self.arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if matches!(sdk_code(&e), Some("NotFound" | "NotFoundException")) => {
                return Ok(Observed::Absent)
            }
            Err(e) => return Err(aws_err(&format!("looking up topic {}", self.name), e)),
        }
        let out = ctx
            .aws
            .sns
            .list_tags_for_resource()
            .resource_arn(&self.arn)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of topic {}", self.name), e))?;
        let tags: HashMap<String, String> = out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new("exists", ownership.clone());
        p.arn = Some(self.arn.clone());
        if ctx.inspects(&ownership) {
            if let Some(d) = tag_drift(&tags, &self.tags) {
                p.drift.push(d);
            }
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        ctx.progress.step(&self.name, "creating topic");
        ctx.aws
            .sns
            .create_topic()
            .name(&self.name)
            .set_tags(Some(self.sns_tags()))
            .send()
            .await
            .map_err(|e| aws_err(&format!("creating topic {}", self.name), e))?;
        Ok(())
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        for d in &present.drift {
            if d.field != "tags" {
                bail!(
                    "topic {}: labctl cannot change `{}` in place",
                    self.name,
                    d.field
                );
            }
        }
        ctx.aws
            .sns
            .tag_resource()
            .resource_arn(&self.arn)
            .set_tags(Some(self.sns_tags()))
            .send()
            .await
            .map_err(|e| aws_err(&format!("tagging topic {}", self.name), e))?;
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        ctx.progress.step(&self.name, "deleting topic");
        ctx.aws
            .sns
            .delete_topic()
            .topic_arn(&self.arn)
            .send()
            .await
            .map_err(|e| aws_err(&format!("deleting topic {}", self.name), e))?;
        Ok(())
    }
}
