//! The create journal cannot be used against its user (issue 18): a journal shipped in
//! a lab repository does not make `down` delete an untagged bucket or role of the same
//! name, and an endpoint that answers GetCallerIdentity with a path (`../..`) cannot
//! move where labctl writes. (Links, modes and world-writable directories are unit
//! tests in src/fsafe.rs; another uid cannot be simulated without root.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;

const ACCOUNT: &str = "123456789012";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A journal as a lab repository could ship it, with `mode`, naming the bucket and
/// role of `small_lab("ship")` as creates begun at `began`.
fn ship_journal(stack: &Stack, began: i64, mode: u32) {
    let dir = stack.dir.path().join(".labctl/journal");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let entry = |kind: &str, name: &str| serde_json::json!({"kind": kind, "name": name, "first_began": began, "began": began});
    let doc = serde_json::json!({"version": 2, "entries": [
        entry("bucket", &format!("ship-data-{ACCOUNT}-us-east-1")),
        entry("role", "ship-delivery"),
    ]});
    let file = dir.join(format!("ship-lab-{ACCOUNT}-us-east-1.json"));
    std::fs::write(&file, doc.to_string()).expect("write journal");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn bucket_and_role_exist(stack: &Stack) -> (bool, bool) {
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    let s3 = stack.s3();
    stack.block_on(async {
        let bucket = s3
            .head_bucket()
            .bucket(format!("ship-data-{ACCOUNT}-us-east-1"))
            .send()
            .await
            .is_ok();
        let role = iam
            .get_role()
            .role_name("ship-delivery")
            .send()
            .await
            .is_ok();
        (bucket, role)
    })
}

#[test]
fn a_shipped_journal_does_not_make_down_delete_untagged_resources() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("ship"));
    // Someone's own bucket (with data) and role, untagged, with the spec's names.
    let iam = aws_sdk_iam::Client::new(&stack.sdk_config());
    let s3 = stack.s3();
    stack.block_on(async {
        let b = format!("ship-data-{ACCOUNT}-us-east-1");
        s3.create_bucket().bucket(&b).send().await.expect("bucket");
        s3.put_object()
            .bucket(&b)
            .key("precious.csv")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("object");
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        iam.create_role()
            .role_name("ship-delivery")
            .path("/labctl/")
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("role");
    });
    assert_eq!(bucket_and_role_exist(&stack), (true, true));

    // Shipped with the modes a checkout gives (0644), dated now: not trusted at all.
    ship_journal(&stack, now(), 0o644);
    let out = stack.labctl(&["down", "--yes"]);
    assert_code(&out, 0); // the untrusted entries' resources are left alone, not a failure
    assert_eq!(
        bucket_and_role_exist(&stack),
        (true, true),
        "down with a 0644 shipped journal deleted them\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // Even as 0600 (a checkout under umask 077), dated when the repository was made: the
    // entries do not bind to resources that were not made by that create.
    ship_journal(&stack, now() - 2 * 86_400, 0o600);
    let out = stack.labctl(&["down", "--yes"]);
    assert_code(&out, 0);
    assert_eq!(
        bucket_and_role_exist(&stack),
        (true, true),
        "down with a 0600 shipped journal deleted them\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("left-alone") || text.contains("left alone"),
        "{text}"
    );
}

/// An endpoint that answers every request with GetCallerIdentity naming `account`;
/// returns its URL and the requests' first lines and bodies.
fn fake_sts(account: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut first = String::new();
            let mut length = 0usize;
            let mut line = String::new();
            if reader.read_line(&mut first).unwrap_or(0) == 0 {
                continue; // a connection closed without a request
            }
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            log.lock().expect("log").push(format!(
                "{} {}",
                first.trim(),
                String::from_utf8_lossy(&body)
            ));
            let xml = format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/x</Arn><UserId>AIDA</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
            );
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn an_account_id_that_is_a_path_moves_nothing() {
    let (url, seen) = fake_sts("../..");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("a/b");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // No ${account_id} in a name: the account id reaches only the journal's path.
    let spec = "version: 1\npipeline: path-lab\nstreams:\n  s: {name: s1, mode: on-demand}\n";
    std::fs::write(dir.join("pipeline.yaml"), spec).expect("spec");
    let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(&dir)
        .args(["up", "--endpoint-url", &url, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .output()
        .expect("running labctl");
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not 12 digits"),
        "stderr: {}",
        stderr(&out)
    );
    // Nothing but the spec anywhere under the root, and only STS was asked.
    let mut files = Vec::new();
    let mut todo = vec![root.path().to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("list").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push(
                    p.strip_prefix(root.path())
                        .expect("rel")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    files.sort();
    assert_eq!(files, vec!["a/b/pipeline.yaml"]);
    let seen = seen.lock().expect("log").clone();
    assert!(!seen.is_empty());
    for r in &seen {
        assert!(
            r.contains("GetCallerIdentity"),
            "a request other than STS: {r}"
        );
    }
}

/// Run `labctl up` and SIGKILL it when it tries its second mutating request (after
/// CreateBucket, before PutBucketTagging): an untagged bucket is left behind.
fn kill_after_create_bucket(stack: &Stack) {
    stack.front.release();
    stack.front.hold_after_mutating(1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(["up", "-q", "--endpoint-url", &stack.front.url()])
        .args(["--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn labctl");
    loop {
        if stack.front.held() > 0 {
            child.kill().expect("SIGKILL");
            break;
        }
        assert!(
            child.try_wait().expect("wait").is_none(),
            "up finished before its second mutating request"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let _ = child.wait();
    stack.front.release();
}

fn bucket_tag(stack: &Stack, bucket: &str) -> Option<Option<String>> {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.head_bucket().bucket(bucket).send().await.ok()?;
        Some(
            s3.get_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .ok()
                .and_then(|t| {
                    t.tag_set()
                        .iter()
                        .find(|t| t.key() == "labctl:pipeline")
                        .map(|t| t.value().to_string())
                }),
        )
    })
}

#[test]
fn the_journal_still_finishes_or_removes_an_interrupted_bucket_create() {
    let stack = Stack::start();
    let bucket = "interrupted-data-bucket";
    stack.write_spec(&format!(
        "version: 1\npipeline: int-lab\nbuckets:\n  data: {{name: {bucket}}}\n"
    ));
    // Killed between CreateBucket and its tag: the bucket is there, untagged.
    kill_after_create_bucket(&stack);
    assert_eq!(bucket_tag(&stack, bucket), Some(None));
    // The next down knows it is labctl's own (its creation time binds to the entry).
    let out = stack.labctl(&["down", "--yes"]);
    assert_code(&out, 0);
    assert_eq!(bucket_tag(&stack, bucket), None, "{}", stdout(&out));

    // Killed again; the next up finishes the create, and the entry expires.
    kill_after_create_bucket(&stack);
    assert_eq!(bucket_tag(&stack, bucket), Some(None));
    let out = stack.labctl(&["up"]);
    assert_code(&out, 0);
    assert_eq!(
        bucket_tag(&stack, bucket),
        Some(Some("int-lab".to_string()))
    );
    let journal = stack
        .dir
        .path()
        .join(format!(".labctl/journal/int-lab-{ACCOUNT}-us-east-1.json"));
    assert!(!journal.exists(), "the entry outlived the tag");
}
