//! The analytics application (the lab's step 5) on either engine: [`sql`] for
//! Kinesis Data Analytics for SQL (v1, the lab as written; discontinued by AWS) and
//! [`flink`] for Managed Service for Apache Flink (v2). What both share lives here:
//! the statuses and the waits between them, the IAM-propagation retry, the
//! discontinuation message, and where a Flink application's logs and code go (which
//! the IAM policies need too). The engines use this module, never the reverse.
//!
//! Both APIs share one life cycle: a created application is READY and does nothing
//! until started (STARTING → RUNNING); every change names the current version id;
//! a stop goes STOPPING (or FORCE_STOPPING) → READY; deletion names the
//! CreateTimestamp and goes DELETING → gone.

pub mod flink;
pub mod sql;

use anyhow::Result;

use crate::engine::wait::Bound;
use crate::resource::model::Ctx;
use crate::spec::{ApplicationSpec, Spec};

/// The log stream when the spec gives no `logging:`.
pub const DEFAULT_LOG_STREAM: &str = "kinesis-analytics-log-stream";

/// The log group and stream of an application: the spec's, or the defaults.
pub fn log_target(a: &ApplicationSpec) -> (String, String, i32) {
    match &a.logging {
        Some(l) => (l.log_group.clone(), l.log_stream.clone(), l.retention_days),
        None => (
            format!("/aws/kinesis-analytics/{}", a.name),
            DEFAULT_LOG_STREAM.to_string(),
            7,
        ),
    }
}

/// The bucket id and prefix of an application's artifact: the spec's, or the output
/// delivery stream's bucket under `code/`.
pub fn artifact_target(spec: &Spec, a: &ApplicationSpec) -> Option<(String, String)> {
    match &a.artifact {
        Some(x) => Some((x.bucket.clone(), x.prefix.clone())),
        None => spec
            .delivery_streams
            .get(&a.output.delivery_stream)
            .map(|d| (d.destination.bucket.clone(), "code/".to_string())),
    }
}

/// STARTING → RUNNING (minutes on AWS for Flink). RUNNING_WAIT polls every 0.5 s (on
/// `up`'s critical path, it ends up to one poll after the application is RUNNING; issue
/// 17), STOP_WAIT and GONE_WAIT every 1 s (off the critical path); the Managed Flink quota page
/// (general/latest/gr/ka.html) lists no per-call describe limit, and a throttled
/// describe is retried by the SDK's standard retry mode.
pub const RUNNING_WAIT: Bound = Bound::new(1200, 500, 500);
/// A transition under way (UPDATING, AUTOSCALING …) to end.
pub const SETTLE_WAIT: Bound = Bound::new(1200, 1000, 15_000);
/// STOPPING → READY before labctl forces the stop (Flink) or gives up (SQL).
pub const STOP_WAIT: Bound = Bound::new(600, 1000, 1000);
/// FORCE_STOPPING → READY.
pub const FORCE_WAIT: Bound = Bound::new(600, 1000, 15_000);
/// DELETING → gone.
pub const GONE_WAIT: Bound = Bound::new(900, 1000, 1000);

/// Statuses that end by themselves.
pub fn transient(status: &str) -> bool {
    matches!(
        status,
        "STARTING"
            | "STOPPING"
            | "FORCE_STOPPING"
            | "UPDATING"
            | "DELETING"
            | "AUTOSCALING"
            | "ROLLING_BACK"
            | "MAINTENANCE"
    )
}

/// The error code Kinesis Analytics (both APIs) answers while a new or changed role has
/// not propagated through IAM yet.
pub const IAM_PROPAGATION_CODE: &str = "InvalidArgumentException";

/// The messages it answers with that code. Only the code AND one of these is retried,
/// as terraform-provider-aws does (internal/service/kinesisanalyticsv2 and
/// kinesisanalytics: `ErrMessageContains(err, InvalidArgumentException, "…")`). An
/// AccessDeniedException such as "User … is not authorized to perform: iam:PassRole"
/// is the caller's missing permission and fails at once.
pub const IAM_PROPAGATION: &[&str] = &[
    "Kinesis Analytics service doesn't have sufficient privileges",
    "Kinesis Analytics doesn't have sufficient privileges",
    "Please check the role provided or validity of S3 location you provided",
    "is not authorized to perform",
];

/// Whether an error text (`… InvalidArgumentException: <message>`) is Kinesis Analytics
/// saying IAM has not propagated yet: the code, then one of the messages after it.
pub fn is_iam_propagation(message: &str) -> bool {
    let code = format!("{IAM_PROPAGATION_CODE}: ");
    message
        .split(code.as_str())
        .skip(1)
        .any(|after| IAM_PROPAGATION.iter().any(|m| after.contains(m)))
}

/// Run a call, retrying only IAM-propagation refusals, with a progress line each time.
pub async fn with_iam_retry<F, Fut>(
    ctx: &Ctx,
    name: &str,
    role: &str,
    what: &str,
    call: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    crate::engine::wait::retry_iam_propagation(
        &ctx.progress,
        name,
        "Kinesis Analytics",
        role,
        what,
        is_iam_propagation,
        call,
    )
    .await
}

/// Whether a CreateApplication refusal is AWS saying SQL applications are discontinued.
pub fn is_discontinued(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("discontinu")
        || m.contains("end of support")
        || m.contains("no longer supported")
        || m.contains("no longer available")
        || (m.contains("unsupportedoperationexception") && m.contains("createapplication"))
}

/// The one paragraph labctl gives when AWS refuses a new SQL application.
pub fn discontinued_message(app_id: &str, name: &str, aws_said: &str) -> String {
    format!(
        "AWS refused to create the SQL application {name}: Amazon Kinesis Data Analytics for SQL applications is discontinued (no new applications since 2025-10-15; existing ones are deleted from 2026-01-27), so the lab's step 5 cannot be done as written on AWS. Run the same aggregation on Managed Service for Apache Flink instead: in the spec, set `applications.{app_id}.engine: flink` (optionally `runtime: FLINK-1_20`) and `code:` to a Flink SQL file such as sql/aggregate.flink.sql, then run `labctl up` again. (AWS said: {aws_said})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_refusals() {
        assert!(is_iam_propagation("InvalidArgumentException: Kinesis Analytics service doesn't have sufficient privileges to assume the role"));
        assert!(!is_iam_propagation("InvalidArgumentException: bad name"));
        // The caller's own missing permission is not propagation: not retried.
        assert!(!is_iam_propagation("creating application a: AccessDeniedException: User: arn:aws:iam::1:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1:role/labctl/r"));
        // The message without the code is not enough either.
        assert!(!is_iam_propagation(
            "Kinesis Analytics service doesn't have sufficient privileges"
        ));
        assert!(is_iam_propagation("creating application a: InvalidArgumentException: Please check the role provided or validity of S3 location you provided"));
        assert!(is_discontinued("UnsupportedOperationException: Kinesis Data Analytics for SQL applications is discontinued"));
        assert!(!is_discontinued(
            "ResourceInUseException: Application a already exists"
        ));
        let m = discontinued_message("analytics", "sensor-data-analytics", "x");
        assert!(m.contains("applications.analytics.engine: flink"), "{m}");
        assert!(!m.contains('\n'));
    }
}
