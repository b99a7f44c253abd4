//! Issue 16 item 7: the local stack has a port of its own (4599, not LocalStack's 4566),
//! and both `scripts/local-stack start` and `labctl --local` check that they talk to
//! labctl's own front (its identity answer), refusing clearly when something else
//! answers on the port.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const SPEC: &str =
    "version: 1\npipeline: id-lab\nstreams:\n  sensor: {name: id-stream, mode: on-demand}\n";

/// Another server on a port (as LocalStack would be): 200 to everything, no identity.
fn impostor() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}\n\n");
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn labctl_local(dir: &Path, endpoint: &str) -> std::process::Output {
    std::fs::write(dir.join("pipeline.yaml"), SPEC).expect("spec");
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir)
        .args(["--local", "status"])
        .env("LABCTL_LOCAL_ENDPOINT", endpoint)
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("labctl")
}

#[test]
fn local_refuses_a_server_that_is_not_the_local_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = impostor();
    let out = labctl_local(dir.path(), &format!("http://127.0.0.1:{port}"));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("is not labctl's local stack"), "{err}");
    assert!(err.contains("scripts/local-stack start"), "{err}");
}

#[test]
fn local_accepts_the_local_front() {
    let stack = Stack::start();
    let out = labctl_local(stack.dir.path(), &stack.front.url());
    let err = stderr(&out);
    assert!(!err.contains("is not labctl's local stack"), "{err}");
    // The front answered STS and the rest: the stream is missing (exit 3).
    assert_code(&out, 3);
}

#[test]
fn the_default_port_is_not_localstacks() {
    let help = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .arg("--help")
        .output()
        .expect("labctl --help");
    let text = stdout(&help);
    assert!(text.contains("4599") && !text.contains("4566"), "{text}");
}

#[test]
fn local_stack_start_refuses_a_port_taken_by_another_server() {
    let run = tempfile::tempdir().expect("tempdir");
    let port = impostor();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-stack");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .env("LABCTL_LOCAL_PORT", port.to_string())
        .env("LABCTL_MOTO_PORT", free_port().to_string())
        .env("LABCTL_LOCAL_STATE", run.path())
        .stdin(Stdio::null())
        .output()
        .expect("scripts/local-stack");
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "port {port} is taken by something that is not this checkout's local stack"
        )),
        "{err}"
    );
    assert!(!err.contains("local stack running"), "{err}");
    // Nothing of ours was left running.
    for pid in ["moto.pid", "front.pid"] {
        assert!(!run.path().join(pid).exists(), "{pid} left behind");
    }
}
