//! Simulated AWS transition times for the local front, for benchmarks (`labctl-local
//! dev --transitions FACTOR`). The local stack makes every stream and delivery
//! stream ACTIVE at once and gone at once; AWS takes tens of seconds to create them and
//! minutes to delete them, and that waiting is what provisioning costs. In this mode the
//! front rewrites describe responses from when it saw the create or delete: Kinesis
//! `StreamStatus` CREATING / DELETING, Firehose `DeliveryStreamStatus` CREATING /
//! DELETING, and a cached description instead of "not found" while a delete is in
//! progress. Durations are AWS-like figures (sources in docs/benchmarks.md) times a
//! factor, so a benchmark run stays short; labctl's own waits scale by the same factor
//! when it is built with the `wait-scale` feature (see labctl's `engine::wait`).
//!
//! It also counts every request per operation and resource and the busiest simulated
//! second per operation, served as JSON at `POST` [`STATS_PATH`] (`POST`
//! [`RESET_PATH`] clears the counts; both need the run's token), so a benchmark can check polling against the
//! services' describe limits. [`critical_path`] gives the longest chain of dependent
//! waits of a spec under these durations.
//!
//! Process-wide: [`install`] is called once by `labctl-local dev`; fronts started by
//! tests never see it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::record::Recorded;
use labctl::spec::Spec;

/// AWS-like durations in seconds at factor 1 (sources in docs/benchmarks.md, section
/// "Simulated AWS times"; [`SIMULATED`] lists them all).
pub const STREAM_CREATE_SECS: f64 = 30.0;
pub const STREAM_DELETE_SECS: f64 = 15.0;
pub const DELIVERY_CREATE_SECS: f64 = 60.0;
pub const DELIVERY_DELETE_SECS: f64 = 120.0;
/// A Managed Flink application: StartApplication until RUNNING, StopApplication until
/// READY, DeleteApplication until gone. CreateApplication answers with the application
/// READY (no transition to simulate).
pub const APP_START_SECS: f64 = 90.0;
pub const APP_STOP_SECS: f64 = 30.0;
pub const APP_DELETE_SECS: f64 = 20.0;
/// How long a new role is refused by Firehose and Kinesis Analytics after CreateRole.
pub const IAM_PROPAGATION_SECS: f64 = 10.0;

/// Every simulated duration, by name, at factor 1: what `labctl-local critical-path`
/// prints and what [`critical_path`] uses. Bucket and log-group calls are synchronous
/// on AWS (they return when done) and take no simulated time.
pub const SIMULATED: &[(&str, f64)] = &[
    ("stream_create", STREAM_CREATE_SECS),
    ("stream_delete", STREAM_DELETE_SECS),
    ("delivery_create", DELIVERY_CREATE_SECS),
    ("delivery_delete", DELIVERY_DELETE_SECS),
    ("application_create", 0.0),
    ("application_start", APP_START_SECS),
    ("application_stop", APP_STOP_SECS),
    ("application_delete", APP_DELETE_SECS),
    ("iam_propagation", IAM_PROPAGATION_SECS),
    ("bucket_create", 0.0),
    ("bucket_delete", 0.0),
    ("log_group_create", 0.0),
    ("log_group_delete", 0.0),
];

/// [`SIMULATED`] as one JSON object, name to seconds at factor 1: the `durations` of
/// `labctl-local dev`'s start-up line and of `labctl-local critical-path`.
pub fn simulated_json() -> serde_json::Map<String, Value> {
    SIMULATED
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect()
}

/// The front's own control paths while a simulation is installed: request counts
/// and clearing them, both `POST` with the run's token. Every control path starts with
/// [`CONTROL_PREFIX`].
pub const CONTROL_PREFIX: &str = "/_labctl/";
pub const STATS_PATH: &str = "/_labctl/stats";
pub const RESET_PATH: &str = "/_labctl/reset";

/// Documented per-account limits (transactions per second) of the calls labctl polls
/// or repeats; used by the benchmark report. Sources in docs/benchmarks.md.
pub const DESCRIBE_LIMITS: &[(&str, f64)] = &[
    ("DescribeStreamSummary", 20.0),
    ("DescribeStream", 10.0),
    ("ListTagsForStream", 5.0),
    ("AddTagsToStream", 5.0),
    ("DescribeDeliveryStream", 10.0),
    ("ListTagsForDeliveryStream", 5.0),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Stream,
    Delivery,
    App,
}

#[derive(Debug, Default, Clone, Copy)]
struct Change {
    created: Option<Instant>,
    deleted: Option<Instant>,
    started: Option<Instant>,
    stopped: Option<Instant>,
}

