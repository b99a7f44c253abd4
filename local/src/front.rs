//! The local front: an HTTP proxy that sits before the local AWS stack and records
//! every request it forwards (service, operation, whether it changes anything).
//! Tests count requests through it ("a second `up` makes no mutating call", "a bad
//! spec sends nothing"), answers scripted errors, holds mutating requests (the kill
//! harness), hands the Kinesis Analytics APIs to the emulator, Firehose to the local
//! delivery ([`crate::firehose`]) and translates CloudWatch's rpc-v2-cbor for moto
//! ([`crate::cwcbor`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::contract;
use crate::cwcbor;
use crate::emulator::{self, Emulator};
use crate::firehose::{self, Delivery, TimeScale};
use crate::guard;
use crate::record::{classify, Recorded};
use crate::transitions;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A scripted answer: the next `times` requests for `operation` get this error
/// instead of reaching the emulator.
#[derive(Debug, Clone)]
pub struct Injection {
    pub operation: String,
    pub times: usize,
    pub status: u16,
    /// AWS error code (`__type` for JSON protocols).
    pub code: String,
    pub message: String,
    /// A whole JSON body to answer instead of an error (see [`Front::answer`]).
    pub body: Option<String>,
    /// Matching requests to let through before answering.
    pub after: usize,
}

/// A breakpoint for the kill harness: after `after` mutating requests, every further
/// mutating request is held (never forwarded) until `release`, then dropped.
#[derive(Default)]
pub struct Hold {
    state: Mutex<HoldState>,
    notify: tokio::sync::Notify,
}

#[derive(Default)]
struct HoldState {
    after: Option<usize>,
    passed: usize,
    held: usize,
    generation: u64,
    /// Hold reads too once `after` mutating requests passed (a run killed while it waits).
    reads: bool,
}

impl Hold {
    /// For a request: None to forward it, or the generation to wait out. Only mutating
    /// requests count towards `after`; reads are held only in `reads` mode.
    fn enter(&self, mutating: bool) -> Option<u64> {
        let mut s = self.state.lock().ok()?;
        if !mutating && !s.reads {
            return None;
        }
        match s.after {
            Some(n) if s.passed >= n => {
                s.held += 1;
                Some(s.generation)
            }
            _ => {
                if mutating {
                    s.passed += 1;
                }
                None
            }
        }
    }

    async fn wait(&self, generation: u64) {
        loop {
            let notified = self.notify.notified();
            if self
                .state
                .lock()
                .map(|s| s.generation != generation)
                .unwrap_or(true)
            {
                return;
            }
            notified.await;
        }
    }
}

/// A running front. Dropping it does not stop it; it lives as long as its runtime.
#[derive(Clone)]
pub struct Front {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    injections: Arc<Mutex<Vec<Injection>>>,
    hold: Arc<Hold>,
    delivery: Delivery,
}

impl Front {
    /// The Firehose delivery this front runs (its counters, for tests).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The URL to give labctl as `--endpoint-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything forwarded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Forget what was recorded.
    pub fn clear(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }

    /// Answer the next `times` calls of `operation` (JSON protocols) with an AWS error.
    pub fn inject(&self, operation: &str, times: usize, status: u16, code: &str, message: &str) {
        if let Ok(mut l) = self.injections.lock() {
            l.push(Injection {
                operation: operation.to_string(),
                times,
                status,
                code: code.to_string(),
                message: message.to_string(),
                body: None,
                after: 0,
            });
        }
    }

    /// After letting `after` calls of `operation` through, answer the next `times`
    /// with this JSON body (a made-up service answer, e.g. a CREATING_FAILED describe).
    pub fn answer(&self, operation: &str, after: usize, times: usize, body: &serde_json::Value) {
        if let Ok(mut l) = self.injections.lock() {
            l.push(Injection {
                operation: operation.to_string(),
                times,
                status: 200,
                code: String::new(),
                message: String::new(),
                body: Some(body.to_string()),
                after,
            });
        }
    }

    /// Drop every scripted answer not used yet.
    pub fn clear_injections(&self) {
        if let Ok(mut l) = self.injections.lock() {
            l.clear();
        }
    }

