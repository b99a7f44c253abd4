//! `leftovers --delete` mutates, so it takes the pipeline's run lock as `up` and `down` do
//! (issue 16): while a live run holds it, the deletion of that pipeline is refused naming
//! the holder and nothing is deleted (read back from the endpoint); once the lock is
//! free the same command deletes, and leaves no lock behind. `plan` takes no lock but
//! notes the run that holds it.

mod common;

use common::*;

const SPEC: &str = r#"
version: 1
pipeline: locked-lab
streams:
  sensor: {name: locked-stream, mode: on-demand}
"#;

fn lock_file(stack: &Stack) -> std::path::PathBuf {
    stack
        .dir
        .path()
        .join(".labctl/journal/locked-lab-123456789012-us-east-1.lock")
}

fn streams(stack: &Stack) -> Vec<String> {
    let k = stack.kinesis();
    stack.block_on(async {
        k.list_streams()
            .send()
            .await
            .expect("listing streams")
            .stream_names()
            .to_vec()
    })
}

#[test]
fn leftovers_delete_waits_for_the_runs_lock() {
    let stack = Stack::start();
    stack.write_spec(SPEC);
    assert_code(&stack.labctl(&["up"]), 0);
    assert_eq!(streams(&stack), ["locked-stream"]);

    // A live `up` (this test's process) holds the pipeline's lock.
    let p = lock_file(&stack);
    let holder = serde_json::json!({
        "host": labctl::engine::lock::host_name(),
        "pid": std::process::id(),
        "command": "labctl up",
        "since": 1_790_000_000u64,
    });
    std::fs::write(&p, holder.to_string()).expect("lock");
    let args = ["leftovers", "--delete", "--yes", "--pipeline", "locked-lab"];
    let held = stack.labctl(&args);
    assert_code(&held, 1);
    let text = format!("{}{}", stdout(&held), stderr(&held));
    assert!(
        text.contains("another labctl run holds the lock for pipeline locked-lab")
            && text.contains(&format!("pid {} on host", std::process::id())),
        "{text}"
    );
    assert_eq!(
        streams(&stack),
        ["locked-stream"],
        "deleted under a held lock"
    );
    assert!(p.exists(), "the holder's lock was left alone");

    // `plan` takes no lock (it only reads) but says a run may change what it shows.
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, 0);
    assert!(
        stderr(&plan).contains(&format!(
            "note: `labctl up` (pid {} on host",
            std::process::id()
        )) && stderr(&plan).contains("may be out of date"),
        "{}",
        stderr(&plan)
    );
    assert!(p.exists(), "plan left the holder's lock alone");

    // The run ended: the same command deletes and releases the lock.
    std::fs::remove_file(&p).expect("unlock");
    let free = stack.labctl(&args);
    assert_code(&free, 0);
    assert!(streams(&stack).is_empty(), "{}", stdout(&free));
    assert!(!p.exists(), "the lock is released");
}