#[derive(Default)]
struct State {
    changes: HashMap<(Kind, String), Change>,
    /// When each role was created (CreateRole answered 200), by role name.
    roles: HashMap<String, Instant>,
    /// Last successful describe body per (operation, resource), to answer during deletes.
    cache: HashMap<(String, String), Bytes>,
    /// Requests per (service, operation, resource).
    counts: BTreeMap<(String, String, String), u64>,
    /// When each operation was seen, seconds since the front started.
    times: HashMap<String, Vec<f64>>,
}

/// The simulation: a time factor and what the front has seen.
pub struct Sim {
    factor: f64,
    start: Instant,
    state: Mutex<State>,
    /// The secret every control path must carry as `?token=` (see [`Sim::token`]).
    token: String,
}

/// 128 random bits as hex, from the OS (`/dev/urandom`): the control paths' token.
fn new_token() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if read.is_err() {
        // No OS randomness: a seed from the clock and pid, still unguessable enough for a
        // loopback-only benchmark front, never empty.
        let mut rng = fastrand::Rng::new();
        b.iter_mut().for_each(|x| *x = rng.u8(..));
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

static SIM: OnceLock<Arc<Sim>> = OnceLock::new();

/// Switch the simulation on for every front in this process. `factor` 0 only counts.
pub fn install(factor: f64) -> Arc<Sim> {
    SIM.get_or_init(|| {
        Arc::new(Sim {
            factor: factor.max(0.0),
            start: Instant::now(),
            state: Mutex::default(),
            token: new_token(),
        })
    })
    .clone()
}

/// The simulation, when `labctl-local dev` installed one.
pub fn active() -> Option<Arc<Sim>> {
    SIM.get().cloned()
}

/// The resource a request is about, from its body (JSON or form) or S3 path.
pub fn resource_of(rec: &Recorded, path_and_query: &str, body: &[u8]) -> String {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
        for k in [
            "StreamName",
            "DeliveryStreamName",
            "ApplicationName",
            "logGroupName",
            "logGroupNamePrefix",
            "DashboardName",
        ] {
            if let Some(v) = m.get(k).and_then(Value::as_str) {
                return v.to_string();
            }
        }
        if let Some(arn) = m.get("StreamARN").and_then(Value::as_str) {
            return arn.rsplit('/').next().unwrap_or(arn).to_string();
        }
        return String::new();
    }
    let form = std::str::from_utf8(body).unwrap_or("");
    if form.contains("Action=") {
        for key in ["RoleName=", "DashboardName=", "DashboardNames.member.1="] {
            if let Some(v) = form.split('&').find_map(|kv| kv.strip_prefix(key)) {
                return urlencoding::decode(v)
                    .map(|s| s.into_owned())
                    .unwrap_or_else(|_| v.to_string());
            }
        }
        return String::new();
    }
    if rec.service == "s3" {
        let path = path_and_query.split('?').next().unwrap_or("");
        return path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
    }
    String::new()
}

fn kind_of(op: &str) -> Option<(Kind, &'static str)> {
    Some(match op {
        "CreateStream" => (Kind::Stream, "create"),
        "DeleteStream" => (Kind::Stream, "delete"),
        "CreateDeliveryStream" => (Kind::Delivery, "create"),
        "DeleteDeliveryStream" => (Kind::Delivery, "delete"),
        "DescribeStreamSummary" | "DescribeStream" => (Kind::Stream, "describe"),
        "DescribeDeliveryStream" => (Kind::Delivery, "describe"),
        "StartApplication" => (Kind::App, "start"),
        "StopApplication" => (Kind::App, "stop"),
        "DeleteApplication" => (Kind::App, "delete"),
        "DescribeApplication" => (Kind::App, "describe"),
        _ => return None,
    })
}

/// Where the status word sits in a describe response.
fn status_path(op: &str) -> Option<(&'static str, &'static str)> {
    match op {
        "DescribeStreamSummary" => Some(("StreamDescriptionSummary", "StreamStatus")),
        "DescribeStream" => Some(("StreamDescription", "StreamStatus")),
        "DescribeDeliveryStream" => Some(("DeliveryStreamDescription", "DeliveryStreamStatus")),
        "DescribeApplication" => Some(("ApplicationDetail", "ApplicationStatus")),
        _ => None,
    }
}

fn status_of(op: &str, body: &[u8]) -> Option<String> {
    let (outer, field) = status_path(op)?;
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get(outer)?.get(field)?.as_str().map(str::to_string)
}

