//! `labctl tail`: read a stream's records as they arrive, from every shard, the way
//! the Kinesis Client Library does for one process.
//!
//! A coordinator lists the shards (again every second, to see resharding), starts
//! one reader task per shard once the shard's parents are read to their end (so the
//! records of a partition key come out in order across a split or merge), and
//! prints what the readers send: one line per record (`--format`) or a per-sensor
//! summary (`--stats`). It stops after `--count` records, after `--duration`, or on
//! Ctrl-C.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use aws_smithy_types::date_time::Format as DateFormat;
use aws_smithy_types::DateTime;
use clap::{Args, ValueEnum};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::aws::errors::{sdk_code, sdk_message};
use crate::engine::progress::Progress;
use crate::engine::report::{printable, Format};
use crate::error::{exit, UsageError};
use crate::stream::flags::{self, Session, Stop, StreamFlags};

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAt {
    /// Only records put after tail starts.
    Latest,
    /// The oldest record each shard still holds.
    TrimHorizon,
}

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordFormat {
    /// Aligned columns for sensor readings; other data as text.
    Table,
    /// One JSON object per line: shard, sequence number, key, arrival, data.
    Json,
    /// The record's data as is, one per line.
    Raw,
}

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub stream: StreamFlags,
    /// Where to start reading each shard.
    #[arg(
        long,
        value_enum,
        default_value = "latest",
        conflicts_with = "from_timestamp"
    )]
    pub from: StartAt,
    /// Start at the records that arrived at or after this time (2026-01-31T12:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub from_timestamp: Option<String>,
    /// How each record is printed.
    #[arg(long, value_enum, default_value = "table")]
    pub format: RecordFormat,
    /// Print a per-sensor summary (count, average temperature and humidity) instead of records.
    #[arg(long)]
    pub stats: bool,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long: 30s, 5m, 1h.
    #[arg(long, value_name = "TIME")]
    pub duration: Option<String>,
    /// Wait between reads of a shard that had nothing new: 200ms, 1s.
    #[arg(long, value_name = "TIME", default_value = "500ms")]
    pub poll: String,
}

/// Where a reader starts.
#[derive(Debug, Clone)]
enum Start {
    Latest,
    TrimHorizon,
    At(DateTime),
}

/// One shard as the coordinator knows it.
#[derive(Debug, Clone)]
struct ShardState {
    parents: Vec<String>,
    start: Start,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Reading,
    Done,
}

/// Which shards to read when: a shard starts once each parent it has (that is
/// still listed) is read to its end.
#[derive(Debug, Default)]
struct Plan {
    shards: BTreeMap<String, ShardState>,
}

/// A shard from ListShards, reduced to what the plan needs.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    parents: Vec<String>,
    closed: bool,
}

impl Plan {
    /// Take in a listing. `first` is the listing made at start, where `start`
    /// applies; shards seen later are read from their beginning.
    fn add(&mut self, listed: &[Listed], first: bool, start: &Start) {
        for l in listed {
            if self.shards.contains_key(&l.id) {
                continue;
            }
            let (start, phase) = if !first {
                (Start::TrimHorizon, Phase::Waiting)
            } else if matches!(start, Start::Latest) && l.closed {
                // Closed before we started: nothing after LATEST will come from it.
                (Start::Latest, Phase::Done)
            } else {
                (start.clone(), Phase::Waiting)
            };
            self.shards.insert(
                l.id.clone(),
                ShardState {
                    parents: l.parents.clone(),
                    start,
                    phase,
                },
            );
        }
    }

