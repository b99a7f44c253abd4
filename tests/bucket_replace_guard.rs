//! `up` with a wrong region never replaces a bucket that holds data unless the user
//! says so (issue 18): the lab's bucket, ours and holding an object, lives in
//! eu-west-1; the spec is applied to us-east-1, so the bucket "must be replaced".
//! `plan` shows the replacement as destroying data; `up` refuses it (exit 2, nothing
//! changed: the object is read back afterwards) unless `--allow-data-loss` is given,
//! and then the old bucket's objects are gone and the new bucket is read back in the
//! spec's region, tagged as the pipeline's.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging};
use common::*;

const SPEC: &str = "version: 1\npipeline: guard-lab\nbuckets:\n  data: {name: guard-data-bucket}\n";
const BUCKET: &str = "guard-data-bucket";
const KEY: &str = "readings/2026.csv";

/// The stack with the spec written and the pipeline's bucket, holding one object, in
/// eu-west-1; and an S3 client for that region.
fn bucket_with_data_elsewhere() -> (Stack, aws_sdk_s3::Client) {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    let cfg = aws_sdk_s3::config::Builder::from(&stack.sdk_config())
        .region(aws_sdk_s3::config::Region::new("eu-west-1"))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(cfg);
    stack.block_on(async {
        s3.create_bucket()
            .bucket(BUCKET)
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
            .bucket(BUCKET)
            .tagging(Tagging::builder().tag_set(tag).build().expect("tagging"))
            .send()
            .await
            .expect("tagging");
        s3.put_object()
            .bucket(BUCKET)
            .key(KEY)
            .body(ByteStream::from_static(b"a,b\n"))
            .send()
            .await
            .expect("object");
    });
    (stack, s3)
}

fn object_there(stack: &Stack, s3: &aws_sdk_s3::Client) -> bool {
    stack.block_on(async {
        s3.head_object()
            .bucket(BUCKET)
            .key(KEY)
            .send()
            .await
            .is_ok()
    })
}

#[test]
fn up_does_not_replace_a_bucket_holding_data() {
    let (stack, s3) = bucket_with_data_elsewhere();

    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let text = stdout(&plan);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("plan json");
    let rows = doc["resources"].as_array().expect("rows");
    let row = rows
        .iter()
        .find(|r| r["name"] == BUCKET)
        .expect("bucket row");
    assert_eq!(row["action"], "replace", "{text}");
    let data = row["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .find(|d| d["field"] == "data")
        .unwrap_or_else(|| panic!("no data at stake in the plan: {text}"));
    assert_eq!(data["actual"], "1 object versions", "{text}");
    let table = stack.labctl(&["plan"]);
    assert_code(&table, 0);
    assert!(
        stdout(&table).contains("DESTROYS DATA"),
        "the plan does not show the replacement as destructive:\n{}",
        stdout(&table)
    );

    // stdin is not a terminal here: no prompt, a refusal before any change.
    let up = stack.labctl(&["up"]);
    assert_code(&up, 2);
    let said = format!("{}{}", stdout(&up), stderr(&up));
    assert!(
        said.contains("does not destroy data") && said.contains("--allow-data-loss"),
        "{said}"
    );
    assert!(
        said.contains(BUCKET) && said.contains("1 object versions"),
        "{said}"
    );
    assert!(
        object_there(&stack, &s3),
        "up replaced the bucket and lost its data"
    );
    // `--yes` confirms an adoption, not a data loss.
    let yes = stack.labctl(&["up", "--yes"]);
    assert_code(&yes, 2);
    assert!(
        object_there(&stack, &s3),
        "up --yes replaced the bucket and lost its data"
    );
}

#[test]
fn up_with_allow_data_loss_replaces_the_bucket() {
    let (stack, s3) = bucket_with_data_elsewhere();

    let up = stack.labctl(&["up", "--allow-data-loss"]);
    assert_code(&up, 0);
    assert!(
        !object_there(&stack, &s3),
        "the old bucket's object is still there"
    );
    let east = stack.s3();
    let (region, tags, objects) = stack.block_on(async {
        let loc = east
            .get_bucket_location()
            .bucket(BUCKET)
            .send()
            .await
            .expect("location of the new bucket");
        let tags = east
            .get_bucket_tagging()
            .bucket(BUCKET)
            .send()
            .await
            .expect("tags of the new bucket");
        let objects = east
            .list_object_versions()
            .bucket(BUCKET)
            .send()
            .await
            .expect("objects of the new bucket");
        (
            loc.location_constraint().map(|c| c.as_str().to_string()),
            tags.tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<Vec<_>>(),
            objects
                .versions()
                .iter()
                .filter_map(|v| v.key().map(str::to_string))
                .collect::<Vec<_>>(),
        )
    });
    // us-east-1 has no location constraint (GetBucketLocation: null or "").
    assert!(
        region.as_deref().unwrap_or("").is_empty(),
        "the new bucket is in {region:?}, not us-east-1"
    );
    assert!(
        tags.contains(&("labctl:pipeline".to_string(), "guard-lab".to_string())),
        "{tags:?}"
    );
    assert!(!objects.iter().any(|k| k == KEY), "{objects:?}");
    let again = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&again, 0);
    let doc = json(&again);
    let row = doc["resources"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["name"] == BUCKET)
        .cloned()
        .expect("bucket row");
    assert_eq!(row["action"], "no-change", "{doc}");
}
