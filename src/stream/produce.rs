//! `labctl produce`: the lab's simulated sensors, sent to a Kinesis data stream.
//!
//! A generator makes sensor readings (JSON lines, partition key = sensor id) at a
//! paced rate or as fast as the stream accepts, packs them into PutRecords batches
//! within the API's limits, and hands each batch to a task; a semaphore bounds the
//! requests in flight. A partial failure retries only the failed entries, with
//! backoff; a record that still fails after the retry bound is reported with its
//! reason. Ctrl-C stops generating and waits for the batches already made.
//!
//! Delivery is at-least-once: a PutRecords whose answer is lost after the stream
//! stored the records (a dropped connection, a timeout) is sent again, and the
//! stream then holds those records twice (Kinesis Data Streams developer guide,
//! "Handling duplicate records": producer retries). Each record carries a
//! `record_id` unique to it (`<run>-<n>`: the run's start time and process id, and
//! the record's number in the run), the same on every copy, for consumers to
//! deduplicate by.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_types::Blob;
use clap::Args;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::aws::errors::{sdk_code, sdk_message};
use crate::engine::progress::Progress;
use crate::engine::report::Format;
use crate::error::{exit, UsageError};
use crate::stream::flags::{self, Session, Stop, StreamFlags};

/// PutRecords limits.
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// How long a paced record may wait for others to share its request.
const LINGER: Duration = Duration::from_millis(100);
/// Failures kept with full detail; past this they are only counted.
const KEEP_FAILURES: usize = 10_000;

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub stream: StreamFlags,
    /// Records per second, all sensors together (the lab's script: 2).
    #[arg(long, value_name = "N", conflicts_with = "max")]
    pub rate: Option<f64>,
    /// Send as fast as the stream accepts instead of at a rate.
    #[arg(long)]
    pub max: bool,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long: 30s, 5m, 1h, 500ms.
    #[arg(long, value_name = "TIME")]
    pub duration: Option<String>,
    /// Seed for the readings, to make the data reproducible (timestamps are the clock's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Share of records (0 to 1) with one reading out of its range.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub anomaly_rate: f64,
    /// Also write every record sent to FILE, one JSON line each.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Number of simulated sensors: sensor-001 … sensor-N.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub sensors: u32,
    /// Generate, serialize and batch, but send nothing (and make no AWS call).
    #[arg(long)]
    pub dry_run: bool,
    /// PutRecords requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub in_flight: usize,
    /// Attempts per record before it is reported as failed.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_attempts: u32,
}

/// The flags, checked.
#[derive(Debug, Clone)]
struct Settings {
    rate: Option<f64>,
    count: Option<u64>,
    duration: Option<Duration>,
    seed: u64,
    anomaly_rate: f64,
    sensors: u32,
    in_flight: usize,
    max_attempts: u32,
}

fn check(a: &ProduceArgs) -> Result<Settings, UsageError> {
    let rate = if a.max {
        None
    } else {
        let r = a.rate.unwrap_or(2.0);
        if !r.is_finite() || r <= 0.0 || r > 10_000_000.0 {
            return Err(UsageError(format!(
                "--rate {r} must be a number of records per second above 0 (and at most 10000000); use --max for as fast as possible"
            )));
        }
        Some(r)
    };
    if a.count == Some(0) {
        return Err(UsageError(
            "--count must be at least 1; leave it out to run until Ctrl-C".into(),
        ));
    }
    let duration = a
        .duration
        .as_deref()
        .map(|d| flags::parse_duration("--duration", d))
        .transpose()?;
    if !(0.0..=1.0).contains(&a.anomaly_rate) {
        return Err(UsageError(format!(
            "--anomaly-rate {} must be a share between 0 and 1, such as 0.05",
            a.anomaly_rate
        )));
    }
    if a.sensors == 0 || a.sensors > 100_000 {
        return Err(UsageError(format!(
            "--sensors {} must be between 1 and 100000",
            a.sensors
        )));
    }
    if a.in_flight == 0 || a.in_flight > 256 {
        return Err(UsageError(format!(
            "--in-flight {} must be between 1 and 256",
            a.in_flight
        )));
    }
    if a.max_attempts == 0 || a.max_attempts > 100 {
        return Err(UsageError(format!(
            "--max-attempts {} must be between 1 and 100",
            a.max_attempts
        )));
    }
    let seed = a.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    });
    Ok(Settings {
        rate,
        count: a.count,
        duration,
        seed,
        anomaly_rate: a.anomaly_rate,
        sensors: a.sensors,
        in_flight: a.in_flight,
        max_attempts: a.max_attempts,
    })
}