    /// Shards that may start now; they are marked as reading.
    fn take_ready(&mut self) -> Vec<(String, Start)> {
        let ready: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| s.phase == Phase::Waiting)
            .filter(|(_, s)| {
                s.parents.iter().all(|p| {
                    self.shards
                        .get(p)
                        .is_none_or(|parent| parent.phase == Phase::Done)
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        ready
            .into_iter()
            .filter_map(|id| {
                let s = self.shards.get_mut(&id)?;
                s.phase = Phase::Reading;
                Some((id, s.start.clone()))
            })
            .collect()
    }

    fn done(&mut self, id: &str) {
        if let Some(s) = self.shards.get_mut(id) {
            s.phase = Phase::Done;
        }
    }

    fn reading(&self) -> usize {
        self.shards
            .values()
            .filter(|s| s.phase == Phase::Reading)
            .count()
    }
}

/// What readers tell the coordinator.
enum Event {
    Records { shard: String, records: Vec<Record> },
    Done { shard: String },
    Failed { shard: String, error: String },
}

/// Every shard of the stream (all pages).
async fn list_shards(client: &aws_sdk_kinesis::Client, stream: &str) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let page = req.send().await.map_err(|e| {
            anyhow::anyhow!("listing the shards of `{stream}`: {}", sdk_message(&e))
        })?;
        for s in page.shards() {
            let mut parents = Vec::new();
            parents.extend(s.parent_shard_id().map(str::to_string));
            parents.extend(s.adjacent_parent_shard_id().map(str::to_string));
            out.push(Listed {
                id: s.shard_id().to_string(),
                parents,
                closed: s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

struct Reader {
    client: aws_sdk_kinesis::Client,
    stream: Arc<str>,
    shard: String,
    start: Start,
    poll: Duration,
    /// Shards the coordinator has seen closed.
    closed: Arc<Mutex<std::collections::HashSet<String>>>,
    tx: mpsc::Sender<Event>,
}

impl Reader {
    async fn iterator(&self, after: Option<&str>) -> Result<Option<String>, String> {
        let mut req = self
            .client
            .get_shard_iterator()
            .stream_name(self.stream.as_ref())
            .shard_id(&self.shard);
        req = match (after, &self.start) {
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
            (None, Start::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
            (None, Start::TrimHorizon) => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (None, Start::At(t)) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(*t),
        };
        let mut wait = Duration::from_millis(200);
        loop {
            match req.clone().send().await {
                Ok(r) => return Ok(r.shard_iterator().map(str::to_string)),
                Err(e)
                    if matches!(
                        sdk_code(&e),
                        Some("ProvisionedThroughputExceededException" | "LimitExceededException")
                    ) =>
                {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(sdk_message(&e)),
            }
        }
    }

    async fn run(self) {
        let shard = self.shard.clone();
        if let Err(error) = self.read().await {
            let _ = self.tx.send(Event::Failed { shard, error }).await;
        }
    }

    async fn read(&self) -> Result<(), String> {
        let mut last: Option<String> = None;
        let mut iter = self.iterator(None).await?;
        let mut wait = self.poll;
        while let Some(it) = iter {
            let closed_before = self
                .closed
                .lock()
                .map(|c| c.contains(&self.shard))
                .unwrap_or(false);
            let res = self
                .client
                .get_records()
                .shard_iterator(&it)
                .limit(10_000)
                .send()
                .await;
            let r = match res {
                Ok(r) => r,
                Err(e) => match sdk_code(&e) {
                    Some("ExpiredIteratorException") => {
                        iter = self.iterator(last.as_deref()).await?;
                        continue;
                    }
                    Some(
                        "ProvisionedThroughputExceededException"
                        | "KMSThrottlingException"
                        | "LimitExceededException",
                    ) => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                        iter = Some(it);
                        continue;
                    }
                    _ => return Err(format!("GetRecords on {}: {}", self.shard, sdk_message(&e))),
                },
            };
            wait = self.poll;
            let empty = r.records().is_empty();
            let behind = r.millis_behind_latest().unwrap_or(0);
            let next = r.next_shard_iterator().map(str::to_string);
            if !empty {
                last = r.records().last().map(|x| x.sequence_number().to_string());
                let records = r.records().to_vec();
                let event = Event::Records {
                    shard: self.shard.clone(),
                    records,
                };
                if self.tx.send(event).await.is_err() {
                    return Ok(());
                }
            }
            // A closed shard read to its end: no next iterator (AWS), or, for
            // emulators that keep handing one out, nothing left once it was closed.
            if next.is_none() || (empty && behind == 0 && closed_before) {
                break;
            }
            iter = next;
            if empty || behind == 0 {
                tokio::time::sleep(self.poll).await;
            }
        }
        let _ = self
            .tx
            .send(Event::Done {
                shard: self.shard.clone(),
            })
            .await;
        Ok(())
    }
}

/// Per-sensor running totals.
#[derive(Debug, Default, Clone)]
struct Totals {
    count: u64,
    temperature: f64,
    humidity: f64,
}

#[derive(Debug, Serialize)]
struct SensorRow {
    sensor_id: String,
    count: u64,
    avg_temperature: f64,
    avg_humidity: f64,
}

#[derive(Debug, Serialize)]
struct StatsReport {
    command: &'static str,
    stream: String,
    records: u64,
    shards: usize,
    seconds: f64,
    sensors: Vec<SensorRow>,
    /// Records that are not sensor readings.
    other: u64,
}

struct Stats {
    by_sensor: BTreeMap<String, Totals>,
    other: u64,
}

impl Stats {
    fn add(&mut self, data: &[u8]) {
        let v: Option<serde_json::Value> = serde_json::from_slice(data).ok();
        let parts = v.as_ref().and_then(|v| {
            Some((
                v.get("sensor_id")?.as_str()?.to_string(),
                v.get("temperature")?.as_f64()?,
                v.get("humidity")?.as_f64()?,
            ))
        });
        match parts {
            Some((id, t, h)) => {
                let e = self.by_sensor.entry(id).or_default();
                e.count += 1;
                e.temperature += t;
                e.humidity += h;
            }
            None => self.other += 1,
        }
    }

    fn rows(&self) -> Vec<SensorRow> {
        self.by_sensor
            .iter()
            .map(|(id, t)| SensorRow {
                sensor_id: id.clone(),
                count: t.count,
                avg_temperature: t.temperature / t.count as f64,
                avg_humidity: t.humidity / t.count as f64,
            })
            .collect()
    }

    fn table(&self, footer: &str) -> String {
        let mut s = format!(
            "{:<12}  {:>8}  {:>15}  {:>12}\n",
            "SENSOR", "RECORDS", "AVG TEMPERATURE", "AVG HUMIDITY"
        );
        for r in self.rows() {
            s.push_str(&format!(
                "{:<12}  {:>8}  {:>15.2}  {:>12.2}\n",
                r.sensor_id, r.count, r.avg_temperature, r.avg_humidity
            ));
        }
        if self.other > 0 {
            s.push_str(&format!("{:<12}  {:>8}\n", "(not sensor)", self.other));
        }
        s.push_str(footer);
        s.push('\n');
        s
    }
}

fn arrival(r: &Record) -> String {
    r.approximate_arrival_timestamp()
        .and_then(|t| t.fmt(DateFormat::DateTime).ok())
        .unwrap_or_default()
}

fn short_shard(id: &str) -> &str {
    id.strip_prefix("shardId-").unwrap_or(id)
}

/// One record as printed by `--format`.
fn line(format: RecordFormat, shard: &str, r: &Record) -> String {
    let data = r.data().as_ref();
    match format {
        RecordFormat::Raw => String::from_utf8_lossy(data).into_owned(),
        RecordFormat::Json => {
            let data: serde_json::Value = serde_json::from_slice(data).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(data).into_owned())
            });
            serde_json::json!({
                "shard": shard,
                "sequence_number": r.sequence_number(),
                "partition_key": r.partition_key(),
                "arrival": arrival(r),
                "data": data,
            })
            .to_string()
        }
        RecordFormat::Table => {
            let v: Option<serde_json::Value> = serde_json::from_slice(data).ok();
            let reading = v.as_ref().and_then(|v| {
                Some((
                    v.get("sensor_id")?.as_str()?,
                    v.get("timestamp")?.as_str()?,
                    v.get("temperature")?.as_f64()?,
                    v.get("humidity")?.as_f64()?,
                    v.get("pressure")?.as_f64()?,
                ))
            });
            match reading {
                Some((id, ts, t, h, p)) => format!(
                    "{:<12}  {:<12}  {:<24}  {:>11.2}  {:>8.2}  {:>8.2}",
                    short_shard(shard),
                    id,
                    ts,
                    t,
                    h,
                    p
                ),
                None => format!(
                    "{:<12}  {:<12}  {}",
                    short_shard(shard),
                    r.partition_key().unwrap_or(""),
                    String::from_utf8_lossy(data)
                ),
            }
        }
    }
}

const TABLE_HEAD: &str =
    "SHARD         SENSOR        TIMESTAMP                 TEMPERATURE  HUMIDITY  PRESSURE";

/// The options of one `tail` run, checked before any AWS call.
struct Options {
    duration: Option<Duration>,
    poll: Duration,
    start: Start,
}

fn options(args: &TailArgs) -> Result<Options> {
    if args.count == Some(0) {
        return Err(UsageError("--count must be at least 1".into()).into());
    }
    let duration = args
        .duration
        .as_deref()
        .map(|d| flags::parse_duration("--duration", d))
        .transpose()?;
    let poll = flags::parse_duration("--poll", &args.poll)?;
    let start = match &args.from_timestamp {
        Some(t) => Start::At(
            DateTime::from_str(t.trim(), DateFormat::DateTime).map_err(|_| {
                UsageError(format!(
                    "--from-timestamp `{t}` is not a UTC time; write it as 2026-01-31T12:00:00Z"
                ))
            })?,
        ),
        None => match args.from {
            StartAt::Latest => Start::Latest,
            StartAt::TrimHorizon => Start::TrimHorizon,
        },
    };
    Ok(Options {
        duration,
        poll,
        start,
    })
}

/// Where reading starts, as the progress line says it.
fn start_label(start: &Start) -> String {
    match start {
        Start::Latest => "latest".to_string(),
        Start::TrimHorizon => "trim-horizon".to_string(),
        Start::At(t) => t.fmt(DateFormat::DateTime).unwrap_or_default(),
    }
}

/// The reader tasks (one per shard being read) and what they share.
struct Readers {
    client: aws_sdk_kinesis::Client,
    stream: Arc<str>,
    poll: Duration,
    /// Shards the coordinator has seen closed.
    closed: Arc<Mutex<std::collections::HashSet<String>>>,
    tx: mpsc::Sender<Event>,
    tasks: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Readers {
    /// Start a reader for every shard the plan says is ready.
    fn spawn_ready(&mut self, plan: &mut Plan) {
        for (shard, start) in plan.take_ready() {
            tracing::debug!(%shard, "tail starts reading");
            let reader = Reader {
                client: self.client.clone(),
                stream: self.stream.clone(),
                shard: shard.clone(),
                start,
                poll: self.poll,
                closed: self.closed.clone(),
                tx: self.tx.clone(),
            };
            self.tasks.insert(shard, tokio::spawn(reader.run()));
        }
    }

    /// List the shards again and take the listing into the plan (and the closed set).
    async fn relist(&self, plan: &mut Plan, start: &Start) -> Result<()> {
        let listed = list_shards(&self.client, &self.stream).await?;
        if let Ok(mut c) = self.closed.lock() {
            c.extend(listed.iter().filter(|x| x.closed).map(|x| x.id.clone()));
        }
        plan.add(&listed, false, start);
        Ok(())
    }

    fn abort_all(&mut self) {
        for (_, h) in self.tasks.drain() {
            h.abort();
        }
    }
}

/// Whether the coordinator keeps going after an event.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// One `tail` run's coordinator: the plan, the readers, what was printed or counted.
struct Tail<'a> {
    args: &'a TailArgs,
    start: Start,
    plan: Plan,
    readers: Readers,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
    stdout_tty: bool,
    started: Instant,
    seen: u64,
    shards_with_records: std::collections::HashSet<String>,
    stats: Stats,
    failure: Option<String>,
}

impl Tail<'_> {
    fn count_reached(&self) -> bool {
        self.args.count.is_some_and(|c| self.seen >= c)
    }

    /// A record's line as printed: the table's escaped for the terminal ([`printable`]),
    /// raw data too when it goes to a terminal; JSON, and raw data into a pipe or a
    /// file, stay exact.
    fn shown(&self, l: String) -> String {
        match self.args.format {
            RecordFormat::Table => printable(&l).into_owned(),
            RecordFormat::Raw if self.stdout_tty => printable(&l).into_owned(),
            _ => l,
        }
    }

    /// Print (or count, with `--stats`) the records a reader sent.
    fn take_records(&mut self, shard: String, records: &[Record]) -> Flow {
        for r in records {
            if self.count_reached() {
                break;
            }
            self.seen += 1;
            if self.args.stats {
                self.stats.add(r.data().as_ref());
            } else if writeln!(
                self.out,
                "{}",
                self.shown(line(self.args.format, &shard, r))
            )
            .is_err()
            {
                // The reader of our output went away (`| head`): stop quietly.
                return Flow::Stop;
            }
        }
        self.shards_with_records.insert(shard);
        if self.out.flush().is_err() || self.count_reached() {
            return Flow::Stop;
        }
        Flow::Continue
    }

    async fn on_event(&mut self, ev: Option<Event>) -> Flow {
        match ev {
            Some(Event::Records { shard, records }) => self.take_records(shard, &records),
            Some(Event::Done { shard }) => {
                tracing::debug!(%shard, "tail read a closed shard to its end");
                self.readers.tasks.remove(&shard);
                self.plan.done(&shard);
                // Its children are listed by now; take them in at once.
                if let Err(e) = self.readers.relist(&mut self.plan, &self.start).await {
                    tracing::debug!("listing shards: {e:#}");
                }
                self.readers.spawn_ready(&mut self.plan);
                Flow::Continue
            }
            Some(Event::Failed { shard, error }) => {
                self.failure = Some(format!("reading shard {shard} failed: {error}"));
                Flow::Stop
            }
            None => Flow::Stop,
        }
    }

    /// The periodic listing that sees resharding.
    async fn refresh(&mut self) {
        match self.readers.relist(&mut self.plan, &self.start).await {
            Ok(()) => self.readers.spawn_ready(&mut self.plan),
            Err(e) => tracing::debug!("listing shards: {e:#}"),
        }
    }

    /// Redraw the live `--stats` table on a terminal.
    fn redraw(&mut self) {
        let _ = write!(
            self.out,
            "\x1b[H\x1b[2J{}",
            self.stats.table(&format!(
                "{} records, {} shards reading, {:.0}s (Ctrl-C to stop)",
                self.seen,
                self.plan.reading(),
                self.started.elapsed().as_secs_f64()
            ))
        );
        let _ = self.out.flush();
    }

    /// Take events until `--count`, `--duration`, Ctrl-C, a failure or a closed pipe.
    async fn coordinate(
        &mut self,
        rx: &mut mpsc::Receiver<Event>,
        duration: Option<Duration>,
        stop: &Stop,
    ) {
        let mut refresh = tokio::time::interval(Duration::from_secs(1));
        refresh.tick().await;
        let mut redraw = tokio::time::interval(Duration::from_secs(1));
        let deadline = duration.map(|d| tokio::time::Instant::now() + d);
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(until_deadline);
        let live_stats = self.args.stats && self.stdout_tty;
        loop {
            tokio::select! {
                ev = rx.recv() => if self.on_event(ev).await == Flow::Stop {
                    break;
                },
                _ = refresh.tick() => self.refresh().await,
                _ = redraw.tick(), if live_stats => self.redraw(),
                _ = &mut until_deadline => break,
                _ = stop.wait() => break,
            }
        }
    }

    /// The final `--stats` summary, as a table or JSON.
    fn print_stats(&mut self, output: Format, stream: &str, seconds: f64) {
        if self.stdout_tty && output == Format::Table {
            let _ = write!(self.out, "\x1b[H\x1b[2J");
        }
        let seen = self.seen;
        let shards = self.shards_with_records.len();
        match output {
            Format::Json => {
                let report = StatsReport {
                    command: "tail",
                    stream: stream.to_string(),
                    records: seen,
                    shards,
                    seconds,
                    sensors: self.stats.rows(),
                    other: self.stats.other,
                };
                if let Ok(s) = serde_json::to_string_pretty(&report) {
                    let _ = writeln!(self.out, "{s}");
                }
            }
            Format::Table => {
                let _ = write!(
                    self.out,
                    "{}",
                    printable(&self.stats.table(&format!(
                        "{seen} records from {shards} shards of {stream} in {seconds:.1}s"
                    )))
                );
            }
        }
    }
}

/// The listing made at start: the plan it gives, the shards already closed, and the
/// progress line saying what is read from where.
async fn first_listing(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    start: &Start,
    progress: &Progress,
) -> Result<(Plan, std::collections::HashSet<String>)> {
    let mut plan = Plan::default();
    let listed = list_shards(client, stream).await?;
    plan.add(&listed, true, start);
    let closed = listed
        .iter()
        .filter(|l| l.closed)
        .map(|l| l.id.clone())
        .collect();
    progress.step(
        "tail",
        &format!(
            "reading {} ({} shards, {} open) from {}",
            stream,
            listed.len(),
            listed.iter().filter(|l| !l.closed).count(),
            start_label(start)
        ),
    );
    Ok((plan, closed))
}

/// Run `labctl tail`. Returns the exit code.
pub async fn run(cli: &Session, args: &TailArgs) -> Result<i32> {
    let Options {
        duration,
        poll,
        start,
    } = options(args)?;
    flags::check_endpoint(cli)?;
    let (name, spec_region) = flags::name_offline(cli, &args.stream)?;
    let (clients, stream) = flags::connect(cli, &name, spec_region.as_deref()).await?;
    let client = clients.kinesis.clone();
    let progress = Progress::new(cli.quiet);
    let stop = Stop::on_ctrl_c("the records already read to be printed");
    let started = Instant::now();

    let (mut plan, closed) = first_listing(&client, &stream, &start, &progress).await?;

    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let mut readers = Readers {
        client,
        stream: Arc::from(stream.as_str()),
        poll,
        closed: Arc::new(Mutex::new(closed)),
        tx,
        tasks: HashMap::new(),
    };
    readers.spawn_ready(&mut plan);

    let mut tail = Tail {
        args,
        start,
        plan,
        readers,
        out: std::io::BufWriter::new(std::io::stdout().lock()),
        stdout_tty: std::io::stdout().is_terminal(),
        started,
        seen: 0,
        shards_with_records: std::collections::HashSet::new(),
        stats: Stats {
            by_sensor: BTreeMap::new(),
            other: 0,
        },
        failure: None,
    };
    if !args.stats && args.format == RecordFormat::Table {
        let _ = writeln!(tail.out, "{TABLE_HEAD}");
        let _ = tail.out.flush();
    }
    tail.coordinate(&mut rx, duration, &stop).await;
    tail.readers.abort_all();
    let seconds = started.elapsed().as_secs_f64();
    if args.stats {
        tail.print_stats(cli.output, &stream, seconds);
    }
    let _ = tail.out.flush();
    progress.step(
        "tail",
        &format!(
            "{} records from {} shards in {seconds:.1}s",
            tail.seen,
            tail.shards_with_records.len()
        ),
    );
    match tail.failure {
        Some(f) => {
            eprintln!("error: {f}; check the stream and the credentials' permissions");
            Ok(exit::FAILED)
        }
        None => Ok(exit::OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(id: &str, parents: &[&str], closed: bool) -> Listed {
        Listed {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            closed,
        }
    }

    fn ids(v: &[(String, Start)]) -> Vec<&str> {
        v.iter().map(|(i, _)| i.as_str()).collect()
    }

    #[test]
    fn parents_before_children_across_split_and_merge() {
        // 0 split into 1 and 2; 1 and 2 merged into 3.
        let listing = [
            l("s0", &[], true),
            l("s1", &["s0"], true),
            l("s2", &["s0"], true),
            l("s3", &["s1", "s2"], false),
        ];
        let mut p = Plan::default();
        p.add(&listing, true, &Start::TrimHorizon);
        assert_eq!(ids(&p.take_ready()), ["s0"]);
        assert!(p.take_ready().is_empty());
        p.done("s0");
        assert_eq!(ids(&p.take_ready()), ["s1", "s2"]);
        p.done("s1");
        assert!(p.take_ready().is_empty(), "s3 waits for both parents");
        p.done("s2");
        assert_eq!(ids(&p.take_ready()), ["s3"]);
    }

    #[test]
    fn latest_skips_closed_shards_and_reads_new_children_from_their_start() {
        let mut p = Plan::default();
        p.add(
            &[l("s0", &[], true), l("s1", &["s0"], false)],
            true,
            &Start::Latest,
        );
        let first = p.take_ready();
        assert_eq!(ids(&first), ["s1"]);
        assert!(matches!(first[0].1, Start::Latest));
        // s1 splits while we read.
        p.add(
            &[
                l("s0", &[], true),
                l("s1", &["s0"], true),
                l("s2", &["s1"], false),
                l("s3", &["s1"], false),
            ],
            false,
            &Start::Latest,
        );
        assert!(p.take_ready().is_empty(), "children wait for s1's end");
        p.done("s1");
        let next = p.take_ready();
        assert_eq!(ids(&next), ["s2", "s3"]);
        assert!(next.iter().all(|(_, s)| matches!(s, Start::TrimHorizon)));
    }

    #[test]
    fn a_parent_past_retention_does_not_block() {
        let mut p = Plan::default();
        p.add(&[l("s5", &["gone"], false)], true, &Start::TrimHorizon);
        assert_eq!(ids(&p.take_ready()), ["s5"]);
    }

    /// OSC 52 (a clipboard write) and CSI (cursor moves) in a record reach the
    /// terminal as text in the table; JSON keeps the data exact.
    #[test]
    fn control_characters_in_records_are_escaped_in_the_table_not_in_json() {
        let data = "{\"sensor_id\":\"s\u{1b}]52;c;ZXZpbA==\u{7}\",\"x\":1}\u{1b}[2J\u{9b}31m";
        let r = Record::builder()
            .sequence_number("1")
            .partition_key("k\u{1b}[H")
            .data(aws_smithy_types::Blob::new(data.as_bytes()))
            .build()
            .expect("record");
        let table = printable(&line(RecordFormat::Table, "shardId-0", &r)).into_owned();
        assert!(!table.chars().any(|c| c.is_control()), "{table:?}");
        assert!(
            table.contains("\\u{1b}[2J") && table.contains("\\u{9b}"),
            "{table}"
        );
        let json = line(RecordFormat::Json, "shardId-0", &r);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["data"].as_str(), Some(data), "JSON keeps the data exact");
    }

    #[test]
    fn stats_average_per_sensor() {
        let mut s = Stats {
            by_sensor: BTreeMap::new(),
            other: 0,
        };
        s.add(br#"{"sensor_id":"sensor-001","temperature":20.0,"humidity":50.0}"#);
        s.add(br#"{"sensor_id":"sensor-001","temperature":30.0,"humidity":70.0}"#);
        s.add(br#"{"sensor_id":"sensor-002","temperature":11.5,"humidity":40.0}"#);
        s.add(b"not json");
        let rows = s.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].count, rows[0].avg_temperature, rows[0].avg_humidity),
            (2, 25.0, 60.0)
        );
        assert_eq!(rows[1].count, 1);
        assert_eq!(s.other, 1);
    }
}