    /// How many requests of `operation` were forwarded or answered.
    pub fn count(&self, operation: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.operation == operation)
            .count()
    }

    /// Let `n` more mutating requests through, then hold every further one.
    pub fn hold_after_mutating(&self, n: usize) {
        self.set_hold(n, false);
    }

    /// Let `n` more mutating requests through, then hold every further request, reads
    /// included: a run that made all its changes is caught while it waits.
    pub fn hold_all_after_mutating(&self, n: usize) {
        self.set_hold(n, true);
    }

    fn set_hold(&self, n: usize, reads: bool) {
        if let Ok(mut s) = self.hold.state.lock() {
            s.after = Some(n);
            s.passed = 0;
            s.held = 0;
            s.reads = reads;
        }
    }

    /// How many mutating requests the current hold let through.
    pub fn passed(&self) -> usize {
        self.hold.state.lock().map(|s| s.passed).unwrap_or(0)
    }

    /// How many mutating requests are being held.
    pub fn held(&self) -> usize {
        self.hold.state.lock().map(|s| s.held).unwrap_or(0)
    }

    /// Stop holding; held requests are dropped (answered 503, never forwarded).
    pub fn release(&self) {
        if let Ok(mut s) = self.hold.state.lock() {
            s.after = None;
            s.held = 0;
            s.reads = false;
            s.generation += 1;
        }
        self.hold.notify.notify_waiters();
    }

    /// The requests that change something.
    pub fn mutating(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.mutating).collect()
    }
}

type Body = Full<Bytes>;

/// What the local stack itself answers behind the front (moto answers the rest).
#[derive(Clone)]
struct Local {
    analytics: Emulator,
    delivery: Delivery,
}

/// `PutRecordBatch` from `X-Amz-Target: Firehose_20150804.PutRecordBatch` (Firehose's
/// JSON protocol, botocore's firehose/2015-08-04 `targetPrefix`).
fn firehose_operation(headers: &hyper::HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    target
        .strip_prefix("Firehose_20150804.")
        .map(str::to_string)
}

/// The next injected answer for `operation`, if one is due (counting down its
/// `after` and `times`).
fn take_injection(injections: &Mutex<Vec<Injection>>, operation: &str) -> Option<Injection> {
    let mut l = injections.lock().ok()?;
    let i = l
        .iter()
        .position(|i| i.operation == operation && i.times > 0)?;
    if l[i].after > 0 {
        l[i].after -= 1;
        return None;
    }
    l[i].times -= 1;
    Some(l[i].clone())
}

/// The response an injection asks for: its whole body, or an AWS JSON error.
fn injected_response(i: Injection) -> Response<Body> {
    if let Some(body) = i.body {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        return r;
    }
    let body = serde_json::json!({"__type": i.code, "message": i.message}).to_string();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(i.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r.headers_mut().insert(
        "x-amzn-errortype",
        hyper::header::HeaderValue::from_str(&i.code)
            .unwrap_or(hyper::header::HeaderValue::from_static("Error")),
    );
    r
}

/// The request's head, its whole body, and its path with query.
async fn read_request(
    req: Request<Incoming>,
) -> std::result::Result<(hyper::http::request::Parts, Bytes, String), Response<Body>> {
    let (parts, body) = req.into_parts();
    // Bounded: a body past the limit is refused, never read whole ([`guard::MAX_BODY`]).
    let body = http_body_util::Limited::new(body, guard::MAX_BODY)
        .collect()
        .await
        .map_err(
            |e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                Some(_) => error_response(413, "front: request body too large"),
                None => error_response(502, &format!("front: reading the request failed: {e}")),
            },
        )?
        .to_bytes();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    Ok((parts, body, pq))
}

/// Pass the request on to moto; its answer, or the front's 502 when that fails.
async fn ask_upstream(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: &str,
    parts: hyper::http::request::Parts,
    pq: &str,
    body: &Bytes,
) -> std::result::Result<(hyper::http::response::Parts, Bytes), Response<Body>> {
    let uri = format!("{upstream}{pq}")
        .parse::<hyper::Uri>()
        .map_err(|e| error_response(502, &format!("front: bad upstream uri: {e}")))?;
    let mut out = Request::builder().method(parts.method).uri(uri);
    for (k, v) in parts.headers.iter() {
        out = out.header(k, v);
    }
    let out = out
        .body(Full::new(body.clone()))
        .map_err(|e| error_response(502, &format!("front: {e}")))?;
    let resp = client
        .request(out)
        .await
        .map_err(|e| error_response(502, &format!("front: upstream unreachable: {e}")))?;
    let (parts, answer) = resp.into_parts();
    let b = answer.collect().await.map_err(|e| {
        error_response(
            502,
            &format!("front: reading the upstream response failed: {e}"),
        )
    })?;
    Ok((parts, b.to_bytes()))
}

