//! A fault-injecting proxy for tests and benchmarks: it sits before the local
//! stack (or before the recording front) and makes each Kinesis PutRecords call
//! fail a seeded share of its entries with ProvisionedThroughputExceededException,
//! the way a throttled shard does. The failed entries are taken out of the request
//! before it goes on, so the stack never stores them: a client that retries exactly
//! the failed entries ends with every record stored once. Everything else passes
//! through unchanged.
//!
//! PutRecords calls are passed on one at a time: the local emulator (moto 5.2.5)
//! numbers a shard's records without a lock, so two calls at once can give two
//! records the same sequence number and keep only one of them.
//!
//! With a [`Config`] whose `rate` is above zero it also faults whole requests, a
//! seeded share of them, each with one [`Fault`]: the throttling error of the
//! request's own service in that protocol's wire format (JSON 1.1 `__type`,
//! query `<ErrorResponse><Error><Code>`, S3 `<Error><Code>`), a 500, a 503, a
//! dropped connection, a slow answer, or an answer cut midway. Errors, resets and
//! delays happen before the request goes on (the stack never sees it); a cut
//! answer is cut after the stack has acted, so the client cannot know whether its
//! call took effect — the case that makes a retried create meet "already exists".
//! Data-plane writes (PutRecords, PutRecord, PutRecordBatch) are never cut after
//! acting by [`Fault::Cut`] (they get a reset instead), so a run with [`Fault::ALL`]
//! stores every record exactly once. [`Fault::LostWrite`], drawn only when asked for,
//! is that case: the write is stored and its answer cut, so the client sends it again
//! and the stream holds it twice. Kinesis writes are at-least-once by design (Kinesis
//! Data Streams developer guide, "Handling duplicate records": a producer retry after a
//! network error before the acknowledgement stores the record twice).
//!
//! Kinds are drawn as from a seeded, shuffled deck of the configured kinds, refilled
//! when empty: every kind is drawn once in each round of `kinds.len()` faults, so a
//! run with a handful of faults sees each kind (which requests are hit stays random).
//!
//! [`FaultProxy::reject_credentials`] answers every request as AWS answers a request
//! signed with an access key it does not know (each protocol's code, all 403).
//!
//! [`FaultProxy::rewrite`] changes the answers to one operation (cut JSON, a
//! replaced body, a replaced string), for tests of malformed responses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

use labctl::stream::produce::Rng;

type Body = Full<Bytes>;
type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;
/// What the proxy answers with: whole, or cut midway.
type Out = BoxBody<Bytes, std::io::Error>;

/// The error code given to the entries the proxy fails.
pub const CODE: &str = "ProvisionedThroughputExceededException";

/// A whole-request fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The service's own throttling error (Kinesis ProvisionedThroughputExceeded /
    /// LimitExceeded, Firehose LimitExceeded, IAM/STS/CloudWatch Throttling, SNS Throttled 429,
    /// Logs ThrottlingException, S3 SlowDown 503).
    Throttle,
    /// 500 with the protocol's internal-error code.
    Internal,
    /// 503 with the protocol's unavailable code (Firehose: ServiceUnavailableException).
    Unavailable,
    /// The connection is dropped without an answer; the request is not passed on.
    Reset,
    /// The answer comes late (up to [`Config::latency`]), otherwise unchanged.
    Slow,
    /// The request is passed on, and its answer is cut midway.
    Cut,
    /// A data write (PutRecords, PutRecord, PutRecordBatch) is passed on and stored,
    /// and its answer is cut midway: the client cannot know, sends it again, and the
    /// stream may hold it twice. Not in [`Fault::ALL`]; other operations that draw it
    /// pass unfaulted.
    LostWrite,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Throttle,
        Fault::Internal,
        Fault::Unavailable,
        Fault::Reset,
        Fault::Slow,
        Fault::Cut,
    ];
}

/// Whether `fault` can happen to `operation` ([`Fault::Cut`] never to a data write,
/// [`Fault::LostWrite`] only to one).
fn applies(fault: Fault, operation: &str) -> bool {
    match fault {
        Fault::Cut => !data_write(operation),
        Fault::LostWrite => data_write(operation),
        _ => true,
    }
}

