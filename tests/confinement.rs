//! Issue 18, spec paths escaping the spec's directory, reproduced as the review did:
//! `code: /etc/passwd`, `..` out of the directory, a `.jar` symlink to a credentials
//! file, and a `.jar` that is not a zip passed `validate` and were uploaded to S3. Each
//! is now refused before any AWS call (exit 2), naming the file, the field and the fix;
//! and a Firehose prefix that starts with an expression (which would widen the role's
//! grant to the whole bucket) is refused the same way.

mod common;

use common::*;

/// The Flink lab of `tests/common` with `code:` and `jars:` replaced.
fn lab(code: &str, jar: &str) -> String {
    flink_lab("cf")
        .replace(
            "code: sql/aggregate.flink.sql",
            &format!("code: \"{code}\""),
        )
        .replace(
            "jars: [lib/dummy-connector.jar]",
            &format!("jars: [\"{jar}\"]"),
        )
}

fn refused(stack: &Stack, dir: &std::path::Path, field: &str, words: &[&str]) {
    stack.front.clear();
    for cmd in ["validate", "plan", "up"] {
        let out = stack.labctl_in(dir, &[cmd]);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{cmd}: {text}");
        assert!(
            text.contains("pipeline.yaml"),
            "{cmd} names the file: {text}"
        );
        assert!(text.contains(field), "{cmd} names {field}: {text}");
        for w in words {
            assert!(text.contains(w), "{cmd}: {w:?} missing: {text}");
        }
        assert!(
            text.contains("relative to the spec file") || text.contains("give the path of a jar"),
            "{cmd} says what to do: {text}"
        );
    }
    assert!(
        stack.front.requests().is_empty(),
        "no AWS call: {:?}",
        stack.front.requests()
    );
}

#[test]
fn code_and_jars_outside_the_spec_directory_are_refused_before_any_aws_call() {
    let stack = Stack::start();
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("lab");
    write_flink_files(&dir);
    // A "credentials file" beside the lab's directory, and a jar symlink to it.
    std::fs::write(
        root.path().join("credentials"),
        "[default]\naws_secret_access_key=x\n",
    )
    .expect("secret");
    std::os::unix::fs::symlink(root.path().join("credentials"), dir.join("lib/creds.jar"))
        .expect("symlink");
    std::fs::write(dir.join("lib/text.jar"), "not a zip at all").expect("text jar");
    let good_jar = "lib/dummy-connector.jar";
    let good_sql = "sql/aggregate.flink.sql";

    let cases: [(String, &str, &[&str]); 5] = [
        (
            lab("/etc/passwd", good_jar),
            "code",
            &["/etc/passwd", "absolute path"],
        ),
        (
            lab("../credentials", good_jar),
            "code",
            &["../credentials", "`..`"],
        ),
        (
            lab(good_sql, "lib/creds.jar"),
            "jars[0]",
            &["lib/creds.jar", "symbolic link"],
        ),
        (
            lab(good_sql, "../lab/../../etc/hosts.jar"),
            "jars[0]",
            &["`..`"],
        ),
        (
            lab(good_sql, "lib/text.jar"),
            "jars[0]",
            &["lib/text.jar", "not a jar", "zip"],
        ),
    ];
    for (spec, field, words) in cases {
        std::fs::write(dir.join("pipeline.yaml"), spec).expect("spec");
        refused(&stack, &dir, field, words);
    }
    // The same files inside the directory, through `..` that stays inside, are fine.
    std::fs::write(
        dir.join("pipeline.yaml"),
        lab("sql/../sql/aggregate.flink.sql", good_jar),
    )
    .expect("spec");
    assert_code(&stack.labctl_in(&dir, &["validate"]), 0);
}

#[test]
fn a_firehose_prefix_starting_with_an_expression_is_refused() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    let spec = flink_lab("px").replace(
        "prefix: \"processed-stream/\"",
        "prefix: \"!{timestamp:yyyy}/\"\n      error_prefix: \"errors/!{firehose:error-output-type}/\"",
    );
    stack.write_spec(&spec);
    stack.front.clear();
    let out = stack.labctl(&["plan"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("prefix") && text.contains("every object of the bucket"),
        "{text}"
    );
    assert!(
        text.contains("raw-stream/!{timestamp:yyyy}/"),
        "the fix: {text}"
    );
    assert!(stack.front.requests().is_empty());
}

/// Issue 18, local stack hardening: `user:password` in an endpoint URL is refused and
/// never printed (every report names the endpoint).
#[test]
fn an_endpoint_with_a_password_is_refused_without_printing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pipeline.yaml"), small_lab("pw")).expect("spec");
    for cmd in ["plan", "status", "leftovers"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(dir.path())
            .args([cmd, "--endpoint-url", "http://admin:hunter2@127.0.0.1:9/"])
            .args(["--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .expect("labctl");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{cmd}: {text}");
        assert!(
            !text.contains("hunter2") && !text.contains("admin"),
            "{cmd}: {text}"
        );
        assert!(
            text.contains("user:password@"),
            "{cmd} says what to do: {text}"
        );
    }
}
