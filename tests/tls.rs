//! `AWS_CA_BUNDLE`: the local emulator serves HTTPS with a certificate made for the
//! test; labctl trusts it only through `AWS_CA_BUNDLE`.
//!
//! Over TLS labctl applies the bucket's TLS-only policy, so the bucket's three
//! protections are read back here. moto evaluates bucket-policy Deny statements without
//! their conditions, so with that policy in place it refuses every *object* request
//! (over TLS too): the bucket in this test declares no folder markers, which keeps
//! labctl to bucket-level calls. (Over plain HTTP labctl leaves the policy off.)

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

/// A certificate for 127.0.0.1 and moto serving HTTPS with it: (dir, cert, url, moto).
fn tls_moto() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    std::process::Child,
) {
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
    let moto = Command::new(moto_server())
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
    (dir, cert, url, moto)
}

#[test]
fn an_https_endpoint_is_trusted_through_aws_ca_bundle_only() {
    let (dir, cert, url, mut moto) = tls_moto();
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
    assert_code(&status, 4); // as declared; checks pending (nothing produced): exit 4
    assert_code(&down, 0);
    assert_code(&missing, 2);
    assert!(
        stderr(&missing).contains("AWS_CA_BUNDLE=") && stderr(&missing).contains("cannot read it"),
        "{}",
        stderr(&missing)
    );
}

const BUCKET_SPEC: &str = r#"
version: 1
pipeline: tls-lab
buckets:
  data: {name: "tls-data-${account_id}-${region}", folders: []}
"#;
const BUCKET: &str = "tls-data-123456789012-us-east-1";

#[test]
fn encryption_public_access_block_and_the_tls_only_policy_are_read_back() {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let (dir, cert, url, mut moto) = tls_moto();
    std::fs::write(dir.path().join("pipeline.yaml"), BUCKET_SPEC).expect("spec");
    let labctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(dir.path())
            .args(args)
            .args(["--endpoint-url", &url, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CA_BUNDLE", &cert)
            .stdin(Stdio::null())
            .output()
            .expect("labctl")
    };
    let up = labctl(&["up"]);
    let status = labctl(&["status"]);
    let pem = std::fs::read(&cert).expect("cert");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (enc, pab, policy) = runtime.block_on(async {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(
                TlsContext::builder()
                    .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
                    .build()
                    .expect("tls"),
            )
            .build_https();
        let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&url)
            .http_client(http)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&cfg)
                .force_path_style(true)
                .build(),
        );
        (
            s3.get_bucket_encryption().bucket(BUCKET).send().await,
            s3.get_public_access_block().bucket(BUCKET).send().await,
            s3.get_bucket_policy().bucket(BUCKET).send().await,
        )
    });
    let down = labctl(&["down", "--yes"]);
    let _ = moto.kill();
    let _ = moto.wait();

    assert_code(&up, 0);
    assert!(
        !stderr(&up).contains("not applying the TLS-only bucket policy"),
        "{}",
        stderr(&up)
    );
    assert_code(&status, 4); // as declared; checks pending (nothing produced): exit 4
    let enc = enc.expect("encryption");
    let rule = enc
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first())
        .expect("a rule");
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .map(|d| d.sse_algorithm().as_str()),
        Some("AES256")
    );
    let pab = pab.expect("public access block");
    let c = pab.public_access_block_configuration().expect("config");
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let policy: serde_json::Value =
        serde_json::from_str(policy.expect("policy").policy().expect("document")).expect("json");
    let st = &policy["Statement"][0];
    assert_eq!(
        (st["Effect"].as_str(), st["Principal"].as_str()),
        (Some("Deny"), Some("*"))
    );
    assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(
        st["Resource"],
        serde_json::json!([
            format!("arn:aws:s3:::{BUCKET}"),
            format!("arn:aws:s3:::{BUCKET}/*")
        ])
    );
    assert_code(&down, 0);
}