/// The roles a create request names, by role name: a delivery stream's destination and
/// Kinesis source roles, a Flink application's service execution role.
fn roles_named(op: &str, body: &[u8]) -> Vec<(String, String)> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let arns: Vec<&str> = match op {
        "CreateDeliveryStream" => [
            "/ExtendedS3DestinationConfiguration/RoleARN",
            "/S3DestinationConfiguration/RoleARN",
            "/KinesisStreamSourceConfiguration/RoleARN",
        ]
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .collect(),
        "CreateApplication" => v
            .get("ServiceExecutionRole")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    arns.into_iter()
        .map(|a| (a.rsplit('/').next().unwrap_or(a).to_string(), a.to_string()))
        .collect()
}

/// The refusal AWS answers while a role has not propagated: Firehose's
/// InvalidArgumentException "Firehose is unable to assume role …" (the message
/// terraform-provider-aws and labctl's `resource::delivery::IAM_PROPAGATION` retry on),
/// Kinesis Analytics' InvalidArgumentException "Kinesis Analytics service doesn't have
/// sufficient privileges to assume the role …" (`resource::analytics::IAM_PROPAGATION`).
fn propagation_refusal(op: &str, arn: &str) -> Bytes {
    let message = match op {
        "CreateDeliveryStream" => {
            format!("Firehose is unable to assume role {arn}. Please check the role provided.")
        }
        _ => format!(
            "Kinesis Analytics service doesn't have sufficient privileges to assume the role {arn}"
        ),
    };
    let body = serde_json::json!({"__type": "InvalidArgumentException", "message": message});
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

fn with_status(op: &str, body: &[u8], status: &str) -> Option<Bytes> {
    let (outer, field) = status_path(op)?;
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let d = v.get_mut(outer)?.as_object_mut()?;
    d.insert(field.to_string(), Value::String(status.to_string()));
    serde_json::to_vec(&v).ok().map(Bytes::from)
}

/// Per-operation counts and the busiest simulated second, for `GET /_labctl/stats`.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub factor: f64,
    pub requests: Vec<Count>,
    pub peaks: Vec<Peak>,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub service: String,
    pub operation: String,
    pub resource: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Peak {
    pub operation: String,
    /// Most requests of this operation (all resources: limits are per account) in any
    /// window of one simulated second (`factor` seconds of wall time; 1 s when 0).
    pub per_second: usize,
    /// The documented per-account limit, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<f64>,
}

fn busiest(times: &[f64], window: f64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

impl Sim {
    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs * self.factor)
    }

    fn durations(&self, kind: Kind) -> (Duration, Duration) {
        match kind {
            Kind::App => (Duration::ZERO, self.scaled(APP_DELETE_SECS)),
            Kind::Stream => (
                self.scaled(STREAM_CREATE_SECS),
                self.scaled(STREAM_DELETE_SECS),
            ),
            Kind::Delivery => (
                self.scaled(DELIVERY_CREATE_SECS),
                self.scaled(DELIVERY_DELETE_SECS),
            ),
        }
    }

    /// Count a request (called for every request the front sees).
    pub fn saw(&self, rec: &Recorded, resource: &str) {
        let t = self.start.elapsed().as_secs_f64();
        if let Ok(mut s) = self.state.lock() {
            *s.counts
                .entry((
                    rec.service.clone(),
                    rec.operation.clone(),
                    resource.to_string(),
                ))
                .or_default() += 1;
            s.times.entry(rec.operation.clone()).or_default().push(t);
        }
    }

    /// The refusal of a create that names a role younger than the simulated IAM
    /// propagation time, answered instead of forwarding it (as AWS refuses it).
    pub fn refusal(&self, rec: &Recorded, body: &[u8]) -> Option<Bytes> {
        if self.factor <= 0.0 {
            return None;
        }
        let roles = roles_named(&rec.operation, body);
        let s = self.state.lock().ok()?;
        let young = roles.iter().find(|(name, _)| {
            s.roles.get(name).is_some_and(|t| {
                Instant::now().duration_since(*t) < self.scaled(IAM_PROPAGATION_SECS)
            })
        })?;
        Some(propagation_refusal(&rec.operation, &young.1))
    }

    /// The token the control paths need (`?token=`): `labctl-local dev` prints it, in
    /// the control URLs of its start-up line, to whoever started it. Any other local
    /// process reaching the loopback port cannot read the counts or clear them.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Answer the front's own control paths ([`STATS_PATH`], [`RESET_PATH`]): POST only
    /// (405 otherwise, so a page or a link cannot trigger them), 403 without the right
    /// `?token=`.
    pub fn control(&self, method: &str, path_and_query: &str) -> Option<(u16, Bytes)> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        if path.starts_with(CONTROL_PREFIX) {
            if method != "POST" {
                let body = br#"{"message":"the control paths answer POST only"}"#;
                return Some((405, Bytes::from_static(body)));
            }
            let given = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .unwrap_or("");
            if given != self.token {
                let body = br#"{"message":"the control paths need ?token= from the start-up line of labctl-local dev"}"#;
                return Some((403, Bytes::from_static(body)));
            }
        }
        match path {
            STATS_PATH => {
                let body = serde_json::to_vec(&self.stats()).unwrap_or_default();
                Some((200, Bytes::from(body)))
            }
            RESET_PATH => {
                if let Ok(mut s) = self.state.lock() {
                    s.counts.clear();
                    s.times.clear();
                }
                Some((200, Bytes::from_static(b"{}")))
            }
            _ => None,
        }
    }

    pub fn stats(&self) -> Stats {
        let window = if self.factor > 0.0 { self.factor } else { 1.0 };
        let Ok(s) = self.state.lock() else {
            return Stats {
                factor: self.factor,
                requests: vec![],
                peaks: vec![],
            };
        };
        let requests = s
            .counts
            .iter()
            .map(|((service, operation, resource), n)| Count {
                service: service.clone(),
                operation: operation.clone(),
                resource: resource.clone(),
                count: *n,
            })
            .collect();
        let mut peaks: Vec<Peak> = s
            .times
            .iter()
            .map(|(op, times)| Peak {
                operation: op.clone(),
                per_second: busiest(times, window),
                limit: DESCRIBE_LIMITS
                    .iter()
                    .find(|(o, _)| o == op)
                    .map(|(_, l)| *l),
            })
            .collect();
        peaks.sort_by(|a, b| a.operation.cmp(&b.operation));
        Stats {
            factor: self.factor,
            requests,
            peaks,
        }
    }

    /// An application's simulated phase: STARTING for the simulated start, STOPPING for
    /// the simulated stop, whatever the local stack (faster) says meanwhile.
    fn app_phase(
        &self,
        kind: Kind,
        upstream: Option<&str>,
        change: &Change,
        now: Instant,
    ) -> Option<&'static str> {
        let within = |t: Option<Instant>, d: Duration| t.is_some_and(|t| now.duration_since(t) < d);
        match (kind, upstream) {
            (Kind::App, Some("RUNNING" | "STARTING"))
                if within(change.started, self.scaled(APP_START_SECS)) =>
            {
                Some("STARTING")
            }
            (Kind::App, Some("READY" | "STOPPING" | "FORCE_STOPPING"))
                if within(change.stopped, self.scaled(APP_STOP_SECS)) =>
            {
                Some("STOPPING")
            }
            _ => None,
        }
    }

    /// Look at an upstream answer; returns a replacement (status, body) when the
    /// simulated state differs from what the local stack said.
    pub fn respond(
        &self,
        rec: &Recorded,
        resource: &str,
        status: u16,
        body: &[u8],
    ) -> Option<(u16, Bytes)> {
        if self.factor <= 0.0 {
            return None;
        }
        if rec.operation == "CreateRole" && status == 200 {
            if let Ok(mut s) = self.state.lock() {
                s.roles.insert(resource.to_string(), Instant::now());
            }
            return None;
        }
        let (kind, what) = kind_of(&rec.operation)?;
        let key = (kind, resource.to_string());
        let now = Instant::now();
        let mut s = self.state.lock().ok()?;
        match what {
            "create" if status == 200 => {
                s.changes.insert(
                    key,
                    Change {
                        created: Some(now),
                        ..Change::default()
                    },
                );
                None
            }
            "delete" if status == 200 => {
                s.changes.entry(key).or_default().deleted = Some(now);
                None
            }
            "start" if status == 200 => {
                let c = s.changes.entry(key).or_default();
                (c.started, c.stopped) = (Some(now), None);
                None
            }
            "stop" if status == 200 => {
                let c = s.changes.entry(key).or_default();
                (c.started, c.stopped) = (None, Some(now));
                None
            }
            "describe" => {
                let change = s.changes.get(&key).copied().unwrap_or_default();
                let (create_takes, delete_takes) = self.durations(kind);
                let within =
                    |t: Option<Instant>, d: Duration| t.is_some_and(|t| now.duration_since(t) < d);
                let deleting = within(change.deleted, delete_takes);
                let creating = within(change.created, create_takes);
                let upstream = (status == 200)
                    .then(|| status_of(&rec.operation, body))
                    .flatten();
                let app_phase = self.app_phase(kind, upstream.as_deref(), &change, now);
                let cache_key = (rec.operation.clone(), resource.to_string());
                if status == 200 {
                    s.cache.insert(cache_key, Bytes::copy_from_slice(body));
                    if deleting {
                        return with_status(&rec.operation, body, "DELETING").map(|b| (200, b));
                    }
                    if creating {
                        return with_status(&rec.operation, body, "CREATING").map(|b| (200, b));
                    }
                    if let Some(phase) = app_phase {
                        return with_status(&rec.operation, body, phase).map(|b| (200, b));
                    }
                    None
                } else if deleting {
                    // The local stack deleted it at once; AWS still shows it as DELETING.
                    let cached = s.cache.get(&cache_key)?.clone();
                    with_status(&rec.operation, &cached, "DELETING").map(|b| (200, b))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// The front's hook for one request: counts it, answers control paths, and rewrites
/// the upstream answer. None when no simulation is installed (tests, normal use).
pub struct Hook {
    sim: Arc<Sim>,
    rec: Recorded,
    resource: String,
    /// A create refused because its role has not propagated yet.
    refused: Option<Bytes>,
}

type FrontBody = http_body_util::Full<Bytes>;

impl Hook {
    pub fn on_request(rec: &Recorded, path_and_query: &str, body: &[u8]) -> Option<Hook> {
        let sim = active()?;
        let resource = resource_of(rec, path_and_query, body);
        if !path_and_query.starts_with(CONTROL_PREFIX) {
            sim.saw(rec, &resource);
        }
        let refused = sim.refusal(rec, body);
        Some(Hook {
            sim,
            rec: rec.clone(),
            resource,
            refused,
        })
    }

    /// The answer to a control path (under [`CONTROL_PREFIX`]), or the refusal of a
    /// create whose role has not propagated yet (not forwarded), if this is either.
    pub fn control(
        &self,
        method: &str,
        path_and_query: &str,
    ) -> Option<hyper::Response<FrontBody>> {
        let (status, body, content_type) = match &self.refused {
            Some(b) => (400, b.clone(), "application/x-amz-json-1.1"),
            None => {
                let (status, body) = self.sim.control(method, path_and_query)?;
                (status, body, "application/json")
            }
        };
        let mut r = hyper::Response::new(FrontBody::new(body));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static(content_type),
        );
        Some(r)
    }

    /// An answer the front made itself (the Kinesis Analytics emulator), rewritten when
    /// the simulated state differs.
    pub async fn rewrite(&self, r: hyper::Response<FrontBody>) -> hyper::Response<FrontBody> {
        use http_body_util::BodyExt;
        let (parts, body) = r.into_parts();
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        };
        self.on_response(parts, bytes)
    }

    /// The upstream answer, rewritten when the simulated state differs.
    pub fn on_response(
        &self,
        mut parts: hyper::http::response::Parts,
        body: Bytes,
    ) -> hyper::Response<FrontBody> {
        match self
            .sim
            .respond(&self.rec, &self.resource, parts.status.as_u16(), &body)
        {
            Some((status, new)) => {
                parts.status = hyper::StatusCode::from_u16(status).unwrap_or(parts.status);
                parts.headers.remove("x-amzn-errortype");
                parts.headers.remove("transfer-encoding");
                if let Ok(v) = hyper::header::HeaderValue::from_str(&new.len().to_string()) {
                    parts.headers.insert("content-length", v);
                }
                hyper::Response::from_parts(parts, FrontBody::new(new))
            }
            None => hyper::Response::from_parts(parts, FrontBody::new(body)),
        }
    }
}

/// The earliest `up`, `down` and both of a spec under the simulated durations, when
/// every node starts as soon as the relaxed dependencies let it (the declarations
/// labctl's executor schedules on: `labctl::engine::executor::waits`), with no
/// request or polling time: what no tool can beat on AWS with these durations.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CriticalPath {
    /// Seconds at factor 1.
    pub up_seconds: f64,
    pub down_seconds: f64,
    pub up_down_seconds: f64,
    /// The nodes whose times set each finish, in the order they run.
    pub up_chain: Vec<String>,
    pub down_chain: Vec<String>,
}

/// One node's simulated time in one direction: `before` its proceed point (up) or its
/// reached point (down: delete accepted, application stopped), `after` it.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    before: f64,
    after: f64,
}

