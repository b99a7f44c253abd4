//! Malformed answers from the endpoint: JSON or XML cut midway, required fields
//! missing, states no documentation lists. The fault proxy rewrites one
//! operation's answers; labctl must fail with an error that names the resource and
//! the call, exit 1, and never panic.

mod common;
mod streams;

use common::*;
use labctl_local::faults::{self, Config, Rewrite};
use streams::*;

const SPEC: &str = r#"
version: 1
pipeline: odd-lab
buckets:
  data: {name: "odd-data-${account_id}-${region}"}
streams:
  sensor: {name: sensor-data-stream, mode: on-demand}
roles:
  delivery-role: {name: odd-delivery, service: firehose}
delivery_streams:
  raw:
    name: sensor-data-delivery
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw-stream/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#;

struct Case {
    name: &'static str,
    command: &'static [&'static str],
    operation: &'static str,
    rewrite: fn() -> Rewrite,
    /// What the error must say: the resource and the call.
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "Kinesis JSON cut midway",
        command: &["status"],
        operation: "DescribeStreamSummary",
        rewrite: || Rewrite::Truncate,
        expect: &["sensor-data-stream", "DescribeStreamSummary"],
    },
    Case {
        name: "Kinesis answer without its required fields",
        command: &["status"],
        operation: "DescribeStreamSummary",
        rewrite: || Rewrite::Body(r#"{"StreamDescriptionSummary": {}}"#.into()),
        expect: &["sensor-data-stream", "DescribeStreamSummary"],
    },
    Case {
        name: "Kinesis answer that is not JSON",
        command: &["status"],
        operation: "DescribeStreamSummary",
        rewrite: || Rewrite::Body("<html>502 Bad Gateway</html>".into()),
        expect: &["sensor-data-stream", "DescribeStreamSummary"],
    },
    Case {
        name: "Firehose JSON cut midway",
        command: &["status"],
        operation: "DescribeDeliveryStream",
        rewrite: || Rewrite::Truncate,
        expect: &["sensor-data-delivery", "DescribeDeliveryStream"],
    },
    Case {
        name: "Firehose unknown status",
        command: &["status"],
        operation: "DescribeDeliveryStream",
        rewrite: || Rewrite::Replace("\"ACTIVE\"".into(), "\"MELTING\"".into()),
        expect: &["sensor-data-delivery", "MELTING"],
    },
    Case {
        name: "IAM XML cut midway",
        command: &["status"],
        operation: "GetRole",
        rewrite: || Rewrite::Truncate,
        expect: &["odd-delivery", "GetRole"],
    },
    Case {
        name: "S3 XML cut midway",
        command: &["status"],
        operation: "GET ?tagging",
        rewrite: || Rewrite::Truncate,
        expect: &["odd-data-", "GetBucketTagging"],
    },
    Case {
        name: "STS answer without the account",
        command: &["status"],
        operation: "GetCallerIdentity",
        rewrite: || {
            Rewrite::Body("<GetCallerIdentityResponse><GetCallerIdentityResult></GetCallerIdentityResult></GetCallerIdentityResponse>".into())
        },
        expect: &["GetCallerIdentity", "account id"],
    },
    Case {
        name: "STS answer that is not XML",
        command: &["plan"],
        operation: "GetCallerIdentity",
        rewrite: || Rewrite::Body("{\"oops\": true}".into()),
        expect: &["GetCallerIdentity"],
    },
    Case {
        name: "Kinesis unknown status while up waits",
        command: &["up"],
        operation: "DescribeStreamSummary",
        rewrite: || Rewrite::Replace("\"ACTIVE\"".into(), "\"MELTING\"".into()),
        expect: &["sensor-data-stream", "MELTING"],
    },
];

#[test]
fn malformed_answers_give_an_error_naming_the_resource_and_the_call() {
    let mut failures = Vec::new();
    // MALFORMED_CASE=<part of a name> runs the matching cases only.
    let only = std::env::var("MALFORMED_CASE").ok();
    for case in CASES
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
    {
        let stack = Stack::start();
        stack.write_spec(SPEC);
        if case.command != ["up"] {
            let up = stack.labctl(&["up"]);
            assert_code(&up, 0);
        }
        let proxy = stack
            .block_on(faults::start_with(
                0,
                &stack.front.url(),
                Config::entries(0.0, 1),
            ))
            .expect("fault proxy");
        proxy.rewrite(case.operation, 1000, (case.rewrite)());
        let out = labctl_cmd(&stack, &proxy.url(), case.command)
            .env("LABCTL_TIMEOUT_SECONDS", "5")
            .output()
            .expect("running labctl");
        let text = format!("{}\n{}", stdout(&out), stderr(&out));
        if text.contains("panicked") {
            failures.push(format!("{}: panicked:\n{text}", case.name));
            continue;
        }
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, not 1:\n{text}",
                case.name,
                out.status.code()
            ));
            continue;
        }
        for want in case.expect {
            if !text.contains(want) {
                failures.push(format!("{}: output lacks `{want}`:\n{text}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}
