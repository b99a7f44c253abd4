//! The CloudWatch metrics the checks read, each with the AWS page that documents its
//! namespace, name, dimensions and statistic, and one way to read a metric over the
//! checks' window. Knows nothing of what a check concludes from a number.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::resource::Ctx;

/// One documented metric: where it lives and how AWS says to aggregate it.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub namespace: &'static str,
    pub name: &'static str,
    pub statistic: Stat,
    /// The AWS page that documents it.
    pub source: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Sum,
    Maximum,
}

/// Kinesis Data Streams, dimension `StreamName`, statistic Sum: records put.
/// <https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html>
pub const STREAM_INCOMING_RECORDS: Metric = Metric {
    namespace: "AWS/Kinesis",
    name: "IncomingRecords",
    statistic: Stat::Sum,
    source: "https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html",
};

/// Managed Service for Apache Flink, dimension `Application`: records the job read.
/// AWS takes four snapshots a minute, so a summed count is four times the records
/// ("divide by 4"; [`FLINK_SNAPSHOTS_PER_MINUTE`]).
/// <https://docs.aws.amazon.com/managed-flink/latest/java/metrics-dimensions.html>
pub const FLINK_RECORDS_IN: Metric = Metric {
    namespace: "AWS/KinesisAnalytics",
    name: "numRecordsIn",
    statistic: Stat::Sum,
    source: "https://docs.aws.amazon.com/managed-flink/latest/java/metrics-dimensions.html",
};

/// See [`FLINK_RECORDS_IN`].
pub const FLINK_SNAPSHOTS_PER_MINUTE: f64 = 4.0;

/// Kinesis Data Analytics for SQL, dimensions `Application`, `Flow` (`Input`) and `Id`
/// (the input's id): records read from the input. With `Application` alone it returns
/// nothing. <https://docs.aws.amazon.com/kinesisanalytics/latest/dev/monitoring-metrics.html>
pub const SQL_RECORDS: Metric = Metric {
    namespace: "AWS/KinesisAnalytics",
    name: "Records",
    statistic: Stat::Sum,
    source: "https://docs.aws.amazon.com/kinesisanalytics/latest/dev/monitoring-metrics.html",
};

/// Read a metric over the last `window`, one-minute periods: the total of the
/// statistic over the periods (Sum) or its largest value (Maximum), and the start of
/// the earliest period with a non-zero value. None when CloudWatch has no datapoint.
pub async fn read(
    ctx: &Ctx,
    m: Metric,
    dims: &[(&str, &str)],
    window: Duration,
) -> Result<Option<(f64, Option<SystemTime>)>> {
    let now = SystemTime::now();
    let stat = match m.statistic {
        Stat::Sum => Statistic::Sum,
        Stat::Maximum => Statistic::Maximum,
    };
    let mut req = ctx
        .aws
        .cloudwatch
        .get_metric_statistics()
        .namespace(m.namespace)
        .metric_name(m.name)
        .start_time(DateTime::from(now - window))
        .end_time(DateTime::from(now))
        .period(60)
        .statistics(stat);
    for (name, value) in dims {
        req = req.dimensions(Dimension::builder().name(*name).value(*value).build());
    }
    let out = req.send().await.map_err(|e| {
        crate::aws::errors::aws_err(&format!("reading the metric {}/{}", m.namespace, m.name), e)
    })?;
    let points: Vec<(f64, Option<SystemTime>)> = out
        .datapoints()
        .iter()
        .filter_map(|p| {
            let v = match m.statistic {
                Stat::Sum => p.sum(),
                Stat::Maximum => p.maximum(),
            }?;
            let at = p.timestamp().and_then(|t| SystemTime::try_from(*t).ok());
            Some((v, at))
        })
        .collect();
    if points.is_empty() {
        return Ok(None);
    }
    let value = match m.statistic {
        Stat::Sum => points.iter().map(|(v, _)| v).sum(),
        Stat::Maximum => points.iter().map(|(v, _)| *v).fold(f64::MIN, f64::max),
    };
    let first = points
        .iter()
        .filter(|(v, _)| *v > 0.0)
        .filter_map(|(_, t)| *t)
        .min();
    Ok(Some((value, first)))
}
