//! `up` with a wrong region never replaces a bucket that holds data (issue 18): the
//! lab's bucket, ours and holding an object, lives in eu-west-1; the spec is applied to
//! us-east-1, so the bucket "must be replaced". `plan` shows the replacement with the
//! data at stake, and `up` refuses it: the object is read back afterwards.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging};
use common::*;

const SPEC: &str = "version: 1\npipeline: guard-lab\nbuckets:\n  data: {name: guard-data-bucket}\n";

#[test]
fn up_does_not_replace_a_bucket_holding_data() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let cfg = aws_sdk_s3::config::Builder::from(&stack.sdk_config())
        .region(aws_sdk_s3::config::Region::new("eu-west-1"))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(cfg);
    stack.block_on(async {
        s3.create_bucket()
            .bucket("guard-data-bucket")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .expect("bucket");
        let tag = Tag::builder()
            .key("labctl:pipeline")
            .value("guard-lab")
            .build()
            .expect("tag");
        s3.put_bucket_tagging()
            .bucket("guard-data-bucket")
            .tagging(Tagging::builder().tag_set(tag).build().expect("tagging"))
            .send()
            .await
            .expect("tagging");
        s3.put_object()
            .bucket("guard-data-bucket")
            .key("readings/2026.csv")
            .body(ByteStream::from_static(b"a,b\n"))
            .send()
            .await
            .expect("object");
    });
    let object_there = || {
        stack.block_on(async {
            s3.head_object()
                .bucket("guard-data-bucket")
                .key("readings/2026.csv")
                .send()
                .await
                .is_ok()
        })
    };

    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let text = stdout(&plan);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("plan json");
    let rows = doc["resources"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["name"] == "guard-data-bucket")
        .expect("bucket row");
    assert_eq!(row["action"], "replace", "{text}");
    let data = row["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .find(|d| d["field"] == "data")
        .unwrap_or_else(|| panic!("no data at stake in the plan: {text}"));
    assert_eq!(data["actual"], "1 object versions", "{text}");

    let up = stack.labctl(&["up"]);
    assert_ne!(up.status.code(), Some(0), "{}", stdout(&up));
    assert!(
        format!("{}{}", stdout(&up), stderr(&up)).contains("does not destroy data"),
        "{}\n{}",
        stdout(&up),
        stderr(&up)
    );
    assert!(object_there(), "up replaced the bucket and lost its data");
}
