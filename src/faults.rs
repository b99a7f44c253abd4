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

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

use crate::produce::Rng;

type Body = Full<Bytes>;
type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

/// The error code given to the entries the proxy fails.
pub const CODE: &str = "ProvisionedThroughputExceededException";

/// A running fault proxy; it lives as long as its runtime.
#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    share: f64,
    rng: Mutex<Rng>,
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

async fn handle(
    client: Http,
    upstream: Arc<String>,
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(json_response(502, json!({"message": e.to_string()}))),
    };
    let is_put_records = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.ends_with(".PutRecords"));
    let split = if is_put_records {
        split(&state, &body)
    } else {
        None
    };
    let Some((doc, fail)) = split else {
        return Ok(match send(&client, &upstream, &parts, body).await {
            Ok((p, b)) => Response::from_parts(p, Full::new(b)),
            Err(e) => json_response(502, json!({"message": e})),
        });
    };
    state.calls.fetch_add(1, Ordering::SeqCst);
    let n_fail = fail.iter().filter(|f| **f).count() as u64;
    let n_keep = fail.len() as u64 - n_fail;
    if n_keep == 0 {
        state.failed.fetch_add(n_fail, Ordering::SeqCst);
        return Ok(json_response(200, merge(None, &fail)));
    }
    let body = Bytes::from(doc.to_string());
    let turn = state.one_at_a_time.lock().await;
    let sent = send(&client, &upstream, &parts, body).await;
    drop(turn);
    match sent {
        Ok((p, b)) if p.status.is_success() => {
            let theirs: Option<Value> = serde_json::from_slice(&b).ok();
            state.failed.fetch_add(n_fail, Ordering::SeqCst);
            state.passed.fetch_add(n_keep, Ordering::SeqCst);
            Ok(json_response(200, merge(theirs.as_ref(), &fail)))
        }
        // The whole call failed upstream: pass that on; nothing was stored.
        Ok((p, b)) => Ok(Response::from_parts(p, Full::new(b))),
        Err(e) => Ok(json_response(502, json!({"message": e}))),
    }
}

/// Start a fault proxy on 127.0.0.1 (port 0 = any free port) before `upstream`,
/// failing each PutRecords entry with probability `share`, drawn from `seed`.
/// Must be called inside a tokio runtime.
pub async fn start(port: u16, upstream: &str, share: f64, seed: u64) -> Result<FaultProxy> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .context("binding the fault proxy's port")?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        share: share.clamp(0.0, 1.0),
        rng: Mutex::new(Rng::new(seed)),
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