/// A small, fast pseudo-random generator (the wyrand construction): 64-bit state,
/// one multiply per number. Not for anything secret.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `p` (0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        (self.next_u64() as f64) < p * 18_446_744_073_709_551_616.0
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS` for a second since the epoch.
fn second_text(secs: u64) -> [u8; 19] {
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let mut b = *b"0000-00-00T00:00:00";
    let y = y.clamp(0, 9999) as u32;
    let put = |b: &mut [u8; 19], at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut b, 0, y, 4);
    put(&mut b, 5, mo, 2);
    put(&mut b, 8, d, 2);
    put(&mut b, 11, (s / 3600) as u32, 2);
    put(&mut b, 14, (s / 60 % 60) as u32, 2);
    put(&mut b, 17, (s % 60) as u32, 2);
    b
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// A value in hundredths written as a decimal with two places: 2345 → `23.45`.
fn push_centi(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    let a = v.unsigned_abs();
    push_u64(buf, a / 100);
    buf.push(b'.');
    let c = (a % 100) as u8;
    buf.push(b'0' + c / 10);
    buf.push(b'0' + c % 10);
}

/// The simulated sensors.
pub struct Sensors {
    rng: Rng,
    ids: Vec<String>,
    anomaly_rate: f64,
    second: u64,
    second_text: [u8; 19],
    /// This run's part of each `record_id` (see the module doc).
    run: String,
    /// Records made so far; the next record's number is this plus one.
    made: u64,
}

impl Sensors {
    pub fn new(count: u32, seed: u64, anomaly_rate: f64) -> Sensors {
        Sensors {
            rng: Rng::new(seed),
            ids: (1..=count).map(|i| format!("sensor-{i:03}")).collect(),
            anomaly_rate,
            second: u64::MAX,
            second_text: [b'0'; 19],
            run: format!("s{seed}"),
            made: 0,
        }
    }

    /// The same sensors with `run` as the first part of each `record_id`.
    pub fn with_run(mut self, run: String) -> Sensors {
        self.run = run;
        self
    }

    /// Append one reading, taken now, as a JSON object to `buf`; returns the sensor's index.
    pub fn reading(&mut self, buf: &mut Vec<u8>) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.reading_at(buf, now)
    }

    /// Same as [`Sensors::reading`] for a given time since the epoch.
    pub fn reading_at(&mut self, buf: &mut Vec<u8>, now: Duration) -> usize {
        let r = &mut self.rng;
        let sensor = r.below(self.ids.len() as u64) as usize;
        let mut temperature = r.between(1000, 4000);
        let mut humidity = r.between(3000, 9000);
        let mut pressure = r.between(98_000, 103_000);
        if self.anomaly_rate > 0.0 && r.chance(self.anomaly_rate) {
            let low = r.below(2) == 0;
            match r.below(4) {
                0 | 1 => {
                    temperature = if low {
                        r.between(-2500, 500)
                    } else {
                        r.between(4500, 8500)
                    }
                }
                2 => {
                    humidity = if low {
                        r.between(0, 2000)
                    } else {
                        r.between(9500, 10_000)
                    }
                }
                _ => {
                    pressure = if low {
                        r.between(90_000, 97_000)
                    } else {
                        r.between(104_000, 110_000)
                    }
                }
            }
        }
        let secs = now.as_secs();
        if secs != self.second {
            self.second = secs;
            self.second_text = second_text(secs);
        }
        let ms = now.subsec_millis();
        buf.extend_from_slice(b"{\"sensor_id\":\"");
        buf.extend_from_slice(self.ids[sensor].as_bytes());
        buf.extend_from_slice(b"\",\"timestamp\":\"");
        buf.extend_from_slice(&self.second_text);
        buf.extend_from_slice(&[
            b'.',
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
            b'Z',
        ]);
        buf.extend_from_slice(b"\",\"temperature\":");
        push_centi(buf, temperature);
        buf.extend_from_slice(b",\"humidity\":");
        push_centi(buf, humidity);
        buf.extend_from_slice(b",\"pressure\":");
        push_centi(buf, pressure);
        self.made += 1;
        buf.extend_from_slice(b",\"record_id\":\"");
        buf.extend_from_slice(self.run.as_bytes());
        buf.push(b'-');
        push_u64(buf, self.made);
        buf.extend_from_slice(b"\"}");
        sensor
    }

    pub fn id(&self, i: usize) -> &str {
        &self.ids[i]
    }
}

/// Records packed for one PutRecords call.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<PutRecordsRequestEntry>,
    /// Data plus partition-key bytes, what the 5 MiB limit counts.
    pub bytes: usize,
}

impl Batch {
    /// Whether an entry of `size` bytes still fits.
    pub fn fits(&self, size: usize) -> bool {
        self.entries.len() < MAX_BATCH_RECORDS && self.bytes + size <= MAX_BATCH_BYTES
    }

    pub fn push(&mut self, entry: PutRecordsRequestEntry, size: usize) {
        self.entries.push(entry);
        self.bytes += size;
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The size PutRecords counts for an entry: data plus partition key.
pub fn entry_size(data_len: usize, key: &str) -> usize {
    data_len + key.len()
}

/// One record that could not be sent.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub sensor_id: String,
    pub error_code: String,
    pub message: String,
    pub attempts: u32,
    pub record: String,
}

#[derive(Default)]
struct Counters {
    generated: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
    requests: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
}

struct Shared {
    n: Counters,
    latencies_us: Mutex<Vec<u32>>,
    failures: Mutex<Vec<Failure>>,
    out: Option<Mutex<BufWriter<File>>>,
    out_error: Mutex<Option<String>>,
    fatal: Mutex<Option<String>>,
}

impl Shared {
    fn write_out(&self, entries: &[&PutRecordsRequestEntry]) {
        let Some(out) = &self.out else { return };
        let Ok(mut w) = out.lock() else { return };
        for e in entries {
            let r = w
                .write_all(e.data().as_ref())
                .and_then(|_| w.write_all(b"\n"));
            if let Err(err) = r {
                if let Ok(mut slot) = self.out_error.lock() {
                    slot.get_or_insert_with(|| err.to_string());
                }
                return;
            }
        }
    }

    fn fail(&self, entry: &PutRecordsRequestEntry, code: &str, message: &str, attempts: u32) {
        self.n.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.failures.lock() {
            if f.len() < KEEP_FAILURES {
                f.push(Failure {
                    sensor_id: entry.partition_key().unwrap_or_default().to_string(),
                    error_code: code.to_string(),
                    message: message.to_string(),
                    attempts,
                    record: String::from_utf8_lossy(entry.data().as_ref()).into_owned(),
                });
            }
        }
    }
}

/// Entry error codes worth another attempt.
fn retryable_entry(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "KMSThrottlingException"
            | "InternalFailure"
            | "InternalFailureException"
            | "ServiceUnavailable"
    )
}

/// Backoff before attempt `attempt` (2, 3, …): exponential from 50 ms, at most 2 s,
/// with jitter in its upper half.
fn backoff(attempt: u32, rng: &mut Rng) -> Duration {
    let base = 50u64.saturating_mul(1u64 << attempt.saturating_sub(2).min(10));
    let cap = base.min(2000);
    Duration::from_millis(cap / 2 + rng.below(cap / 2 + 1))
}

/// Send one batch until every entry is in or out of attempts.
async fn send_batch(
    client: aws_sdk_kinesis::Client,
    stream: Arc<str>,
    batch: Batch,
    shared: Arc<Shared>,
    max_attempts: u32,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let mut pending = batch.entries;
    let mut attempt = 1u32;
    loop {
        let started = Instant::now();
        let res = client
            .put_records()
            .stream_name(stream.as_ref())
            .set_records(Some(pending.clone()))
            .send()
            .await;
        let us = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        shared.n.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = shared.latencies_us.lock() {
            l.push(us);
        }
        let again = match res {
            Ok(out) => accept_results(&shared, &pending, out.records(), attempt, max_attempts),
            Err(e) => {
                let code = sdk_code(&e).unwrap_or("").to_string();
                request_failed(
                    &shared,
                    &pending,
                    code,
                    &sdk_message(&e),
                    attempt,
                    max_attempts,
                )
            }
        };
        if again.is_empty() {
            return;
        }
        shared
            .n
            .retried
            .fetch_add(again.len() as u64, Ordering::Relaxed);
        attempt += 1;
        tokio::time::sleep(backoff(attempt, &mut rng)).await;
        pending = again;
    }
}

/// Take in PutRecords' per-entry results: count what went in, record what failed for
/// good, and return the entries to send again.
fn accept_results(
    shared: &Shared,
    pending: &[PutRecordsRequestEntry],
    results: &[aws_sdk_kinesis::types::PutRecordsResultEntry],
    attempt: u32,
    max_attempts: u32,
) -> Vec<PutRecordsRequestEntry> {
    let mut again = Vec::new();
    let mut ok = Vec::with_capacity(pending.len());
    for (i, entry) in pending.iter().enumerate() {
        let r = results.get(i);
        match r.and_then(|r| r.error_code()) {
            None if r.is_some() => ok.push(entry),
            None => {
                // Fewer results than entries: treat the rest as not sent.
                if attempt < max_attempts {
                    again.push(entry.clone());
                } else {
                    shared.fail(
                        entry,
                        "MissingResult",
                        "the response had no result for this record",
                        attempt,
                    );
                }
            }
            Some(code) if retryable_entry(code) && attempt < max_attempts => {
                again.push(entry.clone())
            }
            Some(code) => shared.fail(
                entry,
                code,
                r.and_then(|r| r.error_message()).unwrap_or(""),
                attempt,
            ),
        }
    }
    let bytes: usize = ok.iter().map(|e| e.data().as_ref().len()).sum();
    shared.n.sent.fetch_add(ok.len() as u64, Ordering::Relaxed);
    shared.n.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    shared.write_out(&ok);
    again
}

/// The whole PutRecords request failed (`code` empty when the error had none): return
/// the batch to send again when the failure is transient and attempts are left,
/// otherwise fail every entry (and the run, when the failure is not transient).
fn request_failed(
    shared: &Shared,
    pending: &[PutRecordsRequestEntry],
    code: String,
    message: &str,
    attempt: u32,
    max_attempts: u32,
) -> Vec<PutRecordsRequestEntry> {
    let transient = code.is_empty()
        || code.contains("Throughput")
        || code.contains("Throttl")
        || code.contains("LimitExceeded")
        || code.contains("InternalFailure")
        || code.contains("ServiceUnavailable")
        || code.contains("SlowDown");
    if transient && attempt < max_attempts {
        return pending.to_vec();
    }
    let code = if code.is_empty() {
        "RequestFailed".to_string()
    } else {
        code
    };
    for entry in pending {
        shared.fail(entry, &code, message, attempt);
    }
    if !transient {
        if let Ok(mut f) = shared.fatal.lock() {
            f.get_or_insert_with(|| format!("PutRecords failed: {message}"));
        }
    }
    Vec::new()
}

/// The end-of-run summary (stdout; `--output json` prints it as is).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub dry_run: bool,
    pub ok: bool,
    pub interrupted: bool,
    pub seed: u64,
    pub sensors: u32,
    /// Records generated.
    pub records: u64,
    /// Records the stream accepted (for --dry-run: records batched).
    pub sent: u64,
    /// Data bytes of the records sent.
    pub bytes: u64,
    pub requests: u64,
    pub batches: u64,
    /// Record re-sends after a failed entry or request.
    pub retried: u64,
    /// Records not sent after the retry bound.
    pub failed: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub latency_ms: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Serialize, Default)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

fn percentile(sorted: &[u32], p: usize) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[i]) / 1000.0)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.1} ms"))
            .unwrap_or_else(|| "-".into())
    };
    if s.dry_run {
        out.push_str(&format!(
            "produce --dry-run: {} records generated and batched into {} requests ({} bytes) in {:.2}s, {} records/s; nothing was sent\n",
            thousands(s.records),
            thousands(s.batches),
            thousands(s.bytes),
            s.seconds,
            rate_number(s.records_per_second)
        ));
    } else {
        out.push_str(&format!(
            "produce {}: {} of {} records sent ({} bytes) in {:.2}s, {} records/s\n",
            s.stream,
            thousands(s.sent),
            thousands(s.records),
            thousands(s.bytes),
            s.seconds,
            rate_number(s.records_per_second)
        ));
        out.push_str(&format!(
            "  requests {}, retried {}, failed {}, latency p50 {}, p99 {}\n",
            thousands(s.requests),
            thousands(s.retried),
            thousands(s.failed),
            ms(s.latency_ms.p50),
            ms(s.latency_ms.p99)
        ));
    }
    out.push_str(&format!("  seed {}, {} sensors", s.seed, s.sensors));
    if let Some(o) = &s.out {
        out.push_str(&format!(", records written to {o}"));
    }
    out.push('\n');
    for f in s.failures.iter().take(20) {
        out.push_str(&format!(
            "  not sent ({} after {} attempts: {}{}): {}\n",
            f.sensor_id,
            f.attempts,
            f.error_code,
            if f.message.is_empty() {
                String::new()
            } else {
                format!(" {}", f.message)
            },
            f.record
        ));
    }
    if s.failed > 20 {
        out.push_str(&format!(
            "  … and {} more records not sent (all of them with --output json)\n",
            thousands(s.failed - 20)
        ));
    }
    if let Some(e) = &s.error {
        out.push_str(&format!("  error: {e}\n"));
    }
    if s.interrupted {
        out.push_str("  interrupted by Ctrl-C after the batches in flight\n");
    }
    out
}

/// Open the `--out` file, if one was asked for.
fn open_out(args: &ProduceArgs) -> Result<Option<Mutex<BufWriter<File>>>> {
    let Some(p) = &args.out else { return Ok(None) };
    let file = File::create(p).map_err(|e| {
        UsageError(format!(
            "cannot create the --out file {}: {e}; check the path",
            p.display()
        ))
    })?;
    Ok(Some(Mutex::new(BufWriter::with_capacity(1 << 16, file))))
}

/// A task that reports progress every second until aborted: the records sent, the rate
/// since the start (records / elapsed seconds, one decimal: batching makes per-second
/// deltas jump between 0 and a batch), retries and failures. On a terminal it is one line
/// updated in place; elsewhere (or with -v's log) one progress line a second.
fn spawn_ticker(
    shared: Arc<Shared>,
    progress: Progress,
    dry: bool,
    in_place: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let n = &shared.n;
            let line = if dry {
                format!(
                    "generated {}",
                    thousands(n.generated.load(Ordering::Relaxed))
                )
            } else {
                let sent = n.sent.load(Ordering::Relaxed);
                format!(
                    "sent {} ({}), retried {}, failed {}",
                    thousands(sent),
                    rate_text(sent, started.elapsed().as_secs_f64()),
                    thousands(n.retried.load(Ordering::Relaxed)),
                    thousands(n.failed.load(Ordering::Relaxed))
                )
            };
            if in_place {
                let _ = write!(std::io::stderr().lock(), "\r\x1b[Kproduce {line}");
            } else {
                progress.step("produce", &line);
            }
        }
    })
}

/// The average rate over `seconds`: `2.0 records/s`.
pub fn rate_text(records: u64, seconds: f64) -> String {
    let r = if seconds > 0.0 {
        records as f64 / seconds
    } else {
        0.0
    };
    format!("{} records/s", rate_number(r))
}

/// A rate as printed: one decimal below 100 (1.97 is `2.0`, never a truncated `1`), else
/// rounded with thousands separators.
pub fn rate_number(r: f64) -> String {
    if r < 100.0 {
        format!("{r:.1}")
    } else {
        thousands(r.round() as u64)
    }
}

/// Flush the `--out` file; a failure is kept for the summary.
fn flush_out(shared: &Shared) {
    let Some(out) = &shared.out else { return };
    let Ok(mut w) = out.lock() else { return };
    if let Err(e) = w.flush() {
        if let Ok(mut slot) = shared.out_error.lock() {
            slot.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Where the records went: the stream and, unless dry, the region and endpoint.
struct Destination {
    stream: String,
    region: Option<String>,
    endpoint: Option<String>,
}

/// The run's error for the summary: a fatal PutRecords failure, else a failed `--out` file.
fn run_error(shared: &Shared) -> Option<String> {
    let out_error = shared.out_error.lock().ok().and_then(|e| e.clone());
    let fatal = shared.fatal.lock().ok().and_then(|e| e.clone());
    match (fatal, out_error) {
        (Some(f), _) => Some(format!(
            "{f}; stopped sending (check the stream and the credentials' permissions)"
        )),
        (None, Some(o)) => Some(format!(
            "writing the --out file failed: {o}; the records were sent but the file is incomplete"
        )),
        (None, None) => None,
    }
}

/// The end-of-run summary from the counters.
fn summarize(
    args: &ProduceArgs,
    settings: &Settings,
    shared: &Shared,
    to: Destination,
    interrupted: bool,
    seconds: f64,
) -> Summary {
    let n = &shared.n;
    let mut lat = shared
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let failures = shared
        .failures
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    let error = run_error(shared);
    let records = n.generated.load(Ordering::Relaxed);
    let sent = if args.dry_run {
        records
    } else {
        n.sent.load(Ordering::Relaxed)
    };
    let failed = n.failed.load(Ordering::Relaxed);
    Summary {
        command: "produce",
        stream: to.stream,
        region: to.region,
        endpoint: to.endpoint,
        dry_run: args.dry_run,
        ok: failed == 0 && error.is_none(),
        interrupted,
        seed: settings.seed,
        sensors: settings.sensors,
        records,
        sent,
        bytes: n.bytes.load(Ordering::Relaxed),
        requests: n.requests.load(Ordering::Relaxed),
        batches: n.batches.load(Ordering::Relaxed),
        retried: n.retried.load(Ordering::Relaxed),
        failed,
        seconds,
        records_per_second: if seconds > 0.0 {
            sent as f64 / seconds
        } else {
            0.0
        },
        latency_ms: Latency {
            p50: percentile(&lat, 50),
            p99: percentile(&lat, 99),
            max: lat.last().map(|v| f64::from(*v) / 1000.0),
        },
        out: args.out.as_ref().map(|p| p.display().to_string()),
        error,
        failures,
    }
}

/// Run `labctl produce`. Returns the exit code.
pub async fn run(cli: &Session, args: &ProduceArgs) -> Result<i32> {
    let settings = check(args)?;
    flags::check_endpoint(cli)?;
    let (name, spec_region) = flags::name_offline(cli, &args.stream)?;
    let out = open_out(args)?;
    let (client, to) = if args.dry_run {
        let to = Destination {
            stream: name,
            region: None,
            endpoint: None,
        };
        (None, to)
    } else {
        let (clients, name) = flags::connect(cli, &name, spec_region.as_deref()).await?;
        let to = Destination {
            stream: name,
            region: Some(clients.region.clone()),
            endpoint: clients.endpoint.clone(),
        };
        (Some(clients.kinesis.clone()), to)
    };
    let progress = Progress::new(cli.quiet);
    let shared = Arc::new(Shared {
        n: Counters::default(),
        latencies_us: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        out,
        out_error: Mutex::new(None),
        fatal: Mutex::new(None),
    });
    let stop = Stop::on_ctrl_c("the batches in flight");
    let started = Instant::now();
    // One line updated in place on a terminal (not with -q, nor when -v logs it).
    let in_place =
        std::io::stderr().is_terminal() && !cli.quiet && !tracing::enabled!(tracing::Level::DEBUG);
    let ticker = spawn_ticker(shared.clone(), progress.clone(), args.dry_run, in_place);
    let stream_arc: Arc<str> = Arc::from(to.stream.as_str());
    let interrupted = generate(
        &settings,
        client.as_ref(),
        stream_arc,
        shared.clone(),
        &stop,
        args.dry_run,
    )
    .await;
    ticker.abort();
    if in_place {
        eprintln!();
    }
    let seconds = started.elapsed().as_secs_f64();
    flush_out(&shared);
    let summary = summarize(args, &settings, &shared, to, interrupted, seconds);
    match cli.output {
        Format::Json => match serde_json::to_string_pretty(&summary) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot render the summary as JSON: {e}"),
        },
        Format::Table => print!("{}", render(&summary)),
    }
    Ok(if summary.ok { exit::OK } else { exit::FAILED })
}

/// Hands each batch to a sending task (or, dry, counts it); a semaphore bounds the
/// requests in flight.
struct Dispatch<'a> {
    client: Option<&'a aws_sdk_kinesis::Client>,
    stream: Arc<str>,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    seed: u64,
    max_attempts: u32,
    dry_run: bool,
    batch_no: u64,
    /// The batch being filled, and when its first entry went in.
    batch: Batch,
    batch_since: Instant,
}

impl Dispatch<'_> {
    /// Put an entry in the batch, sending the batch first when it would not fit and
    /// after when it is full.
    async fn add(&mut self, entry: PutRecordsRequestEntry, size: usize) {
        if !self.batch.fits(size) {
            self.flush().await;
        }
        if self.batch.is_empty() {
            self.batch_since = Instant::now();
        }
        self.batch.push(entry, size);
        if self.batch.entries.len() == MAX_BATCH_RECORDS {
            self.flush().await;
        }
    }

    /// Send (or count) the batch, leaving it empty.
    async fn flush(&mut self) {
        let b = std::mem::take(&mut self.batch);
        self.batch_no += 1;
        let seed = self.seed ^ self.batch_no.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let shared = self.shared.clone();
        shared.n.batches.fetch_add(1, Ordering::Relaxed);
        if self.dry_run {
            if shared.out.is_some() {
                let refs: Vec<&PutRecordsRequestEntry> = b.entries.iter().collect();
                shared.write_out(&refs);
            }
            let bytes: usize = b.entries.iter().map(|e| e.data().as_ref().len()).sum();
            shared.n.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            drop(b);
            tokio::task::yield_now().await;
            return;
        }
        let Some(client) = self.client.cloned() else {
            return;
        };
        let Ok(permit) = self.sem.clone().acquire_owned().await else {
            return;
        };
        let stream = self.stream.clone();
        let max_attempts = self.max_attempts;
        tokio::spawn(async move {
            send_batch(client, stream, b, shared, max_attempts, seed).await;
            drop(permit);
        });
    }
}

/// This run's part of every `record_id`: its start in milliseconds since the epoch and
/// the process id, in hex, so that two runs never share an id.
fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{ms:x}{:x}", std::process::id())
}

/// The next sensor reading as a PutRecords entry, with the size PutRecords counts.
fn next_entry(sensors: &mut Sensors) -> Option<(PutRecordsRequestEntry, usize)> {
    let mut data = Vec::with_capacity(160);
    let i = sensors.reading(&mut data);
    let key = sensors.id(i);
    let size = entry_size(data.len(), key);
    // Both fields are always set, so building cannot fail.
    let entry = PutRecordsRequestEntry::builder()
        .data(Blob::new(data))
        .partition_key(key)
        .build()
        .ok()?;
    Some((entry, size))
}

/// Whether generating is over: a fatal failure, `--count` made, or `--duration` passed.
fn finished(
    s: &Settings,
    shared: &Shared,
    made: u64,
    deadline: Option<Instant>,
    now: Instant,
) -> bool {
    if let Ok(f) = shared.fatal.lock() {
        if f.is_some() {
            return true;
        }
    }
    s.count.is_some_and(|c| made >= c) || deadline.is_some_and(|d| now >= d)
}

/// Generate records, batch them and send each batch (or, dry, count it). Returns
/// whether Ctrl-C stopped it.
async fn generate(
    s: &Settings,
    client: Option<&aws_sdk_kinesis::Client>,
    stream: Arc<str>,
    shared: Arc<Shared>,
    stop: &Stop,
    dry_run: bool,
) -> bool {
    let mut sensors = Sensors::new(s.sensors, s.seed, s.anomaly_rate).with_run(run_id());
    let sem = Arc::new(Semaphore::new(s.in_flight));
    let start = Instant::now();
    let deadline = s.duration.map(|d| start + d);
    let mut made = 0u64;
    let mut interrupted = false;
    let mut dispatch = Dispatch {
        client,
        stream,
        shared: shared.clone(),
        sem: sem.clone(),
        seed: s.seed,
        max_attempts: s.max_attempts,
        dry_run,
        batch_no: 0,
        batch: Batch::default(),
        batch_since: start,
    };

    loop {
        if stop.stopped() {
            interrupted = true;
            break;
        }
        let now = Instant::now();
        if finished(s, &shared, made, deadline, now) {
            break;
        }
        if let Some(rate) = s.rate {
            let due = start + Duration::from_secs_f64(made as f64 / rate);
            if due > now {
                let wait = due - now;
                if !dispatch.batch.is_empty() && dispatch.batch_since.elapsed() + wait >= LINGER {
                    dispatch.flush().await;
                    continue;
                }
                let until = deadline.map_or(due, |d| d.min(due));
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = stop.wait() => {}
                }
                continue;
            }
        }
        let Some((entry, size)) = next_entry(&mut sensors) else {
            break;
        };
        made += 1;
        shared.n.generated.fetch_add(1, Ordering::Relaxed);
        if size > MAX_RECORD_BYTES {
            shared.fail(
                &entry,
                "RecordTooLarge",
                "a record may hold at most 1 MiB of data and partition key",
                0,
            );
            continue;
        }
        dispatch.add(entry, size).await;
    }
    if !dispatch.batch.is_empty() {
        dispatch.flush().await;
    }
    // Every permit back means every batch is done.
    let _ = sem.acquire_many(s.in_flight as u32).await;
    interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(&second_text(0), b"1970-01-01T00:00:00");
        assert_eq!(&second_text(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&second_text(1_767_225_599), b"2025-12-31T23:59:59");
        assert_eq!(&second_text(4_107_542_400), b"2100-03-01T00:00:00");
        // Against the SDK's own formatter over a spread of seconds.
        let mut r = Rng::new(7);
        for _ in 0..2000 {
            let secs = r.below(4_000_000_000);
            let sdk = aws_smithy_types::DateTime::from_secs(secs as i64)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default();
            assert_eq!(
                format!("{}Z", String::from_utf8_lossy(&second_text(secs))),
                sdk
            );
        }
    }

    #[test]
    fn readings_are_in_range_and_valid_json() {
        let mut s = Sensors::new(10, 42, 0.0);
        let mut buf = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..10_000 {
            buf.clear();
            s.reading_at(&mut buf, Duration::from_millis(1_767_225_599_123));
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("json");
            let t = v["temperature"].as_f64().expect("temperature");
            let h = v["humidity"].as_f64().expect("humidity");
            let p = v["pressure"].as_f64().expect("pressure");
            assert!((10.0..=40.0).contains(&t), "{t}");
            assert!((30.0..=90.0).contains(&h), "{h}");
            assert!((980.0..=1030.0).contains(&p), "{p}");
            assert_eq!(v["timestamp"], "2025-12-31T23:59:59.123Z");
            let id = v["sensor_id"].as_str().expect("id");
            assert!(id.starts_with("sensor-0") && id.len() == 10, "{id}");
            ids.push(v["record_id"].as_str().expect("record_id").to_string());
        }
        assert_eq!(ids[0], "s42-1");
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "every record_id is unique");
    }

    #[test]
    fn anomalies_leave_the_ranges_at_about_the_rate() {
        let mut s = Sensors::new(3, 1, 0.1);
        let mut buf = Vec::new();
        let mut odd = 0;
        for _ in 0..20_000 {
            buf.clear();
            s.reading(&mut buf);
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("json");
            let t = v["temperature"].as_f64().unwrap_or(0.0);
            let h = v["humidity"].as_f64().unwrap_or(0.0);
            let p = v["pressure"].as_f64().unwrap_or(0.0);
            if !(10.0..=40.0).contains(&t)
                || !(30.0..=90.0).contains(&h)
                || !(980.0..=1030.0).contains(&p)
            {
                odd += 1;
            }
        }
        assert!((1600..=2400).contains(&odd), "{odd} anomalies in 20000");
    }

    #[test]
    fn same_seed_same_readings() {
        let t = Duration::from_secs(1_800_000_000);
        let mut a = Sensors::new(10, 9, 0.2);
        let mut b = Sensors::new(10, 9, 0.2);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            a.reading_at(&mut x, t);
            b.reading_at(&mut y, t);
        }
        assert_eq!(x, y);
    }

    #[test]
    fn batches_respect_the_limits() {
        let mut b = Batch::default();
        let e = PutRecordsRequestEntry::builder()
            .data(Blob::new(vec![b'x'; 90]))
            .partition_key("sensor-001")
            .build()
            .expect("entry");
        for _ in 0..MAX_BATCH_RECORDS {
            assert!(b.fits(100));
            b.push(e.clone(), 100);
        }
        assert!(!b.fits(1), "501st record");
        let b = Batch {
            bytes: MAX_BATCH_BYTES - 10,
            ..Default::default()
        };
        assert!(b.fits(10));
        assert!(!b.fits(11), "past 5 MiB");
    }

    #[test]
    fn centi_and_percentiles() {
        let mut v = Vec::new();
        push_centi(&mut v, -2505);
        v.push(b' ');
        push_centi(&mut v, 7);
        assert_eq!(String::from_utf8_lossy(&v), "-25.05 0.07");
        let lat: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&lat, 50), Some(50.0));
        assert_eq!(percentile(&lat, 99), Some(99.0));
        assert_eq!(percentile(&[], 99), None);
    }
}

#[cfg(test)]
mod rate_tests {
    use super::{rate_number, rate_text};

    #[test]
    fn the_rate_is_not_truncated() {
        // 2 records/s for 10 s, measured at 10.1 s: 1.98/s reads 2.0, never 1.
        assert_eq!(rate_text(20, 10.1), "2.0 records/s");
        assert_eq!(rate_number(1.97), "2.0");
        assert_eq!(rate_number(12345.4), "12,345");
        assert_eq!(rate_text(0, 0.0), "0.0 records/s");
    }
}
