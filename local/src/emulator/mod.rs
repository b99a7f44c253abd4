//! The project's own control-plane emulator for the two Kinesis Analytics APIs, which
//! no offline emulator serves usably: v1 (`KinesisAnalytics_20150814.*`, SQL
//! applications) and v2 (`KinesisAnalytics_20180523.*`, Managed Service for Apache
//! Flink). It speaks the JSON 1.1 protocol the SDKs use and answers the operations
//! labctl calls (create, describe, list, start, stop, update, delete, tags, and v1's
//! DiscoverInputSchema) with the documented state machines (READY, STARTING, RUNNING,
//! UPDATING, STOPPING, FORCE_STOPPING, DELETING), required-field and version-id checks
//! and the documented error types.
//!
//! It is a control plane only: it never runs SQL or Flink, never reads the artifact,
//! and never writes to the output. Transitions take the times in [`Timing`], measured
//! lazily: a status moves on when someone looks after its deadline. The local front
//! ([`crate::front`]) hands it every request whose `X-Amz-Target` has one of the two
//! prefixes.

mod model;
mod v1;
mod v2;

pub use model::*;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

/// The emulator. Cheap to clone; clones share state and settings.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<Mutex<State>>,
    config: Arc<Mutex<Config>>,
}

impl Emulator {
    pub fn new(config: Config) -> Emulator {
        Emulator {
            state: Arc::default(),
            config: Arc::new(Mutex::new(config)),
        }
    }

    /// Change the transition times from now on (transitions under way keep theirs).
    pub fn set_timing(&self, timing: Timing) {
        if let Ok(mut c) = self.config.lock() {
            c.timing = timing;
        }
    }

    /// Refuse (or stop refusing) v1 CreateApplication as the discontinued service does.
    pub fn set_sql_discontinued(&self, on: bool) {
        if let Ok(mut c) = self.config.lock() {
            c.sql_discontinued = on;
        }
    }

    /// Finish every transition under way now, as if its time had passed.
    pub fn settle(&self) {
        if let Ok(mut s) = self.state.lock() {
            for app in s.apps.values_mut() {
                if let Some(t) = app.next.as_mut() {
                    t.at = Instant::now();
                }
            }
            advance(&mut s);
        }
    }

    /// The status of an application, for tests; None when absent.
    pub fn status(&self, api: Api, region: &str, name: &str) -> Option<String> {
        let mut s = self.state.lock().ok()?;
        advance(&mut s);
        s.apps
            .get(&(api, region.to_string(), name.to_string()))
            .map(|a| a.status.to_string())
    }

    /// Whether a request with this `X-Amz-Target` is the emulator's to answer.
    pub fn handles(target: &str) -> bool {
        target.starts_with(V1_PREFIX) || target.starts_with(V2_PREFIX)
    }

    /// Answer one request. `target` is the `X-Amz-Target` header, `region` the
    /// caller's region (see [`region_of`]).
    pub async fn answer(&self, target: &str, region: &str, body: &[u8]) -> Reply {
        let (api, op) = if let Some(op) = target.strip_prefix(V1_PREFIX) {
            (Api::V1, op)
        } else if let Some(op) = target.strip_prefix(V2_PREFIX) {
            (Api::V2, op)
        } else {
            return error_reply(err(
                "UnknownOperationException",
                format!("unknown target {target}"),
            ));
        };
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return error_reply(err(
                        "SerializationException",
                        "the request body is not a JSON object",
                    ))
                }
            }
        };
        let config = match self.config.lock() {
            Ok(c) => c.clone(),
            Err(_) => return error_reply(internal()),
        };
        // DiscoverInputSchema reads the stream: do it without holding the lock.
        if api == Api::V1 && op == "DiscoverInputSchema" {
            return match v1::discover(&config, region, &input).await {
                Ok(v) => Reply::ok(v),
                Err(e) => error_reply(e),
            };
        }
        let Ok(mut state) = self.state.lock() else {
            return error_reply(internal());
        };
        advance(&mut state);
        let mut call = Call {
            state: &mut state,
            config: &config,
            region,
            api,
        };
        let out = match api {
            Api::V1 => v1::dispatch(&mut call, op, &input),
            Api::V2 => v2::dispatch(&mut call, op, &input),
        };
        match out {
            Ok(v) => Reply::ok(v),
            Err(e) => error_reply(e),
        }
    }
}

fn internal() -> ApiError {
    ApiError {
        kind: "ServiceUnavailableException",
        message: "the emulator's state is unavailable".into(),
        status: 500,
    }
}

fn error_reply(e: ApiError) -> Reply {
    Reply {
        status: e.status,
        error_type: Some(e.kind.to_string()),
        body: json!({"__type": e.kind, "message": e.message}),
    }
}

/// Apply every transition whose time has come.
fn advance(state: &mut State) {
    let now = Instant::now();
    let mut gone = Vec::new();
    for (key, app) in state.apps.iter_mut() {
        if let Some(t) = &app.next {
            if t.at <= now {
                match t.to {
                    Some(s) => {
                        app.status = s;
                        app.next = None;
                    }
                    None => gone.push(key.clone()),
                }
            }
        }
    }
    for k in gone {
        state.apps.remove(&k);
    }
}

/// An emulator with these times, for the per-API modules' tests.
#[cfg(test)]
pub(crate) fn test_emulator(timing: Timing) -> Emulator {
    Emulator::new(Config {
        timing,
        ..Config::default()
    })
}

/// Shared by both APIs' tests: send a call and decode the answer.
#[cfg(test)]
pub(crate) async fn call(e: &Emulator, target: &str, body: Value) -> Reply {
    e.answer(target, "us-east-1", body.to_string().as_bytes())
        .await
}
