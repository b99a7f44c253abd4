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
            if let Some(problem) = super::diagnose::certificate_problem(err) {
                format!(
                    "{call}: {}",
                    super::diagnose::certificate_message("the endpoint", &problem)
                )
            } else if e.is_timeout() {
                format!("{call}: the request timed out")
            } else if e.is_io() {
                format!(
                    "{call}: cannot reach the endpoint (connection failed: {})",
                    super::diagnose::chain_text(err)
                )
            } else {
                format!(
                    "{call}: the request could not be sent ({})",
                    super::diagnose::chain_text(err)
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