/// What the proxy does; [`Config::entries`] is the PutRecords-only behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// Share of PutRecords entries failed with [`CODE`] (partial failures).
    pub entry_share: f64,
    /// Share of requests given a whole-request fault.
    pub rate: f64,
    /// The faults drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// The longest delay of a [`Fault::Slow`] answer.
    pub latency: Duration,
    pub seed: u64,
}

impl Config {
    /// Partial PutRecords failures only.
    pub fn entries(share: f64, seed: u64) -> Config {
        Config {
            entry_share: share,
            rate: 0.0,
            kinds: Fault::ALL.to_vec(),
            latency: Duration::from_millis(500),
            seed,
        }
    }

    /// `rate` of all requests faulted with every kind of [`Fault`], and the same
    /// share of PutRecords entries failed.
    pub fn chaos(rate: f64, seed: u64) -> Config {
        Config {
            entry_share: rate,
            rate,
            ..Config::entries(0.0, seed)
        }
    }
}

/// A change to the answers of one operation.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// Half of the body, as a complete answer (cut JSON or XML).
    Truncate,
    /// This body instead, status 200.
    Body(String),
    /// The body with every `from` replaced by `to`.
    Replace(String, String),
    /// Passed on, then the answer is cut midway (as [`Fault::Cut`]): the call took
    /// effect and the client cannot know it.
    Lose,
}

