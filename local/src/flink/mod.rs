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
pub mod moto;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::emulator::AppKey;

/// What a job tells the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// The Flink job runs (Flink's REST API says RUNNING).
    Running,
    /// The job could not be submitted: the process ended before the job ran.
    FailedToStart,
    /// A stop ended the process.
    Stopped,
}

/// A started application, as the emulator describes it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub key: AppKey,
    pub arn: String,
    pub version: i64,
    /// The application's description fields (`ApplicationConfigurationDescription`,
    /// `CloudWatchLoggingOptionDescriptions`, …).
    pub detail: Map<String, Value>,
}

pub type OnState = Arc<dyn Fn(JobState) + Send + Sync>;

/// Settings of the runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The PyFlink python (`.labctl/pyflink/bin/python`).
    pub python: PathBuf,
    /// moto, for S3, CloudWatch Logs and CloudWatch.
    pub moto: String,
    /// The front's own URL: the connectors' endpoint.
    pub front: String,
    /// How often metrics are published: 15 s (four samples a minute, as Managed Flink).
    pub metrics_every: Duration,
    /// How long after a job died it is started again (Managed Flink restarts failed
    /// jobs; see [`job`]).
    pub restart_delay: Duration,
}

impl RunnerConfig {
    pub fn new(python: PathBuf, moto: &str, front: &str) -> RunnerConfig {
        RunnerConfig {
            python,
            moto: moto.trim_end_matches('/').to_string(),
            front: front.trim_end_matches('/').to_string(),
            metrics_every: Duration::from_secs(15),
            restart_delay: Duration::from_secs(10),
        }
    }
}

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

/// Managed Flink's log event shape (JSON with `messageType`, `message`,
/// `applicationARN`, `applicationVersionId`, …: developer guide, "Analyze logs with
/// CloudWatch Logs Insights"), as ERROR events stamped now.
pub fn log_events(arn: &str, version: i64, lines: &[String]) -> Vec<(i64, String)> {
    let now = crate::emulator::now_millis();
    lines
        .iter()
        .map(|l| {
            (
                now,
                json!({
                    "locationInformation": "labctl-local",
                    "logger": "labctl.local.flink",
                    "message": l,
                    "threadName": "main",
                    "applicationARN": arn,
                    "applicationVersionId": version.to_string(),
                    "messageSchemaVersion": "1",
                    "messageType": "ERROR",
                })
                .to_string(),
            )
        })
        .collect()
}

/// `application_properties.json` as Managed Flink writes it (a list of
/// `{PropertyGroupId, PropertyMap}`), from the description's property groups, with
/// the local-only connector keys added to PipelineProperties.
pub fn properties_json(detail: &Map<String, Value>, front: &str) -> Value {
    let mut groups: Vec<Value> = detail
        .get("ApplicationConfigurationDescription")
        .and_then(|c| c.get("EnvironmentPropertyDescriptions"))
        .and_then(|e| e.get("PropertyGroupDescriptions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let local = local_connector_keys(front);
    match groups
        .iter_mut()
        .find(|g| g["PropertyGroupId"] == "PipelineProperties")
    {
        Some(g) => {
            if let Some(m) = g["PropertyMap"].as_object_mut() {
                for (k, v) in local {
                    m.entry(k).or_insert(Value::String(v));
                }
            }
        }
        None => {
            let m: Map<String, Value> = local.into_iter().map(|(k, v)| (k, json!(v))).collect();
            groups.push(json!({"PropertyGroupId": "PipelineProperties", "PropertyMap": m}));
        }
    }
    Value::Array(groups)
}

/// The keys only a local run needs (main.py adds `connector.<id>.<option>` to the
/// table of that connector; see docs/local-stack.md): the endpoint,
/// BASIC test credentials, and HTTP/1.1 for the Firehose sink (its HTTP/2 default is
/// h2c with prior knowledge over http, which the local stack does not speak).
pub fn local_connector_keys(front: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for id in ["kinesis", "firehose"] {
        let p = format!("connector.{id}.aws.");
        out.push((format!("{p}endpoint"), front.to_string()));
        out.push((format!("{p}credentials.provider"), "BASIC".into()));
        out.push((
            format!("{p}credentials.basic.accesskeyid"),
            "testing".into(),
        ));
        out.push((format!("{p}credentials.basic.secretkey"), "testing".into()));
    }
    out.push((
        "connector.firehose.aws.http.protocol.version".into(),
        "HTTP1_1".into(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_add_local_keys_to_the_pipeline_group_only() {
        let d: Map<String, Value> = serde_json::from_value(json!({
            "ApplicationConfigurationDescription": {"EnvironmentPropertyDescriptions": {"PropertyGroupDescriptions": [
                {"PropertyGroupId": "kinesis.analytics.flink.run.options", "PropertyMap": {"python": "main.py", "jarfile": "lib/c.jar"}},
                {"PropertyGroupId": "PipelineProperties", "PropertyMap": {"aws.region": "us-east-1"}}
            ]}}
        }))
        .unwrap_or_default();
        let p = properties_json(&d, "http://127.0.0.1:9");
        let groups = p.as_array().cloned().unwrap_or_default();
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0]["PropertyMap"].as_object().map(|m| m.len()),
            Some(2)
        );
        let pipe = &groups[1]["PropertyMap"];
        assert_eq!(pipe["aws.region"], "us-east-1");
        assert_eq!(pipe["connector.kinesis.aws.endpoint"], "http://127.0.0.1:9");
        assert_eq!(pipe["connector.firehose.aws.credentials.provider"], "BASIC");
        assert_eq!(
            pipe["connector.firehose.aws.http.protocol.version"],
            "HTTP1_1"
        );
        let ev = log_events("arn:a", 3, &["boom".into()]);
        let v: Value = serde_json::from_str(&ev[0].1).unwrap_or_default();
        assert_eq!(
            (v["messageType"].as_str(), v["message"].as_str()),
            (Some("ERROR"), Some("boom"))
        );
    }
}
