//! The front's side of the contract check: a [`Checks`] holds every request a front receives
//! to the loaded models, and keeps the tally and each failure (violations, unidentified
//! requests) for whoever registered it (the test harness) to read and assert on.
//!
//! A front looks its `Checks` up by its upstream URL for each request ([`for_upstream`]): every
//! front of one test stack forwards to that stack's own moto, so fronts a test starts itself
//! (with its own emulator) are checked too, and parallel tests never mix their results.
//! It knows nothing of how the front forwards or answers, nor of what a test asserts.

use super::{CheckError, Contract, HttpRequest, Tally};
use std::sync::{Arc, Mutex};

/// One request that did not pass.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `METHOD /path?query` as it arrived.
    pub request: String,
    pub error: CheckError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            CheckError::Violations(vs) => {
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(
                        f,
                        "{} {}: member {}: rule {} [{}] (got {})",
                        v.service,
                        v.operation,
                        v.member,
                        v.rule.name(),
                        v.rule,
                        v.value
                    )?;
                }
                Ok(())
            }
            CheckError::Unidentified(why) => {
                write!(f, "unidentified request {}: {why}", self.request)
            }
        }
    }
}

#[derive(Default)]
struct State {
    tally: Tally,
    failures: Vec<Failure>,
}

/// The check of one front (or of every front forwarding to one upstream).
pub struct Checks {
    contract: Arc<Contract>,
    state: Mutex<State>,
}

impl Checks {
    pub fn new(contract: Arc<Contract>) -> Arc<Checks> {
        Arc::new(Checks {
            contract,
            state: Mutex::default(),
        })
    }

    /// Checks one request as the front received it and records the result.
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &hyper::HeaderMap,
        body: &[u8],
    ) {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let req = HttpRequest {
            method,
            path_and_query,
            headers: &headers,
            body,
        };
        let result = self.contract.check(&req);
        if let Ok(mut s) = self.state.lock() {
            s.tally.record(&result);
            if let Err(error) = result {
                s.failures.push(Failure {
                    request: format!("{method} {path_and_query}"),
                    error,
                });
            }
        }
    }

    /// What was checked so far.
    pub fn tally(&self) -> Tally {
        self.state
            .lock()
            .map(|s| s.tally.clone())
            .unwrap_or_default()
    }

    /// The failures so far, forgotten once taken (the tally keeps counting them).
    pub fn take_failures(&self) -> Vec<Failure> {
        self.state
            .lock()
            .map(|mut s| std::mem::take(&mut s.failures))
            .unwrap_or_default()
    }
}

static REGISTRY: Mutex<Vec<(String, Arc<Checks>)>> = Mutex::new(Vec::new());

fn key(upstream: &str) -> String {
    upstream.trim_end_matches('/').to_string()
}

/// Every request a front forwarding to `upstream` receives from now on goes to `checks`.
pub fn register(upstream: &str, checks: Arc<Checks>) {
    if let Ok(mut r) = REGISTRY.lock() {
        r.retain(|(u, _)| *u != key(upstream));
        r.push((key(upstream), checks));
    }
}

/// Stop checking requests for `upstream`.
pub fn unregister(upstream: &str) {
    if let Ok(mut r) = REGISTRY.lock() {
        r.retain(|(u, _)| *u != key(upstream));
    }
}

/// The `Checks` registered for `upstream`, if any (the front asks for each request).
pub fn for_upstream(upstream: &str) -> Option<Arc<Checks>> {
    REGISTRY.lock().ok().and_then(|r| {
        r.iter()
            .find(|(u, _)| *u == key(upstream))
            .map(|(_, c)| c.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::contract;
    use super::*;

    fn loaded() -> Arc<Contract> {
        // The shared test contract is a &'static; the hook wants an Arc of its own.
        let c = contract();
        Arc::new(Contract::load(c.data_dir(), super::super::LABCTL_SERVICES).expect("models"))
    }

    #[test]
    fn records_passes_violations_and_unidentified() {
        let checks = Checks::new(loaded());
        let mut h = hyper::HeaderMap::new();
        h.insert(
            "authorization",
            hyper::header::HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0",
            ),
        );
        h.insert(
            "x-amz-target",
            hyper::header::HeaderValue::from_static("Kinesis_20131202.CreateStream"),
        );
        checks.check("POST", "/", &h, br#"{"StreamName":"ok-name"}"#);
        checks.check("POST", "/", &h, br#"{"StreamName":"bad name!"}"#);
        checks.check("GET", "/", &hyper::HeaderMap::new(), b"");
        let t = checks.tally();
        assert_eq!((t.requests(), t.violations(), t.unidentified()), (2, 1, 1));
        let failures = checks.take_failures();
        assert_eq!(failures.len(), 2);
        let text = failures[0].to_string();
        assert!(
            text.contains("CreateStream") && text.contains("member StreamName: rule pattern"),
            "{text}"
        );
        assert!(failures[1]
            .to_string()
            .starts_with("unidentified request GET /"));
        assert!(checks.take_failures().is_empty());
    }

    #[test]
    fn fronts_find_their_checks_by_upstream() {
        let checks = Checks::new(loaded());
        register("http://127.0.0.1:1/", checks.clone());
        assert!(for_upstream("http://127.0.0.1:1").is_some());
        assert!(for_upstream("http://127.0.0.1:2").is_none());
        unregister("http://127.0.0.1:1");
        assert!(for_upstream("http://127.0.0.1:1").is_none());
    }
}
