//! `down` under simulated AWS transition times (this test binary installs the
//! simulator of `labctl-local dev` for its fronts): the stream is deleted while its
//! delivery stream is still DELETING (the relaxed dependency, engine::phase), and
//! nothing is left afterwards. Order is read from the front's request log; what is
//! left, from the endpoint.

mod common;

use common::*;

/// Simulated times at 5% of AWS's (delivery stream DELETING for 6 s, stream 0.75 s).
const FACTOR: f64 = 0.05;

#[test]
fn down_deletes_the_stream_while_its_delivery_stream_is_deleting_and_leaves_nothing() {
    labctl_local::transitions::install(FACTOR);
    let stack = Stack::start();
    stack.write_spec(&small_lab("relaxed"));
    assert_code(&stack.labctl(&["up", "--output", "json"]), 0);

    stack.front.clear();
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let requests = stack.front.requests();
    let ops: Vec<String> = requests.iter().map(|r| r.operation.clone()).collect();
    let at = |op: &str| {
        ops.iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("no {op} in {ops:?}"))
    };
    let delete_delivery = at("DeleteDeliveryStream");
    let delete_stream = at("DeleteStream");
    // The stream only after its reader's delete was accepted ...
    assert!(delete_delivery < delete_stream, "{ops:?}");
    // ... while labctl still waited for that delivery stream to be gone (it describes
    // it until it is; the lab has one delivery stream).
    let last_describe = ops
        .iter()
        .rposition(|o| o == "DescribeDeliveryStream")
        .expect("DescribeDeliveryStream");
    assert!(delete_stream < last_describe, "{ops:?}");
    // The bucket (its objects, then itself) only after the delivery stream was seen gone.
    let delete_bucket = requests
        .iter()
        .position(|r| {
            r.service == "s3" && (r.operation == "DELETE" || r.operation == "POST ?delete")
        })
        .expect("the bucket emptied and deleted");
    assert!(last_describe < delete_bucket, "{ops:?}");

    // Nothing left, read from the endpoint.
    let cfg = stack.sdk_config();
    let s3 = stack.s3();
    stack.block_on(async {
        let streams = aws_sdk_kinesis::Client::new(&cfg)
            .list_streams()
            .send()
            .await
            .expect("ListStreams");
        assert!(streams.stream_names().is_empty(), "{streams:?}");
        let deliveries = aws_sdk_firehose::Client::new(&cfg)
            .list_delivery_streams()
            .send()
            .await
            .expect("ListDeliveryStreams");
        assert!(deliveries.delivery_stream_names().is_empty());
        let buckets = s3.list_buckets().send().await.expect("ListBuckets");
        assert!(buckets.buckets().is_empty(), "{buckets:?}");
        let roles = aws_sdk_iam::Client::new(&cfg)
            .list_roles()
            .send()
            .await
            .expect("ListRoles");
        assert!(
            roles
                .roles()
                .iter()
                .all(|r| !r.role_name().starts_with("relaxed")),
            "{roles:?}"
        );
        let groups = aws_sdk_cloudwatchlogs::Client::new(&cfg)
            .describe_log_groups()
            .send()
            .await
            .expect("DescribeLogGroups");
        assert!(groups.log_groups().is_empty(), "{groups:?}");
    });
}
