//! Retry rules labctl adds to the SDK's standard ones, each for an answer AWS really
//! gives that the standard classifiers do not treat as retryable. Knows no resource.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

/// HTTP 429 is a throttling answer, retried with the SDK's backoff. SNS throttles with
/// `ThrottledException`, error code `Throttled`, HTTP 429 (botocore
/// `sns/2010-03-31/service-2.json`, shape `ThrottledException`); the SDK's list of
/// throttling codes (aws-runtime `THROTTLING_ERRORS`) holds `ThrottledException` but not
/// `Throttled`, and its transient status codes are 500, 502, 503 and 504 only, so without
/// this a throttled SNS call would fail `up` at once.
#[derive(Debug, Default)]
pub struct TooManyRequests;

impl ClassifyRetry for TooManyRequests {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(r) if r.status().as_u16() == 429 => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "labctl: HTTP 429 is throttling"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn classify(status: u16) -> RetryAction {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        let status = StatusCode::try_from(status).expect("a status code");
        let body =
            SdkBody::from("<ErrorResponse><Error><Code>Throttled</Code></Error></ErrorResponse>");
        ctx.set_response(HttpResponse::new(status, body));
        TooManyRequests.classify_retry(&ctx)
    }

    #[test]
    fn a_429_is_retried_as_throttling_and_other_statuses_are_left_alone() {
        assert_eq!(classify(429), RetryAction::throttling_error());
        assert_eq!(classify(400), RetryAction::NoActionIndicated);
        assert_eq!(classify(200), RetryAction::NoActionIndicated);
    }
}
