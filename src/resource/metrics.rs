//! The CloudWatch metrics labctl reads or shows (dashboard widgets, alarms, `status`
//! checks), each with its namespace, name, dimension set, statistic and the AWS page
//! that documents it. Widgets and alarms are built from [`TABLE`]; a test holds every
//! widget and alarm the shipped spec produces (both engines) to it. Knows no resource
//! and makes no AWS call.
//!
//! Facts the table encodes (docs/aws-notes.md keeps them with their sources):
//! - Kinesis Analytics for SQL (v1): `Records`, `Bytes`, `Success` and
//!   `MillisBehindLatest` are per input or output: dimensions `Application`, `Flow`
//!   (Input/Output) and `Id` (the input or output id). `InputProcessing.*` exists only
//!   with a Lambda preprocessor (labctl configures none). Only `KPUs` has `Application`
//!   alone. With `Application` alone the others return nothing.
//! - Firehose: `DeliveryToS3.DataFreshness` is an age: Maximum, never Sum. A delivery
//!   stream reading a Kinesis stream is measured by `DataReadFromKinesisStream.Records`
//!   and `.Bytes`; `IncomingRecords`/`IncomingBytes` are the Direct PUT ingestion
//!   metrics (the page lists them under Direct PUT, not for a Kinesis source).
//! - Managed Flink: the service takes 4 metric snapshots a minute, so a summed count
//!   such as `numRecordsIn` over a minute is 4 times the records: divide by 4.

/// Where each family of metrics is documented.
pub const KINESIS_DOC: &str =
    "https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html";
pub const FIREHOSE_DOC: &str =
    "https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html";
pub const KDA_SQL_DOC: &str =
    "https://docs.aws.amazon.com/kinesisanalytics/latest/dev/monitoring-metrics.html";
pub const FLINK_DOC: &str =
    "https://docs.aws.amazon.com/managed-flink/latest/java/metrics-dimensions.html";

/// Which resource a metric measures (and, for applications, on which engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    Stream,
    /// Any delivery stream.
    Delivery,
    /// A delivery stream whose source is a Kinesis stream.
    DeliveryFromKinesis,
    /// A Direct PUT delivery stream.
    DeliveryDirectPut,
    FlinkApp,
    SqlApp,
}

/// One documented metric as labctl uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub namespace: &'static str,
    pub name: &'static str,
    /// The full dimension set the metric is published with.
    pub dimensions: &'static [&'static str],
    /// The statistic labctl reads it with.
    pub statistic: &'static str,
    pub of: Of,
    pub source: &'static str,
    /// What to do with the number (e.g. divide by 4), if anything.
    pub note: &'static str,
}

const fn m(
    namespace: &'static str,
    name: &'static str,
    dimensions: &'static [&'static str],
    statistic: &'static str,
    of: Of,
    source: &'static str,
    note: &'static str,
) -> Metric {
    Metric {
        namespace,
        name,
        dimensions,
        statistic,
        of,
        source,
        note,
    }
}

const K: &str = "AWS/Kinesis";
const F: &str = "AWS/Firehose";
const A: &str = "AWS/KinesisAnalytics";
const STREAM: &[&str] = &["StreamName"];
const DELIVERY: &[&str] = &["DeliveryStreamName"];
const APP: &[&str] = &["Application"];
const FLOW: &[&str] = &["Application", "Flow", "Id"];

