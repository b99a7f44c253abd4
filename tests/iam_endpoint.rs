//! The IAM roles `labctl up` makes, read back from the endpoint (GetRole,
//! GetRolePolicy): each trust policy carries the condition its service documents
//! (`sts:ExternalId` for Firehose, `aws:SourceAccount` for Kinesis Analytics; see
//! `policy::trust_condition` for the pages), and the delivery role's inline policy is
//! the generated one.

mod common;

use common::*;
use serde_json::{json, Value};

const SPEC: &str = r#"
version: 1
pipeline: iam-lab
buckets:
  data: {name: "iam-data-${account_id}-${region}"}
streams:
  sensor: {name: iam-sensor-stream, mode: on-demand}
roles:
  delivery-role: {name: iam-delivery, service: firehose}
  analytics-role: {name: iam-analytics, service: kinesis-analytics}
delivery_streams:
  raw:
    name: iam-delivery-stream
    source: {type: kinesis-stream, stream: sensor}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#;

fn iam(stack: &Stack) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&stack.sdk_config())
}

fn decode(doc: &str) -> Value {
    let text = urlencoding::decode(doc)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| doc.to_string());
    serde_json::from_str(&text).expect("a policy document is JSON")
}

async fn trust(iam: &aws_sdk_iam::Client, name: &str) -> (Value, aws_sdk_iam::types::Role) {
    let out = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .expect("GetRole");
    let role = out.role().expect("a role").clone();
    let doc = decode(role.assume_role_policy_document().expect("a trust policy"));
    (doc, role)
}

#[test]
fn trust_policies_carry_each_services_documented_condition() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    let iam = iam(&stack);
    stack.block_on(async {
        let (doc, _) = trust(&iam, "iam-delivery").await;
        let st = &doc["Statement"][0];
        assert_eq!(
            st["Principal"]["Service"], "firehose.amazonaws.com",
            "{doc}"
        );
        assert_eq!(
            st["Condition"],
            json!({"StringEquals": {"sts:ExternalId": "123456789012"}}),
            "Firehose's documented condition: {doc}"
        );
        let (doc, _) = trust(&iam, "iam-analytics").await;
        let st = &doc["Statement"][0];
        assert_eq!(
            st["Principal"]["Service"], "kinesisanalytics.amazonaws.com",
            "{doc}"
        );
        assert_eq!(
            st["Condition"],
            json!({"StringEquals": {"aws:SourceAccount": "123456789012"}}),
            "Kinesis Analytics' documented condition: {doc}"
        );
        let pol = iam
            .get_role_policy()
            .role_name("iam-delivery")
            .policy_name("labctl-least-privilege")
            .send()
            .await
            .expect("the inline policy");
        let got = decode(pol.policy_document());
        assert!(
            got["Statement"].as_array().is_some_and(|s| !s.is_empty()),
            "{got}"
        );
    });
    // What labctl reads back matches what it wrote: nothing drifted.
    let status = stack.labctl(&["status", "--json"]);
    let s = stdout(&status);
    assert!(!s.contains("trust_policy"), "{s}");
}
