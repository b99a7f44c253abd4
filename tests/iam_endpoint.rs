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
    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 4); // as declared, nothing produced: not yet validated
    let s = stdout(&status);
    assert!(!s.contains("trust_policy"), "{s}");
}

/// labctl's roles live under its path (policy::ROLE_PATH), every reference names that
/// ARN, and `leftovers` finds them by ListRoles' PathPrefix (never a role elsewhere).
#[test]
fn roles_live_under_the_labctl_path_and_leftovers_find_them_there() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    let iam = iam(&stack);
    let firehose = aws_sdk_firehose::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let (_, role) = trust(&iam, "iam-delivery").await;
        assert_eq!(role.path(), "/labctl/");
        assert_eq!(
            role.arn(),
            "arn:aws:iam::123456789012:role/labctl/iam-delivery"
        );
        let d = firehose
            .describe_delivery_stream()
            .delivery_stream_name("iam-delivery-stream")
            .send()
            .await
            .expect("describe");
        let d = d.delivery_stream_description().expect("description");
        let x = d.destinations()[0]
            .extended_s3_destination_description()
            .expect("extended s3");
        assert_eq!(x.role_arn(), role.arn());
        // A role of another tool, tagged like ours but outside the path, is not listed.
        iam.create_role()
            .role_name("elsewhere")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("labctl:pipeline")
                    .value("iam-lab")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("create a role at /");
    });
    let before = stack.front.count("ListRoleTags");
    let out = stack.labctl(&["leftovers", "--output", "json"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("role/labctl/iam-delivery"), "{text}");
    assert!(text.contains("role/labctl/iam-analytics"), "{text}");
    assert!(!text.contains("elsewhere"), "{text}");
    // Tags were read for labctl's two roles only (listing every role would read three).
    assert_eq!(stack.front.count("ListRoleTags") - before, 2);
}

/// The Flink application's role, read back from the endpoint after `up` (GetRolePolicy):
/// it grants what the Managed Flink guide lists for roles made by automation tools
/// (policy::FLINK_ROLE_DOC) on these exact resources, as labctl generated it.
#[test]
fn the_flink_role_read_back_grants_what_aws_documents() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&flink_lab("iamf"));
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    let iam = iam(&stack);
    let doc = stack.block_on(async {
        let pol = iam
            .get_role_policy()
            .role_name("iamf-analytics")
            .policy_name("labctl-least-privilege")
            .send()
            .await
            .expect("the analytics role's inline policy");
        decode(pol.policy_document())
    });
    let grants: Vec<(Vec<String>, Vec<String>)> = doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (strs(&s["Action"]), strs(&s["Resource"])))
        .collect();
    let granted = |action: &str, resource: &str| {
        grants
            .iter()
            .any(|(a, r)| a.iter().any(|x| x == action) && r.iter().any(|x| x == resource))
    };
    let code = "arn:aws:s3:::iamf-data-123456789012-us-east-1/code/sensor-data-analytics/*";
    let logs = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/kinesis-analytics/iamf";
    let want = [
        ("s3:GetObject", code.to_string()),
        ("s3:GetObjectVersion", code.to_string()),
        (
            "logs:DescribeLogGroups",
            "arn:aws:logs:us-east-1:123456789012:log-group:*".to_string(),
        ),
        ("logs:DescribeLogStreams", format!("{logs}:log-stream:*")),
        ("logs:PutLogEvents", format!("{logs}:log-stream:app-log")),
    ];
    let missing: Vec<String> = want
        .iter()
        .filter(|(a, r)| !granted(a, r))
        .map(|(a, r)| format!("{a} on {r}"))
        .collect();
    assert!(
        missing.is_empty(),
        "the role read back lacks {missing:?}: {doc:#}"
    );
}

fn strs(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}