/// A running fault proxy; it lives as long as its runtime.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    share: f64,
    config: Config,
    rng: Mutex<Rng>,
    /// Whole-request faults drawn, by kind.
    faulted: Mutex<BTreeMap<Fault, u64>>,
    rewrites: Mutex<Vec<(String, usize, Rewrite)>>,
    /// The kinds still to draw in this round (see the module doc).
    deck: Mutex<Vec<Fault>>,
    /// Set by [`FaultProxy::reject_credentials`].
    reject: std::sync::atomic::AtomicBool,
    /// Every request received.
    requests: AtomicU64,
    failed: AtomicU64,
    passed: AtomicU64,
    calls: AtomicU64,
    /// One PutRecords at a time upstream (see the module doc).
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl FaultProxy {
    /// The URL to give labctl as `--endpoint-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Entries answered with the injected error so far.
    pub fn failed_entries(&self) -> u64 {
        self.state.failed.load(Ordering::SeqCst)
    }

    /// Entries passed on to the stack so far.
    pub fn passed_entries(&self) -> u64 {
        self.state.passed.load(Ordering::SeqCst)
    }

    /// PutRecords calls seen.
    pub fn put_records_calls(&self) -> u64 {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Whole-request faults drawn so far, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, u64> {
        self.state
            .faulted
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Every request received so far (answered, faulted or passed on).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// From now on answer every request as AWS answers one signed with an unknown access
    /// key, never passing it on: 403 `InvalidClientTokenId` in the query protocol (STS,
    /// IAM, SNS, CloudWatch), 403 `UnrecognizedClientException` in JSON ones, 403
    /// `InvalidAccessKeyId` from S3 ("Common Errors" of the AWS API references; S3 API
    /// Reference, "Error responses"). The message is AWS's.
    pub fn reject_credentials(&self) {
        self.state.reject.store(true, Ordering::SeqCst);
    }

    /// Change the next `times` answers to `operation` (`DescribeStreamSummary`,
    /// `GetRole`, `GET ?tagging` …, as the front names them).
    pub fn rewrite(&self, operation: &str, times: usize, how: Rewrite) {
        if let Ok(mut l) = self.state.rewrites.lock() {
            l.push((operation.to_string(), times, how));
        }
    }
}

/// Which entries of a PutRecords body to fail, and the body without them.
fn split(state: &State, body: &[u8]) -> Option<(Value, Vec<bool>)> {
    let mut doc: Value = serde_json::from_slice(body).ok()?;
    let records = doc.get_mut("Records")?.as_array_mut()?;
    let fail: Vec<bool> = {
        let mut rng = state.rng.lock().ok()?;
        records.iter().map(|_| rng.chance(state.share)).collect()
    };
    let kept: Vec<Value> = records
        .drain(..)
        .zip(&fail)
        .filter(|(_, f)| !**f)
        .map(|(r, _)| r)
        .collect();
    *records = kept;
    Some((doc, fail))
}

/// The client's view: the stack's results for the kept entries, the injected
/// error for the others, each in its original position.
fn merge(upstream: Option<&Value>, fail: &[bool]) -> Value {
    let theirs: Vec<Value> = upstream
        .and_then(|u| u.get("Records"))
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    let mut theirs = theirs.into_iter();
    let mut failed = 0u64;
    let records: Vec<Value> = fail
        .iter()
        .map(|f| {
            if *f {
                failed += 1;
                json!({"ErrorCode": CODE, "ErrorMessage": "Rate exceeded for shard (injected by the fault proxy)"})
            } else {
                let r = theirs.next().unwrap_or_else(
                    || json!({"ErrorCode": "InternalFailure", "ErrorMessage": "fault proxy: missing result"}),
                );
                if r.get("ErrorCode").is_some() {
                    failed += 1;
                }
                r
            }
        })
        .collect();
    json!({"FailedRecordCount": failed, "Records": records})
}

fn json_response(status: u16, body: Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r
}

async fn send(
    client: &Http,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<(hyper::http::response::Parts, Bytes), String> {
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: hyper::Uri = format!("{upstream}{pq}")
        .parse()
        .map_err(|e| format!("fault proxy: bad upstream uri: {e}"))?;
    let mut out = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != hyper::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let out = out
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .map_err(|e| format!("fault proxy: {e}"))?;
    let resp = client
        .request(out)
        .await
        .map_err(|e| format!("fault proxy: upstream unreachable: {e}"))?;
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("fault proxy: reading the upstream response: {e}"))?
        .to_bytes();
    Ok((parts, body))
}

/// Pass a request on, failing a share of its PutRecords entries.
async fn pass(
    client: &Http,
    upstream: &str,
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Response<Body> {
    let is_put_records = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.ends_with(".PutRecords"));
    let split = if is_put_records {
        split(state, &body)
    } else {
        None
    };
    let Some((doc, fail)) = split else {
        return match send(client, upstream, parts, body).await {
            Ok((p, b)) => Response::from_parts(p, Full::new(b)),
            Err(e) => json_response(502, json!({"message": e})),
        };
    };
    state.calls.fetch_add(1, Ordering::SeqCst);
    let n_fail = fail.iter().filter(|f| **f).count() as u64;
    let n_keep = fail.len() as u64 - n_fail;
    if n_keep == 0 {
        state.failed.fetch_add(n_fail, Ordering::SeqCst);
        return json_response(200, merge(None, &fail));
    }
    let body = Bytes::from(doc.to_string());
    let turn = state.one_at_a_time.lock().await;
    let sent = send(client, upstream, parts, body).await;
    drop(turn);
    match sent {
        Ok((p, b)) if p.status.is_success() => {
            let theirs: Option<Value> = serde_json::from_slice(&b).ok();
            state.failed.fetch_add(n_fail, Ordering::SeqCst);
            state.passed.fetch_add(n_keep, Ordering::SeqCst);
            json_response(200, merge(theirs.as_ref(), &fail))
        }
        // The whole call failed upstream: pass that on; nothing was stored.
        Ok((p, b)) => Response::from_parts(p, Full::new(b)),
        Err(e) => json_response(502, json!({"message": e})),
    }
}

/// Operations that write data: never cut after the stack acted (see the module doc).
fn data_write(operation: &str) -> bool {
    matches!(operation, "PutRecords" | "PutRecord" | "PutRecordBatch")
}

/// The request's wire protocol, from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    Query,
    /// CloudWatch's rpc-v2-cbor: errors are the query ones, translated.
    Cbor,
    S3,
}

fn protocol(parts: &hyper::http::request::Parts, body: &[u8]) -> Protocol {
    if parts.headers.contains_key("x-amz-target") {
        Protocol::Json
    } else if parts
        .uri
        .path_and_query()
        .and_then(|p| crate::cwcbor::rpcv2_operation(p.as_str()))
        .is_some()
    {
        Protocol::Cbor
    } else if std::str::from_utf8(body)
        .is_ok_and(|b| b.starts_with("Action=") || b.contains("&Action="))
    {
        Protocol::Query
    } else {
        Protocol::S3
    }
}

/// Status and error code of `fault` for `service`'s `operation`.
fn error_code(
    fault: Fault,
    service: &str,
    operation: &str,
    proto: Protocol,
) -> (u16, &'static str) {
    match (fault, proto) {
        (Fault::Throttle, Protocol::S3) => (503, "SlowDown"),
        // SNS's own: ThrottledException, code `Throttled`, HTTP 429 (botocore
        // sns/2010-03-31/service-2.json); IAM, STS and CloudWatch answer `Throttling` 400.
        (Fault::Throttle, Protocol::Query) if service == "sns" => (429, "Throttled"),
        (Fault::Throttle, Protocol::Query | Protocol::Cbor) => (400, "Throttling"),
        (Fault::Throttle, Protocol::Json) => match service {
            "kinesis" if operation.starts_with("Put") || operation == "GetRecords" => {
                (400, "ProvisionedThroughputExceededException")
            }
            "kinesis" | "firehose" | "kinesisanalytics" => (400, "LimitExceededException"),
            "tagging" => (400, "ThrottledException"),
            _ => (400, "ThrottlingException"),
        },
        (Fault::Internal, Protocol::S3) => (500, "InternalError"),
        (Fault::Internal, _) => (500, "InternalFailure"),
        (_, Protocol::Json) if service == "firehose" => (503, "ServiceUnavailableException"),
        (_, Protocol::S3) => (503, "ServiceUnavailable"),
        _ => (503, "ServiceUnavailable"),
    }
}

/// An AWS error answer in the request's own wire format.
fn fault_response(status: u16, code: &str, proto: Protocol) -> Response<Body> {
    error_response(status, code, "injected by the fault proxy", proto)
}

/// The answer to a request signed with an unknown key (see [`FaultProxy::reject_credentials`]).
fn rejected(proto: Protocol, operation: &str) -> Response<Body> {
    const MESSAGE: &str = "The security token included in the request is invalid.";
    match proto {
        Protocol::Json => error_response(403, "UnrecognizedClientException", MESSAGE, proto),
        Protocol::Query => error_response(403, "InvalidClientTokenId", MESSAGE, proto),
        Protocol::Cbor => cbor_fault_response(403, "InvalidClientTokenId", operation),
        Protocol::S3 => error_response(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            proto,
        ),
    }
}

/// [`fault_response`] with AWS's own message.
fn error_response(status: u16, code: &str, message: &str, proto: Protocol) -> Response<Body> {
    let (body, content_type) = match proto {
        Protocol::Json => (
            json!({"__type": code, "message": message}).to_string(),
            "application/x-amz-json-1.1",
        ),
        Protocol::Query | Protocol::Cbor => (
            format!("<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" }),
            "text/xml",
        ),
        Protocol::S3 => (
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"),
            "application/xml",
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::SERVICE_UNAVAILABLE);
    let h = r.headers_mut();
    h.insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(code) {
        if proto == Protocol::Json {
            h.insert("x-amzn-errortype", v);
        }
    }
    h.insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("fault-proxy"),
    );
    r
}

