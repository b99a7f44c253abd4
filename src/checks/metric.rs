//! The CloudWatch metrics the checks read, taken from labctl's table of documented
//! metrics (`resource::metrics`, each with its AWS page), and one way to read a metric over the
//! checks' window. Knows nothing of what a check concludes from a number.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};

use crate::resource::metrics::{self as table, Of};
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

/// The table's entry ([`crate::resource::metrics::TABLE`], which cites each AWS page)
/// for a metric the checks read.
fn from_table(namespace: &str, name: &str, of: Of) -> Metric {
    let t = table::get(namespace, name, of);
    Metric {
        namespace: t.namespace,
        name: t.name,
        statistic: if t.statistic == "Maximum" {
            Stat::Maximum
        } else {
            Stat::Sum
        },
        source: t.source,
    }
}

/// Kinesis Data Streams, dimension `StreamName`, statistic Sum: records put.
pub fn stream_incoming_records() -> Metric {
    from_table("AWS/Kinesis", "IncomingRecords", Of::Stream)
}

/// Managed Service for Apache Flink, dimension `Application`: records the job read.
/// AWS takes four snapshots a minute, so a summed count is four times the records
/// ("divide by 4"; [`FLINK_SNAPSHOTS_PER_MINUTE`]).
pub fn flink_records_in() -> Metric {
    from_table("AWS/KinesisAnalytics", "numRecordsIn", Of::FlinkApp)
}

/// See [`flink_records_in`].
pub const FLINK_SNAPSHOTS_PER_MINUTE: f64 = 4.0;

/// Kinesis Data Analytics for SQL, dimensions `Application`, `Flow` (`Input`) and `Id`
/// (the input's id): records read from the input. With `Application` alone it returns
/// nothing.
pub fn sql_records() -> Metric {
    from_table("AWS/KinesisAnalytics", "Records", Of::SqlApp)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_metrics_are_in_the_table_with_their_statistic() {
        for (m, ns, name) in [
            (stream_incoming_records(), "AWS/Kinesis", "IncomingRecords"),
            (flink_records_in(), "AWS/KinesisAnalytics", "numRecordsIn"),
            (sql_records(), "AWS/KinesisAnalytics", "Records"),
        ] {
            assert_eq!((m.namespace, m.name, m.statistic), (ns, name, Stat::Sum));
            assert!(
                m.source.starts_with("https://docs.aws.amazon.com/"),
                "{name}"
            );
        }
    }
}
