//! The local stack's log files are bounded (issue 18, "bounded logs"): scripts/local-stack
//! pipes moto's and the front's output through scripts/capped-log, which is run here on
//! more output than its cap.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn capped_log_keeps_at_most_two_files_of_the_cap() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("moto.log");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/capped-log");
    let mut child = Command::new(script)
        .arg(&log)
        .arg("1000")
        .stdin(Stdio::piped())
        .spawn()
        .expect("scripts/capped-log runs");
    {
        let mut stdin = child.stdin.take().expect("its standard input");
        for i in 0..1000 {
            writeln!(stdin, "request {i:04} 127.0.0.1 GET / 200").expect("written");
        }
        // One line longer than the cap is cut to it.
        writeln!(stdin, "{}", "x".repeat(5000)).expect("written");
        writeln!(stdin, "last line").expect("written");
    }
    assert!(child.wait().expect("it ends").success());
    let now = std::fs::read_to_string(&log).expect("the log");
    let before = std::fs::read(dir.path().join("moto.log.1")).expect("the previous log");
    assert!(now.len() <= 1000, "log has {} bytes", now.len());
    assert!(
        before.len() <= 1000,
        "previous log has {} bytes",
        before.len()
    );
    assert!(now.ends_with("last line\n"), "{now}");
    let files = std::fs::read_dir(dir.path()).expect("listed").count();
    assert_eq!(files, 2, "only the log and one previous file are kept");
    eprintln!(
        "37,000+ bytes written; kept {} + {} bytes",
        now.len(),
        before.len()
    );
}

#[test]
fn a_log_size_that_is_no_number_of_bytes_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = env!("CARGO_MANIFEST_DIR");
    // capped-log itself.
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/capped-log"))
        .arg(dir.path().join("x.log"))
        .arg("10MB")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/capped-log runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'10MB' is not a size in bytes"));
    // scripts/local-stack refuses before it starts anything (its state directory stays empty).
    let state = dir.path().join("state");
    let out = Command::new(format!("{root}/scripts/local-stack"))
        .arg("start")
        .env("LABCTL_LOCAL_STATE", &state)
        .env("LABCTL_LOCAL_LOG_MAX", "10MB")
        .output()
        .expect("scripts/local-stack runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("LABCTL_LOCAL_LOG_MAX=10MB is not a size in bytes"),
        "{err}"
    );
    assert!(!state.exists(), "local-stack made its state directory");
}