/// The query error of [`fault_response`] in CloudWatch's rpc-v2-cbor form (the
/// translation the front uses for moto's answers).
fn cbor_fault_response(status: u16, code: &str, operation: &str) -> Response<Body> {
    let query = fault_response(status, code, Protocol::Query);
    let xml = futures::executor::block_on(query.into_body().collect())
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match crate::cwcbor::query_response_to_cbor(operation, status, &xml) {
        Ok((status, body, set)) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = hyper::StatusCode::from_u16(status)
                .unwrap_or(hyper::StatusCode::SERVICE_UNAVAILABLE);
            for (k, v) in set {
                if let (Ok(k), Ok(v)) = (
                    hyper::header::HeaderName::from_bytes(k.as_bytes()),
                    hyper::header::HeaderValue::from_str(&v),
                ) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
        // An operation the translation does not know: the query form, as before.
        Err(_) => fault_response(status, code, Protocol::Query),
    }
}

fn whole(r: Response<Body>) -> Response<Out> {
    r.map(|b| b.map_err(|never| match never {}).boxed())
}

/// The answer's headers and the first half of its body, then a broken connection.
async fn cut(r: Response<Body>) -> Result<Response<Out>, std::io::Error> {
    let (parts, body) = r.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if bytes.len() < 2 {
        // Nothing to cut: drop the connection instead, after the stack acted.
        return Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault proxy: answer dropped",
        ));
    }
    let half = bytes.slice(..bytes.len() / 2);
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(half)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault proxy: answer cut midway",
        )),
    ];
    let body = StreamBody::new(futures::stream::iter(frames));
    Ok(Response::from_parts(parts, BodyExt::boxed(body)))
}

