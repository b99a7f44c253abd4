//! The pipeline spec: the typed shape of `pipeline.yaml`, how it is loaded and
//! validated, and how its `${...}` variables are resolved.
//!
//! Every struct rejects unknown fields, so a typo is an error and never a silently
//! ignored setting. Validation (`validate`) runs before any AWS call.

pub mod locate;
pub mod messages;
pub mod validate;
pub mod vars;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{SpecError, SpecErrors};

/// The whole pipeline file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Format version of the file; only `1` exists.
    pub version: u32,
    /// Pipeline name: the value of the ownership tag `labctl:pipeline`.
    pub pipeline: String,
    /// AWS region; `--region`, then this, then the profile's region.
    #[serde(default)]
    pub region: Option<String>,
    /// Tags put on every resource, in addition to the ownership tag.
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub buckets: IndexMap<String, BucketSpec>,
    #[serde(default)]
    pub streams: IndexMap<String, StreamSpec>,
    #[serde(default)]
    pub roles: IndexMap<String, RoleSpec>,
    #[serde(default)]
    pub delivery_streams: IndexMap<String, DeliverySpec>,
    #[serde(default)]
    pub applications: IndexMap<String, ApplicationSpec>,
    #[serde(default)]
    pub dashboards: IndexMap<String, DashboardSpec>,
    /// CloudWatch alarms on the pipeline's health.
    #[serde(default)]
    pub alarms: IndexMap<String, AlarmSpec>,
    /// SNS topics alarms notify.
    #[serde(default)]
    pub topics: IndexMap<String, TopicSpec>,
}

fn default_folders() -> Vec<String> {
    vec!["raw-stream/".into(), "processed-stream/".into()]
}

/// An S3 bucket (the lab's step 1).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    pub name: String,
    /// Folder markers (empty objects whose key ends with `/`) that must exist.
    #[serde(default = "default_folders")]
    pub folders: Vec<String>,
    /// Force `down` to empty a bucket that holds objects. Default true: the lab's data is disposable.
    #[serde(default = "yes")]
    pub force_destroy: bool,
    /// A bucket policy that denies every request not made over TLS. Default true.
    #[serde(default = "yes")]
    pub deny_insecure_transport: bool,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Capacity mode of a Kinesis data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamMode {
    OnDemand,
    Provisioned,
}

fn default_retention() -> u32 {
    24
}

/// A Kinesis data stream (the lab's step 2).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    pub name: String,
    pub mode: StreamMode,
    /// Shard count; only with `mode: provisioned`.
    #[serde(default)]
    pub shards: Option<u32>,
    #[serde(default = "default_retention")]
    pub retention_hours: u32,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The AWS service a role is for; its trust policy names that service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleService {
    Firehose,
    KinesisAnalytics,
}

/// An IAM role whose inline policy labctl generates from the resources that use it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub name: String,
    pub service: RoleService,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// Where a delivery stream reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    KinesisStream,
    DirectPut,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySource {
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// Id of a stream in `streams:`; only with `type: kinesis-stream`.
    #[serde(default)]
    pub stream: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Zip,
    HadoopSnappy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    /// No Firehose-side encryption: objects get the bucket's default encryption.
    BucketDefault,
    /// SSE-KMS with `kms_key_arn`.
    Kms,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Buffering {
    pub interval_seconds: i32,
    pub size_mib: i32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// Id of a bucket in `buckets:`.
    pub bucket: String,
    pub prefix: String,
    #[serde(default)]
    pub error_prefix: Option<String>,
    pub buffering: Buffering,
    pub compression: Compression,
    pub encryption: Encryption,
    #[serde(default)]
    pub kms_key_arn: Option<String>,
}

/// Delivery error logging to CloudWatch Logs; labctl creates and removes the group and stream.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryLogging {
    pub log_group: String,
    pub log_stream: String,
    #[serde(default = "default_log_retention")]
    pub retention_days: i32,
}

fn default_log_retention() -> i32 {
    7
}

