//! Reading a delivery stream's Kinesis source through the emulator's Kinesis API
//! (ListShards, GetShardIterator, GetRecords), as Firehose does for a
//! `KinesisStreamAsSource` delivery stream.
//!
//! Emulated ("Configure source settings for Amazon Kinesis Data Streams",
//! <https://docs.aws.amazon.com/firehose/latest/dev/writing-with-kinesis-streams.html>):
//! - "Firehose starts reading data from the LATEST position of your Kinesis stream": every
//!   open shard gets a `LATEST` iterator when the delivery stream is created, before the
//!   create call is answered, so a record put after `CreateDeliveryStream` returns is read
//!   and one put before is not.
//! - "Firehose calls the Kinesis Data Streams GetRecords operation once per second for each
//!   shard": one GetRecords per shard per second (scaled by [`TimeScale`](super::scale::TimeScale)).
//! - Resharding: shards born after the start are found with ListShards and read from
//!   `TRIM_HORIZON` once each parent is closed and read to its end, so records keep their
//!   order per partition key across a split or merge.
//! - Errors: Firehose retries GetRecords/GetShardIterator indefinitely
//!   (<https://docs.aws.amazon.com/firehose/latest/dev/troubleshooting.html>); so does this.
//!
//! moto specifics (read from moto 5.2.5 and measured): a closed shard never answers
//! `NextShardIterator: null`, and SplitShard/MergeShards leave every later record in the
//! closed parent (its key lookup takes the first shard whose range matches, closed or not;
//! the children stay empty) after re-numbering the parent's records from 1 in the same
//! order. So a closed shard is still polled for as long as the delivery runs (on AWS it
//! just answers nothing), and its sequence numbers stay valid for `AFTER_SEQUENCE_NUMBER`.
//!
//! Not emulated: KPL de-aggregation, enhanced fan-out, the source role (`RoleARN` is not
//! checked), throttling and `KinesisMillisBehindLatest`, reading a stream in another
//! account or region than its ARN names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};

use super::b64;
use super::metrics;
use super::prefix::now_millis;
use super::scale::TimeScale;
use super::stream::{Record, Stream};
use super::upstream::{error_code, Upstream};

/// Seconds between GetRecords calls on one shard (writing-with-kinesis-streams.html).
pub const POLL_SECS: f64 = 1.0;

#[derive(Default)]
struct Shard {
    iterator: Option<String>,
    last_seq: Option<String>,
    /// For shards started at LATEST: when (epoch seconds), to take a new iterator
    /// `AT_TIMESTAMP` should the first one expire before a record was read.
    started_at: Option<f64>,
    parents: Vec<String>,
    closed: bool,
    /// Closed and read to its end once: its children may start.
    drained: bool,
    /// GetRecords answered no next iterator: nothing more can come (AWS's end of a shard).
    done: bool,
}

pub struct Reader {
    upstream: Upstream,
    region: String,
    stream_arn: String,
    target: Arc<Stream>,
    scale: TimeScale,
    shards: BTreeMap<String, Shard>,
}

