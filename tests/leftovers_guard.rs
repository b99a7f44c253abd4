//! `leftovers --delete` guards data like `down` and trusts only exact ownership (issue 18):
//! a hand-tagged versioned bucket is not emptied with `--yes` alone, a malformed
//! pipeline tag value does not stop the cleanup, and dashboards are owned by labctl's
//! exact header widget, not by a mention of the marker or a longer pipeline name.
//! Everything is read back from the endpoint.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, Tag, Tagging, VersioningConfiguration};
use common::*;

fn tag_bucket(stack: &Stack, bucket: &str, pipeline: &str) {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
        let tag = Tag::builder()
            .key("labctl:pipeline")
            .value(pipeline)
            .build()
            .expect("tag");
        s3.put_bucket_tagging()
            .bucket(bucket)
            .tagging(Tagging::builder().tag_set(tag).build().expect("tagging"))
            .send()
            .await
            .expect("tagging");
        s3.put_object()
            .bucket(bucket)
            .key("raw/")
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .expect("folder marker");
    });
}

fn versions(stack: &Stack, bucket: &str) -> Option<usize> {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .map(|o| o.versions().len())
    })
}

fn streams(stack: &Stack) -> Vec<String> {
    let k = stack.kinesis();
    stack.block_on(async {
        k.list_streams()
            .send()
            .await
            .expect("streams")
            .stream_names()
            .to_vec()
    })
}

#[test]
fn a_tagged_bucket_with_data_is_not_emptied_without_confirmation() {
    let stack = Stack::start();
    // A production bucket someone tagged by hand: versioned, two versions of one object.
    tag_bucket(&stack, "prod-data", "prod");
    let s3 = stack.s3();
    stack.block_on(async {
        s3.put_bucket_versioning()
            .bucket("prod-data")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
        for body in [&b"v1"[..], &b"v2"[..]] {
            s3.put_object()
                .bucket("prod-data")
                .key("ledger.csv")
                .body(ByteStream::from(body.to_vec()))
                .send()
                .await
                .expect("object");
        }
    });
    // A lab bucket with nothing but labctl's folder marker, and a stream whose pipeline
    // tag is no valid YAML scalar.
    tag_bucket(&stack, "lab-data", "lab");
    let k = stack.kinesis();
    stack.block_on(async {
        k.create_stream()
            .stream_name("odd-stream")
            .shard_count(1)
            .send()
            .await
            .expect("stream");
        k.add_tags_to_stream()
            .stream_name("odd-stream")
            .tags("labctl:pipeline", "a: b")
            .send()
            .await
            .expect("tag");
    });
    assert_eq!(versions(&stack, "prod-data"), Some(3));

    // --yes alone (no terminal): everything without data goes, the data stays.
    let out = stack.labctl(&["leftovers", "--delete", "--yes"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("--delete-data"), "{}", stdout(&out));
    assert_eq!(
        versions(&stack, "prod-data"),
        Some(3),
        "the versioned bucket was emptied\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(versions(&stack, "lab-data"), None, "{}", stdout(&out));
    assert_eq!(streams(&stack), Vec::<String>::new(), "{}", stdout(&out));

    // The explicit flag: now the data goes too.
    let out = stack.labctl(&["leftovers", "--delete", "--yes", "--delete-data"]);
    assert_code(&out, 0);
    assert_eq!(versions(&stack, "prod-data"), None, "{}", stdout(&out));
}

fn dashboards(stack: &Stack) -> Vec<String> {
    let cw = stack.cloudwatch();
    stack.block_on(async {
        let mut names: Vec<String> = cw
            .list_dashboards()
            .send()
            .await
            .expect("dashboards")
            .dashboard_entries()
            .iter()
            .filter_map(|d| d.dashboard_name().map(str::to_string))
            .collect();
        names.sort();
        names
    })
}

#[test]
fn dashboards_are_owned_by_the_exact_marker_only() {
    let stack = Stack::start();
    let header = |p: &str| {
        serde_json::json!({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
            "properties": {"markdown": labctl::resource::dashboard::header(p)}}]})
        .to_string()
    };
    let hand = serde_json::json!({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24,
        "height": 2, "properties": {"markdown": "Ops notes: labctl:pipeline=x is the old lab"}}]})
    .to_string();
    let cw = stack.cloudwatch();
    stack.block_on(async {
        for (name, body) in [
            ("lab-board", header("streaming-lab")),
            ("ops-board", hand),
            ("x-board", header("x")),
        ] {
            cw.put_dashboard()
                .dashboard_name(name)
                .dashboard_body(body)
                .send()
                .await
                .expect("dashboard");
        }
    });
    let out = stack.labctl(&["leftovers", "--pipeline", "streaming", "--delete", "--yes"]);
    assert_code(&out, 0);
    let out = stack.labctl(&["leftovers", "--pipeline", "x", "--delete", "--yes"]);
    assert_code(&out, 0);
    // Only x's own dashboard went.
    assert_eq!(dashboards(&stack), vec!["lab-board", "ops-board"]);
}
