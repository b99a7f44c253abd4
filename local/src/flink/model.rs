//! What the runtime, its jobs and the emulator share: a job's spec and states, the
//! runner's settings, Managed Flink's log event shape and the application properties
//! file. Must not know how a job is run or how the emulator stores applications.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::emulator::model::{now_millis, AppKey};

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
    /// jobs; see [`super::job`]).
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

/// Managed Flink's log event shape (JSON with `messageType`, `message`,
/// `applicationARN`, `applicationVersionId`, …: developer guide, "Analyze logs with
/// CloudWatch Logs Insights"), as ERROR events stamped now.
pub fn log_events(arn: &str, version: i64, lines: &[String]) -> Vec<(i64, String)> {
    let now = now_millis();
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
