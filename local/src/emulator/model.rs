//! What both Kinesis Analytics APIs share: the settings ([`Timing`], [`Config`]), the
//! applications' state and transitions, the JSON 1.1 answers and errors, and the
//! request checks (required fields, lengths, names, ARNs, tags). The per-API modules
//! use it; it knows neither API's operations and nothing of the front.

use std::collections::BTreeMap;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// `X-Amz-Target` prefix of Kinesis Analytics for SQL (v1).
pub const V1_PREFIX: &str = "KinesisAnalytics_20150814.";
/// `X-Amz-Target` prefix of Managed Service for Apache Flink (v2).
pub const V2_PREFIX: &str = "KinesisAnalytics_20180523.";

/// The message the emulator gives, when told to, for a v1 CreateApplication: AWS's
/// refusal since the service was discontinued (no new SQL applications since 2025-10-15).
pub const DISCONTINUED_MESSAGE: &str = "Kinesis Data Analytics for SQL applications is discontinued: new applications cannot be created (since October 15, 2025). Use Amazon Managed Service for Apache Flink.";

/// How long each transition takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// STARTING → RUNNING.
    pub starting: Duration,
    /// STOPPING → READY.
    pub stopping: Duration,
    /// FORCE_STOPPING → READY.
    pub force_stopping: Duration,
    /// UPDATING → the status before.
    pub updating: Duration,
    /// DELETING → gone.
    pub deleting: Duration,
}

impl Timing {
    /// Every transition takes `d`.
    pub fn uniform(d: Duration) -> Timing {
        Timing {
            starting: d,
            stopping: d,
            force_stopping: d,
            updating: d,
            deleting: d,
        }
    }
}

impl Default for Timing {
    /// Short enough for tests, long enough that every state is seen.
    fn default() -> Timing {
        Timing {
            starting: Duration::from_millis(600),
            stopping: Duration::from_millis(400),
            force_stopping: Duration::from_millis(200),
            updating: Duration::from_millis(300),
            deleting: Duration::from_millis(300),
        }
    }
}

/// The emulator's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub timing: Timing,
    /// Account id in ARNs (moto's default, so ARNs match the rest of the local stack).
    pub account: String,
    /// Refuse v1 CreateApplication as AWS does since the service was discontinued.
    pub sql_discontinued: bool,
    /// Where DiscoverInputSchema reads sample records from (the Kinesis emulator); also
    /// where the emulator writes an application's CloudWatch Logs events (moto).
    pub kinesis_endpoint: Option<String>,
    /// Whether a started Flink application runs its job ([`crate::flink`]); set by
    /// [`crate::emulator::Emulator::with_flink`]. Without it the emulator is a
    /// control plane: STARTING turns RUNNING after [`Timing::starting`].
    pub run_jobs: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timing: Timing::default(),
            account: "123456789012".into(),
            sql_discontinued: false,
            kinesis_endpoint: None,
            run_jobs: false,
        }
    }
}

/// Which API an application belongs to; the two keep separate namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    V1,
    V2,
}

/// A status change due at a moment. `to == None` means the application goes away.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub(crate) at: Instant,
    pub(crate) to: Option<&'static str>,
}

/// One application: its status, version, timestamps and the description fields.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) arn: String,
    pub(crate) status: &'static str,
    pub(crate) version: i64,
    pub(crate) created: f64,
    pub(crate) updated: f64,
    pub(crate) next: Option<Transition>,
    /// Description fields other than name, ARN, status, version and timestamps.
    pub(crate) detail: serde_json::Map<String, Value>,
    pub(crate) tags: BTreeMap<String, String>,
}

/// An application's key: API, region, name.
pub type AppKey = (Api, String, String);

#[derive(Default)]
pub(crate) struct State {
    pub(crate) apps: BTreeMap<AppKey, App>,
    /// What the last call set in motion outside the store (jobs, log events); the
    /// emulator does it once the store's lock is released.
    pub(crate) effects: Vec<Effect>,
    /// The test hook: the next v2 start fails, with these log lines (see
    /// `Emulator::fail_next_start`).
    pub(crate) fail_next_start: Option<Vec<String>>,
}