fn span(kind: &str, up: bool) -> Span {
    let (before, after) = match (kind, up) {
        ("stream", true) => (0.0, STREAM_CREATE_SECS),
        ("stream", false) => (STREAM_DELETE_SECS, 0.0),
        ("delivery-stream", true) => (0.0, DELIVERY_CREATE_SECS),
        // DeleteDeliveryStream is accepted at once; DELETING lasts the rest.
        ("delivery-stream", false) => (0.0, DELIVERY_DELETE_SECS),
        // CreateApplication answers READY; the start is after the proceed point.
        ("application", true) => (0.0, APP_START_SECS),
        // labctl deletes a RUNNING application as it is (DeleteApplication halts it).
        ("application", false) => (0.0, APP_DELETE_SECS),
        _ => (0.0, 0.0),
    };
    Span { before, after }
}

/// Kinds whose create AWS refuses until their role has propagated (see [`Sim::refusal`]).
fn assumes_role(kind: &str) -> bool {
    matches!(kind, "delivery-stream" | "application")
}

/// When each node of one direction begins, reaches its point and ends, earliest.
fn earliest(nodes: &[labctl::resource::Node], up: bool) -> (f64, Vec<String>) {
    use labctl::engine::graph::{At, Needs};
    let waits = labctl::engine::executor::waits(nodes, up);
    let n = nodes.len();
    let mut reached: Vec<Option<f64>> = vec![None; n];
    let mut done: Vec<Option<f64>> = vec![None; n];
    let mut pred: Vec<Option<usize>> = vec![None; n];
    // The latest of some events, and the node that set it.
    let latest = |items: &mut dyn Iterator<Item = (f64, usize)>, from: f64| {
        items.fold(
            (from, None),
            |(t, p), (u, j)| if u > t { (u, Some(j)) } else { (t, p) },
        )
    };
    for _ in 0..=n {
        for i in 0..n {
            if done[i].is_some() {
                continue;
            }
            let time_of = |on: usize, needs: Needs| match needs {
                Needs::Reached => reached[on],
                Needs::Done => done[on],
            };
            let at = |w: &&labctl::engine::graph::Wait, a: At| w.at == a;
            let known = waits[i].iter().all(|w| time_of(w.on, w.needs).is_some());
            if !known {
                continue;
            }
            let kind = nodes[i].resource.kind();
            let (mut t, mut p) = latest(
                &mut waits[i]
                    .iter()
                    .filter(|w| at(w, At::Start))
                    .filter_map(|w| time_of(w.on, w.needs).map(|t| (t, w.on))),
                0.0,
            );
            if up && assumes_role(kind) {
                let (t2, p2) = latest(
                    &mut waits[i]
                        .iter()
                        .filter(|w| nodes[w.on].resource.kind() == "role")
                        .filter_map(|w| done[w.on].map(|d| (d + IAM_PROPAGATION_SECS, w.on))),
                    t,
                );
                if p2.is_some() {
                    (t, p) = (t2, p2);
                }
            }
            let s = span(kind, up);
            let (gate, gp) = latest(
                &mut waits[i]
                    .iter()
                    .filter(|w| at(w, At::Proceed))
                    .filter_map(|w| done[w.on].map(|d| (d, w.on))),
                t + s.before,
            );
            if gp.is_some() {
                p = gp;
            }
            reached[i] = Some(if up { gate + s.after } else { t + s.before });
            done[i] = Some(gate + s.after);
            pred[i] = p;
        }
    }
    chain(nodes, &done, &pred)
}