/// Added round-trip time per request (benchmarks: `labctl-local dev --latency-ms`), in
/// milliseconds; 0 (the default) adds nothing. Process-wide, like the transitions.
static LATENCY_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Make every front in this process wait `ms` milliseconds before answering a request,
/// as a network round trip to AWS would (control paths included).
pub fn set_latency_ms(ms: u64) {
    LATENCY_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// Serialises PutRecord(s) towards the emulator (see `forward`).
static PUTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the front answers itself, before moto: the emulated applications, the local
/// delivery streams and CloudWatch's rpc-v2-cbor translation.
struct Here<'a> {
    client: &'a Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: &'a str,
    local: &'a Local,
    sim: Option<&'a transitions::Hook>,
}

impl Here<'_> {
    async fn answer(
        &self,
        headers: &hyper::HeaderMap,
        pq: &str,
        firehose_op: Option<&str>,
        body: &Bytes,
    ) -> Option<Response<Body>> {
        if let Some(r) = answer_analytics(&self.local.analytics, headers, body).await {
            // Simulated AWS times (`dev`) apply to the emulated applications too.
            return Some(match self.sim {
                Some(h) => h.rewrite(r).await,
                None => r,
            });
        }
        if let Some(op) = firehose_op {
            if let Some(r) = self.local.delivery.handle(op, headers, body).await {
                return Some(r);
            }
        }
        let op = cwcbor::rpcv2_operation(pq)?;
        Some(answer_cloudwatch(self.client, self.upstream, &op, headers, body).await)
    }
}

/// A request as it arrives: the added latency (`dev --latency-ms`), its classification
/// and the contract check (tests register one per stack: every request, before anything
/// answers it, held to AWS's API models; failures are the test's to report).
async fn arrived(
    upstream: &str,
    parts: &hyper::http::request::Parts,
    pq: &str,
    body: &Bytes,
) -> Recorded {
    let latency = LATENCY_MS.load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let rec = classify(parts.method.as_str(), pq, &parts.headers, body);
    if let Some(checks) = contract::hook::for_upstream(upstream) {
        checks.check(parts.method.as_str(), pq, &parts.headers, body);
    }
    tracing::debug!(service = %rec.service, operation = %rec.operation, "front forwards");
    rec
}

/// moto numbers a shard's records without a lock, so concurrent puts can overwrite
/// each other there: the front passes them on one at a time.
async fn one_put_at_a_time(is_put: bool) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    if is_put {
        Some(PUTS.lock().await)
    } else {
        None
    }
}

/// [`ask_upstream`], then the tagging that stands in for a CreateStream's `Tags`. AWS
/// tags a stream in the same call that creates it; moto does not, so the front tags it
/// after the create: both in one task that a client hanging up (a killed labctl) cannot
/// cancel between them, or the stream would exist untagged.
async fn ask_and_tag(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: &Arc<String>,
    parts: hyper::http::request::Parts,
    pq: &str,
    body: &Bytes,
) -> std::result::Result<(hyper::http::response::Parts, Bytes), Response<Body>> {
    let stream_tags = guard::stream_tags(&parts.headers, body);
    let (client, upstream, pq, body) = (
        client.clone(),
        upstream.clone(),
        pq.to_string(),
        body.clone(),
    );
    let asked = tokio::spawn(async move {
        let answer = ask_upstream(&client, &upstream, parts, &pq, &body).await;
        if let Ok((p, _)) = &answer {
            guard::tag_created_stream(&client, &upstream, stream_tags, p.status.as_u16()).await;
        }
        answer
    });
    match asked.await {
        Ok(answer) => answer,
        Err(e) => Err(error_response(
            502,
            &format!("front: forwarding failed: {e}"),
        )),
    }
}

