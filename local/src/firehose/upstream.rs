//! Calls from the delivery to the emulator behind the front (moto): Kinesis and Firehose
//! JSON calls, S3 PutObject (path style) and CloudWatch PutMetricData (query protocol).
//!
//! Requests carry a SigV4-shaped `Authorization` header whose credential scope names the
//! region and the service (moto routes on the service and keeps state per region); the
//! signature is a placeholder, which moto does not verify. Nothing here would pass against
//! AWS, and nothing here is meant to: the delivery only ever talks to the local stack.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::prefix::{now_millis, Utc};

/// An AWS error answered by the emulator.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub status: u16,
    /// `__type` (JSON) or `<Code>` (XML), without any namespace.
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// A SigV4-shaped Authorization header for `service` in `region` (not a valid signature).
pub fn fake_authorization(service: &str, region: &str, t: &Utc) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=LABCTLLOCALDELIVERY/{:04}{:02}{:02}/{region}/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature={}",
        t.year,
        t.month,
        t.day,
        "0".repeat(64)
    )
}

/// Percent-encode an S3 key for a path (`/` kept), as SigV4 canonical URIs do.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Form-encode a query-protocol value.
pub fn encode_form(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

impl Upstream {
    /// `base` is the emulator's URL, e.g. `http://127.0.0.1:4566`.
    pub fn new(base: &str) -> Upstream {
        Upstream {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        let resp = self
            .client
            .request(req)
            .await
            .context("the local stack is unreachable")?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading the local stack's answer")?
            .to_bytes();
        Ok((status, body))
    }

    /// A JSON-protocol call (`Kinesis_20131202.GetRecords`, `Firehose_20150804.…`).
    /// Non-2xx answers come back as an [`AwsError`] inside the `anyhow::Error`.
    pub async fn json(
        &self,
        service: &str,
        region: &str,
        target: &str,
        body: &Value,
    ) -> Result<Value> {
        let t = Utc::from_millis(now_millis());
        let req = Request::post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header("x-amz-date", t.amz_date())
            .header("authorization", fake_authorization(service, region, &t))
            .body(Full::new(Bytes::from(body.to_string())))?;
        let (status, bytes) = self.send(req).await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let code = v
                .get("__type")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .unwrap_or_else(|| "UnknownError".into());
            let message = v
                .get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return Err(anyhow!(AwsError {
                status,
                code,
                message
            }));
        }
        Ok(v)
    }

    pub async fn kinesis(&self, region: &str, op: &str, body: &Value) -> Result<Value> {
        self.json("kinesis", region, &format!("Kinesis_20131202.{op}"), body)
            .await
    }

    pub async fn firehose(&self, region: &str, op: &str, body: &Value) -> Result<Value> {
        self.json("firehose", region, &format!("Firehose_20150804.{op}"), body)
            .await
    }

    /// S3 PutObject, path style.
    pub async fn put_object(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        body: Bytes,
    ) -> Result<()> {
        let t = Utc::from_millis(now_millis());
        let req = Request::put(format!("{}/{}/{}", self.base, bucket, encode_key(key)))
            .header("content-type", "application/octet-stream")
            .header("content-length", body.len())
            .header("x-amz-date", t.amz_date())
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("authorization", fake_authorization("s3", region, &t))
            .body(Full::new(body))?;
        let (status, bytes) = self.send(req).await?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes);
            bail!(AwsError {
                status,
                code: xml_tag(&text, "Code").unwrap_or("UnknownError").to_string(),
                message: xml_tag(&text, "Message").unwrap_or("").to_string(),
            });
        }
        Ok(())
    }

    /// A query-protocol call to CloudWatch (`monitoring`); `form` is the encoded body
    /// without `Action`/`Version`.
    pub async fn cloudwatch(&self, region: &str, action: &str, form: &str) -> Result<String> {
        let t = Utc::from_millis(now_millis());
        let body = format!("Action={action}&Version=2010-08-01&{form}");
        let req = Request::post(format!("{}/", self.base))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("x-amz-date", t.amz_date())
            .header(
                "authorization",
                fake_authorization("monitoring", region, &t),
            )
            .body(Full::new(Bytes::from(body)))?;
        let (status, bytes) = self.send(req).await?;
        let text = String::from_utf8_lossy(&bytes).to_string();
        if !(200..300).contains(&status) {
            bail!(AwsError {
                status,
                code: xml_tag(&text, "Code").unwrap_or("UnknownError").to_string(),
                message: xml_tag(&text, "Message").unwrap_or("").to_string(),
            });
        }
        Ok(text)
    }
}

/// The [`AwsError`] code of an upstream failure, if it was one.
pub fn error_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<AwsError>().map(|a| a.code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_and_forms() {
        assert_eq!(
            encode_key("raw-stream/year=2026/a b+c"),
            "raw-stream/year%3D2026/a%20b%2Bc"
        );
        assert_eq!(encode_form("AWS/Firehose"), "AWS%2FFirehose");
        let t = Utc::from_millis(0);
        assert!(fake_authorization("s3", "eu-west-1", &t)
            .contains("Credential=LABCTLLOCALDELIVERY/19700101/eu-west-1/s3/aws4_request"));
    }
}