/// A Firehose delivery stream (the lab's steps 3 and 6).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySpec {
    pub name: String,
    pub source: DeliverySource,
    /// Id of a role in `roles:` with `service: firehose`.
    pub role: String,
    pub destination: S3Destination,
    #[serde(default)]
    pub logging: Option<DeliveryLogging>,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    KinesisAnalyticsSql,
    Flink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    Now,
    TrimHorizon,
    LastStoppedPoint,
}

fn default_starting_position() -> StartingPosition {
    StartingPosition::Now
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// Id of a stream in `streams:`.
    pub stream: String,
    #[serde(default = "default_name_prefix")]
    pub name_prefix: String,
    #[serde(default = "default_starting_position")]
    pub starting_position: StartingPosition,
    /// How records become columns (`engine: kinesis-analytics-sql`). Absent: the lab's
    /// sensor record (sensor_id, timestamp, temperature, humidity, pressure) as JSON.
    #[serde(default)]
    pub schema: Option<InputSchema>,
}

/// The input schema of a SQL application: declared columns, or discovery.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSchema {
    /// Ask Kinesis Analytics (DiscoverInputSchema over records already in the stream)
    /// instead of declaring `columns`.
    #[serde(default)]
    pub discover: bool,
    /// JSON path of a record's row: `$` for one JSON object per record.
    #[serde(default = "default_row_path")]
    pub record_row_path: String,
    #[serde(default)]
    pub columns: Vec<SchemaColumn>,
}

fn default_row_path() -> String {
    "$".into()
}

/// One column of the in-application input stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaColumn {
    pub name: String,
    /// A Kinesis Analytics SQL type: `VARCHAR(16)`, `DOUBLE`, `TIMESTAMP` …
    pub sql_type: String,
    /// JSON path of the value; default `$.<name>`.
    #[serde(default)]
    pub mapping: Option<String>,
}

/// Parallelism of a Flink application.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Parallelism {
    #[serde(default = "one_i32")]
    pub parallelism: i32,
    #[serde(default = "one_i32")]
    pub per_kpu: i32,
    #[serde(default)]
    pub auto_scaling: bool,
}

impl Default for Parallelism {
    fn default() -> Parallelism {
        Parallelism {
            parallelism: 1,
            per_kpu: 1,
            auto_scaling: false,
        }
    }
}

fn one_i32() -> i32 {
    1
}

/// Where the Flink code artifact (a zip) is uploaded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// Id of a bucket in `buckets:`.
    pub bucket: String,
    #[serde(default = "default_code_prefix")]
    pub prefix: String,
}

fn default_code_prefix() -> String {
    "code/".into()
}

fn default_name_prefix() -> String {
    "SOURCE_SQL_STREAM".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppOutput {
    /// Id of a delivery stream in `delivery_streams:` with `source.type: direct-put`.
    pub delivery_stream: String,
}

/// The analytics application (the lab's step 5).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSpec {
    pub name: String,
    pub engine: Engine,
    /// Id of a role in `roles:` with `service: kinesis-analytics`.
    pub role: String,
    pub input: AppInput,
    pub output: AppOutput,
    /// The application code (SQL), relative to the spec file.
    pub code: String,
    /// Flink runtime, e.g. `FLINK-1_20`; only with `engine: flink`.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Flink parallelism; default 1 per KPU, 1 in all, no autoscaling.
    #[serde(default)]
    pub parallelism: Option<Parallelism>,
    /// Flink connector jars, relative to the spec file. Empty: the pinned Kinesis and
    /// Firehose SQL connectors, downloaded once into the local cache and checksummed.
    #[serde(default)]
    pub jars: Vec<String>,
    /// Where the Flink code artifact goes; default: the output delivery stream's bucket, `code/`.
    #[serde(default)]
    pub artifact: Option<ArtifactSpec>,
    /// Flink CloudWatch logging; default group `/aws/kinesis-analytics/<name>`,
    /// stream `kinesis-analytics-log-stream`. labctl creates and removes both.
    #[serde(default)]
    pub logging: Option<DeliveryLogging>,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

impl Spec {
    /// A copy whose application files (`code`, `jars`) are resolved against `base`,
    /// the directory of the spec file.
    pub fn with_base_dir(mut self, base: &Path) -> Spec {
        for a in self.applications.values_mut() {
            a.code = base.join(&a.code).to_string_lossy().into_owned();
            a.jars = a
                .jars
                .iter()
                .map(|j| base.join(j).to_string_lossy().into_owned())
                .collect();
        }
        self
    }
}

/// The CloudWatch dashboard (the lab's step 7).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSpec {
    pub name: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// What an alarm watches; each names its metric, statistic and the kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmMetric {
    /// Firehose `DeliveryToS3.DataFreshness` (seconds), on a delivery stream.
    DeliveryFreshness,
    /// Kinesis `GetRecords.IteratorAgeMilliseconds`, on a stream.
    IteratorAge,
    /// Kinesis `WriteProvisionedThroughputExceeded` (count), on a stream.
    WriteThrottling,
    /// Analytics application `downtime` (milliseconds), on an application.
    AppDowntime,
}

