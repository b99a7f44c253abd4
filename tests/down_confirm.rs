//! `down`'s final "still tagged" check does not trust the Resource Groups Tagging API
//! alone: it keeps listing resources for a while after their deletion, so each hit is
//! confirmed with the resource's own describe (resource::leftovers::find). Here the
//! front answers GetResources with the stream `down` just deleted, as AWS can.

mod common;

use common::*;
use serde_json::json;

fn stale_listing(arn: &str) -> serde_json::Value {
    json!({
        "PaginationToken": "",
        "ResourceTagMappingList": [{
            "ResourceARN": arn,
            "Tags": [{"Key": "labctl:pipeline", "Value": "test-lab"}]
        }]
    })
}

#[test]
fn a_deleted_resource_the_tagging_api_still_lists_is_not_left_over() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    assert_code(&stack.labctl(&["up"]), 0);
    let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/sensor-data-stream";
    // The next GetResources (down's final check) still lists the deleted stream.
    stack
        .front
        .answer("GetResources", 0, 1, &stale_listing(arn));
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    let rem = doc["remaining"].as_array().expect("remaining");
    assert!(rem.is_empty(), "{doc:#}");
    assert_eq!(
        stack.front.count("GetResources"),
        1,
        "the stale answer was used"
    );
}

#[test]
fn a_resource_that_still_exists_is_reported() {
    let stack = Stack::start();
    stack.write_spec(BASIC);
    assert_code(&stack.labctl(&["up"]), 0);
    // A stream of the same pipeline that is not in the spec (made outside labctl).
    let kinesis = stack.kinesis();
    stack.block_on(async {
        kinesis
            .create_stream()
            .stream_name("stray-stream")
            .shard_count(1)
            .send()
            .await
            .expect("create");
        kinesis
            .add_tags_to_stream()
            .stream_name("stray-stream")
            .tags("labctl:pipeline", "test-lab")
            .send()
            .await
            .expect("tag");
    });
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    let rem = doc["remaining"].as_array().expect("remaining");
    assert_eq!(rem.len(), 1, "{doc:#}");
    assert_eq!(rem[0]["name"], "stray-stream");
}
