//! Test support for `produce` and `tail`: make a stream, run labctl through another
//! endpoint (a fault proxy), read every shard back through the SDK, and check a
//! record's shard against the MD5 hash range of its partition key.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

use md5::{Digest, Md5};

use crate::common::Stack;

/// A record as read back: shard, sequence number, partition key, data.
#[derive(Debug, Clone)]
pub struct Got {
    pub shard: String,
    pub seq: String,
    pub key: String,
    pub data: String,
}

/// Create a provisioned stream with `shards` shards and wait until it is ACTIVE.
pub fn create_stream(stack: &Stack, name: &str, shards: i32) {
    let k = stack.kinesis();
    stack.block_on(async {
        k.create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("create stream");
        for _ in 0..100 {
            let d = k
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .expect("describe");
            if d.stream_description_summary()
                .map(|s| s.stream_status().as_str() == "ACTIVE")
                .unwrap_or(false)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("stream {name} did not become ACTIVE");
    });
}

/// The labctl command line against `endpoint`, not yet started.
pub fn labctl_cmd(stack: &Stack, endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_labctl"));
    c.current_dir(stack.dir.path())
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Run labctl against `endpoint` instead of the stack's front.
pub fn labctl_at(stack: &Stack, endpoint: &str, args: &[&str]) -> Output {
    labctl_cmd(stack, endpoint, args)
        .output()
        .expect("running labctl")
}

/// Split `shard` of `name` at the middle of its hash range and wait until ACTIVE.
pub fn split_in_half(stack: &Stack, name: &str, shard: &str) {
    let (_, lo, hi) = hash_ranges(stack, name)
        .into_iter()
        .find(|(id, _, _)| id == shard)
        .expect("the shard to split");
    let k = stack.kinesis();
    stack.block_on(async {
        k.split_shard()
            .stream_name(name)
            .shard_to_split(shard)
            .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
            .send()
            .await
            .expect("split shard");
        for _ in 0..100 {
            let d = k
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .expect("describe");
            if d.stream_description_summary()
                .map(|s| s.stream_status().as_str() == "ACTIVE")
                .unwrap_or(false)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("stream {name} did not become ACTIVE after the split");
    });
}

/// Every shard's hash key range: (shard id, start, end), inclusive.
pub fn hash_ranges(stack: &Stack, name: &str) -> Vec<(String, u128, u128)> {
    let k = stack.kinesis();
    stack.block_on(async {
        let shards = k
            .list_shards()
            .stream_name(name)
            .send()
            .await
            .expect("list shards");
        shards
            .shards()
            .iter()
            .map(|s| {
                let r = s.hash_key_range().expect("hash range");
                (
                    s.shard_id().to_string(),
                    r.starting_hash_key().parse().expect("start"),
                    r.ending_hash_key().parse().expect("end"),
                )
            })
            .collect()
    })
}

/// The MD5 hash of a partition key as Kinesis places it.
pub fn key_hash(key: &str) -> u128 {
    let d = Md5::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(d.as_slice());
    u128::from_be_bytes(b)
}

/// Every record in every shard, shard by shard, each in sequence order.
pub fn read_all(stack: &Stack, name: &str) -> Vec<Got> {
    let k = stack.kinesis();
    stack.block_on(async {
        let shards = k
            .list_shards()
            .stream_name(name)
            .send()
            .await
            .expect("list shards");
        let mut out = Vec::new();
        for s in shards.shards() {
            let mut it = k
                .get_shard_iterator()
                .stream_name(name)
                .shard_id(s.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("iterator")
                .shard_iterator()
                .map(str::to_string);
            while let Some(i) = it {
                let r = k
                    .get_records()
                    .shard_iterator(&i)
                    .limit(10_000)
                    .send()
                    .await
                    .expect("get records");
                if r.records().is_empty() {
                    break;
                }
                for rec in r.records() {
                    out.push(Got {
                        shard: s.shard_id().to_string(),
                        seq: rec.sequence_number().to_string(),
                        key: rec.partition_key().unwrap_or_default().to_string(),
                        data: String::from_utf8_lossy(rec.data().as_ref()).into_owned(),
                    });
                }
                it = r.next_shard_iterator().map(str::to_string);
            }
        }
        out
    })
}

/// Lines of a file.
pub fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("reading the --out file")
        .lines()
        .map(str::to_string)
        .collect()
}
