//! Issue 18, checked artifacts and other accounts' buckets, reproduced on the local
//! stack as the security review demonstrated them:
//! - planted code: an object written at the artifact's (predictable) key by someone
//!   with s3:PutObject is not trusted: `status` reports it, `up` replaces it;
//! - another account's bucket: every S3 call names the expected bucket owner, so
//!   `--adopt` cannot take over a bucket of the same name in another account (the front
//!   answers 403 as S3 does, moto ignores the header);
//! - the front refuses a PutObject whose SHA-256 is not its body's (S3's BadDigest).

mod common;

use common::*;

/// Another account, as moto keeps it (its `x-moto-account-id` header).
const OTHER_ACCOUNT: &str = "210987654321";

fn sha256_b64(bytes: &[u8]) -> String {
    let hex = labctl::artifact::sha256_hex(bytes);
    let digest: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    aws_smithy_types::base64::encode(digest)
}

/// The artifact keys under `code/sensor-data-analytics/` in the lab's bucket.
fn artifact_keys(stack: &Stack, bucket: &str) -> Vec<String> {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.list_objects_v2()
            .bucket(bucket)
            .prefix("code/")
            .send()
            .await
            .expect("listing")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    })
}

fn read(stack: &Stack, bucket: &str, key: &str) -> Vec<u8> {
    let s3 = stack.s3();
    stack.block_on(async {
        s3.get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("GetObject")
            .body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    })
}

#[test]
fn planted_code_at_the_artifact_key_is_replaced_before_the_application_uses_it() {
    let stack = Stack::start();
    write_flink_files(stack.dir.path());
    stack.write_spec(&flink_lab("pl"));
    assert_code(&stack.labctl(&["up"]), 0);
    let bucket = "pl-data-123456789012-us-east-1";
    let keys = artifact_keys(&stack, bucket);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = keys[0].clone();
    // A folder of the application's own: `code/<app>/…`, never `code/<app>-…`.
    assert!(key.starts_with("code/sensor-data-analytics/"), "{key}");
    let good = read(&stack, bucket, &key);
    assert!(
        key.contains(&labctl::artifact::sha256_hex(&good)[..16]),
        "{key}"
    );

    // The attack: overwrite the object at the application's key with other code.
    let evil = b"PK\x03\x04 planted code".to_vec();
    let s3 = stack.s3();
    stack.block_on(async {
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(evil.clone().into())
            .send()
            .await
            .expect("planting")
    });
    let status = stack.labctl(&["status", "--output", "json"]);
    let text = stdout(&status);
    assert_code(&status, 3);
    assert!(
        text.contains("code.sha256"),
        "status names the planted code: {text}"
    );

    stack.front.clear();
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);
    assert_eq!(
        read(&stack, bucket, &key),
        good,
        "the planted object was replaced"
    );
    let puts: Vec<String> = stack
        .front
        .requests()
        .iter()
        .filter(|r| r.service == "s3" && r.operation.starts_with("PUT"))
        .map(|r| r.operation.clone())
        .collect();
    assert!(!puts.is_empty(), "up uploaded the artifact again");
    // And the application was pointed at it again (an update restarts it on the code).
    assert!(
        stack.front.count("UpdateApplication") >= 1,
        "{:?}",
        stack.front.requests()
    );
    // S3 holds the artifact's SHA-256 for it now: a second status is clean of it.
    let again = stack.labctl(&["status", "--output", "json"]);
    // Every resource as declared, nothing flowed yet: 4 (not validated), never 3.
    assert_eq!(
        again.status.code(),
        Some(4),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
    assert!(
        !stdout(&again).contains("code.sha256"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn adopt_refuses_a_bucket_of_the_same_name_in_another_account() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("adopt"));
    let name = "adopt-data-123456789012-us-east-1";
    // Another account creates the lab's (predictable) bucket name first.
    let s3 = stack.s3();
    stack.block_on(async {
        s3.create_bucket()
            .bucket(name)
            .customize()
            .mutate_request(|r| {
                r.headers_mut().insert("x-moto-account-id", OTHER_ACCOUNT);
            })
            .send()
            .await
            .expect("the other account's bucket")
    });
    let up = stack.labctl(&["up", "--adopt"]);
    let text = format!("{}{}", stdout(&up), stderr(&up));
    assert_ne!(up.status.code(), Some(0), "{text}");
    assert!(text.contains("another AWS account"), "{text}");
    // Nothing was written to it: no tag, no policy, no folder.
    let tagged = stack.block_on(async {
        s3.get_bucket_tagging()
            .bucket(name)
            .customize()
            .mutate_request(|r| {
                r.headers_mut().insert("x-moto-account-id", OTHER_ACCOUNT);
            })
            .send()
            .await
    });
    assert!(
        tagged.map(|t| t.tag_set().is_empty()).unwrap_or(true),
        "the other account's bucket was tagged"
    );
    let mutating_s3: Vec<String> = stack
        .front
        .mutating()
        .iter()
        .filter(|r| r.service == "s3")
        .map(|r| r.operation.clone())
        .collect();
    assert!(mutating_s3.is_empty(), "{mutating_s3:?}");
}

#[test]
fn the_front_answers_bad_digest_and_wrong_owner_as_s3_does() {
    let stack = Stack::start();
    stack.write_spec(&small_lab("dig"));
    assert_code(&stack.labctl(&["up"]), 0);
    let bucket = "dig-data-123456789012-us-east-1";
    let front = {
        let url = stack.front.url();
        let conf = stack.block_on(async move {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(url)
                .credentials_provider(aws_credential_types::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load()
                .await
        });
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    };
    let body = b"some bytes".to_vec();
    let wrong = stack.block_on(async {
        front
            .put_object()
            .bucket(bucket)
            .key("x")
            .checksum_sha256(sha256_b64(b"other bytes"))
            .body(body.clone().into())
            .send()
            .await
    });
    let e = wrong.expect_err("a wrong SHA-256 is refused");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    let right = stack.block_on(async {
        front
            .put_object()
            .bucket(bucket)
            .key("x")
            .checksum_sha256(sha256_b64(&body))
            .expected_bucket_owner("123456789012")
            .body(body.clone().into())
            .send()
            .await
    });
    assert!(right.is_ok(), "{right:?}");
    let other = stack.block_on(async {
        front
            .head_bucket()
            .bucket(bucket)
            .expected_bucket_owner(OTHER_ACCOUNT)
            .send()
            .await
    });
    let e = other.expect_err("not that account's bucket");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    // moto's control API is not reachable through the front.
    let (code, _) = http_get(&format!("{}/moto-api/data.json", stack.front.url()));
    assert_eq!(code, 403);
    // (The contract check rightly reports that request as no AWS API: it was ours.)
    let failures = stack.contract.take_failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
}

fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}
