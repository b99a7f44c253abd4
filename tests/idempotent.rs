//! A second `up` of the shipped pipeline.yaml changes nothing, for every kind (issue 15,
//! item 2): zero mutating requests at the endpoint (counted by the local front, not read
//! from labctl's output) across bucket, stream, roles and their policies, log groups,
//! delivery streams, dashboard, topic, alarms and the Flink application, while the second
//! run did observe each of them. Along the way every `--output json` document (plan, up,
//! status, down) is held to docs/status.schema.json (issue 15, item 6).

mod common;

use std::collections::BTreeSet;

use common::inventory::inventory;
use common::*;

/// The resource kinds of the shipped lab, as the JSON documents name them.
const KINDS: [&str; 9] = [
    "bucket",
    "stream",
    "role",
    "log-group",
    "delivery-stream",
    "application",
    "dashboard",
    "alarm",
    "topic",
];

/// The kinds present in a document's resources, and every row's action.
fn kinds_and_actions(doc: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let rows = doc["resources"].as_array().expect("resources");
    let kinds = rows
        .iter()
        .filter_map(|r| r["kind"].as_str().map(String::from))
        .collect();
    let actions = rows
        .iter()
        .filter_map(|r| r["action"].as_str().map(String::from))
        .collect();
    (kinds, actions)
}

#[test]
fn a_second_up_of_the_shipped_lab_sends_no_mutating_request() {
    let stack = Stack::start();
    write_shipped_lab(stack.dir.path());
    let all_kinds: BTreeSet<String> = KINDS.iter().map(|k| k.to_string()).collect();

    let plan = stack.labctl(&["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    assert_schema(&doc);
    assert_eq!(doc["command"], "plan");
    let (kinds, actions) = kinds_and_actions(&doc);
    assert_eq!(kinds, all_kinds, "{doc:#}");
    assert_eq!(actions, ["create".to_string()].into(), "{doc:#}");

    stack.front.clear();
    let up = stack.labctl(&["up", "--output", "json"]);
    assert_code(&up, 0);
    let doc = json(&up);
    assert_schema(&doc);
    assert_eq!(doc["command"], "up");
    assert_eq!(doc["ok"], true, "{doc:#}");
    let (kinds, _) = kinds_and_actions(&doc);
    assert_eq!(kinds, all_kinds);
    let first = stack.front.mutating().len();
    assert!(first >= 20, "the first up made only {first} changes");
    let converged = inventory(&stack);

    // The second run: nothing mutating reaches the endpoint, yet every service was read.
    stack.front.clear();
    let again = stack.labctl(&["up", "--output", "json"]);
    assert_code(&again, 0);
    let doc = json(&again);
    assert_schema(&doc);
    let (kinds, actions) = kinds_and_actions(&doc);
    assert_eq!(kinds, all_kinds);
    assert_eq!(actions, ["no-change".to_string()].into(), "{doc:#}");
    let sent: Vec<String> = stack
        .front
        .mutating()
        .iter()
        .map(|r| format!("{} {}", r.service, r.operation))
        .collect();
    assert_eq!(sent, Vec::<String>::new(), "a second up changed something");
    let read: BTreeSet<String> = stack
        .front
        .requests()
        .iter()
        .map(|r| r.service.clone())
        .collect();
    for service in [
        "s3",
        "kinesis",
        "iam",
        "logs",
        "firehose",
        "kinesisanalytics",
        "monitoring",
        "sns",
    ] {
        assert!(
            read.contains(service),
            "the second up never read {service}: {read:?}"
        );
    }
    assert_eq!(
        inventory(&stack),
        converged,
        "the endpoint after the second up"
    );

    // status: every resource as declared, nothing produced: exit 4; its document too.
    let status = stack.labctl(&["status", "--output", "json"]);
    assert_code(&status, 4);
    let doc = json(&status);
    assert_schema(&doc);
    assert_eq!(doc["command"], "status");

    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    assert_schema(&doc);
    assert_eq!(doc["command"], "down");
    let (kinds, actions) = kinds_and_actions(&doc);
    assert_eq!(kinds, all_kinds);
    assert_eq!(actions, ["delete".to_string()].into(), "{doc:#}");
    assert_eq!(inventory(&stack), Vec::<String>::new(), "left after down");

    // A second down is not an error and finds nothing; its document holds too.
    stack.front.clear();
    let down = stack.labctl(&["down", "--yes", "--output", "json"]);
    assert_code(&down, 0);
    let doc = json(&down);
    assert_schema(&doc);
    let (_, actions) = kinds_and_actions(&doc);
    assert_eq!(actions, ["absent".to_string()].into(), "{doc:#}");
    assert_eq!(
        stack.front.mutating(),
        vec![],
        "a second down changed something"
    );
}