/// Apply a rewrite to a complete answer.
async fn rewritten(r: Response<Body>, how: &Rewrite) -> Response<Body> {
    let (mut parts, body) = r.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let new = match how {
        Rewrite::Truncate => bytes.slice(..bytes.len() / 2),
        Rewrite::Body(b) => {
            parts.status = hyper::StatusCode::OK;
            Bytes::from(b.clone())
        }
        Rewrite::Replace(from, to) => {
            Bytes::from(String::from_utf8_lossy(&bytes).replace(from.as_str(), to))
        }
        Rewrite::Lose => bytes,
    };
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    parts.headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(new.len()),
    );
    Response::from_parts(parts, Full::new(new))
}

impl State {
    /// The fault for this request, if it draws one (from the deck: see the module doc).
    fn draw(&self, operation: &str) -> Option<Fault> {
        if self.config.rate <= 0.0 || self.config.kinds.is_empty() {
            return None;
        }
        let kinds = &self.config.kinds;
        // Only operations some kind can happen to draw from the seed: then which data
        // writes fault does not depend on how other requests interleave with them.
        let cut_write = kinds.contains(&Fault::Cut) && data_write(operation);
        if !cut_write && !kinds.iter().any(|k| applies(*k, operation)) {
            return None;
        }
        let mut rng = self.rng.lock().ok()?;
        if !rng.chance(self.config.rate) {
            return None;
        }
        let f = if kinds.iter().any(|k| applies(*k, operation)) {
            let mut deck = self.deck.lock().ok()?;
            if !deck.iter().any(|k| applies(*k, operation)) {
                // A new round, shuffled (Fisher-Yates), after what is left of this one.
                let mut round = kinds.clone();
                for i in (1..round.len()).rev() {
                    round.swap(i, rng.below(i as u64 + 1) as usize);
                }
                deck.extend(round);
            }
            let i = deck.iter().position(|k| applies(*k, operation))?;
            deck.remove(i)
        } else if cut_write {
            Fault::Reset
        } else {
            return None;
        };
        drop(rng);
        if let Ok(mut m) = self.faulted.lock() {
            *m.entry(f).or_insert(0) += 1;
        }
        Some(f)
    }

    fn take_rewrite(&self, operation: &str) -> Option<Rewrite> {
        let mut l = self.rewrites.lock().ok()?;
        let i = l.iter().position(|(op, n, _)| op == operation && *n > 0)?;
        l[i].1 -= 1;
        Some(l[i].2.clone())
    }

    fn delay(&self) -> Duration {
        let max = self.config.latency.as_millis().max(2) as u64;
        let ms = self
            .rng
            .lock()
            .map(|mut r| max / 2 + r.below(max / 2 + 1))
            .unwrap_or(max);
        Duration::from_millis(ms)
    }
}

/// One request: a rewrite, a whole-request fault, or [`pass`]. An `Err` drops the connection.
async fn handle(
    client: Http,
    upstream: Arc<String>,
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Out>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(whole(json_response(502, json!({"message": e.to_string()})))),
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let rec = crate::record::classify(parts.method.as_str(), pq, &parts.headers, &body);
    state.requests.fetch_add(1, Ordering::SeqCst);
    if state.reject.load(Ordering::SeqCst) {
        return Ok(whole(rejected(protocol(&parts, &body), &rec.operation)));
    }
    if let Some(how) = state.take_rewrite(&rec.operation) {
        let r = pass(&client, &upstream, &state, &parts, body).await;
        if let Rewrite::Lose = how {
            return cut(r).await;
        }
        return Ok(whole(rewritten(r, &how).await));
    }
    let fault = state.draw(&rec.operation);
    match fault {
        Some(f @ (Fault::Throttle | Fault::Internal | Fault::Unavailable)) => {
            let proto = protocol(&parts, &body);
            let (status, code) = error_code(f, &rec.service, &rec.operation, proto);
            if proto == Protocol::Cbor {
                return Ok(whole(cbor_fault_response(status, code, &rec.operation)));
            }
            return Ok(whole(fault_response(status, code, proto)));
        }
        Some(Fault::Reset) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault proxy: connection reset",
            ))
        }
        Some(Fault::Slow) => tokio::time::sleep(state.delay()).await,
        Some(Fault::Cut | Fault::LostWrite) | None => {}
    }
    let r = pass(&client, &upstream, &state, &parts, body).await;
    if matches!(fault, Some(Fault::Cut | Fault::LostWrite)) {
        return cut(r).await;
    }
    Ok(whole(r))
}

