//! Issue 16 item 3: failures to reach AWS at all come out as one line in the AWS CLI's
//! vocabulary, with no SDK Debug dump and no IMDS WARN lines: no credentials, an unknown
//! profile, no region, rejected and expired credentials, an untrusted certificate (one
//! attempt only, naming AWS_CA_BUNDLE), an endpoint that accepts and never answers (with
//! progress while it waits). Item 4: `-vv` shows each request as one line.
//! No moto needed: each endpoint here is a few lines of std networking.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

const SPEC: &str =
    "version: 1\npipeline: err-lab\nstreams:\n  sensor: {name: err-stream, mode: on-demand}\n";

/// labctl in `dir` with a clean AWS environment (no credentials, no profile, no
/// instance metadata) plus `env`.
fn labctl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    std::fs::write(dir.join("pipeline.yaml"), SPEC).expect("spec");
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(dir).args(args).stdin(Stdio::null());
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "LABCTL_LOG",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("labctl")
}

/// One line of error, no SDK Debug output, no tracing WARN lines.
#[track_caller]
fn one_clean_line(o: &Output, needle: &str) {
    let err = stderr(o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{err}");
    assert!(errors[0].contains(needle), "{needle:?} in:\n{err}");
    for dump in [
        "WARN",
        "Error {",
        "source:",
        "DispatchFailure",
        "ProviderError",
        "Some(",
    ] {
        assert!(!err.contains(dump), "{dump:?} in stderr:\n{err}");
    }
}

#[test]
fn no_credentials_reads_unable_to_locate_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = labctl(dir.path(), &["status", "--region", "us-east-1"], &[]);
    assert_code(&o, 1);
    one_clean_line(&o, "Unable to locate credentials");
}

#[test]
fn an_unknown_profile_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".aws")).expect("dir");
    std::fs::write(
        dir.path().join(".aws/config"),
        "[profile dev]\nregion = eu-west-1\n",
    )
    .expect("config");
    let o = labctl(dir.path(), &["status", "--profile", "nope"], &[]);
    assert_code(&o, 2);
    one_clean_line(&o, "The config profile (nope) could not be found");
    let o = labctl(dir.path(), &["status"], &[("AWS_PROFILE", "gone")]);
    assert_code(&o, 2);
    one_clean_line(&o, "The config profile (gone) could not be found");
}

#[test]
fn no_region_is_one_line_without_imds_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = labctl(
        dir.path(),
        &["status"],
        &[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")],
    );
    assert_code(&o, 2);
    one_clean_line(&o, "no AWS region");
}

/// An endpoint that answers every request with `status` and `body`, counting connections.
fn answering(status: &str, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut s = s;
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    (url, count)
}

/// STS's error document (query protocol), as in the STS API Reference's "Common Errors".
const REJECTED: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r1</RequestId></ErrorResponse>";
const EXPIRED: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>r2</RequestId></ErrorResponse>";

#[test]
fn rejected_and_expired_credentials_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ];
    let (url, _) = answering("403 Forbidden", REJECTED);
    let o = labctl(
        dir.path(),
        &["status", "--region", "us-east-1", "--endpoint-url", &url],
        &keys,
    );
    assert_code(&o, 1);
    one_clean_line(&o, "were rejected (InvalidClientTokenId");
    let (url, _) = answering("403 Forbidden", EXPIRED);
    let o = labctl(
        dir.path(),
        &["status", "--region", "us-east-1", "--endpoint-url", &url],
        &keys,
    );
    assert_code(&o, 1);
    one_clean_line(&o, "have expired (ExpiredToken");
}

#[test]
fn an_endpoint_that_never_answers_times_out_with_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    // Accept and hold every connection, never answering.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    let o = labctl(
        dir.path(),
        &["status", "--region", "us-east-1", "--endpoint-url", &url],
        &[
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
            ("LABCTL_TIMEOUT_SECONDS", "4"),
        ],
    );
    assert_code(&o, 1);
    one_clean_line(&o, &format!("no answer from {url} within 4 s"));
    assert!(stderr(&o).contains("still waiting for"), "{}", stderr(&o));
}

#[test]
fn an_untrusted_certificate_fails_on_the_first_attempt_naming_aws_ca_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) makes the test certificate");
    assert!(made.success());
    let inner_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &inner_port.to_string(),
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", inner_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A counting relay in front of it: how many connections labctl opened.
    let relay = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}", relay.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for client in relay.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", inner_port)) else {
                continue;
            };
            let (mut a, mut b) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            let (mut c, mut d) = (client, upstream);
            // Each direction closes the other side when it ends (s_server serves one
            // connection at a time: the probe's must not stay open).
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut d, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    let o = labctl(
        dir.path(),
        &["status", "--region", "us-east-1", "--endpoint-url", &url],
        &[
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
            ("LABCTL_TIMEOUT_SECONDS", "20"),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_code(&o, 1);
    one_clean_line(&o, "SSL validation failed for");
    assert!(stderr(&o).contains("AWS_CA_BUNDLE"), "{}", stderr(&o));
    // The reachability probe is one connection, the one attempt the other: no retries.
    assert_eq!(count.load(Ordering::SeqCst), 2, "{}", stderr(&o));
}

#[test]
fn vv_shows_each_request_as_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = answering("403 Forbidden", REJECTED);
    let o = labctl(
        dir.path(),
        &[
            "status",
            "-vv",
            "--region",
            "us-east-1",
            "--endpoint-url",
            &url,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
        ],
    );
    assert_code(&o, 1);
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("STS GetCallerIdentity"))
        .unwrap_or_else(|| panic!("no request line:\n{err}"));
    assert!(line.contains("-> 403 (attempt 1,"), "{line}");
    assert!(line.contains(" ms)"), "{line}");
    assert!(
        !err.contains("AKIDEXAMPLE"),
        "the access key id leaked:\n{err}"
    );
    assert!(err.lines().count() < 40, "-vv is short:\n{err}");
}