/// Every metric labctl reads or shows.
pub const TABLE: &[Metric] = &[
    m(
        K,
        "PutRecord.Success",
        STREAM,
        "Sum",
        Of::Stream,
        KINESIS_DOC,
        "count of successful PutRecord calls",
    ),
    m(
        K,
        "IncomingRecords",
        STREAM,
        "Sum",
        Of::Stream,
        KINESIS_DOC,
        "",
    ),
    m(
        K,
        "PutRecords.SuccessfulRecords",
        STREAM,
        "Sum",
        Of::Stream,
        KINESIS_DOC,
        "",
    ),
    m(
        K,
        "GetRecords.Success",
        STREAM,
        "Sum",
        Of::Stream,
        KINESIS_DOC,
        "",
    ),
    m(
        K,
        "GetRecords.IteratorAgeMilliseconds",
        STREAM,
        "Maximum",
        Of::Stream,
        KINESIS_DOC,
        "",
    ),
    m(
        K,
        "WriteProvisionedThroughputExceeded",
        STREAM,
        "Sum",
        Of::Stream,
        KINESIS_DOC,
        "",
    ),
    m(
        F,
        "DataReadFromKinesisStream.Records",
        DELIVERY,
        "Sum",
        Of::DeliveryFromKinesis,
        FIREHOSE_DOC,
        "the ingestion metric of a Kinesis-source delivery stream",
    ),
    m(
        F,
        "DataReadFromKinesisStream.Bytes",
        DELIVERY,
        "Sum",
        Of::DeliveryFromKinesis,
        FIREHOSE_DOC,
        "",
    ),
    m(
        F,
        "IncomingRecords",
        DELIVERY,
        "Sum",
        Of::DeliveryDirectPut,
        FIREHOSE_DOC,
        "Direct PUT ingestion only",
    ),
    m(
        F,
        "DeliveryToS3.Records",
        DELIVERY,
        "Sum",
        Of::Delivery,
        FIREHOSE_DOC,
        "",
    ),
    m(
        F,
        "DeliveryToS3.Success",
        DELIVERY,
        "Average",
        Of::Delivery,
        FIREHOSE_DOC,
        "a ratio: successful puts over all puts",
    ),
    m(
        F,
        "DeliveryToS3.DataFreshness",
        DELIVERY,
        "Maximum",
        Of::Delivery,
        FIREHOSE_DOC,
        "an age in seconds: never summed",
    ),
    m(A, "uptime", APP, "Maximum", Of::FlinkApp, FLINK_DOC, ""),
    m(A, "downtime", APP, "Maximum", Of::FlinkApp, FLINK_DOC, ""),
    m(
        A,
        "numRecordsIn",
        APP,
        "Sum",
        Of::FlinkApp,
        FLINK_DOC,
        "4 snapshots a minute: divide the sum by 4",
    ),
    m(
        A,
        "numRecordsOut",
        APP,
        "Sum",
        Of::FlinkApp,
        FLINK_DOC,
        "4 snapshots a minute: divide the sum by 4",
    ),
    m(
        A,
        "lastCheckpointDuration",
        APP,
        "Maximum",
        Of::FlinkApp,
        FLINK_DOC,
        "",
    ),
    m(
        A,
        "Records",
        FLOW,
        "Sum",
        Of::SqlApp,
        KDA_SQL_DOC,
        "per input/output: Flow=Input|Output, Id",
    ),
    m(A, "Bytes", FLOW, "Sum", Of::SqlApp, KDA_SQL_DOC, ""),
    m(
        A,
        "Success",
        FLOW,
        "Average",
        Of::SqlApp,
        KDA_SQL_DOC,
        "1 per successful delivery attempt to an output",
    ),
    m(
        A,
        "MillisBehindLatest",
        FLOW,
        "Maximum",
        Of::SqlApp,
        KDA_SQL_DOC,
        "input only",
    ),
    m(A, "KPUs", APP, "Maximum", Of::SqlApp, KDA_SQL_DOC, ""),
];

/// The table's entry for a metric of a kind of resource.
pub fn lookup(namespace: &str, name: &str, of: Of) -> Option<&'static Metric> {
    TABLE.iter().find(|x| {
        x.namespace == namespace
            && x.name == name
            && (x.of == of
                || (x.of == Of::Delivery
                    && matches!(of, Of::DeliveryFromKinesis | Of::DeliveryDirectPut)))
    })
}

/// The entry, for code that names a metric the table must hold (a missing one is a bug
/// caught by the tests).
pub fn get(namespace: &str, name: &str, of: Of) -> Metric {
    lookup(namespace, name, of).copied().unwrap_or(Metric {
        namespace: "undocumented",
        name: "undocumented",
        dimensions: &[],
        statistic: "undocumented",
        of,
        source: "",
        note: "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_cites_an_aws_page_and_is_unique() {
        for (i, x) in TABLE.iter().enumerate() {
            assert!(
                x.source.starts_with("https://docs.aws.amazon.com/"),
                "{x:?}"
            );
            assert!(!x.dimensions.is_empty(), "{x:?}");
            assert!(
                ["Sum", "Average", "Maximum", "Minimum"].contains(&x.statistic),
                "{x:?}"
            );
            assert!(
                !TABLE[..i]
                    .iter()
                    .any(|y| y.namespace == x.namespace && y.name == x.name && y.of == x.of),
                "{x:?} twice"
            );
        }
        assert_eq!(
            get(F, "DeliveryToS3.DataFreshness", Of::DeliveryFromKinesis).statistic,
            "Maximum"
        );
        assert!(lookup(F, "IncomingRecords", Of::DeliveryFromKinesis).is_none());
        assert!(lookup(A, "InputProcessing.OkRecords", Of::SqlApp).is_none());
        assert_eq!(get(A, "Success", Of::SqlApp).dimensions, FLOW);
    }
}
