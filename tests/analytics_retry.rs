//! The analytics application's IAM-propagation retry (analytics::is_iam_propagation)
//! against injected answers on the local stack: Kinesis Analytics' propagation refusal
//! (InvalidArgumentException with its message) is retried until the create goes
//! through; the caller's own missing iam:PassRole (AccessDeniedException "… is not
//! authorized to perform: iam:PassRole …") fails at once, with one attempt.

mod common;

use common::*;

const SPEC: &str = r#"
version: 1
pipeline: retry-lab
buckets:
  data: {name: "retry-data-${account_id}-${region}"}
streams:
  sensor: {name: retry-sensor-stream, mode: on-demand}
roles:
  delivery-role: {name: retry-delivery, service: firehose}
  analytics-role: {name: retry-analytics, service: kinesis-analytics}
delivery_streams:
  processed:
    name: retry-processed
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "processed/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
applications:
  analytics:
    name: retry-analytics-app
    engine: kinesis-analytics-sql
    code: sql/aggregate.kda.sql
    role: analytics-role
    input: {stream: sensor, starting_position: TRIM_HORIZON}
    output: {delivery_stream: processed}
"#;

fn lab() -> Stack {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("sql/aggregate.kda.sql"),
        stack.dir.path().join("sql/aggregate.kda.sql"),
    )
    .expect("copy the SQL");
    stack
}

#[test]
fn propagation_refusals_are_retried() {
    let stack = lab();
    stack.front.inject(
        "CreateApplication",
        2,
        400,
        "InvalidArgumentException",
        "Kinesis Analytics service doesn't have sufficient privileges to assume the role arn:aws:iam::123456789012:role/labctl/retry-analytics",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(
        stderr(&up).contains("IAM is propagating"),
        "{}",
        stderr(&up)
    );
    // Two refused attempts, then the one that went through.
    assert_eq!(stack.front.count("CreateApplication"), 3);
}

#[test]
fn a_missing_pass_role_of_the_caller_is_not_retried() {
    let stack = lab();
    stack.front.inject(
        "CreateApplication",
        1000,
        400,
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/student is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/labctl/retry-analytics",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    let out = format!("{}{}", stdout(&up), stderr(&up));
    assert!(out.contains("iam:PassRole"), "{out}");
    assert!(!out.contains("IAM is propagating"), "{out}");
    assert_eq!(stack.front.count("CreateApplication"), 1);
}
