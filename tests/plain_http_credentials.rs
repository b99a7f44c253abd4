//! Real AWS access keys (AKIA…/ASIA…) are never sent over plain HTTP to a host that is
//! not this machine (issue 18): labctl, given such a key and an `http://` endpoint at
//! this machine's non-loopback address, exits 2 and no request reaches the listener
//! there (its reachability probe connects and sends nothing). The same run with test
//! credentials does send a signed request there, so the refusal is the credentials'
//! doing.

use std::io::Read;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};

/// This machine's address on its default route, if it has one that is not loopback
/// (a UDP "connect" picks the route and sends nothing).
fn non_loopback_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

fn labctl(endpoint: &str, key: &str, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(dir)
        .args([
            "leftovers",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", key)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running labctl")
}

/// Bytes received on every connection accepted so far (each peer has closed: read to
/// its end). labctl's reachability probe connects and sends nothing.
fn bytes_received(listener: &TcpListener) -> usize {
    let mut total = 0;
    loop {
        match listener.accept() {
            Ok((mut conn, _)) => {
                conn.set_nonblocking(false).expect("blocking");
                let mut buf = Vec::new();
                let _ = conn.read_to_end(&mut buf);
                total += buf.len();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn real_keys_are_not_sent_over_plain_http_to_another_host() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    let listener = TcpListener::bind((ip, 0)).expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let dir = tempfile::tempdir().expect("dir");

    for key in ["AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE"] {
        let out = labctl(&endpoint, key, dir.path())
            .wait_with_output()
            .expect("labctl");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {err}");
        assert!(err.contains("refusing to send AWS credentials"), "{err}");
        assert!(
            !err.contains("IOSFODNN7EXAMPLE"),
            "the key was printed: {err}"
        );
        assert_eq!(
            bytes_received(&listener),
            0,
            "{key}: a request reached {endpoint}"
        );
    }

    // Control: with test credentials a request does reach the listener (it never
    // answers; labctl is stopped once the request has arrived).
    let mut child = labctl(&endpoint, "testing", dir.path());
    listener.set_nonblocking(false).expect("blocking");
    let mut got = Vec::new();
    while got.is_empty() {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        if let Ok(n) = conn.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        String::from_utf8_lossy(&got).contains(" HTTP/1.1"),
        "the control sent no HTTP request: {}",
        String::from_utf8_lossy(&got)
    );
}