/// The node that finishes last, and the chain of nodes that made it wait.
fn chain(
    nodes: &[labctl::resource::Node],
    done: &[Option<f64>],
    pred: &[Option<usize>],
) -> (f64, Vec<String>) {
    let n = nodes.len();
    let Some((last, end)) = done
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.map(|d| (d, i)))
        .fold(None, |best: Option<(f64, usize)>, (d, i)| match best {
            Some((b, _)) if b >= d => best,
            _ => Some((d, i)),
        })
    else {
        return (0.0, Vec::new());
    };
    let mut chain = vec![nodes[end].id.clone()];
    let mut at = end;
    while let Some(p) = pred[at] {
        if chain.len() > n {
            break;
        }
        chain.push(nodes[p].id.clone());
        at = p;
    }
    chain.reverse();
    (last, chain)
}

/// Compute it from the spec's nodes (the same kinds and dependency declarations as
/// labctl's `up` and `down`) and [`SIMULATED`]'s durations.
pub fn critical_path(spec: &Spec) -> CriticalPath {
    let vars = labctl::spec::vars::Vars::sample(spec.region.as_deref(), &spec.pipeline);
    let nodes = labctl::resource::build(spec, &vars);
    let (up_seconds, up_chain) = earliest(&nodes, true);
    let (down_seconds, down_chain) = earliest(&nodes, false);
    CriticalPath {
        up_seconds,
        down_seconds,
        up_down_seconds: up_seconds + down_seconds,
        up_chain,
        down_chain,
    }
}

