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
//! second per operation, served as JSON at `GET` [`STATS_PATH`] (`POST`
//! [`RESET_PATH`] clears the counts), so a benchmark can check polling against the
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
use labctl::engine::graph::Graph;
use labctl::spec::Spec;

/// AWS-like durations in seconds at factor 1 (sources in docs/benchmarks.md).
pub const STREAM_CREATE_SECS: f64 = 30.0;
pub const STREAM_DELETE_SECS: f64 = 15.0;
pub const DELIVERY_CREATE_SECS: f64 = 60.0;
pub const DELIVERY_DELETE_SECS: f64 = 120.0;

/// The front's own control paths while a simulation is installed: request counts
/// (`GET`) and clearing them (`POST`). Every control path starts with [`CONTROL_PREFIX`].
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
}

#[derive(Debug, Default, Clone, Copy)]
struct Change {
    created: Option<Instant>,
    deleted: Option<Instant>,
}

#[derive(Default)]
struct State {
    changes: HashMap<(Kind, String), Change>,
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
}

static SIM: OnceLock<Arc<Sim>> = OnceLock::new();

/// Switch the simulation on for every front in this process. `factor` 0 only counts.
pub fn install(factor: f64) -> Arc<Sim> {
    SIM.get_or_init(|| {
        Arc::new(Sim {
            factor: factor.max(0.0),
            start: Instant::now(),
            state: Mutex::default(),
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
        _ => return None,
    })
}

/// Where the status word sits in a describe response.
fn status_path(op: &str) -> Option<(&'static str, &'static str)> {
    match op {
        "DescribeStreamSummary" => Some(("StreamDescriptionSummary", "StreamStatus")),
        "DescribeStream" => Some(("StreamDescription", "StreamStatus")),
        "DescribeDeliveryStream" => Some(("DeliveryStreamDescription", "DeliveryStreamStatus")),
        _ => None,
    }
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

    /// Answer the front's own control paths ([`STATS_PATH`], [`RESET_PATH`]).
    pub fn control(&self, path_and_query: &str) -> Option<(u16, Bytes)> {
        let path = path_and_query.split('?').next().unwrap_or("");
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
                        deleted: None,
                    },
                );
                None
            }
            "delete" if status == 200 => {
                s.changes.entry(key).or_default().deleted = Some(now);
                None
            }
            "describe" => {
                let change = s.changes.get(&key).copied().unwrap_or_default();
                let (create_takes, delete_takes) = self.durations(kind);
                let deleting = change
                    .deleted
                    .is_some_and(|t| now.duration_since(t) < delete_takes);
                let creating = change
                    .created
                    .is_some_and(|t| now.duration_since(t) < create_takes);
                let cache_key = (rec.operation.clone(), resource.to_string());
                if status == 200 {
                    s.cache.insert(cache_key, Bytes::copy_from_slice(body));
                    if deleting {
                        return with_status(&rec.operation, body, "DELETING").map(|b| (200, b));
                    }
                    if creating {
                        return with_status(&rec.operation, body, "CREATING").map(|b| (200, b));
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
}

type FrontBody = http_body_util::Full<Bytes>;

impl Hook {
    pub fn on_request(rec: &Recorded, path_and_query: &str, body: &[u8]) -> Option<Hook> {
        let sim = active()?;
        let resource = resource_of(rec, path_and_query, body);
        if !path_and_query.starts_with(CONTROL_PREFIX) {
            sim.saw(rec, &resource);
        }
        Some(Hook {
            sim,
            rec: rec.clone(),
            resource,
        })
    }

    /// The answer to a control path (under [`CONTROL_PREFIX`]), if this is one.
    pub fn control(&self, path_and_query: &str) -> Option<hyper::Response<FrontBody>> {
        let (status, body) = self.sim.control(path_and_query)?;
        let mut r = hyper::Response::new(FrontBody::new(body));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/json"),
        );
        Some(r)
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

/// The longest chain of dependent waits of a spec under the simulated durations.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CriticalPath {
    /// Seconds at factor 1.
    pub up_seconds: f64,
    pub down_seconds: f64,
    /// Resource ids along each chain, in the order they run.
    pub up_chain: Vec<String>,
    pub down_chain: Vec<String>,
}

/// Compute it from the spec's graph: `up` runs a node after its dependencies,
/// `down` after its dependents; only streams and delivery streams wait.
pub fn critical_path(spec: &Spec) -> CriticalPath {
    let g = Graph::of(spec);
    let weight = |id: &str, up: bool| -> f64 {
        if spec.streams.contains_key(id) {
            if up {
                STREAM_CREATE_SECS
            } else {
                STREAM_DELETE_SECS
            }
        } else if spec.delivery_streams.contains_key(id) {
            if up {
                DELIVERY_CREATE_SECS
            } else {
                DELIVERY_DELETE_SECS
            }
        } else {
            0.0
        }
    };
    // Longest finish time per node, memoised; `next` gives what must finish first.
    fn longest(
        id: &str,
        next: &dyn Fn(&str) -> Vec<String>,
        weight: &dyn Fn(&str) -> f64,
        memo: &mut HashMap<String, (f64, Vec<String>)>,
        depth: usize,
    ) -> (f64, Vec<String>) {
        if let Some(v) = memo.get(id) {
            return v.clone();
        }
        let mut best = (0.0, Vec::new());
        if depth < 1000 {
            for n in next(id) {
                let c = longest(&n, next, weight, memo, depth + 1);
                if c.0 > best.0 || (best.1.is_empty() && !c.1.is_empty()) {
                    best = c;
                }
            }
        }
        let mut chain = best.1;
        chain.push(id.to_string());
        let v = (best.0 + weight(id), chain);
        memo.insert(id.to_string(), v.clone());
        v
    }
    let known = |ids: Vec<String>| -> Vec<String> {
        ids.into_iter().filter(|d| g.deps.contains_key(d)).collect()
    };
    let deps = |id: &str| known(g.deps_of(id));
    let dependents = |id: &str| known(g.dependents_of(id));
    let pick = |next: &dyn Fn(&str) -> Vec<String>, up: bool| {
        let w = |id: &str| weight(id, up);
        let mut memo = HashMap::new();
        g.nodes
            .iter()
            .map(|n| longest(n, next, &w, &mut memo, 0))
            .fold((0.0, Vec::new()), |a, b| if b.0 > a.0 { b } else { a })
    };
    let (up_seconds, up_chain) = pick(&deps, true);
    let (down_seconds, down_chain) = pick(&dependents, false);
    CriticalPath {
        up_seconds,
        down_seconds,
        up_chain,
        down_chain,
    }
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
    fn describe_shows_creating_then_deleting_from_the_cache() {
        let sim = Sim {
            factor: 10.0,
            start: Instant::now(),
            state: Mutex::default(),
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