fn one() -> i32 {
    1
}

fn sixty() -> i32 {
    60
}

/// A CloudWatch alarm (the lab's first challenge).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSpec {
    pub name: String,
    pub metric: AlarmMetric,
    /// Id of the stream, delivery stream or application watched.
    pub target: String,
    /// Alarm when the statistic is above this value.
    pub threshold: f64,
    #[serde(default = "sixty")]
    pub period_seconds: i32,
    #[serde(default = "one")]
    pub evaluation_periods: i32,
    /// Id of a topic in `topics:` to notify.
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// An SNS topic that alarms notify.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A spec read from disk: the parsed value, its source text (for locating errors)
/// and the directory that relative file references are resolved against.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: Spec,
    pub file: PathBuf,
    pub source: String,
    pub base_dir: PathBuf,
    /// Field locations in `source`, built on the first error (once, not per error).
    pub index: std::sync::OnceLock<std::sync::Arc<locate::Index>>,
}

impl LoadedSpec {
    /// Locate a field path (`streams.sensor.name`) in the source, for error messages.
    pub fn error(
        &self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> SpecError {
        let idx = self
            .index
            .get_or_init(|| std::sync::Arc::new(locate::index(&self.source)));
        let loc = locate::locate_in(idx, path);
        SpecError {
            file: self.file.display().to_string(),
            line: loc.map(|l| l.0),
            column: loc.map(|l| l.1),
            path: path.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The largest spec file read; the lab's is about 5 KB.
pub const MAX_SPEC_BYTES: u64 = 1024 * 1024;

fn file_error(file: &str, at: Option<(usize, usize)>, message: String, hint: &str) -> SpecErrors {
    SpecErrors(vec![SpecError {
        file: file.to_string(),
        line: at.map(|a| a.0),
        column: at.map(|a| a.1),
        path: String::new(),
        message,
        hint: hint.into(),
    }])
}

/// The file's text: at most [`MAX_SPEC_BYTES`], UTF-8, not empty.
fn read_source(file: &Path, display: &str) -> Result<String, SpecErrors> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        file_error(
            display,
            None,
            format!("cannot read the spec file: {e}"),
            "pass the right file with -f/--file (default ./pipeline.yaml)",
        )
    };
    let too_big = |n: String| {
        file_error(
            display,
            None,
            format!("the spec file is {n} bytes; a spec may have at most {MAX_SPEC_BYTES}"),
            "check that -f/--file names the pipeline spec, not another file",
        )
    };
    let f = std::fs::File::open(file).map_err(unreadable)?;
    if let Ok(m) = f.metadata() {
        if m.is_file() && m.len() > MAX_SPEC_BYTES {
            return Err(too_big(m.len().to_string()));
        }
    }
    let mut bytes = Vec::new();
    f.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(too_big(format!("more than {MAX_SPEC_BYTES}")));
    }
    let source = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let column = good.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        file_error(
            display,
            Some((line, column)),
            "the spec file is not UTF-8 text (an invalid byte is here)".into(),
            "save the file as UTF-8; if it is not a YAML spec, pass the right one with -f/--file",
        )
    })?;
    if source.trim().is_empty() {
        return Err(file_error(
            display,
            None,
            "the spec file is empty".into(),
            "write the pipeline in it (see pipeline.yaml in the repository and the README's spec format)",
        ));
    }
    Ok(source)
}

