//! A 403 from HeadBucket says whose bucket it is: this account's own (the caller lacks
//! s3:ListBucket on it) or a name another account owns (resource::bucket::forbidden).
//! The front answers HeadBucket with 403, as S3 does in both cases; ListBuckets (this
//! account's buckets only) tells them apart.

mod common;

use common::*;

fn head_bucket_op(stack: &Stack) -> String {
    stack
        .front
        .requests()
        .iter()
        .rev()
        .find(|r| r.service == "s3" && r.operation.starts_with("HEAD"))
        .map(|r| r.operation.clone())
        .expect("a HeadBucket was recorded")
}

/// `plan`'s exit code when HeadBucket answers 403: the plan is made (the bucket's row is
/// `blocked`, said why), so 0; `up` is the one that refuses.
const PLAN_FORBIDDEN: i32 = 0;

#[test]
fn our_own_bucket_and_another_accounts_name_are_told_apart() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    assert_code(&stack.labctl(&["up"]), 0);
    let op = head_bucket_op(&stack);
    // Ours: it exists in this account, HeadBucket is refused.
    stack.front.inject(&op, 1, 403, "AccessDenied", "");
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, PLAN_FORBIDDEN);
    let text = format!("{}{}", stdout(&plan), stderr(&plan));
    assert!(text.contains("own bucket"), "{text}");
    assert!(!text.contains("another AWS account"), "{text}");
    // Another account's: not among this account's buckets.
    assert_code(&stack.labctl(&["down", "--yes"]), 0);
    stack.front.inject(&op, 1, 403, "AccessDenied", "");
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, PLAN_FORBIDDEN);
    let text = format!("{}{}", stdout(&plan), stderr(&plan));
    assert!(text.contains("another AWS account"), "{text}");
}
