//! What S3 checks that moto does not, checked by the front before a request reaches
//! moto, and what the front refuses to pass on at all:
//!
//! - `x-amz-expected-bucket-owner`: S3 answers 403 Access Denied when the bucket's
//!   owner is not that account (S3 User Guide, "Verifying bucket ownership with bucket
//!   owner condition": https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html).
//!   moto 5.2.5 ignores the header and serves any account's bucket; the front asks moto
//!   whether the expected account lists the bucket (moto keeps one set of buckets per
//!   account and reads the account from `x-moto-account-id`).
//! - `x-amz-checksum-sha256` on a PutObject: S3 refuses a body whose SHA-256 is not the
//!   one given (400 BadDigest; PutObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html);
//!   moto stores the header's value as given.
//! - `/moto-api/*`: moto's own control API (reset, seed, state dumps) is not AWS and is
//!   never forwarded: anyone who reaches the front must not reach it.
//! - Request bodies above [`MAX_BODY`] are refused (413) before they are read whole.
//! - `aws:SecureTransport`: moto evaluates a bucket policy's Deny without the request's
//!   context, so labctl's TLS-only policy (deny when `aws:SecureTransport` is false)
//!   would deny every request. The front stands for the TLS endpoint AWS would be (the
//!   key is true there): it hands moto the policy without the statements conditioned on
//!   that key and answers GetBucketPolicy with the policy as it was put
//!   ([`BucketPolicies`]).
//!
//! - Tags on `CreateStream`: Kinesis tags the new stream with them (CreateStream,
//!   `Tags`: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html);
//!   moto 5.2.5 ignores them. After moto created the stream, the front gives it the
//!   same tags with AddTagsToStream ([`stream_tags`], [`tag_created_stream`]).
//!
//! Knows S3's REST shapes (path-style requests) and moto's account header, nothing of
//! labctl.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{HeaderMap, Method, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};

type Body = Full<Bytes>;

/// The largest request body the front reads: well above labctl's largest request (a
/// Flink artifact zip with its connector jar, about 80 MB) and far below what would
/// exhaust the machine.
pub const MAX_BODY: usize = 256 << 20;

/// Whether a request path is moto's control API.
pub fn is_moto_api(path_and_query: &str) -> bool {
    path_and_query == "/moto-api" || path_and_query.starts_with("/moto-api/")
}

/// An S3 error answer (REST-XML), without a body for HEAD (S3 sends none).
pub fn s3_error(method: &Method, status: u16, code: &str, message: &str) -> Response<Body> {
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ))
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::FORBIDDEN);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    r
}

/// The bucket of a path-style S3 request (`/bucket/key?…`), if any.
fn bucket_of(path_and_query: &str) -> Option<&str> {
    let path = path_and_query.split('?').next()?;
    let b = path.trim_start_matches('/').split('/').next()?;
    (!b.is_empty()).then_some(b)
}

fn is_s3(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        == Some("s3")
}

/// Lowercase hex to base64 (standard alphabet, padded): S3's checksum headers carry
/// base64 digests.
fn hex_to_base64(hex: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A PutObject whose `x-amz-checksum-sha256` is not its body's SHA-256: S3's 400
/// BadDigest. Streaming (aws-chunked) bodies carry the checksum in a trailer and are
/// left to moto.
pub fn bad_checksum(method: &Method, headers: &HeaderMap, body: &[u8]) -> Option<Response<Body>> {
    if method != Method::PUT || !is_s3(headers) {
        return None;
    }
    let given = headers.get("x-amz-checksum-sha256")?.to_str().ok()?;
    let chunked = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("aws-chunked"));
    if chunked {
        return None;
    }
    let actual = hex_to_base64(&labctl::artifact::sha256_hex(body));
    (given != actual).then(|| {
        s3_error(
            method,
            400,
            "BadDigest",
            "The SHA256 you specified did not match the calculated checksum.",
        )
    })
}

