//! Where labctl talks to: region, profile, endpoint (`--endpoint-url`, `AWS_ENDPOINT_URL`,
//! `--local`), timeouts and retries, and one client per AWS service, built once.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

use super::diagnose::{self, NoRetryOnCertificate};
use super::requests::RequestLog;
use super::retry::TooManyRequests;
use crate::error::UsageError;

/// The local stack's address unless `LABCTL_LOCAL_ENDPOINT` says otherwise: a port of
/// its own (4599), not LocalStack's 4566.
pub const LOCAL_ENDPOINT: &str = "http://127.0.0.1:4599";
/// The command that starts the local stack, named in errors.
pub const LOCAL_START: &str = "scripts/local-stack start";

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub local: bool,
}

/// One client per service, sharing one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub sns: aws_sdk_sns::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub firehose: aws_sdk_firehose::Client,
    pub iam: aws_sdk_iam::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
    pub kinesisanalytics: aws_sdk_kinesisanalytics::Client,
    pub kinesisanalyticsv2: aws_sdk_kinesisanalyticsv2::Client,
    pub region: String,
    pub endpoint: Option<String>,
    /// The profile named by --profile / AWS_PROFILE, for messages.
    pub profile: Option<String>,
}

impl Target {
    /// The endpoint in use, if not AWS's own.
    pub fn endpoint(&self) -> Option<String> {
        if let Some(e) = &self.endpoint_url {
            return Some(e.clone());
        }
        if self.local {
            return Some(
                std::env::var("LABCTL_LOCAL_ENDPOINT")
                    .unwrap_or_else(|_| LOCAL_ENDPOINT.to_string()),
            );
        }
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|s| !s.is_empty())
    }
}

/// Build the clients. `spec_region` is the spec's `region:`. Fails without a region,
/// and, for a custom endpoint, when nothing answers there.
pub async fn connect(target: &Target, spec_region: Option<&str>) -> Result<Clients> {
    let endpoint = target.endpoint();
    if let Some(e) = &endpoint {
        if let Some(problem) = userinfo_problem(e) {
            return Err(UsageError(problem).into());
        }
        check_reachable(e, target.local).await?;
        if target.local {
            check_local_identity(e).await?;
        }
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_max_backoff(Duration::from_secs(10)),
        )
        .timeout_config(timeouts());
    if let Some(p) = &target.profile {
        if !target.local {
            diagnose::check_profile(p).map_err(UsageError)?;
        }
        loader = loader.profile_name(p);
    }
    let explicit = target.region.clone().or(spec_region.map(str::to_string));
    if let Some(r) = explicit.clone() {
        loader = loader.region(Region::new(r));
    } else if target.local {
        loader = loader.region(Region::new("us-east-1"));
    }
    if let Some(e) = &endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(client) = ca_bundle_client()? {
        loader = loader.http_client(client);
    }
    if target.local {
        loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
            "labctl-local",
            "labctl-local",
            None,
            None,
            "labctl-local",
        ));
    }
    let config = loader.load().await;
    if let Some(e) = endpoint.as_deref().filter(|e| cleartext_remote(e)) {
        check_cleartext_credentials(&config, e).await?;
    }
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| UsageError("no AWS region: pass --region, set `region:` in the spec, or set AWS_REGION / a profile region".into()))?;
    Ok(clients(&config, region, endpoint, target.profile.clone()))
}

/// One client per service from the loaded configuration.
fn clients(
    config: &aws_config::SdkConfig,
    region: String,
    endpoint: Option<String>,
    profile: Option<String>,
) -> Clients {
    // Every client logs its requests at -vv, never retries a certificate failure and
    // retries a 429 as throttling (super::retry).
    macro_rules! client {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(config)
                    .interceptor(RequestLog)
                    .retry_classifier(NoRetryOnCertificate)
                    .retry_classifier(TooManyRequests)
                    .build(),
            )
        };
    }
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(endpoint.is_some())
        .interceptor(RequestLog)
        .retry_classifier(NoRetryOnCertificate)
        .retry_classifier(TooManyRequests)
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        kinesis: client!(aws_sdk_kinesis),
        sns: client!(aws_sdk_sns),
        tagging: client!(aws_sdk_resourcegroupstagging),
        firehose: client!(aws_sdk_firehose),
        iam: client!(aws_sdk_iam),
        cloudwatch: client!(aws_sdk_cloudwatch),
        logs: client!(aws_sdk_cloudwatchlogs),
        sts: client!(aws_sdk_sts),
        kinesisanalytics: client!(aws_sdk_kinesisanalytics),
        kinesisanalyticsv2: client!(aws_sdk_kinesisanalyticsv2),
        profile,
        region,
        endpoint,
    }
}

