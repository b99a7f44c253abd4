//! AWS SDK errors as labctl reports them: the service's code and message without the
//! SDK's wrapping, the API call an error belongs to, and the context line of a failed
//! call. Knows no resource kind and no command.

/// AWS error text without the SDK's wrapping: code and message.
pub fn sdk_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_s3::error::SdkError;
    // Errors without an AWS error code name the call, so a malformed or missing
    // answer says which request it was the answer to.
    let call = call_name::<E>();
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{call}: the endpoint answered an error labctl cannot read ({inner})"),
            }
        }
        SdkError::TimeoutError(_) => format!("{call}: the request timed out"),
        SdkError::DispatchFailure(e) => {
            if let Some(problem) = certificate_problem(err) {
                format!("{call}: {}", certificate_message("the endpoint", &problem))
            } else if e.is_timeout() {
                format!("{call}: the request timed out")
            } else if e.is_io() {
                format!(
                    "{call}: cannot reach the endpoint (connection failed: {})",
                    chain_text(err)
                )
            } else {
                format!(
                    "{call}: the request could not be sent ({})",
                    chain_text(err)
                )
            }
        }
        SdkError::ResponseError(_) => {
            let cause = std::error::Error::source(err)
                .and_then(|s| s.source().or(Some(s)))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!("{call}: the response could not be read{cause}")
        }
        other => format!("{call}: {other}"),
    }
}

/// The API call an SDK operation error type belongs to: `DescribeStreamSummary` for
/// `aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError`.
pub fn call_name<E>() -> &'static str {
    let t = std::any::type_name::<E>();
    let last = t.rsplit("::").next().unwrap_or(t);
    last.strip_suffix("Error").unwrap_or(last)
}

/// The AWS error code, if the error came from the service.
pub fn sdk_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// Turn an SDK error into anyhow with a "what failed" context line.
pub fn aws_err<E, R>(what: &str, err: aws_sdk_s3::error::SdkError<E, R>) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    anyhow::anyhow!("{what}: {}", sdk_message(&err))
}

/// Every message in an error's source chain, joined with ": ", each said once.
pub fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// The certificate problem named in an error's chain (rustls: "invalid peer certificate:
/// UnknownIssuer", "certificate expired", a name mismatch), if it is one.
pub fn certificate_problem(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let text = chain_text(err);
    let lower = text.to_ascii_lowercase();
    if !(lower.contains("certificate") || lower.contains("unknownissuer")) {
        return None;
    }
    // The innermost message that names the certificate says the most.
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut found = text.clone();
    while let Some(e) = cur {
        let t = e.to_string();
        if t.to_ascii_lowercase().contains("certificate") {
            found = t;
        }
        cur = e.source();
    }
    Some(found)
}

/// "SSL validation failed …": the AWS CLI's words for a certificate that is not trusted,
/// with the fix (`AWS_CA_BUNDLE`, the variable the AWS CLI and SDKs read for extra CAs).
pub fn certificate_message(endpoint: &str, problem: &str) -> String {
    let bundle = std::env::var("AWS_CA_BUNDLE")
        .ok()
        .filter(|b| !b.is_empty());
    let fix = match bundle {
        Some(b) => format!(
            "AWS_CA_BUNDLE={b} does not hold the certificate that signed it; add the proxy's or private CA's PEM certificate there"
        ),
        None => "if a proxy or a private CA signs it, set AWS_CA_BUNDLE to that CA's PEM certificate file".to_string(),
    };
    format!("SSL validation failed for {endpoint}: certificate verify failed ({problem}); {fix}")
}
