//! IAM roles are global, so the same pipeline deployed in two regions has its roles side
//! by side in one account (issue 16): pruning in one region must never delete the other
//! region's roles. labctl tags each role it creates with its region (`labctl:region`) and
//! prunes only the roles tagged for its own region; a role tagged for the pipeline but
//! for no region (made before the tag existed) is not pruned, and is named in a warning.
//! Every role is read back from the endpoint (ListRoles, ListRoleTags).

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// The pipeline with one stream and one role whose name carries the region (`role`
/// is the name's stem, so renaming it in one region's spec prunes the old one there).
fn spec(role: &str) -> String {
    format!(
        r#"
version: 1
pipeline: regions-lab
streams:
  sensor: {{name: regions-stream, mode: on-demand}}
roles:
  delivery-role: {{name: "{role}-${{region}}", service: firehose}}
"#
    )
}

fn labctl(stack: &Stack, region: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(args)
        .args(["--endpoint-url", &stack.front.url(), "--region", region])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("running labctl")
}

/// Every role under labctl's path, each with its tags, read from the endpoint.
fn roles(stack: &Stack) -> Vec<(String, Vec<(String, String)>)> {
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    stack.block_on(async {
        let out = iam
            .list_roles()
            .path_prefix("/labctl/")
            .send()
            .await
            .expect("listing roles");
        let mut all = Vec::new();
        for r in out.roles() {
            let tags = iam
                .list_role_tags()
                .role_name(r.role_name())
                .send()
                .await
                .expect("role tags");
            let tags = tags
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            all.push((r.role_name().to_string(), tags));
        }
        all.sort();
        all
    })
}

fn names(roles: &[(String, Vec<(String, String)>)]) -> Vec<&str> {
    roles.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_rename_in_one_region_leaves_the_other_regions_roles() {
    let stack = Stack::start();
    stack.write_spec(&spec("regions-delivery"));
    assert_code(&labctl(&stack, "us-east-1", &["up"]), 0);
    assert_code(&labctl(&stack, "eu-west-1", &["up"]), 0);
    let both = roles(&stack);
    assert_eq!(
        names(&both),
        ["regions-delivery-eu-west-1", "regions-delivery-us-east-1"],
        "{both:?}"
    );
    // Each role carries the region whose deployment made it.
    for (name, tags) in &both {
        let region = name.trim_start_matches("regions-delivery-");
        assert!(
            tags.contains(&("labctl:region".into(), region.into())),
            "{name}: {tags:?}"
        );
        assert!(
            tags.contains(&("labctl:pipeline".into(), "regions-lab".into())),
            "{name}: {tags:?}"
        );
    }

    // A role tagged for the pipeline but for no region (as labctl made them before).
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    stack.block_on(async {
        iam.create_role()
            .role_name("regions-legacy")
            .path("/labctl/")
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("labctl:pipeline")
                    .value("regions-lab")
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("creating the legacy role");
    });

    // Rename the role in us-east-1 only: plan deletes that region's old role, and only it.
    stack.write_spec(&spec("regions-renamed"));
    let plan = labctl(&stack, "us-east-1", &["plan", "--output", "json"]);
    assert_code(&plan, 0);
    let doc = json(&plan);
    let deletes: Vec<&str> = doc["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["action"] == "delete")
                .filter_map(|r| r["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(deletes, ["regions-delivery-us-east-1"], "{doc:#}");
    assert!(
        stderr(&plan)
            .contains("role regions-legacy is tagged for pipeline regions-lab but names no region"),
        "{}",
        stderr(&plan)
    );

    let up = labctl(&stack, "us-east-1", &["up"]);
    assert_code(&up, 0);
    let after = roles(&stack);
    assert_eq!(
        names(&after),
        [
            "regions-delivery-eu-west-1",
            "regions-legacy",
            "regions-renamed-us-east-1"
        ],
        "the other region's role and the legacy one survive: {after:?}"
    );

    // eu-west-1 (whose spec still names the old role) sees it declared and in place.
    stack.write_spec(&spec("regions-delivery"));
    let st = labctl(&stack, "eu-west-1", &["plan", "--output", "json"]);
    assert_code(&st, 0);
    let doc = json(&st);
    let role = doc["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["kind"] == "role"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(role["name"], "regions-delivery-eu-west-1", "{doc:#}");
    assert_eq!(role["action"], "no-change", "{doc:#}");
}

#[test]
fn down_in_one_region_does_not_call_the_other_regions_roles_left_behind() {
    let stack = Stack::start();
    stack.write_spec(&spec("regions-delivery"));
    assert_code(&labctl(&stack, "us-east-1", &["up"]), 0);
    assert_code(&labctl(&stack, "eu-west-1", &["up"]), 0);

    let down = labctl(&stack, "us-east-1", &["down", "--yes"]);
    assert_code(&down, 0);
    let out = stdout(&down);
    let last = out.trim_end().lines().last().unwrap_or("");
    assert_eq!(last, "nothing billable is left of this pipeline", "{out}");
    assert!(!out.contains("regions-delivery-eu-west-1"), "{out}");
    assert!(
        stderr(&down).contains(
            "role regions-delivery-eu-west-1 is tagged for pipeline regions-lab, belonging to region eu-west-1's deployment"
        ),
        "{}",
        stderr(&down)
    );
    // Read back at the endpoint: this region's role is gone, the other region's remains.
    assert_eq!(
        names(&roles(&stack)),
        ["regions-delivery-eu-west-1"],
        "{:?}",
        roles(&stack)
    );
}