/// Every call's bounds: connect 5 s, read 30 s, each attempt 40 s, the whole call
/// with its retries 120 s. `LABCTL_TIMEOUT_SECONDS` sets the whole-call bound and
/// caps the others at it (tests use a few seconds; a value that is not a positive
/// number is ignored).
pub fn timeouts() -> TimeoutConfig {
    let total = std::env::var("LABCTL_TIMEOUT_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(120));
    let cap = |d: Duration| d.min(total);
    TimeoutConfig::builder()
        .connect_timeout(cap(Duration::from_secs(5)))
        .read_timeout(cap(Duration::from_secs(30)))
        .operation_attempt_timeout(cap(Duration::from_secs(40)))
        .operation_timeout(total)
        .build()
}

/// With `AWS_CA_BUNDLE` (the AWS CLI's variable): an HTTPS client that also trusts the
/// certificates in that PEM file (a corporate proxy, or a local stack serving TLS).
fn ca_bundle_client() -> Result<Option<aws_smithy_runtime_api::client::http::SharedHttpClient>> {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).map_err(|e| {
        UsageError(format!(
            "AWS_CA_BUNDLE={}: cannot read it ({e}); point it at a PEM file or unset it",
            path.to_string_lossy()
        ))
    })?;
    let trust = TrustStore::default().with_pem_certificate(pem);
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| {
            UsageError(format!(
                "AWS_CA_BUNDLE={}: not usable as PEM certificates ({e})",
                path.to_string_lossy()
            ))
        })?;
    Ok(Some(
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https(),
    ))
}

/// Fail fast, with the fix, when nothing listens at a custom endpoint.
async fn check_reachable(endpoint: &str, local: bool) -> Result<()> {
    let addr = host_port(endpoint);
    let probe = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&addr),
    )
    .await;
    match probe {
        Ok(Ok(_)) => Ok(()),
        _ if local => Err(anyhow::anyhow!(
            "nothing answers at {endpoint} (the local AWS stack); start it with `{LOCAL_START}` and try again"
        )),
        _ => Err(anyhow::anyhow!("nothing answers at {endpoint}; check --endpoint-url / AWS_ENDPOINT_URL")),
    }
}

/// `--local`: refuse an endpoint that is not labctl's local front (LocalStack, or any
/// other server on the port): the front answers `GET /__labctl_local/identity` with
/// its instance id in the `x-labctl-local-instance` header (labctl-local's `identity`
/// module; `scripts/local-stack` starts it with one). No AWS API has this path.
async fn check_local_identity(endpoint: &str) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = host_port(endpoint);
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(&hostport).await.ok()?;
        let req = format!(
            "GET /__labctl_local/identity HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        let _ = (&mut s).take(16 * 1024).read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
        Some(
            head.starts_with("http/1.1 200")
                && head
                    .lines()
                    .any(|l| l.starts_with("x-labctl-local-instance:")),
        )
    };
    match tokio::time::timeout(Duration::from_secs(5), ask).await {
        Ok(Some(true)) => Ok(()),
        _ => Err(anyhow::anyhow!(
            "{endpoint} is not labctl's local stack: it does not answer the local front's identity check (LocalStack or another server on the port?); start the local stack with `{LOCAL_START}` (port 4599) or point LABCTL_LOCAL_ENDPOINT at it"
        )),
    }
}

/// An endpoint URL with a user name or password in it (`http://user:secret@host`):
/// refused, and the message names only the host, so the secret is never printed (every
/// report names the endpoint). AWS's endpoints take credentials by signature, not there.
pub fn userinfo_problem(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(endpoint);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (_, host) = authority.rsplit_once('@')?;
    Some(format!(
        "the endpoint URL carries a user name or password before `@{host}`; labctl signs requests with your AWS credentials and prints the endpoint in its reports: remove `user:password@` from --endpoint-url / AWS_ENDPOINT_URL"
    ))
}

/// Plain HTTP to a host that is not this machine (loopback).
pub fn cleartext_remote(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// Whether an access key id is a real AWS one: long-term (`AKIA`) or temporary
/// (`ASIA`) keys (IAM User Guide, "IAM identifiers", unique ID prefixes:
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids).
pub fn is_real_access_key(id: &str) -> bool {
    id.starts_with("AKIA") || id.starts_with("ASIA")
}

