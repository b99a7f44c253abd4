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
    stack.front.clear();
    // After the search for resources no longer in the spec (the first GetResources),
    // the next one (down's final check) still lists the deleted stream.
    stack
        .front
        .answer("GetResources", 1, 1, &stale_listing(arn));
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    let rem = doc["remaining"].as_array().expect("remaining");
    assert!(rem.is_empty(), "{doc:#}");
    assert_eq!(
        stack.front.count("GetResources"),
        2,
        "the stale answer was used"
    );
}

/// A stream tagged for the pipeline but not in the spec (made outside labctl) is
/// pruned by `down` (issue 16); one whose deletion is refused is reported.
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
    // Its deletion is refused (the first DeleteStream is the stray's: orphans go first).
    stack.front.inject(
        "DeleteStream",
        1,
        400,
        "AccessDeniedException",
        "not allowed",
    );
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 1);
    let doc = json(&down);
    let rem = doc["remaining"].as_array().expect("remaining");
    assert_eq!(rem.len(), 1, "{doc:#}");
    assert_eq!(rem[0]["name"], "stray-stream");
    // Without the refusal, down deletes it.
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    assert!(
        doc["remaining"].as_array().expect("remaining").is_empty(),
        "{doc:#}"
    );
    let names = stack.block_on(async {
        kinesis
            .list_streams()
            .send()
            .await
            .expect("list")
            .stream_names()
            .to_vec()
    });
    assert!(names.is_empty(), "{names:?}");
}