async fn forward(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: Arc<String>,
    log: Arc<Mutex<Vec<Recorded>>>,
    injections: Arc<Mutex<Vec<Injection>>>,
    hold: Arc<Hold>,
    local: Local,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body, pq) = match read_request(req).await {
        Ok(r) => r,
        Err(r) => return Ok(r),
    };
    let rec = arrived(&upstream, &parts, &pq, &body).await;
    // Benchmarks (`labctl-local dev`): request counts and simulated AWS transition times.
    let sim = transitions::Hook::on_request(&rec, &pq, &body);
    if let Some(r) = sim
        .as_ref()
        .and_then(|h| h.control(parts.method.as_str(), &pq))
    {
        return Ok(r);
    }
    let injected = take_injection(&injections, &rec.operation);
    let mutating = rec.mutating;
    let is_put = matches!(rec.operation.as_str(), "PutRecords" | "PutRecord");
    if let Ok(mut l) = log.lock() {
        remember(&mut l, rec, LOG_CAP);
    }
    if let Some(generation) = hold.enter(mutating) {
        hold.wait(generation).await;
        return Ok(error_response(503, "front: held request dropped"));
    }
    if let Some(i) = injected {
        return Ok(injected_response(i));
    }
    if let Some(r) = guard::refuse(&client, &upstream, &parts, &pq, &body).await {
        return Ok(r);
    }
    let firehose_op = firehose_operation(&parts.headers);
    let here = Here {
        client: &client,
        upstream: &upstream,
        local: &local,
        sim: sim.as_ref(),
    };
    if let Some(r) = here
        .answer(&parts.headers, &pq, firehose_op.as_deref(), &body)
        .await
    {
        return Ok(r);
    }
    let _one_put_at_a_time = one_put_at_a_time(is_put).await;
    let (body, policy_put) =
        match guard::bucket_policy(&upstream, &parts.method, &pq, &parts.headers, body) {
            guard::PolicyStep::Answer(r) => return Ok(r),
            guard::PolicyStep::Forward(b, put) => (b, put),
        };
    if policy_put.is_some() {
        guard::rewritten_body(&mut parts.headers, body.len());
    }
    let (mut parts, b) = match ask_and_tag(&client, &upstream, parts, &pq, &body).await {
        Ok(answer) => answer,
        Err(r) => return Ok(r),
    };
    guard::policy_accepted(&upstream, policy_put, parts.status.as_u16());
    if let Some(op) = &firehose_op {
        // Before answering: a Kinesis source is positioned at LATEST by then.
        let status = parts.status.as_u16();
        local
            .delivery
            .observe_forwarded(op, &body, status, &b)
            .await;
        Delivery::mark(&mut parts.headers);
    }
    Ok(match &sim {
        Some(h) => h.on_response(parts, b),
        None => Response::from_parts(parts, Full::new(b)),
    })
}

/// CloudWatch in rpc-v2-cbor (the current SDK), which moto does not parse: the request
/// translated to awsQuery (a form POST to `/`, signed headers kept: moto reads the
/// service and region from the credential scope), moto's XML answer translated back.
async fn answer_cloudwatch(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: &str,
    op: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Response<Body> {
    let query = match cwcbor::cbor_request_to_query(op, body) {
        Ok(q) => q,
        Err(e) => {
            return error_response(400, &format!("front: translating the {op} request: {e:#}"))
        }
    };
    let uri = match format!("{upstream}/").parse::<hyper::Uri>() {
        Ok(u) => u,
        Err(e) => return error_response(502, &format!("front: bad upstream uri: {e}")),
    };
    let mut out = Request::post(uri).header(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "user-agent",
    ] {
        if let Some(v) = headers.get(name) {
            out = out.header(name, v);
        }
    }
    let out = match out.body(Full::new(Bytes::from(query))) {
        Ok(r) => r,
        Err(e) => return error_response(502, &format!("front: {e}")),
    };
    let (status, xml) = match client.request(out).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.into_body().collect().await {
                Ok(b) => (status, b.to_bytes()),
                Err(e) => {
                    return error_response(
                        502,
                        &format!("front: reading the upstream response failed: {e}"),
                    )
                }
            }
        }
        Err(e) => return error_response(502, &format!("front: upstream unreachable: {e}")),
    };
    match cwcbor::query_response_to_cbor(op, status, &xml) {
        Ok((status, body, set)) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() =
                hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
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
        Err(e) => error_response(502, &format!("front: translating the {op} answer: {e:#}")),
    }
}

/// The answer to [`crate::identity::PATH`]: the instance id, in a header and the body.
fn identity_response(id: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(id.to_string())));
    if let Ok(v) = hyper::header::HeaderValue::from_str(id) {
        r.headers_mut().insert(crate::identity::HEADER, v);
    }
    r
}