/// Start a fault proxy on 127.0.0.1 (port 0 = any free port) before `upstream`,
/// failing each PutRecords entry with probability `share`, drawn from `seed`.
/// Must be called inside a tokio runtime.
pub async fn start(port: u16, upstream: &str, share: f64, seed: u64) -> Result<FaultProxy> {
    start_with(port, upstream, Config::entries(share, seed)).await
}

/// [`start`] with every setting: whole-request faults too (see [`Config::chaos`]).
pub async fn start_with(port: u16, upstream: &str, config: Config) -> Result<FaultProxy> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .context("binding the fault proxy's port")?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        share: config.entry_share.clamp(0.0, 1.0),
        rng: Mutex::new(Rng::new(config.seed)),
        config,
        faulted: Mutex::default(),
        rewrites: Mutex::default(),
        deck: Mutex::default(),
        reject: std::sync::atomic::AtomicBool::new(false),
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        passed: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        one_at_a_time: tokio::sync::Mutex::new(()),
    });
    let proxy = FaultProxy {
        addr,
        state: state.clone(),
    };
    let upstream = Arc::new(upstream.trim_end_matches('/').to_string());
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (client, upstream, state) = (client.clone(), upstream.clone(), state.clone());
            // A dropped connection ends with a reset (RST), not an orderly close.
            let _ = stream.set_zero_linger();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    handle(client.clone(), upstream.clone(), state.clone(), req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_each_service_wire_format() {
        let t = |svc, op, proto| error_code(Fault::Throttle, svc, op, proto);
        assert_eq!(
            t("kinesis", "PutRecords", Protocol::Json),
            (400, "ProvisionedThroughputExceededException")
        );
        assert_eq!(
            t("kinesis", "CreateStream", Protocol::Json),
            (400, "LimitExceededException")
        );
        assert_eq!(
            t("firehose", "CreateDeliveryStream", Protocol::Json),
            (400, "LimitExceededException")
        );
        assert_eq!(
            error_code(Fault::Unavailable, "firehose", "X", Protocol::Json),
            (503, "ServiceUnavailableException")
        );
        assert_eq!(t("iam", "CreateRole", Protocol::Query), (400, "Throttling"));
        assert_eq!(
            t("sts", "GetCallerIdentity", Protocol::Query),
            (400, "Throttling")
        );
        assert_eq!(
            t("monitoring", "PutMetricAlarm", Protocol::Query),
            (400, "Throttling")
        );
        assert_eq!(t("sns", "CreateTopic", Protocol::Query), (429, "Throttled"));
        assert_eq!(t("s3", "PUT", Protocol::S3), (503, "SlowDown"));
        assert_eq!(
            t("logs", "CreateLogGroup", Protocol::Json),
            (400, "ThrottlingException")
        );

        let body = |r: Response<Body>| {
            let b = futures::executor::block_on(r.into_body().collect())
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            String::from_utf8_lossy(&b).into_owned()
        };
        let j = fault_response(400, "LimitExceededException", Protocol::Json);
        assert_eq!(j.headers()["x-amzn-errortype"], "LimitExceededException");
        let v: Value = serde_json::from_str(&body(j)).expect("json");
        assert_eq!(v["__type"], "LimitExceededException");
        let q = body(fault_response(400, "Throttling", Protocol::Query));
        assert!(q.starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"));
        let s = fault_response(503, "SlowDown", Protocol::S3);
        assert_eq!(s.status(), 503);
        assert!(body(s).contains("<Error><Code>SlowDown</Code>"));
    }

    fn state(config: Config) -> State {
        State {
            share: config.entry_share,
            rng: Mutex::new(Rng::new(config.seed)),
            config,
            faulted: Mutex::default(),
            rewrites: Mutex::default(),
            deck: Mutex::default(),
            reject: std::sync::atomic::AtomicBool::new(false),
            requests: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    #[test]
    fn every_kind_is_drawn_once_a_round_and_lost_writes_only_hit_writes() {
        let s = state(Config::chaos(1.0, 5));
        for round in 0..3 {
            let drawn: std::collections::BTreeSet<Fault> =
                (0..6).filter_map(|_| s.draw("CreateRole")).collect();
            assert_eq!(drawn.len(), 6, "round {round}: {drawn:?}");
        }
        // Cut never hits a data write: the round goes on with another kind.
        let writes: Vec<Fault> = (0..12).filter_map(|_| s.draw("PutRecords")).collect();
        assert!(!writes.contains(&Fault::Cut), "{writes:?}");
        let lost = state(Config {
            kinds: vec![Fault::LostWrite],
            ..Config::chaos(1.0, 5)
        });
        assert_eq!(lost.draw("CreateStream"), None);
        assert_eq!(lost.draw("PutRecords"), Some(Fault::LostWrite));
        assert_eq!(lost.draw("PutRecordBatch"), Some(Fault::LostWrite));
        let cut = state(Config {
            kinds: vec![Fault::Cut],
            ..Config::chaos(1.0, 5)
        });
        assert_eq!(cut.draw("PutRecords"), Some(Fault::Reset));
        assert_eq!(cut.draw("DeleteStream"), Some(Fault::Cut));
    }

    #[test]
    fn rejected_credentials_answer_in_each_protocol() {
        let code = |r: &Response<Body>| {
            r.headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let j = rejected(Protocol::Json, "PutRecords");
        assert_eq!(j.status(), 403);
        assert_eq!(code(&j).as_deref(), Some("UnrecognizedClientException"));
        let q = rejected(Protocol::Query, "GetCallerIdentity");
        assert_eq!(q.status(), 403);
        let b = futures::executor::block_on(q.into_body().collect())
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&b);
        assert!(text.contains("<Code>InvalidClientTokenId</Code>"), "{text}");
        assert!(text.contains("The security token included in the request is invalid."));
        assert_eq!(rejected(Protocol::S3, "GET").status(), 403);
    }

    #[test]
    fn merge_puts_results_back_in_place() {
        let theirs = json!({"FailedRecordCount": 0, "Records": [
            {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
            {"SequenceNumber": "2", "ShardId": "shardId-000000000001"}
        ]});
        let m = merge(Some(&theirs), &[true, false, true, false]);
        assert_eq!(m["FailedRecordCount"], 2);
        assert_eq!(m["Records"][0]["ErrorCode"], CODE);
        assert_eq!(m["Records"][1]["SequenceNumber"], "1");
        assert_eq!(m["Records"][2]["ErrorCode"], CODE);
        assert_eq!(m["Records"][3]["SequenceNumber"], "2");
    }

    #[test]
    fn split_takes_the_failed_entries_out() {
        let state = State {
            share: 0.5,
            config: Config::entries(0.5, 3),
            faulted: Mutex::default(),
            rewrites: Mutex::default(),
            deck: Mutex::default(),
            reject: std::sync::atomic::AtomicBool::new(false),
            requests: AtomicU64::new(0),
            rng: Mutex::new(Rng::new(3)),
            failed: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            one_at_a_time: tokio::sync::Mutex::new(()),
        };
        let records: Vec<Value> = (0..100)
            .map(|i| json!({"Data": "eA==", "PartitionKey": format!("k{i}")}))
            .collect();
        let body = json!({"StreamName": "s", "Records": records}).to_string();
        let (doc, fail) = split(&state, body.as_bytes()).expect("a PutRecords body");
        let kept = doc["Records"].as_array().map(Vec::len).unwrap_or(0);
        let failed = fail.iter().filter(|f| **f).count();
        assert_eq!(kept + failed, 100);
        assert!((25..=75).contains(&failed), "{failed}");
        assert_eq!(doc["StreamName"], "s");
    }
}