/// Work a call leaves for after the store's lock.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Run the application's job (StartApplication with the runtime on).
    Launch {
        key: AppKey,
        arn: String,
        version: i64,
        detail: serde_json::Map<String, Value>,
    },
    /// Stop the application's job; `force` kills it at once.
    Stop { key: AppKey, force: bool },
    /// Write these lines as ERROR events to the application's log stream.
    Log {
        region: String,
        arn: String,
        version: i64,
        log_stream_arn: String,
        lines: Vec<String>,
    },
}

/// An answer in JSON 1.1 form.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The error type for errors (also sent as `x-amzn-errortype`).
    pub error_type: Option<String>,
    pub body: Value,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            error_type: None,
            body,
        }
    }
}

/// A documented error: its type and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: &'static str,
    pub message: String,
    pub status: u16,
}

pub(crate) type Res<T> = std::result::Result<T, ApiError>;

pub(crate) fn err(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        kind,
        message: message.into(),
        status: 400,
    }
}

pub(crate) fn not_found(name: &str) -> ApiError {
    err(
        "ResourceNotFoundException",
        format!("Application {name} is not found"),
    )
}

/// AWS's wording for a failed constraint, as InvalidArgumentException.
pub(crate) fn invalid(field: &str, constraint: &str) -> ApiError {
    err(
        "InvalidArgumentException",
        format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

/// A required member.
pub(crate) fn req<'a>(v: &'a Value, field: &str) -> Res<&'a Value> {
    match v.get(field) {
        Some(Value::Null) | None => Err(err(
            "InvalidArgumentException",
            format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"),
        )),
        Some(x) => Ok(x),
    }
}

/// A required string member.
pub(crate) fn req_str<'a>(v: &'a Value, field: &str) -> Res<&'a str> {
    req(v, field)?
        .as_str()
        .ok_or_else(|| invalid(field, "Member must be a string"))
}

/// A string with a length range.
pub(crate) fn check_len(field: &str, s: &str, min: usize, max: usize) -> Res<()> {
    if s.len() < min || s.len() > max {
        return Err(invalid(
            field,
            &format!("Member must have length between {min} and {max}"),
        ));
    }
    Ok(())
}

