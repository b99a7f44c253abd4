//! Firehose's CloudWatch metrics, published to the local CloudWatch (moto) with the names,
//! namespace, dimension and units AWS documents in "Monitoring Amazon Data Firehose with
//! CloudWatch metrics", <https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html>:
//! namespace `AWS/Firehose`, dimension `DeliveryStreamName`.
//!
//! Emulated: the data ingestion metrics (`IncomingRecords`/`IncomingBytes` for Direct PUT,
//! `DataReadFromKinesisStream.Records`/`.Bytes` for a Kinesis source) and the S3 delivery
//! metrics (`DeliveryToS3.Records`, `.Bytes`, `.Success`, `.DataFreshness`).
//! Not emulated: AWS publishes aggregates once a minute (and for some, every five); here
//! every event is one datum, sent within moments, so `Sum` over a period matches and
//! `SampleCount` does not. No API-level metrics (`PutRecord.Latency` …), no throttling
//! metrics, no `Region`-only dimension, no backup/transformation metrics.

use tokio::sync::mpsc;

use super::prefix::Utc;
use super::upstream::{encode_form, Upstream};

pub const NAMESPACE: &str = "AWS/Firehose";
pub const DIMENSION: &str = "DeliveryStreamName";

/// `IncomingRecords`: records ingested into the Firehose stream (Direct PUT). Units: Count.
pub const INCOMING_RECORDS: &str = "IncomingRecords";
/// `IncomingBytes`: bytes ingested into the Firehose stream (Direct PUT). Units: Bytes.
pub const INCOMING_BYTES: &str = "IncomingBytes";
/// `DataReadFromKinesisStream.Records`: records read from the source Kinesis data stream.
pub const READ_RECORDS: &str = "DataReadFromKinesisStream.Records";
/// `DataReadFromKinesisStream.Bytes`: bytes read from the source Kinesis data stream.
pub const READ_BYTES: &str = "DataReadFromKinesisStream.Bytes";
/// `DeliveryToS3.Records`: records delivered to Amazon S3. Units: Count.
pub const S3_RECORDS: &str = "DeliveryToS3.Records";
/// `DeliveryToS3.Bytes`: bytes delivered to Amazon S3. Units: Bytes.
pub const S3_BYTES: &str = "DeliveryToS3.Bytes";
/// `DeliveryToS3.Success`: successful S3 put commands over all S3 put commands; one
/// datum per put, 1 or 0, so `Average` is that ratio and `Sum` the successes.
pub const S3_SUCCESS: &str = "DeliveryToS3.Success";
/// `DeliveryToS3.DataFreshness`: age (from getting into Firehose to now) of the oldest
/// record in Firehose; any older record has been delivered. Units: Seconds. Published at
/// each delivery as the age of the oldest record in the object just written.
pub const S3_FRESHNESS: &str = "DeliveryToS3.DataFreshness";

#[derive(Debug, Clone)]
pub struct Datum {
    pub region: String,
    pub stream: String,
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
    pub at_ms: i64,
}

/// Sends data to the local CloudWatch from one background task.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Datum>,
}

/// Largest number of data in one PutMetricData call (CloudWatch accepts 1000).
const BATCH: usize = 500;

impl Publisher {
    /// Start the publishing task (inside a tokio runtime).
    pub fn start(upstream: Upstream) -> Publisher {
        let (tx, mut rx) = mpsc::unbounded_channel::<Datum>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                let mut regions: Vec<&str> = batch.iter().map(|d| d.region.as_str()).collect();
                regions.sort_unstable();
                regions.dedup();
                for region in regions {
                    let data: Vec<&Datum> = batch.iter().filter(|d| d.region == region).collect();
                    let form = encode(&data);
                    if let Err(e) = upstream.cloudwatch(region, "PutMetricData", &form).await {
                        tracing::warn!(error = %e, "local delivery: PutMetricData failed");
                    }
                }
            }
        });
        Publisher { tx }
    }

    pub fn put(&self, d: Datum) {
        let _ = self.tx.send(d);
    }
}

/// The query-protocol form of a PutMetricData body (without Action/Version).
pub fn encode(data: &[&Datum]) -> String {
    let mut form = format!("Namespace={}", encode_form(NAMESPACE));
    for (i, d) in data.iter().enumerate() {
        let m = format!("MetricData.member.{}", i + 1);
        form.push_str(&format!(
            "&{m}.MetricName={}&{m}.Value={}&{m}.Unit={}&{m}.Timestamp={}\
             &{m}.Dimensions.member.1.Name={}&{m}.Dimensions.member.1.Value={}",
            encode_form(d.name),
            d.value,
            d.unit,
            encode_form(&Utc::from_millis(d.at_ms).iso8601()),
            DIMENSION,
            encode_form(&d.stream),
        ));
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form() {
        let d = Datum {
            region: "us-east-1".into(),
            stream: "raw delivery".into(),
            name: S3_RECORDS,
            value: 3.0,
            unit: "Count",
            at_ms: 0,
        };
        assert_eq!(
            encode(&[&d]),
            "Namespace=AWS%2FFirehose&MetricData.member.1.MetricName=DeliveryToS3.Records\
             &MetricData.member.1.Value=3&MetricData.member.1.Unit=Count\
             &MetricData.member.1.Timestamp=1970-01-01T00%3A00%3A00.000Z\
             &MetricData.member.1.Dimensions.member.1.Name=DeliveryStreamName\
             &MetricData.member.1.Dimensions.member.1.Value=raw%20delivery"
        );
    }
}