fn error_response(status: u16, msg: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(msg.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}

/// Kinesis Analytics requests (both APIs) are the emulator's: no upstream serves them.
async fn answer_analytics(
    analytics: &Emulator,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Option<Response<Body>> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    if !Emulator::handles(target) {
        return None;
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let reply = analytics
        .answer(target, &emulator::region_of(auth), body)
        .await;
    let mut r = Response::new(Full::new(Bytes::from(reply.body.to_string())));
    *r.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(t) = reply
        .error_type
        .and_then(|t| hyper::header::HeaderValue::from_str(&t).ok())
    {
        r.headers_mut().insert("x-amzn-errortype", t);
    }
    // Kinesis Analytics for SQL (v1) is emulated as a control plane only: no SQL runs and
    // no metric is published; so is v2 without a Flink runtime. Say so where labctl's
    // checks read it (its `capability` module); AWS never sends this header.
    let v1 = target.starts_with("KinesisAnalytics_20150814.");
    let v2 = target.starts_with("KinesisAnalytics_20180523.");
    if v1 || (v2 && !analytics.runs_jobs()) {
        r.headers_mut().insert(
            "x-labctl-local-capabilities",
            hyper::header::HeaderValue::from_static("control-plane"),
        );
    }
    Some(r)
}

/// Start a front on 127.0.0.1 (port 0 = any free port) forwarding to `upstream`
/// (`http://127.0.0.1:4567`), with a fresh Kinesis Analytics emulator of default
/// settings and a Firehose delivery at AWS's timing. Must be called inside a tokio runtime.
pub async fn start(port: u16, upstream: &str) -> Result<Front> {
    start_scaled(port, upstream, TimeScale::default()).await
}

/// [`start`] with the Firehose delivery's waits scaled (`TimeScale(0.1)`: a 60 s
/// buffering interval lasts 6 s; see [`crate::firehose`]).
pub async fn start_scaled(port: u16, upstream: &str, scale: TimeScale) -> Result<Front> {
    let analytics = Emulator::new(emulator::Config {
        kinesis_endpoint: Some(upstream.to_string()),
        ..emulator::Config::default()
    });
    start_local(port, upstream, analytics, scale).await
}

/// [`start`] with the caller's emulator, to set its timings or look at its state.
pub async fn start_with(port: u16, upstream: &str, analytics: Emulator) -> Result<Front> {
    start_local(port, upstream, analytics, TimeScale::default()).await
}

/// [`start`] with the caller's emulator and the delivery's time scale.
pub async fn start_local(
    port: u16,
    upstream: &str,
    analytics: Emulator,
    scale: TimeScale,
) -> Result<Front> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .context("binding the front's port")?;
    let addr = listener.local_addr()?;
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let injections: Arc<Mutex<Vec<Injection>>> = Arc::default();
    let hold: Arc<Hold> = Arc::default();
    let upstream = Arc::new(upstream.trim_end_matches('/').to_string());
    let delivery = Delivery::new(firehose::Config {
        time_scale: scale,
        ..firehose::Config::new(&upstream)
    });
    let front = Front {
        addr,
        log: log.clone(),
        injections: injections.clone(),
        hold: hold.clone(),
        delivery: delivery.clone(),
    };
    let local = Local {
        analytics,
        delivery,
    };
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (client, upstream, log, inj, ka, hold) = (
                client.clone(),
                upstream.clone(),
                log.clone(),
                injections.clone(),
                local.clone(),
                hold.clone(),
            );
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    // Who answers here (scripts/local-stack start, labctl --local).
                    if let Some(id) = crate::identity::answer(req.uri().path()) {
                        return futures::future::Either::Left(std::future::ready(Ok::<
                            _,
                            Infallible,
                        >(
                            identity_response(&id),
                        )));
                    }
                    futures::future::Either::Right(forward(
                        client.clone(),
                        upstream.clone(),
                        log.clone(),
                        inj.clone(),
                        hold.clone(),
                        ka.clone(),
                        req,
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(front)
}

/// The most requests a front remembers ([`Front::requests`]): a long `labctl-local dev`
/// run would otherwise grow its memory without end. Past it, the oldest half is
/// forgotten (a test sends far fewer; counts then cover the latest requests only).
pub const LOG_CAP: usize = 200_000;

/// Add `rec` to the request log, forgetting the oldest half once it holds `cap`.
fn remember(log: &mut Vec<Recorded>, rec: Recorded, cap: usize) {
    if log.len() >= cap {
        log.drain(..log.len() - cap / 2);
    }
    log.push(rec);
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn the_request_log_stays_within_its_cap_and_keeps_the_latest() {
        let mut log = Vec::new();
        for i in 0..1_000 {
            let rec = Recorded {
                service: "kinesis".into(),
                operation: format!("Op{i}"),
                mutating: false,
            };
            remember(&mut log, rec, 100);
            assert!(log.len() <= 100, "{} entries", log.len());
        }
        assert_eq!(log.last().map(|r| r.operation.as_str()), Some("Op999"));
        assert!(log.len() >= 50);
    }
}