/// An application name: 1-128 of [a-zA-Z0-9_.-].
pub(crate) fn check_name(name: &str) -> Res<()> {
    check_len("applicationName", name, 1, 128)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(invalid(
            "applicationName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// An ARN-shaped string.
pub(crate) fn check_arn(field: &str, s: &str) -> Res<()> {
    check_len(field, s, 1, 2048)?;
    if !s.starts_with("arn:") {
        return Err(invalid(
            field,
            "Member must satisfy regular expression pattern: arn:.*",
        ));
    }
    Ok(())
}

/// Now in epoch milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

/// The region from a SigV4 Authorization header, else us-east-1.
pub fn region_of(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
        .to_string()
}

/// Tags from `[{Key, Value}]`.
pub(crate) fn tag_list(v: Option<&Value>) -> Res<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for t in v.and_then(Value::as_array).into_iter().flatten() {
        let k = req_str(t, "Key")?;
        check_len("tags.member.key", k, 1, 128)?;
        let val = t.get("Value").and_then(Value::as_str).unwrap_or("");
        check_len("tags.member.value", val, 0, 256)?;
        out.insert(k.to_string(), val.to_string());
    }
    if out.len() > 50 {
        return Err(err(
            "TooManyTagsException",
            "Application can have at most 50 tags",
        ));
    }
    Ok(out)
}

/// What the per-API modules get: the store, the settings and the caller's region.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a mut State,
    pub config: &'a Config,
    pub region: &'a str,
    pub api: Api,
}

impl Call<'_> {
    /// TagResource, UntagResource and ListTagsForResource: the same in both APIs.
    pub(crate) fn tag_operation(&mut self, op: &str, input: &Value) -> Res<Value> {
        let arn = req_str(input, "ResourceARN")?;
        match op {
            "TagResource" => {
                let tags = tag_list(Some(req(input, "Tags")?))?;
                self.by_arn(arn)?.tags.extend(tags);
                Ok(serde_json::json!({}))
            }
            "UntagResource" => {
                let keys: Vec<String> = req(input, "TagKeys")?
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let app = self.by_arn(arn)?;
                for k in keys {
                    app.tags.remove(&k);
                }
                Ok(serde_json::json!({}))
            }
            _ => Ok(serde_json::json!({"Tags": self.by_arn(arn)?.tags_json()})),
        }
    }

    pub(crate) fn key(&self, name: &str) -> (Api, String, String) {
        (self.api, self.region.to_string(), name.to_string())
    }

    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:kinesisanalytics:{}:{}:application/{name}",
            self.region, self.config.account
        )
    }

    pub fn exists(&self, name: &str) -> bool {
        self.state.apps.contains_key(&self.key(name))
    }

    pub fn get(&mut self, name: &str) -> Res<&mut App> {
        let key = self.key(name);
        self.state.apps.get_mut(&key).ok_or_else(|| not_found(name))
    }

    pub fn insert(
        &mut self,
        name: &str,
        detail: serde_json::Map<String, Value>,
        tags: BTreeMap<String, String>,
    ) {
        let t = now_epoch();
        let app = App {
            arn: self.arn(name),
            status: "READY",
            version: 1,
            created: t,
            updated: t,
            next: None,
            detail,
            tags,
        };
        let key = self.key(name);
        self.state.apps.insert(key, app);
    }

    /// The app whose ARN this is (tag operations), with its name.
    pub fn by_arn(&mut self, arn: &str) -> Res<&mut App> {
        let api = self.api;
        self.state
            .apps
            .iter_mut()
            .find(|((a, _, _), app)| *a == api && app.arn == arn)
            .map(|(_, app)| app)
            .ok_or_else(|| {
                err(
                    "ResourceNotFoundException",
                    format!("Resource {arn} is not found"),
                )
            })
    }

    /// Every application of this API in this region, by name.
    pub fn list(&self) -> Vec<(String, &App)> {
        self.state
            .apps
            .iter()
            .filter(|((a, r, _), _)| *a == self.api && r == self.region)
            .map(|((_, _, n), app)| (n.clone(), app))
            .collect()
    }
}

impl App {
    /// Enter `through` now and `to` after `after` (or at once when `after` is zero and
    /// the caller looks again).
    pub(crate) fn transition(
        &mut self,
        through: &'static str,
        after: Duration,
        to: Option<&'static str>,
    ) {
        self.status = through;
        self.next = Some(Transition {
            at: Instant::now() + after,
            to,
        });
    }

    /// A configuration change: the version grows by one.
    pub(crate) fn bump(&mut self) {
        self.version += 1;
        self.updated = now_epoch();
    }

    /// The CreateTimestamp check of DeleteApplication (epoch seconds, to the millisecond).
    pub(crate) fn check_created(&self, given: &Value) -> Res<()> {
        let Some(t) = given.as_f64() else {
            return Err(invalid("createTimestamp", "Member must be a timestamp"));
        };
        if (t - self.created).abs() > 0.001 {
            return Err(err(
                "InvalidArgumentException",
                format!(
                    "Invalid CreateTimestamp: the application was created at {}; provide the CreateTimestamp from DescribeApplication",
                    self.created
                ),
            ));
        }
        Ok(())
    }

    /// The version check of every change.
    pub(crate) fn check_version(&self, given: Option<&Value>) -> Res<()> {
        let Some(v) = given.and_then(Value::as_i64) else {
            return Err(err(
                "InvalidArgumentException",
                "1 validation error detected: Value null at 'currentApplicationVersionId' failed to satisfy constraint: Member must not be null",
            ));
        };
        if !(1..=999_999_999).contains(&v) {
            return Err(invalid(
                "currentApplicationVersionId",
                "Member must have value between 1 and 999999999",
            ));
        }
        if v != self.version {
            return Err(err(
                "ConcurrentModificationException",
                format!(
                    "Provided application version id ({v}) is not current: the current version id is {}. Describe the application and retry with its current version id",
                    self.version
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn tags_json(&self) -> Value {
        Value::Array(
            self.tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect(),
        )
    }
}
