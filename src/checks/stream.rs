//! Check 1 (records are arriving in the stream) and reading the stream's shards from
//! a time on: how many records arrived, and when the first of them did. Kinesis may
//! answer a page with no records and `MillisBehindLatest` > 0 although records lie
//! further on (AWS-NOTES, "GetRecords"), so each shard is read page after page
//! (bounded) until records or the tip. Knows nothing of deliveries or applications.

use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_kinesis::types::ShardIteratorType;

use super::metric;
use super::model::{check, exists, row, Check, Outcome, WINDOW};
use crate::engine::executor::Row;
use crate::resource::Ctx;
use crate::spec::Spec;

/// Pages read per shard at most before giving up on reaching the tip.
const MAX_PAGES: usize = 20;

/// What reading the shards from a time on found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Scan {
    pub records: usize,
    pub shards: usize,
    /// The earliest ApproximateArrivalTimestamp among the records read.
    pub first: Option<SystemTime>,
    /// The latest (when every page to the tip was read).
    pub last: Option<SystemTime>,
}

/// Read every shard of `stream` from `since`. With `first_only`, a shard's reading
/// stops at its first page with records (enough to know when records began).
pub async fn scan(ctx: &Ctx, stream: &str, since: SystemTime, first_only: bool) -> Result<Scan> {
    let k = &ctx.aws.kinesis;
    let shards = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| crate::aws::errors::aws_err(&format!("listing the shards of {stream}"), e))?;
    let mut out = Scan {
        shards: shards.shards().len(),
        ..Scan::default()
    };
    for s in shards.shards() {
        let (n, first, last) = scan_shard(ctx, stream, s.shard_id(), since, first_only).await?;
        out.records += n;
        out.first = match (out.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out.last = out.last.max(last);
    }
    Ok(out)
}

async fn scan_shard(
    ctx: &Ctx,
    stream: &str,
    id: &str,
    since: SystemTime,
    first_only: bool,
) -> Result<(usize, Option<SystemTime>, Option<SystemTime>)> {
    let k = &ctx.aws.kinesis;
    let what = || format!("reading shard {id} of {stream}");
    let it = k
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(id)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(aws_sdk_kinesis::primitives::DateTime::from(since))
        .send()
        .await
        .map_err(|e| crate::aws::errors::aws_err(&what(), e))?;
    let mut iterator = it.shard_iterator().map(str::to_string);
    let (mut n, mut first, mut last) = (0, None::<SystemTime>, None::<SystemTime>);
    for _ in 0..MAX_PAGES {
        let Some(i) = iterator.take() else { break };
        let page = k
            .get_records()
            .shard_iterator(i)
            .limit(10_000)
            .send()
            .await
            .map_err(|e| crate::aws::errors::aws_err(&what(), e))?;
        n += page.records().len();
        let earliest = page
            .records()
            .iter()
            .filter_map(|r| r.approximate_arrival_timestamp())
            .filter_map(|t| SystemTime::try_from(*t).ok())
            .min();
        let latest = page
            .records()
            .iter()
            .filter_map(|r| r.approximate_arrival_timestamp())
            .filter_map(|t| SystemTime::try_from(*t).ok())
            .max();
        first = first.or(earliest);
        last = last.max(latest);
        // The tip: nothing further to read now (an absent value is read as the tip).
        let at_tip = page.millis_behind_latest().unwrap_or(0) == 0;
        if (first_only && first.is_some()) || at_tip {
            break;
        }
        iterator = page.next_shard_iterator().map(str::to_string);
    }
    Ok((n, first, last))
}

/// Step 1, and whether records are arriving (steps 2 and 4 depend on it).
pub async fn arriving_check(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> (Check, bool) {
    let c1 = "records are arriving in the stream";
    let s = match spec.streams.iter().next() {
        None => {
            return (
                check(1, c1, Outcome::NotObservable, "the spec declares no stream"),
                false,
            )
        }
        Some((id, _)) if !exists(row(rows, id)) => {
            let c = check(1, c1, Outcome::Fail, "the stream does not exist")
                .because("it was never created or was deleted", "run `labctl up`");
            return (c, false);
        }
        Some((_, s)) => s,
    };
    let dims = [("StreamName", s.name.as_str())];
    if let Ok(Some((n, _))) =
        metric::read(ctx, metric::stream_incoming_records(), &dims, WINDOW).await
    {
        if n > 0.0 {
            let e = format!("{n:.0} records in the last 15 min (CloudWatch IncomingRecords)");
            return (check(1, c1, Outcome::Pass, e), true);
        }
    }
    match scan(ctx, &s.name, SystemTime::now() - WINDOW, false).await {
        Ok(sc) if sc.records > 0 => {
            let e = format!(
                "{} records in the last 15 min, read from {} shards",
                sc.records, sc.shards
            );
            (check(1, c1, Outcome::Pass, e), true)
        }
        Ok(sc) => {
            let e = format!("no records in the last 15 min ({} shards read)", sc.shards);
            let c = check(1, c1, Outcome::Pending, e).because(
                "nothing is sending to the stream",
                "start the producer: `labctl produce`",
            );
            (c, false)
        }
        Err(e) => {
            let c = check(
                1,
                c1,
                Outcome::Fail,
                format!("cannot read the stream: {e:#}"),
            )
            .because(
                "the stream cannot be read",
                "check permissions, then run `labctl status` again",
            );
            (c, false)
        }
    }
}

/// The first and the last arrival of the records after `since` (and at most the
/// checks' window or `lookback`, the longer, ago) in `stream` (with `whole`, every page
/// to the tip is read for the last; else the last is a lower bound). Kinesis keeps
/// records 24 hours at least (its default retention), so reading back a delivery's
/// buffer interval (at most 900 s) plus its grace is within what the stream holds.
pub async fn arrivals(
    ctx: &Ctx,
    stream: &str,
    since: SystemTime,
    lookback: std::time::Duration,
    whole: bool,
) -> Option<(SystemTime, SystemTime)> {
    let floor = SystemTime::now() - WINDOW.max(lookback);
    let sc = scan(ctx, stream, since.max(floor), !whole).await.ok()?;
    let first = sc.first?;
    Some((first, sc.last.unwrap_or(first).max(first)))
}
