//! Eventual consistency: a delivery stream that answers ResourceNotFoundException
//! right after its create (as Firehose's control plane can) is polled again, a bounded
//! number of times, instead of failing `up`; one that never appears still fails.

mod common;

use common::*;

#[test]
fn not_found_right_after_create_is_retried() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("ev"));
    // The first three describes say the stream does not exist: the observe before the
    // create (absent: create it), then two polls right after the create.
    stack.front.inject(
        "DescribeDeliveryStream",
        3,
        400,
        "ResourceNotFoundException",
        "Firehose sensor-data-delivery under account 123456789012 not found.",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(stderr(&up).contains("not visible yet"), "{}", stderr(&up));
    assert_eq!(stack.front.count("CreateDeliveryStream"), 1);
}

#[test]
fn a_stream_that_never_appears_still_fails() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("ev2"));
    stack.front.inject(
        "DescribeDeliveryStream",
        1000,
        400,
        "ResourceNotFoundException",
        "Firehose sensor-data-delivery under account 123456789012 not found.",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 1);
    assert!(stdout(&up).contains("disappeared"), "{}", stdout(&up));
}

/// A Flink application that answers ResourceNotFoundException right after its create
/// (Managed Flink's control plane is eventually consistent too) is polled again, and
/// `up` goes on to start it; CreateApplication is sent once.
#[test]
fn a_flink_application_not_found_right_after_create_is_retried() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&flink_lab("evf"));
    // The observe before the create (absent: create it), then two polls right after it.
    stack.front.inject(
        "DescribeApplication",
        3,
        400,
        "ResourceNotFoundException",
        "Application sensor-data-analytics is not found",
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert!(stderr(&up).contains("not visible yet"), "{}", stderr(&up));
    assert_eq!(stack.front.count("CreateApplication"), 1);
    assert_eq!(stack.front.count("StartApplication"), 1);
}
