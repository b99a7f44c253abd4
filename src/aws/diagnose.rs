//! Why labctl cannot talk to AWS at all, in one line and in the AWS CLI's words: no
//! credentials, an unknown profile, expired or rejected credentials, an untrusted
//! certificate, an endpoint that accepts connections and never answers. Also the retry
//! classifier that stops the SDK from retrying a certificate failure (it cannot heal).
//! Knows no resource kind, no spec and no command.

use std::error::Error as StdError;
use std::path::PathBuf;

pub use super::errors::{certificate_message, certificate_problem, chain_text};

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

/// The AWS CLI's words when no provider in the chain has credentials
/// (botocore `NoCredentialsError`: "Unable to locate credentials").
pub const NO_CREDENTIALS: &str = "Unable to locate credentials";

/// The first [`CredentialsError`] in an error's source chain.
fn credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// Where the credentials come from, for messages: the profile, or the default chain.
fn source(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("profile `{p}`"),
        None => "the environment, ~/.aws/credentials, ~/.aws/config or an instance role".into(),
    }
}

/// One line for a failure to load credentials (before any request was sent).
pub fn credentials_message(c: &CredentialsError, profile: Option<&str>) -> String {
    let detail = chain_text(c);
    // The default chain ends with the instance metadata service: an IMDS failure there
    // means no provider before it had credentials.
    let none_found = matches!(c, CredentialsError::CredentialsNotLoaded(_))
        || (profile.is_none() && detail.contains("IMDS"));
    if none_found {
        format!(
            "{NO_CREDENTIALS} (looked in {}); run `aws configure` or `aws sso login`, or pass --profile",
            source(profile)
        )
    } else {
        format!(
            "cannot load the credentials of {}: {detail}",
            source(profile)
        )
    }
}

/// AWS error codes that mean the credentials have expired (STS, the Signature Version 4
/// errors listed in the IAM User Guide's "Troubleshoot signature errors").
const EXPIRED: [&str; 4] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];
/// AWS error codes that mean the credentials were rejected.
const REJECTED: [&str; 6] = [
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AuthFailure",
    "IncompleteSignature",
];

/// Where a request goes, for messages: the custom endpoint or the service in the region.
pub fn where_to(endpoint: Option<&str>, service: &str, region: &str) -> String {
    match endpoint {
        Some(e) => e.to_string(),
        None => format!("{service} in {region}"),
    }
}

/// One line for a failed first call (STS GetCallerIdentity): what the AWS CLI would say,
/// with what to do. `seconds` is the whole-call bound, for a timeout.
pub fn access_message<E, R>(
    err: &aws_sdk_sts::error::SdkError<E, R>,
    profile: Option<&str>,
    to: &str,
    seconds: f64,
) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_sts::error::SdkError;
    if let Some(c) = credentials_error(err) {
        return credentials_message(c, profile);
    }
    if let Some(problem) = certificate_problem(err) {
        return certificate_message(to, &problem);
    }
    if let Some(code) = super::errors::sdk_code(err) {
        let msg = super::errors::sdk_message(err);
        if EXPIRED.contains(&code) {
            return format!(
                "the credentials from {} have expired ({msg}); refresh them (`aws sso login`, or new keys) and try again",
                source(profile)
            );
        }
        if REJECTED.contains(&code) {
            return format!(
                "the credentials from {} were rejected ({msg}); check the access key and secret, or --profile",
                source(profile)
            );
        }
        return format!("STS GetCallerIdentity at {to}: {msg}");
    }
    let timed_out = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout(),
        _ => false,
    };
    if timed_out {
        return format!(
            "no answer from {to} within {seconds:.0} s (STS GetCallerIdentity): it accepts connections but does not reply; check the endpoint, a proxy (HTTPS_PROXY) or LABCTL_TIMEOUT_SECONDS"
        );
    }
    if let SdkError::DispatchFailure(_) = err {
        return format!(
            "cannot reach {to} (STS GetCallerIdentity): {}",
            chain_text(err)
        );
    }
    format!(
        "STS GetCallerIdentity at {to}: {}",
        super::errors::sdk_message(err)
    )
}

/// The config and credentials files the AWS CLI reads (`AWS_CONFIG_FILE`,
/// `AWS_SHARED_CREDENTIALS_FILE`, else ~/.aws/config and ~/.aws/credentials).
fn profile_files() -> Vec<(PathBuf, bool)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let mut out = Vec::new();
    if let Some(c) = file("AWS_CONFIG_FILE", "config") {
        out.push((c, true));
    }
    if let Some(c) = file("AWS_SHARED_CREDENTIALS_FILE", "credentials") {
        out.push((c, false));
    }
    out
}

/// The profile names a config (`[profile x]`, `[default]`) or credentials (`[x]`) file
/// declares. Source: the AWS CLI User Guide, "Configuration and credential file settings"
/// (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html).
pub fn declared_profiles(text: &str, config_file: bool) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        let Some(inner) = l.strip_prefix('[').and_then(|r| r.split(']').next()) else {
            continue;
        };
        let inner = inner.trim();
        if !config_file {
            names.push(inner.to_string());
        } else if inner == "default" {
            names.push("default".into());
        } else if let Some(p) = inner.strip_prefix("profile") {
            if p.starts_with(char::is_whitespace) {
                names.push(p.trim().to_string());
            }
        }
    }
    names
}

/// `Err` with the AWS CLI's sentence when a named profile is in neither file.
pub fn check_profile(profile: &str) -> Result<(), String> {
    let mut any = false;
    for (path, config) in profile_files() {
        if let Ok(text) = std::fs::read_to_string(&path) {
            any = true;
            if declared_profiles(&text, config)
                .iter()
                .any(|p| p == profile)
            {
                return Ok(());
            }
        }
    }
    let looked = if any {
        "it is in neither ~/.aws/config nor ~/.aws/credentials"
    } else {
        "there is no ~/.aws/config or ~/.aws/credentials"
    };
    Err(format!(
        "The config profile ({profile}) could not be found: {looked}; run `aws configure --profile {profile}` or pass another --profile / AWS_PROFILE"
    ))
}

/// A retry classifier that forbids retrying a request whose connection failed on the
/// server's certificate: the same certificate comes back on every attempt, so the
/// standard retries would only delay the error.
#[derive(Debug, Default)]
pub struct NoRetryOnCertificate;

impl ClassifyRetry for NoRetryOnCertificate {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(e)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match e.as_connector_error() {
            Some(c) if certificate_problem(c).is_some() => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "labctl: no retry on a certificate failure"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_as_the_aws_cli_reads_them() {
        let config =
            "[default]\nregion=x\n[profile dev]\n[sso-session s]\n[services x]\n[profilex]\n";
        assert_eq!(declared_profiles(config, true), vec!["default", "dev"]);
        let creds = "[default]\n[ci]\naws_access_key_id=1\n";
        assert_eq!(declared_profiles(creds, false), vec!["default", "ci"]);
    }

    #[test]
    fn no_credentials_reads_as_the_aws_cli() {
        let e = CredentialsError::not_loaded("no providers in chain provided credentials");
        let m = credentials_message(&e, None);
        assert!(m.starts_with(NO_CREDENTIALS), "{m}");
        assert!(!m.contains('{') && !m.contains("Error {"), "{m}");
    }
}
