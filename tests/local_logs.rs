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