/// `labctl-local critical-path`: print the simulated durations and a spec's critical
/// path as one JSON document, for benchmarks.
#[derive(Debug, clap::Args)]
pub struct CriticalPathArgs {
    /// The pipeline spec.
    #[arg(short = 'f', long = "file", default_value = "pipeline.yaml")]
    pub file: std::path::PathBuf,
}

pub fn run_critical_path(a: &CriticalPathArgs) -> i32 {
    let loaded = match labctl::spec::load(&a.file) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}: {e:?}", a.file.display());
            return 2;
        }
    };
    let out = serde_json::json!({
        "spec": a.file.display().to_string(),
        "durations": simulated_json(),
        "critical_path": critical_path(&loaded.spec),
    });
    println!("{out}");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: &str) -> Recorded {
        Recorded {
            service: "kinesis".into(),
            operation: op.into(),
            mutating: false,
        }
    }

    #[test]
    fn control_paths_answer_only_with_the_token() {
        let sim = Sim {
            factor: 0.0,
            start: Instant::now(),
            state: Mutex::default(),
            token: new_token(),
        };
        assert_eq!(sim.token().len(), 32);
        assert_ne!(sim.token(), new_token());
        for path in [STATS_PATH, RESET_PATH] {
            let (status, _) = sim.control("POST", path).expect("a control path");
            assert_eq!(status, 403, "{path} without a token");
            let (status, _) = sim
                .control("POST", &format!("{path}?token=wrong"))
                .expect("a control path");
            assert_eq!(status, 403, "{path} with a wrong token");
            let with_token = format!("{path}?token={}", sim.token());
            let (status, _) = sim.control("GET", &with_token).expect("a control path");
            assert_eq!(status, 405, "GET {path} with the token");
            let (status, _) = sim.control("POST", &with_token).expect("a control path");
            assert_eq!(status, 200, "{path} with the token");
        }
        assert!(sim.control("POST", "/other").is_none());
    }

    #[test]
    fn describe_shows_creating_then_deleting_from_the_cache() {
        let sim = Sim {
            factor: 10.0,
            start: Instant::now(),
            state: Mutex::default(),
            token: new_token(),
        };
        let body = br#"{"StreamDescriptionSummary":{"StreamName":"s","StreamStatus":"ACTIVE"}}"#;
        assert!(sim.respond(&rec("CreateStream"), "s", 200, b"{}").is_none());
        let (code, b) = sim
            .respond(&rec("DescribeStreamSummary"), "s", 200, body)
            .expect("rewritten");
        assert_eq!(code, 200);
        assert!(String::from_utf8_lossy(&b).contains("\"CREATING\""));
        sim.respond(&rec("DeleteStream"), "s", 200, b"{}");
        let (code, b) = sim
            .respond(
                &rec("DescribeStreamSummary"),
                "s",
                400,
                br#"{"__type":"ResourceNotFoundException"}"#,
            )
            .expect("answered from the cache");
        assert_eq!(code, 200);
        assert!(String::from_utf8_lossy(&b).contains("\"DELETING\""));
        // Another stream was never described: its not-found passes through.
        assert!(sim
            .respond(&rec("DescribeStreamSummary"), "other", 400, b"{}")
            .is_none());
    }

    fn sim_at(factor: f64) -> Sim {
        Sim {
            factor,
            start: Instant::now(),
            state: Mutex::default(),
            token: new_token(),
        }
    }

    #[test]
    fn an_application_is_starting_then_stopping_for_the_simulated_times() {
        let sim = sim_at(10.0);
        let app = |op: &str| Recorded {
            service: "kinesisanalytics".into(),
            operation: op.into(),
            mutating: false,
        };
        let running =
            br#"{"ApplicationDetail":{"ApplicationName":"a","ApplicationStatus":"RUNNING"}}"#;
        let ready = br#"{"ApplicationDetail":{"ApplicationName":"a","ApplicationStatus":"READY"}}"#;
        // Not started by this front: passed through.
        assert!(sim
            .respond(&app("DescribeApplication"), "a", 200, running)
            .is_none());
        sim.respond(&app("StartApplication"), "a", 200, b"{}");
        let (_, b) = sim
            .respond(&app("DescribeApplication"), "a", 200, running)
            .expect("rewritten");
        assert!(String::from_utf8_lossy(&b).contains("\"STARTING\""));
        sim.respond(&app("StopApplication"), "a", 200, b"{}");
        let (_, b) = sim
            .respond(&app("DescribeApplication"), "a", 200, ready)
            .expect("rewritten");
        assert!(String::from_utf8_lossy(&b).contains("\"STOPPING\""));
        sim.respond(&app("DeleteApplication"), "a", 200, b"{}");
        let (code, b) = sim
            .respond(&app("DescribeApplication"), "a", 400, b"{}")
            .expect("answered from the cache");
        assert_eq!(code, 200);
        assert!(String::from_utf8_lossy(&b).contains("\"DELETING\""));
    }

    #[test]
    fn a_create_naming_a_new_role_is_refused_as_aws_does_until_it_propagates() {
        let sim = sim_at(10.0);
        let iam = Recorded {
            service: "iam".into(),
            operation: "CreateRole".into(),
            mutating: true,
        };
        let create = Recorded {
            service: "firehose".into(),
            operation: "CreateDeliveryStream".into(),
            mutating: true,
        };
        let body = br#"{"DeliveryStreamName":"d","ExtendedS3DestinationConfiguration":{"RoleARN":"arn:aws:iam::1:role/labctl/r","BucketARN":"arn:aws:s3:::b"}}"#;
        // A role this front never saw created (an older one) is usable.
        assert!(sim.refusal(&create, body).is_none());
        sim.respond(&iam, "r", 200, b"<CreateRoleResponse/>");
        let refused = sim.refusal(&create, body).expect("refused");
        let v: Value = serde_json::from_slice(&refused).expect("json");
        let text = format!(
            "{}: {}",
            v["__type"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or("")
        );
        // labctl retries exactly this refusal.
        assert!(
            labctl::resource::delivery::is_iam_propagation(&text),
            "{text}"
        );
        let app = Recorded {
            service: "kinesisanalytics".into(),
            operation: "CreateApplication".into(),
            mutating: true,
        };
        let refused = sim
            .refusal(
                &app,
                br#"{"ApplicationName":"a","ServiceExecutionRole":"arn:aws:iam::1:role/labctl/r"}"#,
            )
            .expect("refused");
        let v: Value = serde_json::from_slice(&refused).expect("json");
        let text = format!(
            "{}: {}",
            v["__type"].as_str().unwrap_or(""),
            v["message"].as_str().unwrap_or("")
        );
        assert!(
            labctl::resource::analytics::is_iam_propagation(&text),
            "{text}"
        );
        // Off (factor 0): never refused.
        let off = sim_at(0.0);
        off.respond(&iam, "r", 200, b"");
        assert!(off.refusal(&create, body).is_none());
    }

    #[test]
    fn the_critical_path_of_the_lab_follows_the_relaxed_dependencies() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline.yaml");
        let spec = labctl::spec::load(&file).expect("pipeline.yaml").spec;
        let p = critical_path(&spec);
        // up: the output delivery stream, created once its role propagated, then the
        // application's start (its creation overlapped the delivery stream's).
        assert_eq!(
            p.up_seconds,
            IAM_PROPAGATION_SECS + DELIVERY_CREATE_SECS + APP_START_SECS
        );
        assert_eq!(
            p.up_chain,
            ["delivery-role", "processed-delivery", "analytics"]
        );
        // down: the application and both delivery streams are deleted at once (the
        // stream once they are DELETING), then the bucket, after every writer is gone.
        assert_eq!(p.down_seconds, DELIVERY_DELETE_SECS.max(APP_DELETE_SECS));
        assert_eq!(p.down_chain.last().map(String::as_str), Some("lab-data"));
        assert!(p.down_chain[0].ends_with("delivery"), "{:?}", p.down_chain);
        assert_eq!(p.up_down_seconds, p.up_seconds + p.down_seconds);
    }

    #[test]
    fn the_start_up_durations_list_every_simulated_one() {
        let d = simulated_json();
        assert_eq!(d.len(), SIMULATED.len());
        for (name, secs) in SIMULATED {
            assert_eq!(d.get(*name).and_then(Value::as_f64), Some(*secs), "{name}");
        }
        assert_eq!(
            d.get("application_start").and_then(Value::as_f64),
            Some(APP_START_SECS)
        );
    }

    #[test]
    fn busiest_window() {
        assert_eq!(busiest(&[0.0, 0.1, 0.2, 1.5, 1.6], 1.0), 3);
        assert_eq!(busiest(&[], 1.0), 0);
    }

    #[test]
    fn resource_names_from_each_protocol() {
        let r = rec("DescribeStreamSummary");
        assert_eq!(resource_of(&r, "/", br#"{"StreamName":"a"}"#), "a");
        assert_eq!(
            resource_of(
                &r,
                "/",
                br#"{"StreamARN":"arn:aws:kinesis:us-east-1:1:stream/b"}"#
            ),
            "b"
        );
        assert_eq!(
            resource_of(&r, "/", b"Action=GetRole&RoleName=my-role&Version=1"),
            "my-role"
        );
        let s3 = Recorded {
            service: "s3".into(),
            operation: "GET ?tagging".into(),
            mutating: false,
        };
        assert_eq!(resource_of(&s3, "/bucket/?tagging", b""), "bucket");
    }
}
