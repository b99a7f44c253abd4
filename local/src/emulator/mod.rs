//! The project's own control-plane emulator for the two Kinesis Analytics APIs, which
//! no offline emulator serves usably: v1 (`KinesisAnalytics_20150814.*`, SQL
//! applications) and v2 (`KinesisAnalytics_20180523.*`, Managed Service for Apache
//! Flink). It speaks the JSON 1.1 protocol the SDKs use and answers the operations
//! labctl calls (create, describe, list, start, stop, update, delete, tags, and v1's
//! DiscoverInputSchema) with the documented state machines (READY, STARTING, RUNNING,
//! UPDATING, STOPPING, FORCE_STOPPING, DELETING), required-field and version-id checks
//! and the documented error types.
//!
//! By default it is a control plane only: it never runs SQL or Flink, never reads the
//! artifact, and never writes to the output. Transitions take the times in [`Timing`],
//! measured lazily: a status moves on when someone looks after its deadline. With a
//! Flink runtime ([`Emulator::with_flink`], when the local stack has PyFlink and
//! Java), a started v2 application runs its own job ([`crate::flink`]) and its status
//! follows the job: RUNNING once the job runs, READY when it cannot be submitted or
//! when a stop has ended the process. v1 (SQL) stays a control plane. The local front
//! ([`crate::front`]) hands it every request whose `X-Amz-Target` has one of the two
//! prefixes.

pub(crate) mod model;
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
    flink: Option<Arc<crate::flink::Runner>>,
}

impl Emulator {
    pub fn new(config: Config) -> Emulator {
        Emulator {
            state: Arc::default(),
            config: Arc::new(Mutex::new(config)),
            flink: None,
        }
    }

    /// Whether started Flink applications run their job ([`Emulator::with_flink`]);
    /// without, the v2 API is a control plane only (the front says so).
    pub fn runs_jobs(&self) -> bool {
        self.flink.is_some()
    }

    /// Run the job of every started Flink application with this runner.
    pub fn with_flink(mut self, runner: crate::flink::Runner) -> Emulator {
        if let Ok(mut c) = self.config.lock() {
            c.run_jobs = true;
        }
        self.flink = Some(Arc::new(runner));
        self
    }

    /// The test hook: the next v2 StartApplication fails (STARTING, then READY after
    /// the start time) and writes `lines` as ERROR events to the application's log
    /// stream, as Managed Flink does for a job that cannot be submitted. Also reachable
    /// over HTTP as the v2 target `LabctlTestFailNextStart` with `{"Lines": [...]}`.
    pub fn fail_next_start(&self, lines: Vec<String>) {
        if let Ok(mut s) = self.state.lock() {
            s.fail_next_start = Some(lines);
        }
    }

    /// The process ids of the Flink jobs running now (empty without a runtime).
    pub fn job_pids(&self) -> Vec<u32> {
        self.flink.as_ref().map(|r| r.pids()).unwrap_or_default()
    }

    /// What a job reports: its application's status moves on.
    fn job_state(&self, key: &AppKey, state: crate::flink::JobState) {
        use crate::flink::JobState;
        let Ok(mut s) = self.state.lock() else { return };
        let Some(app) = s.apps.get_mut(key) else {
            return;
        };
        let to = match (state, app.status) {
            (JobState::Running, "STARTING") => "RUNNING",
            (JobState::FailedToStart, "STARTING") => "READY",
            (JobState::Stopped, "STOPPING" | "FORCE_STOPPING" | "STARTING" | "RUNNING") => "READY",
            _ => return,
        };
        tracing::info!(app = %key.2, from = app.status, to, "job state");
        app.status = to;
        app.next = None;
    }

    /// Do what the last call left for after the lock (see [`Effect`]).
    async fn run_effects(&self, effects: Vec<Effect>, config: &Config) {
        for e in effects {
            match e {
                Effect::Log {
                    region,
                    arn,
                    version,
                    log_stream_arn,
                    lines,
                } => {
                    let Some(moto) = config.kinesis_endpoint.as_deref() else {
                        continue;
                    };
                    let m = crate::flink::moto::Moto::new(moto);
                    let events = crate::flink::log_events(&arn, version, &lines);
                    if let Err(e) = m.put_log_events(&region, &log_stream_arn, &events).await {
                        tracing::warn!(error = %format!("{e:#}"), "writing the application's log events");
                    }
                }
                Effect::Launch {
                    key,
                    arn,
                    version,
                    detail,
                } => {
                    let Some(runner) = self.flink.clone() else {
                        continue;
                    };
                    let me = self.clone();
                    let k = key.clone();
                    runner.launch(
                        crate::flink::JobSpec {
                            key,
                            arn,
                            version,
                            detail,
                        },
                        Arc::new(move |st| me.job_state(&k, st)),
                    );
                }
                Effect::Stop { key, force } => {
                    if let Some(runner) = &self.flink {
                        runner.stop(&key, force);
                    }
                }
            }
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
        let (out, effects) = {
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
            (out, std::mem::take(&mut state.effects))
        };
        self.run_effects(effects, &config).await;
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