/// Refuse to send real AWS credentials over plain HTTP to another machine: anyone on
/// the path sees the signed requests (and replays them within their validity), and the
/// endpoint learns whose account it is talking to. Test credentials (an emulator's)
/// are fine, and so is any endpoint on this machine.
async fn check_cleartext_credentials(config: &aws_config::SdkConfig, endpoint: &str) -> Result<()> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Ok(());
    };
    let Ok(creds) = provider.provide_credentials().await else {
        return Ok(());
    };
    if is_real_access_key(creds.access_key_id()) {
        return Err(UsageError(format!(
            "refusing to send AWS credentials (access key {}…) over plain HTTP to {}, which is not this machine: use an https:// endpoint, or test credentials for an emulator",
            &creds.access_key_id()[..4],
            host_port(endpoint)
        ))
        .into());
    }
    Ok(())
}

/// `host:port` of an endpoint URL (the scheme's port when none is written).
fn host_port(endpoint: &str) -> String {
    let rest = endpoint
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(endpoint);
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.contains(':') {
        hostport.to_string()
    } else if endpoint.starts_with("https") {
        format!("{hostport}:443")
    } else {
        format!("{hostport}:80")
    }
}

/// The account id behind the credentials (STS GetCallerIdentity), with a progress line
/// on stderr while the endpoint keeps it waiting; failures in one line, in the AWS CLI's
/// words (see [`diagnose::access_message`]).
pub async fn account_id(clients: &Clients) -> Result<String> {
    account_id_with(clients, false).await
}

/// [`account_id`]; `quiet` leaves out the waiting lines.
pub async fn account_id_with(clients: &Clients, quiet: bool) -> Result<String> {
    let to = diagnose::where_to(clients.endpoint.as_deref(), "STS", &clients.region);
    let total = timeouts()
        .operation_timeout()
        .map(|d| d.as_secs_f64())
        .unwrap_or(120.0);
    let call = clients.sts.get_caller_identity().send();
    tokio::pin!(call);
    let started = std::time::Instant::now();
    let mut next = Duration::from_secs(2);
    let answer = loop {
        tokio::select! {
            r = &mut call => break r,
            _ = tokio::time::sleep_until((started + next).into()) => {
                if !quiet {
                    eprintln!(
                        "still waiting for {to} to answer (STS GetCallerIdentity): {:.0} s of at most {total:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                next += Duration::from_secs(5);
            }
        }
    };
    let who = answer.map_err(|e| {
        anyhow::anyhow!(diagnose::access_message(
            &e,
            clients.profile.as_deref(),
            &to,
            total
        ))
    })?;
    who.account()
        .map(str::to_string)
        .context("STS GetCallerIdentity answered without an account id; check that --endpoint-url / AWS_ENDPOINT_URL points at AWS or the local stack")
}

/// The partition of a region, the second field of every ARN (`arn:<partition>:…`).
/// Source: the IAM User Guide, "Identify AWS resources with Amazon Resource Names (ARNs)"
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html: "aws" for
/// commercial Regions, "aws-cn" for China, "aws-us-gov" for AWS GovCloud (US)), and
/// each partition's `regionRegex` in botocore's `botocore/data/partitions.json`
/// (`^cn\-\w+\-\d+$`, `^us\-gov\-\w+\-\d+$`, `^us\-iso\-…`, `^us\-isob\-…`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::partition;
    use super::{cleartext_remote, is_real_access_key, userinfo_problem};

    #[test]
    fn endpoint_secrets_and_cleartext_to_other_machines() {
        let p = userinfo_problem("http://admin:hunter2@10.0.0.5:4566/").expect("refused");
        assert!(
            !p.contains("hunter2") && !p.contains("admin") && p.contains("@10.0.0.5:4566"),
            "{p}"
        );
        assert!(userinfo_problem("https://s3.eu-west-1.amazonaws.com").is_none());
        assert!(userinfo_problem("http://127.0.0.1:4599/?a=b@c").is_none());
        assert!(cleartext_remote("http://10.0.0.5:4566"));
        assert!(cleartext_remote("http://example.com"));
        assert!(!cleartext_remote("http://127.0.0.1:4599"));
        assert!(!cleartext_remote("http://localhost:4599/"));
        assert!(!cleartext_remote("http://[::1]:4599"));
        assert!(!cleartext_remote("https://example.com"));
        assert!(is_real_access_key("AKIAIOSFODNN7EXAMPLE") && is_real_access_key("ASIAXXXX"));
        assert!(!is_real_access_key("testing") && !is_real_access_key("labctl-local"));
    }

    #[test]
    fn partition_follows_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("cn-northwest-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-gov-east-1"), "aws-us-gov");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
    }
}
