//! `down` empties the bucket again until DeleteBucket succeeds: an object that lands
//! after the bucket was emptied (a deleting delivery stream flushing its buffer) must not
//! leave the bucket behind or fail `down`. The object is put, directly at the endpoint,
//! while labctl's DeleteBucket is held at the front, so it lands between the empty and
//! the delete on every run; what is left is read back from the endpoint.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BUCKET: &str = "refill-data-bucket";

fn spec() -> String {
    format!(
        r#"
version: 1
pipeline: refill-lab
buckets:
  data: {{name: "{BUCKET}", force_destroy: true}}
"#
    )
}

fn bucket_exists(stack: &Stack) -> bool {
    let s3 = stack.s3();
    stack.block_on(async { s3.head_bucket().bucket(BUCKET).send().await.is_ok() })
}

fn put_late_object(stack: &Stack) {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.put_object()
            .bucket(BUCKET)
            .key("raw-stream/late-flush.json")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}\n"))
            .send()
            .await
            .expect("PutObject directly at the endpoint");
    });
}

/// The S3 DeleteBucket as the front records it (method, no sub-resource).
fn is_delete_bucket(r: &labctl_local::record::Recorded) -> bool {
    r.service == "s3" && r.operation == "DELETE"
}

#[test]
fn down_empties_the_bucket_again_when_an_object_lands_after_the_first_empty() {
    let stack = Stack::start();
    stack.write_spec(&spec());

    // A first up and down, to learn how many mutating requests `down` sends before its
    // DeleteBucket (the same state gives the same requests).
    assert_code(&stack.labctl(&["up", "-q"]), 0);
    stack.front.clear();
    assert_code(&stack.labctl(&["down", "--yes", "-q"]), 0);
    let mutating = stack.front.mutating();
    let before_delete = mutating
        .iter()
        .position(is_delete_bucket)
        .unwrap_or_else(|| panic!("no DeleteBucket in {mutating:?}"));
    assert!(!bucket_exists(&stack));

    // Again, with DeleteBucket held until an object has landed behind labctl's empty.
    assert_code(&stack.labctl(&["up", "-q"]), 0);
    stack.front.clear();
    stack.front.hold_after_mutating(before_delete);
    let child = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(["down", "--yes", "--endpoint-url", &stack.front.url()])
        .args(["--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn labctl down");
    // A bound on the wait, not a timing assertion: down reaches its DeleteBucket.
    let deadline = Instant::now() + Duration::from_secs(120);
    while stack.front.held() == 0 {
        assert!(Instant::now() < deadline, "down never sent DeleteBucket");
        std::thread::sleep(Duration::from_millis(10));
    }
    let held = stack.front.requests();
    assert!(
        held.last().is_some_and(is_delete_bucket),
        "the held request is not DeleteBucket: {held:?}"
    );
    put_late_object(&stack);
    // The held DeleteBucket is answered 503 (never forwarded); the SDK sends it again and
    // S3 refuses it: BucketNotEmpty.
    stack.front.release();
    let out = child.wait_with_output().expect("labctl down");
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("emptying it again"),
        "{}",
        stderr(&out)
    );
    let deletes = stack
        .front
        .requests()
        .iter()
        .filter(|r| is_delete_bucket(r))
        .count();
    assert!(deletes >= 2, "DeleteBucket sent {deletes} time(s)");
    // Read back from the endpoint: the bucket and the late object are gone.
    assert!(!bucket_exists(&stack), "the bucket was left behind");
}