/// A request naming an expected bucket owner that does not own the bucket: S3's 403.
/// Asks moto for the expected account's buckets (ListBuckets as that account), and
/// whether the bucket exists at all (a missing bucket stays moto's 404).
pub async fn wrong_owner(
    client: &Client<HttpConnector, Body>,
    upstream: &str,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if !is_s3(headers) {
        return None;
    }
    let expected = headers
        .get("x-amz-expected-bucket-owner")?
        .to_str()
        .ok()?
        .to_string();
    let bucket = bucket_of(path_and_query)?.to_string();
    let ask = |m: Method, path: String, account: Option<&str>| {
        let mut r = hyper::Request::builder()
            .method(m)
            .uri(format!("{upstream}{path}"));
        for name in ["authorization", "x-amz-date", "x-amz-content-sha256"] {
            if let Some(v) = headers.get(name) {
                r = r.header(name, v);
            }
        }
        if let Some(a) = account {
            r = r.header("x-moto-account-id", a);
        }
        r.body(Full::new(Bytes::new())).ok()
    };
    let owned = client
        .request(ask(Method::GET, "/".into(), Some(&expected))?)
        .await
        .ok()?;
    let listed = http_body_util::BodyExt::collect(owned.into_body())
        .await
        .ok()?
        .to_bytes();
    let text = String::from_utf8_lossy(&listed);
    if text.contains(&format!("<Name>{bucket}</Name>")) {
        return None;
    }
    let exists = client
        .request(ask(Method::HEAD, format!("/{bucket}"), None)?)
        .await
        .ok()?
        .status()
        .is_success();
    exists.then(|| s3_error(method, 403, "AccessDenied", "Access Denied"))
}

/// The front's answer instead of forwarding, if it refuses the request: moto's control
/// API, a PutObject whose SHA-256 is wrong, a bucket another account owns.
pub async fn refuse(
    client: &Client<HttpConnector, Body>,
    upstream: &str,
    parts: &hyper::http::request::Parts,
    path_and_query: &str,
    body: &[u8],
) -> Option<Response<Body>> {
    if is_moto_api(path_and_query) {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"front: moto's control API is not forwarded",
        )));
        *r.status_mut() = hyper::StatusCode::FORBIDDEN;
        return Some(r);
    }
    if let Some(r) = bad_checksum(&parts.method, &parts.headers, body) {
        return Some(r);
    }
    wrong_owner(
        client,
        upstream,
        &parts.method,
        path_and_query,
        &parts.headers,
    )
    .await
}

/// Bucket policies as labctl put them, by upstream and bucket, where moto holds a copy
/// without the `aws:SecureTransport` statements (see the module's doc).
#[derive(Default)]
pub struct BucketPolicies(std::sync::Mutex<std::collections::HashMap<(String, String), Bytes>>);

static POLICIES: std::sync::OnceLock<BucketPolicies> = std::sync::OnceLock::new();

fn policies() -> &'static BucketPolicies {
    POLICIES.get_or_init(BucketPolicies::default)
}

/// What a bucket-policy request becomes: an answer from the front, or the body to
/// forward and, for a PutBucketPolicy, the policy to remember once moto accepted it.
pub enum PolicyStep {
    Answer(Response<Body>),
    Forward(Bytes, Option<(String, Bytes)>),
}

/// The policy without statements conditioned on `aws:SecureTransport`.
fn without_secure_transport(doc: &[u8]) -> Option<Bytes> {
    let mut v: serde_json::Value = serde_json::from_slice(doc).ok()?;
    let st = v.get_mut("Statement")?.as_array_mut()?;
    st.retain(|s| {
        !s.get("Condition")
            .is_some_and(|c| c.to_string().contains("aws:SecureTransport"))
    });
    Some(Bytes::from(v.to_string()))
}

