//! `-vv`: every AWS request as one line on stderr — service, operation, the resource it
//! targets, HTTP status, attempt and latency — from an SDK interceptor on every client.
//! Never prints headers, credentials or bodies (only the named resource is taken from the
//! body). Knows no resource kind, no spec and no command.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The tracing target of the request lines (shown at `-vv`: `labctl=trace`).
pub const TARGET: &str = "labctl::aws::requests";

/// The interceptor added to every client.
#[derive(Debug, Default)]
pub struct RequestLog;

/// What `read_before_transmit` saw of one attempt.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    target: String,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "labctl request log"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
            return Ok(());
        }
        let req = context.request();
        let body = req
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let target = target_of(req.uri(), &body);
        cfg.interceptor_state().store_put(Sent {
            at: Instant::now(),
            target,
        });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !tracing::enabled!(target: TARGET, tracing::Level::TRACE) {
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("?".into(), "?".into()));
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(|a| a.attempts())
            .unwrap_or(1);
        let sent = cfg.load::<Sent>();
        let ms = sent.map(|s| s.at.elapsed().as_millis()).unwrap_or(0);
        let target = sent.map(|s| s.target.clone()).unwrap_or_default();
        let status = match context.response() {
            Some(r) => r.status().as_u16().to_string(),
            None => match context.output_or_error() {
                Some(Err(e)) if e.is_timeout_error() => "timeout".into(),
                Some(Err(e)) if e.as_connector_error().is_some() => "no response".into(),
                _ => "-".into(),
            },
        };
        tracing::trace!(
            target: TARGET,
            "{service} {operation} {target} -> {status} (attempt {attempt}, {ms} ms)"
        );
        Ok(())
    }
}

/// The resource a request names: the first of the usual name fields in a JSON or
/// form-encoded body, else the URI path (S3: `/bucket/key`), else `-`.
pub fn target_of(uri: &str, body: &str) -> String {
    const FIELDS: [&str; 14] = [
        "StreamName",
        "StreamARN",
        "DeliveryStreamName",
        "ApplicationName",
        "RoleName",
        "PolicyArn",
        "PolicyName",
        "TopicArn",
        "AlarmName",
        "AlarmNames.member.1",
        "DashboardName",
        "DashboardNames.member.1",
        "logGroupName",
        "ResourceARN",
    ];
    if body.trim_start().starts_with('{') {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(body) {
            for f in FIELDS {
                if let Some(serde_json::Value::String(v)) = m.get(f) {
                    return v.clone();
                }
            }
        }
    } else if body.contains('=') {
        for pair in body.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if FIELDS.contains(&k) {
                    return urlencoding::decode(v)
                        .map(|s| s.into_owned())
                        .unwrap_or_else(|_| v.to_string());
                }
            }
        }
    }
    let path = uri
        .split_once("://")
        .map(|(_, r)| r.find('/').map(|i| &r[i..]).unwrap_or(""))
        .unwrap_or(uri);
    let path = path.split('?').next().unwrap_or("");
    if path.len() > 1 {
        path.to_string()
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn the_target_is_the_named_resource() {
        assert_eq!(
            target_of("https://kinesis.x/", r#"{"StreamName":"s1","Limit":2}"#),
            "s1"
        );
        assert_eq!(
            target_of(
                "https://iam.amazonaws.com/",
                "Action=GetRole&Version=2010-05-08&RoleName=lab%2Drole"
            ),
            "lab-role"
        );
        assert_eq!(
            target_of("https://s3.x.amazonaws.com/bucket/key?tagging", ""),
            "/bucket/key"
        );
        assert_eq!(target_of("https://sts.x/", "Action=GetCallerIdentity"), "-");
    }
}