/// Read and parse a spec file. Syntax and type errors come back located.
pub fn load(file: &Path) -> Result<LoadedSpec, SpecErrors> {
    let display = file.display().to_string();
    let source = read_source(file, &display)?;
    let spec = parse(&display, &source)?;
    let base_dir = file
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(LoadedSpec {
        spec,
        file: file.to_path_buf(),
        source,
        base_dir,
        index: std::sync::OnceLock::new(),
    })
}

/// Parse spec text; `file` is only used in messages.
pub fn parse(file: &str, source: &str) -> Result<Spec, SpecErrors> {
    if source.len() as u64 > MAX_SPEC_BYTES {
        return Err(file_error(
            file,
            None,
            format!(
                "the spec is {} bytes; a spec may have at most {MAX_SPEC_BYTES}",
                source.len()
            ),
            "check that -f/--file names the pipeline spec, not another file",
        ));
    }
    // Before either parser walks it: nothing too deep, no alias bomb.
    if let Some((why, line, column)) = locate::shape_problem(source) {
        return Err(file_error(
            file,
            Some((line, column)),
            why,
            "a pipeline spec is small: nest at most 32 levels, and write values out instead of aliases that multiply",
        ));
    }
    if let Some(err) = locate::duplicate_key(source) {
        return Err(SpecErrors(vec![SpecError {
            file: file.to_string(),
            line: Some(err.line),
            column: Some(err.column),
            path: err.path.clone(),
            message: format!("the key `{}` appears twice in the same mapping", err.key),
            hint: "each id and field may appear once; rename or remove one of them".into(),
        }]));
    }
    serde_yaml::from_str::<Spec>(source).map_err(|e| SpecErrors(vec![from_serde(file, source, &e)]))
}

fn from_serde(file: &str, source: &str, e: &serde_yaml::Error) -> SpecError {
    let text = e.to_string();
    // serde_yaml renders "path: message at line L column C"; keep the parts apart.
    let body = match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.clone(),
    };
    let (path, message) = match body.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
        _ => (String::new(), body.clone()),
    };
    let (mut line, mut column) = match e.location() {
        Some(l) => (Some(l.line()), Some(l.column())),
        None => (None, None),
    };
    if line.is_none() && !path.is_empty() {
        if let Some((l, c)) = locate::locate(source, &path) {
            line = Some(l);
            column = Some(c);
        }
    }
    let tab_on_line = line
        .and_then(|l| source.lines().nth(l.saturating_sub(1)))
        .is_some_and(|l| l.contains('\t'));
    let hint = if tab_on_line {
        "indent with spaces: YAML does not allow tabs for indentation"
    } else if message.contains("unknown field") {
        "remove the field or correct its spelling; the README's spec format lists every field"
    } else if message.contains("missing field") {
        "add the field; the README's spec format says what it holds"
    } else if message.contains("unknown variant") {
        "use one of the values listed"
    } else if message.contains("invalid type") {
        "give the field a value of the type named"
    } else {
        "fix the YAML at that place"
    };
    SpecError {
        file: file.to_string(),
        line,
        column,
        path,
        // In YAML's words: no Rust type names, a "did you mean" for a misspelling.
        message: messages::humanize(&message),
        hint: hint.into(),
    }
}

impl Spec {
    /// Every resource id with its section, in file order.
    pub fn ids(&self) -> Vec<(&'static str, &str)> {
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        out.extend(self.buckets.keys().map(|k| ("buckets", k.as_str())));
        out.extend(self.streams.keys().map(|k| ("streams", k.as_str())));
        out.extend(self.roles.keys().map(|k| ("roles", k.as_str())));
        out.extend(
            self.delivery_streams
                .keys()
                .map(|k| ("delivery_streams", k.as_str())),
        );
        out.extend(
            self.applications
                .keys()
                .map(|k| ("applications", k.as_str())),
        );
        out.extend(self.dashboards.keys().map(|k| ("dashboards", k.as_str())));
        out.extend(self.alarms.keys().map(|k| ("alarms", k.as_str())));
        out.extend(self.topics.keys().map(|k| ("topics", k.as_str())));
        out
    }
}
