//! The local Flink runtime: runs a started Managed Flink application's own job, as
//! Managed Service for Apache Flink would, when the local stack has PyFlink and Java.
//! For each StartApplication the emulator hands over, [`Runner::launch`] fetches the
//! application's code zip from the local S3 (its S3ContentLocation), unpacks it into a
//! private temporary directory, writes `application_properties.json` from the
//! application's EnvironmentProperties plus the local-only connector keys (endpoints =
//! the front, BASIC test credentials, HTTP/1.1 for the Firehose sink), and runs
//! `python main.py` (see [`job`]). The job's state goes back through a callback
//! ([`JobState`]); its error lines go to the application's CloudWatch Logs stream and
//! its counters to CloudWatch (`AWS/KinesisAnalytics`, dimension `Application`).
//!
//! It knows nothing of the Kinesis Analytics API or of the emulator's store: it gets a
//! [`JobSpec`] (key, ARN, version, the application's description) and reports states.

pub mod job;
mod model;
pub mod moto;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::emulator::model::AppKey;
pub use model::{
    local_connector_keys, log_events, properties_json, JobSpec, JobState, OnState, RunnerConfig,
};

/// Runs jobs; one per application key at a time.
pub struct Runner {
    config: RunnerConfig,
    jobs: Mutex<HashMap<AppKey, job::Control>>,
}

/// Why the runtime is off, or None when `python` (with PyFlink) and `java` both run.
pub fn missing(python: &Path) -> Option<String> {
    let py = std::process::Command::new(python)
        .args(["-c", "import pyflink"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(py, Ok(s) if s.success()) {
        return Some(format!(
            "{} cannot import pyflink (run `scripts/pyflink install`)",
            python.display()
        ));
    }
    let java = std::process::Command::new("java")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(java, Ok(s) if s.success()) {
        return Some("no `java` on PATH (PyFlink needs Java 11 or 17)".into());
    }
    None
}

impl Runner {
    pub fn new(config: RunnerConfig) -> Runner {
        Runner {
            config,
            jobs: Mutex::default(),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Start the application's job in the background; `on_state` hears how it goes.
    pub fn launch(self: &Arc<Self>, spec: JobSpec, on_state: OnState) {
        let control = job::Control::default();
        if let Ok(mut jobs) = self.jobs.lock() {
            if let Some(old) = jobs.insert(spec.key.clone(), control.clone()) {
                old.stop(true);
            }
        }
        let me = self.clone();
        tokio::spawn(async move {
            let key = spec.key.clone();
            job::supervise(&me.config, spec, on_state, control.clone()).await;
            if let Ok(mut jobs) = me.jobs.lock() {
                if jobs.get(&key).is_some_and(|c| c.same(&control)) {
                    jobs.remove(&key);
                }
            }
        });
    }

    /// Stop the application's job (`force`: kill it at once).
    pub fn stop(&self, key: &AppKey, force: bool) {
        let c = self.jobs.lock().ok().and_then(|j| j.get(key).cloned());
        if let Some(c) = c {
            c.stop(force);
        }
    }

    /// The process ids of the jobs running now (tests check that a stop ends them).
    pub fn pids(&self) -> Vec<u32> {
        self.jobs
            .lock()
            .map(|j| j.values().filter_map(|c| c.pid()).collect())
            .unwrap_or_default()
    }
}
