//! The runner's calls to moto (the emulated AWS behind the front): S3 GetObject (path
//! style) for the code zip, CloudWatch Logs PutLogEvents (JSON 1.1) for the
//! application's log stream, CloudWatch PutMetricData (query protocol) for its
//! metrics. Requests carry a SigV4-shaped Authorization header whose credential scope
//! names region and service (moto routes on them and keeps state per region); moto
//! checks no signature. Only ever used against the local stack.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

#[derive(Clone)]
pub struct Moto {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

fn auth(service: &str, region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=LABCTLLOCALFLINK/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature={}",
        "0".repeat(64)
    )
}

/// Percent-encoding for paths (`/` kept) and form values.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Group and stream of `arn:aws:logs:<region>:<account>:log-group:<g>:log-stream:<s>`.
pub fn log_stream_parts(arn: &str) -> Option<(String, String)> {
    let rest = arn.split_once(":log-group:")?.1;
    let (g, s) = rest.split_once(":log-stream:")?;
    Some((g.to_string(), s.to_string()))
}

impl Moto {
    pub fn new(base: &str) -> Moto {
        Moto {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        let resp = self
            .client
            .request(req)
            .await
            .context("moto is unreachable")?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading moto's answer")?
            .to_bytes();
        Ok((status, body))
    }

    /// S3 GetObject, path style.
    pub async fn get_object(&self, region: &str, bucket: &str, key: &str) -> Result<Bytes> {
        let req = Request::get(format!("{}/{bucket}/{}", self.base, encode(key, true)))
            .header("authorization", auth("s3", region))
            .body(Full::new(Bytes::new()))?;
        let (status, body) = self.send(req).await?;
        if status != 200 {
            bail!(
                "GetObject s3://{bucket}/{key}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    async fn logs(&self, region: &str, op: &str, body: &Value) -> Result<(u16, String)> {
        let req = Request::post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Logs_20140328.{op}"))
            .header("authorization", auth("logs", region))
            .body(Full::new(Bytes::from(body.to_string())))?;
        let (status, b) = self.send(req).await?;
        Ok((status, String::from_utf8_lossy(&b).into_owned()))
    }

    /// PutLogEvents to the stream of `log_stream_arn` (created when missing); `events`
    /// are (epoch milliseconds, message), oldest first.
    pub async fn put_log_events(
        &self,
        region: &str,
        log_stream_arn: &str,
        events: &[(i64, String)],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let Some((group, stream)) = log_stream_parts(log_stream_arn) else {
            bail!("{log_stream_arn} is not a log stream ARN");
        };
        let evs: Vec<Value> = events
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect();
        let body = json!({"logGroupName": group, "logStreamName": stream, "logEvents": evs});
        let (status, text) = self.logs(region, "PutLogEvents", &body).await?;
        if status == 200 {
            return Ok(());
        }
        if text.contains("ResourceNotFoundException") {
            let g = json!({"logGroupName": group});
            let _ = self.logs(region, "CreateLogGroup", &g).await?;
            let s = json!({"logGroupName": group, "logStreamName": stream});
            let _ = self.logs(region, "CreateLogStream", &s).await?;
            let (status, text) = self.logs(region, "PutLogEvents", &body).await?;
            if status == 200 {
                return Ok(());
            }
            bail!("PutLogEvents to {group}/{stream}: {status} {text}");
        }
        bail!("PutLogEvents to {group}/{stream}: {status} {text}")
    }

    /// PutMetricData (query protocol): `data` are (name, unit, value), all with the
    /// one dimension given.
    pub async fn put_metric_data(
        &self,
        region: &str,
        namespace: &str,
        dimension: (&str, &str),
        data: &[(&str, &str, f64)],
    ) -> Result<()> {
        let mut form = format!(
            "Action=PutMetricData&Version=2010-08-01&Namespace={}",
            encode(namespace, false)
        );
        for (i, (name, unit, value)) in data.iter().enumerate() {
            let m = format!("MetricData.member.{}", i + 1);
            form.push_str(&format!(
                "&{m}.MetricName={}&{m}.Unit={unit}&{m}.Value={value}&{m}.Dimensions.member.1.Name={}&{m}.Dimensions.member.1.Value={}",
                encode(name, false),
                encode(dimension.0, false),
                encode(dimension.1, false)
            ));
        }
        let req = Request::post(format!("{}/", self.base))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("authorization", auth("monitoring", region))
            .body(Full::new(Bytes::from(form)))?;
        let (status, body) = self.send(req).await?;
        if status != 200 {
            bail!("PutMetricData: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_stream_arns_split() {
        assert_eq!(
            log_stream_parts("arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/a:log-stream:s"),
            Some(("/aws/kinesis-analytics/a".into(), "s".into()))
        );
        assert_eq!(log_stream_parts("arn:aws:s3:::b"), None);
        assert_eq!(encode("a b/c", true), "a%20b/c");
    }
}