/// `arn:aws:kinesis:<region>:<account>:stream/<name>` → region.
pub fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// Shards to read now: not finished, and every known parent drained (a parent the reader
/// never saw was closed before it started, so it counts as drained).
fn ready(shards: &BTreeMap<String, Shard>) -> Vec<String> {
    shards
        .iter()
        .filter(|(_, s)| {
            !s.done
                && s.parents.iter().all(|p| {
                    shards
                        .get(p)
                        .map(|ps| ps.drained || ps.done)
                        .unwrap_or(true)
                })
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// The records of a GetRecords answer, and the sequence number of the last one (else
/// `last_seq`). A record's arrival time is its `ApproximateArrivalTimestamp` (epoch
/// seconds), else the time it was read.
fn parse_records(
    shard: &str,
    v: &Value,
    last_seq: Option<String>,
) -> (Vec<Record>, Option<String>) {
    let received = now_millis();
    let mut records = Vec::new();
    let mut last = last_seq;
    for r in v
        .get("Records")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(data) = r.get("Data").and_then(Value::as_str).and_then(b64::decode) else {
            tracing::warn!(
                shard,
                "local delivery: a Kinesis record without base64 Data"
            );
            continue;
        };
        if let Some(seq) = r.get("SequenceNumber").and_then(Value::as_str) {
            last = Some(seq.to_string());
        }
        let arrival = match r.get("ApproximateArrivalTimestamp") {
            Some(Value::Number(n)) => n.as_f64().map(|s| (s * 1000.0) as i64),
            Some(Value::String(s)) => s.parse::<f64>().ok().map(|s| (s * 1000.0) as i64),
            _ => None,
        }
        .unwrap_or(received);
        records.push(Record {
            data: Bytes::from(data),
            arrival_ms: arrival,
            received_ms: received,
        });
    }
    (records, last)
}

impl Reader {
    /// List the shards and take a `LATEST` iterator on every open one.
    pub async fn position(
        upstream: Upstream,
        stream_arn: &str,
        target: Arc<Stream>,
        scale: TimeScale,
    ) -> Result<Reader> {
        let region = region_of_arn(stream_arn)
            .ok_or_else(|| anyhow!("not a Kinesis stream ARN: {stream_arn}"))?
            .to_string();
        let mut r = Reader {
            upstream,
            region,
            stream_arn: stream_arn.to_string(),
            target,
            scale,
            shards: BTreeMap::new(),
        };
        for (id, parents, closed) in r.list_shards().await? {
            let mut s = Shard {
                parents,
                closed,
                ..Shard::default()
            };
            // LATEST on every shard, closed ones too (nothing arrives there on AWS; moto
            // keeps filling a closed parent).
            s.drained = closed;
            s.started_at = Some(now_millis() as f64 / 1000.0);
            s.iterator = Some(r.iterator(&id, "LATEST", None).await?);
            r.shards.insert(id, s);
        }
        Ok(r)
    }

    async fn list_shards(&self) -> Result<Vec<(String, Vec<String>, bool)>> {
        let mut out = Vec::new();
        let mut body = json!({"StreamARN": self.stream_arn});
        loop {
            let v = self
                .upstream
                .kinesis(&self.region, "ListShards", &body)
                .await?;
            for s in v
                .get("Shards")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = s.get("ShardId").and_then(Value::as_str) else {
                    continue;
                };
                let parents = ["ParentShardId", "AdjacentParentShardId"]
                    .iter()
                    .filter_map(|k| s.get(*k).and_then(Value::as_str).map(str::to_string))
                    .collect();
                let closed = s
                    .get("SequenceNumberRange")
                    .and_then(|r| r.get("EndingSequenceNumber"))
                    .is_some();
                out.push((id.to_string(), parents, closed));
            }
            match v.get("NextToken").and_then(Value::as_str) {
                Some(t) => body = json!({"NextToken": t}),
                None => return Ok(out),
            }
        }
    }

    async fn iterator(&self, shard: &str, kind: &str, after: Option<&str>) -> Result<String> {
        let mut body = json!({
            "StreamARN": self.stream_arn,
            "ShardId": shard,
            "ShardIteratorType": kind,
        });
        match (kind, after) {
            ("AT_TIMESTAMP", Some(t)) => body["Timestamp"] = json!(t.parse::<f64>().unwrap_or(0.0)),
            (_, Some(seq)) => body["StartingSequenceNumber"] = json!(seq),
            _ => {}
        }
        let v = self
            .upstream
            .kinesis(&self.region, "GetShardIterator", &body)
            .await?;
        v.get("ShardIterator")
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("GetShardIterator answered no ShardIterator")
    }

    /// Add shards born since the last look; mark the closed ones.
    async fn discover(&mut self) -> Result<()> {
        for (id, parents, closed) in self.list_shards().await? {
            let s = self.shards.entry(id).or_insert_with(|| Shard {
                parents,
                ..Shard::default()
            });
            s.closed |= closed;
        }
        Ok(())
    }

    /// The shard's iterator: the one GetRecords last answered, else a new one after the
    /// last record read, else (a shard born after the start) from `TRIM_HORIZON`.
    async fn current_iterator(&self, id: &str) -> Result<Option<String>> {
        let Some(s) = self.shards.get(id) else {
            return Ok(None);
        };
        Ok(Some(match (&s.iterator, &s.last_seq) {
            (Some(i), _) => i.clone(),
            (None, Some(seq)) => {
                self.iterator(id, "AFTER_SEQUENCE_NUMBER", Some(seq))
                    .await?
            }
            (None, None) => self.iterator(id, "TRIM_HORIZON", None).await?,
        }))
    }

    /// One GetRecords on one shard.
    async fn read_shard(&mut self, id: &str) -> Result<()> {
        let Some(iterator) = self.current_iterator(id).await? else {
            return Ok(());
        };
        let v = match self
            .upstream
            .kinesis(
                &self.region,
                "GetRecords",
                &json!({"StreamARN": self.stream_arn, "ShardIterator": iterator, "Limit": 10000}),
            )
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // An iterator AWS no longer takes is replaced from the last sequence number;
                // other failures (a busy emulator, say) retry with the same iterator.
                if matches!(
                    error_code(&e),
                    Some("ExpiredIteratorException" | "InvalidArgumentException")
                ) {
                    if let Some(s) = self.shards.get_mut(id) {
                        s.iterator = None;
                    }
                }
                return Err(e);
            }
        };
        let last_seq = self.shards.get(id).and_then(|s| s.last_seq.clone());
        let (records, last) = parse_records(id, &v, last_seq);
        let next = v
            .get("NextShardIterator")
            .and_then(Value::as_str)
            .map(str::to_string);
        let empty = v
            .get("Records")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if let Some(s) = self.shards.get_mut(id) {
            s.last_seq = last;
            s.iterator = next.clone();
            if empty && s.closed && !s.drained {
                s.drained = true;
                tracing::debug!(shard = id, "local delivery: closed shard read to its end");
            }
            if next.is_none() {
                s.done = true;
            }
        }
        if !records.is_empty() {
            let n = records.len();
            let bytes: usize = records.iter().map(|r| r.data.len()).sum();
            self.target.metric(metrics::READ_RECORDS, n as f64, "Count");
            self.target
                .metric(metrics::READ_BYTES, bytes as f64, "Bytes");
            self.target.push(records);
        }
        Ok(())
    }

    /// Read until aborted.
    pub async fn run(mut self) {
        let poll = self.scale.apply(POLL_SECS).max(Duration::from_millis(20));
        let mut failing = false;
        loop {
            tokio::time::sleep(poll).await;
            let mut result = self.discover().await;
            if result.is_ok() {
                for id in ready(&self.shards) {
                    if let Err(e) = self.read_shard(&id).await {
                        result = Err(e);
                    }
                }
            }
            match result {
                Ok(()) => failing = false,
                Err(e) => {
                    // Logged once per run of failures; retried every poll.
                    if !failing {
                        tracing::warn!(stream = %self.stream_arn, code = ?error_code(&e), error = %e,
                            "local delivery: reading the source stream failed; retrying");
                    }
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_region() {
        assert_eq!(
            region_of_arn("arn:aws:kinesis:eu-west-1:123456789012:stream/s"),
            Some("eu-west-1")
        );
        assert_eq!(region_of_arn("nonsense"), None);
    }

    fn shard(parents: &[&str], closed: bool, drained: bool, done: bool) -> Shard {
        Shard {
            parents: parents.iter().map(|p| p.to_string()).collect(),
            closed,
            drained,
            done,
            ..Shard::default()
        }
    }

    #[test]
    fn children_wait_for_their_parents() {
        let mut m = BTreeMap::new();
        m.insert("p".to_string(), shard(&[], true, false, false));
        m.insert("c1".to_string(), shard(&["p"], false, false, false));
        m.insert("c2".to_string(), shard(&["p"], false, false, false));
        // Parent closed but not yet read to its end: only the parent.
        assert_eq!(ready(&m), vec!["p"]);
        if let Some(p) = m.get_mut("p") {
            p.drained = true;
        }
        // Drained: the children start; the parent is still polled (moto keeps filling it).
        assert_eq!(ready(&m), vec!["c1", "c2", "p"]);
        if let Some(p) = m.get_mut("p") {
            p.done = true;
        }
        assert_eq!(ready(&m), vec!["c1", "c2"]);
        // A merge waits for both parents; an unknown parent counts as drained.
        m.insert("a".to_string(), shard(&[], true, false, false));
        m.insert("m".to_string(), shard(&["c1", "a"], false, false, false));
        m.insert("orphan".to_string(), shard(&["gone"], false, false, false));
        assert_eq!(ready(&m), vec!["a", "c1", "c2", "orphan"]);
    }
}