/// Put, get and delete of `/<bucket>?policy`, and DeleteBucket, as the module's doc says.
pub fn bucket_policy(
    upstream: &str,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> PolicyStep {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let bucket = path.trim_start_matches('/').trim_end_matches('/');
    if !is_s3(headers) || bucket.is_empty() || bucket.contains('/') {
        return PolicyStep::Forward(body, None);
    }
    let key = (upstream.to_string(), bucket.to_string());
    let is_policy = query
        .split('&')
        .any(|q| q == "policy" || q.starts_with("policy="));
    let Ok(mut held) = policies().0.lock() else {
        return PolicyStep::Forward(body, None);
    };
    match (method.clone(), is_policy) {
        (Method::PUT, true) => match without_secure_transport(&body) {
            Some(stripped) => PolicyStep::Forward(stripped, Some((bucket.to_string(), body))),
            None => PolicyStep::Forward(body, None),
        },
        (Method::GET, true) => match held.get(&key) {
            Some(doc) => {
                let mut r = Response::new(Full::new(doc.clone()));
                r.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                PolicyStep::Answer(r)
            }
            None => PolicyStep::Forward(body, None),
        },
        (Method::DELETE, _) => {
            held.remove(&key);
            PolicyStep::Forward(body, None)
        }
        _ => PolicyStep::Forward(body, None),
    }
}

/// The headers of a request whose body [`bucket_policy`] rewrote: its length, and no
/// digest of the body as it was.
pub fn rewritten_body(headers: &mut HeaderMap, len: usize) {
    headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(len),
    );
    let stale: Vec<hyper::header::HeaderName> = headers
        .keys()
        .filter(|k| {
            matches!(
                k.as_str(),
                "content-md5"
                    | "transfer-encoding"
                    | "x-amz-decoded-content-length"
                    | "x-amz-trailer"
            ) || k.as_str().starts_with("x-amz-checksum-")
        })
        .cloned()
        .collect();
    for k in stale {
        headers.remove(k);
    }
}

/// Remember a policy moto accepted (a 2xx answer to its PutBucketPolicy).
pub fn policy_accepted(upstream: &str, put: Option<(String, Bytes)>, status: u16) {
    if let (Some((bucket, doc)), true) = (put, (200..300).contains(&status)) {
        if let Ok(mut held) = policies().0.lock() {
            held.insert((upstream.to_string(), bucket), doc);
        }
    }
}

/// For a Kinesis `CreateStream` (JSON protocol) that carries `Tags`: the headers and
/// body of the AddTagsToStream that gives the stream those tags once moto made it.
pub fn stream_tags(headers: &HeaderMap, body: &[u8]) -> Option<(HeaderMap, Bytes)> {
    const TARGET: &str = "Kinesis_20131202.";
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    if target != format!("{TARGET}CreateStream") {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let tags = doc.get("Tags")?.as_object()?;
    if tags.is_empty() {
        return None;
    }
    let add = serde_json::json!({"StreamName": doc.get("StreamName")?, "Tags": tags});
    let add = Bytes::from(add.to_string());
    let mut h = headers.clone();
    h.insert(
        "x-amz-target",
        hyper::header::HeaderValue::from_static("Kinesis_20131202.AddTagsToStream"),
    );
    rewritten_body(&mut h, add.len());
    Some((h, add))
}

/// After moto answered a `CreateStream` with 2xx: tag the stream as the request asked
/// (see [`stream_tags`]). A failure is logged; the create's answer stands.
pub async fn tag_created_stream(
    client: &Client<HttpConnector, Body>,
    upstream: &str,
    add: Option<(HeaderMap, Bytes)>,
    status: u16,
) {
    let Some((headers, body)) = add else { return };
    if !(200..300).contains(&status) {
        return;
    }
    let Ok(uri) = format!("{upstream}/").parse::<hyper::Uri>() else {
        return;
    };
    let mut req = hyper::Request::post(uri);
    for (k, v) in headers.iter() {
        req = req.header(k, v);
    }
    let Ok(req) = req.body(Full::new(body)) else {
        return;
    };
    match client.request(req).await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "front: tagging a created stream failed"),
        Err(e) => tracing::warn!("front: tagging a created stream failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_digests() {
        // SHA-256 of the empty string, as S3 writes it.
        assert_eq!(
            hex_to_base64("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(hex_to_base64("6162"), "YWI=");
        assert_eq!(hex_to_base64("61"), "YQ==");
    }

    #[test]
    fn the_tls_only_statement_is_kept_from_moto_only() {
        let doc = br#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},{"Sid":"Other","Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::b"}]}"#;
        let out = without_secure_transport(doc).expect("a policy");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        let sids: Vec<&str> = v["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(sids, ["Other"]);
    }

    #[test]
    fn buckets_and_moto_api_paths() {
        assert_eq!(bucket_of("/b/k/x?tagging"), Some("b"));
        assert_eq!(bucket_of("/b?tagging"), Some("b"));
        assert_eq!(bucket_of("/"), None);
        assert!(is_moto_api("/moto-api/reset"));
        assert!(!is_moto_api("/moto-apix"));
    }
}
