//! `AWS_CA_BUNDLE`: the local emulator serves HTTPS with a certificate made for the
//! test; labctl trusts it only through `AWS_CA_BUNDLE`.
//!
//! The bucket's TLS-only policy cannot be read back here: moto evaluates bucket-policy
//! Deny statements without their conditions, so with that policy in place it refuses
//! every object request, over TLS too. labctl leaves the policy off over plain HTTP;
//! its document is checked by the unit tests of `resource::bucket`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SPEC: &str = r#"
version: 1
pipeline: tls-lab
streams:
  sensor: {name: tls-stream, mode: on-demand}
"#;

#[test]
fn an_https_endpoint_is_trusted_through_aws_ca_bundle_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .args(["-addext", "extendedKeyUsage=serverAuth", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) is needed to make the test certificate");
    assert!(made.success(), "openssl could not make a certificate");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut moto = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string(), "--ssl-cert"])
        .arg(&cert)
        .arg("--ssl-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}");
    std::fs::write(dir.path().join("pipeline.yaml"), SPEC).expect("spec");
    let labctl = |args: &[&str], bundle: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
        c.current_dir(dir.path())
            .args(args)
            .args(["--endpoint-url", &url, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null());
        if bundle {
            c.env("AWS_CA_BUNDLE", &cert);
        }
        c.output().expect("labctl")
    };
    let untrusted = labctl(&["status"], false);
    let up = labctl(&["up"], true);
    let status = labctl(&["status"], true);
    let down = labctl(&["down", "--yes"], true);
    let missing = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
        c.current_dir(dir.path())
            .args(["status", "--endpoint-url", &url, "--region", "us-east-1"])
            .env("AWS_CA_BUNDLE", dir.path().join("nope.pem"))
            .output()
            .expect("labctl")
    };
    let _ = moto.kill();
    let _ = moto.wait();

    assert_code(&untrusted, 1);
    assert_code(&up, 0);
    assert_code(&status, 0);
    assert_code(&down, 0);
    assert_code(&missing, 2);
    assert!(
        stderr(&missing).contains("AWS_CA_BUNDLE=") && stderr(&missing).contains("cannot read it"),
        "{}",
        stderr(&missing)
    );
}
