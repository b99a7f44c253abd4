//! A role's generated policy never grants on a resource labctl does not own (issue 18):
//! the spec's bucket exists under its name without the ownership tag (someone else's);
//! `up --partial` applies what it can, and whatever role it leaves behind has no
//! statement naming that bucket; the same for a log group the delivery stream logs to.
//! Read back from the endpoint (IAM's inline policies).

mod common;

use common::*;

const BUCKET: &str = "policy-foreign-bucket";
const SPEC: &str = r#"version: 1
pipeline: policy-lab
buckets:
  data: {name: policy-foreign-bucket}
roles:
  delivery-role: {name: policy-delivery, service: firehose}
delivery_streams:
  raw:
    name: policy-delivery-stream
    source: {type: direct-put}
    role: delivery-role
    destination:
      bucket: data
      prefix: "raw/"
      error_prefix: "errors/"
      buffering: {interval_seconds: 60, size_mib: 1}
      compression: none
      encryption: bucket-default
"#;

#[test]
fn no_role_grants_on_a_bucket_that_is_not_ours() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let policies = |stack: &Stack| role_policies(stack);
    let s3 = stack.s3();
    stack.block_on(async {
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("foreign bucket");
    });
    let up = stack.labctl(&["up", "--partial"]);
    let said = format!("{}{}", stdout(&up), stderr(&up));
    assert_ne!(up.status.code(), Some(0), "{said}");
    assert!(
        said.contains("would grant on bucket policy-foreign-bucket"),
        "{said}"
    );
    // Every inline policy of every role there is: none names the foreign bucket.
    let policies = policies(&stack);
    for (role, doc) in &policies {
        let text = urlencoding_decode(doc);
        assert!(
            !text.contains(BUCKET),
            "role {role} grants on the foreign bucket: {text}\n{said}"
        );
    }
}

/// Every inline policy of every role at the endpoint: (role, document).
fn role_policies(stack: &Stack) -> Vec<(String, String)> {
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let mut docs = Vec::new();
        let roles = iam.list_roles().send().await.expect("roles");
        for r in roles.roles() {
            let names = iam
                .list_role_policies()
                .role_name(r.role_name())
                .send()
                .await
                .expect("role policies");
            for p in names.policy_names() {
                let doc = iam
                    .get_role_policy()
                    .role_name(r.role_name())
                    .policy_name(p)
                    .send()
                    .await
                    .expect("role policy");
                docs.push((r.role_name().to_string(), doc.policy_document().to_string()));
            }
        }
        docs
    })
}

const LOG_GROUP: &str = "/aws/kinesisfirehose/policy-foreign-logs";

#[test]
fn no_role_grants_on_a_log_group_that_is_not_ours() {
    let stack = Stack::start();
    let spec = SPEC
        .replace("policy-foreign-bucket", "policy-own-bucket")
        .replace(
            "      encryption: bucket-default\n",
            "      encryption: bucket-default\n    logging:\n      log_group: /aws/kinesisfirehose/policy-foreign-logs\n      log_stream: DestinationDelivery\n",
        );
    stack.write_spec(&spec);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.sdk_config());
    stack.block_on(async {
        logs.create_log_group()
            .log_group_name(LOG_GROUP)
            .send()
            .await
            .expect("foreign log group");
    });
    let up = stack.labctl(&["up", "--partial"]);
    let said = format!("{}{}", stdout(&up), stderr(&up));
    assert_ne!(up.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("would grant on log-group {LOG_GROUP}")),
        "{said}"
    );
    let policies = role_policies(&stack);
    for (role, doc) in &policies {
        let text = urlencoding_decode(doc);
        assert!(
            !text.contains(LOG_GROUP),
            "role {role} grants on the foreign log group: {text}\n{said}"
        );
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986).
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
