//! The lab's Flink application on real Apache Flink with the real connectors, against
//! the local stack: `labctl up` of the shipped pipeline.yaml, then `main.py` from the
//! zip labctl uploaded (read back from S3), with its jar `lib/labctl-connectors.jar` and
//! the unmodified `sql/aggregate.flink.sql`, run on PyFlink 1.20 (the FLINK-1_20
//! runtime; `scripts/pyflink install`) with the runtime properties labctl gave the
//! application (read back with DescribeApplication) plus only endpoint and credential
//! properties (`connector.<id>.<option>`, which main.py adds to the tables' options).
//! The Kinesis table source reads the lab's stream through the local stack; the
//! Firehose table sink calls PutRecordBatch on the local stack's processed delivery
//! stream. The per-sensor per-minute aggregates read back from every object under the
//! delivery's `processed-stream/` prefix (records back to back, as Firehose writes them)
//! must equal what this test computes from the records it sent.
//!
//! Run twice: with the uploaded jar (assembled in the lock's order) and with a jar
//! assembled from the lock with its artifact lines reversed, which must be byte for
//! byte the same. Skipped only when PyFlink or Java is not installed.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_code, Stack};
use labctl::artifact::{self, connectors};
use labctl_local::front::{self, Front};

const KEY_ID: &str = "testing";
const SECRET: &str = "testing";

/// A small deterministic generator (xorshift64*), independent of labctl's own.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi), rounded to 2 decimals like the lab's producer.
    fn reading(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo + u * (hi - lo)) * 100.0).round() / 100.0
    }
}

#[derive(Debug, Default)]
struct Agg {
    temps: Vec<f64>,
    hums: Vec<f64>,
}

/// PyFlink's python and Java, or why the test cannot run.
fn tools(root: &Path) -> Result<PathBuf, String> {
    let python = root.join(".labctl/pyflink/bin/python");
    let ok = Command::new(&python)
        .args([
            "-c",
            "import pyflink.version as v; assert v.__version__.startswith('1.20.')",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "PyFlink 1.20 is not installed in {} (scripts/pyflink install)",
            python.display()
        ));
    }
    let java = Command::new("java").arg("-version").output();
    if !java.map(|o| o.status.success()).unwrap_or(false) {
        return Err("java is not on PATH".into());
    }
    Ok(python)
}

/// 3 sensors, one reading each every 2 s over four event-time minutes of `day`, in time
/// order, both timestamp forms producers write; then one reading at 10:05:30 that only
/// closes the windows before it (its own window never closes, so it is not expected).
fn readings(day: u32, seed: u64) -> (Vec<String>, BTreeMap<(String, String), Agg>) {
    let mut g = Gen(seed);
    let mut lines = Vec::new();
    let mut expected: BTreeMap<(String, String), Agg> = BTreeMap::new();
    for step in 0..120u64 {
        for n in 1..=3u64 {
            let sec = step * 2;
            let ms = g.next() % 1000;
            let (m, s) = (sec / 60, sec % 60);
            let base = format!("2026-01-{day:02}T10:{m:02}:{s:02}.{ms:03}");
            let ts = if (step + n) % 2 == 0 {
                format!("{base}Z")
            } else {
                format!("{base}000")
            };
            let sensor = format!("sensor-{n:03}");
            let (t, h, p) = (
                g.reading(10.0, 40.0),
                g.reading(30.0, 90.0),
                g.reading(980.0, 1030.0),
            );
            lines.push(
                serde_json::json!({"sensor_id": sensor, "timestamp": ts, "temperature": t, "humidity": h, "pressure": p})
                    .to_string(),
            );
            let a = expected
                .entry((sensor, format!("2026-01-{day:02} 10:{m:02}:00")))
                .or_default();
            a.temps.push(t);
            a.hums.push(h);
        }
    }
    lines.push(
        serde_json::json!({"sensor_id": "sensor-001", "timestamp": format!("2026-01-{day:02}T10:05:30.000Z"), "temperature": 20.0, "humidity": 50.0, "pressure": 1000.0})
            .to_string(),
    );
    (lines, expected)
}

/// The application as labctl created it: its code location and property groups.
struct App {
    bucket: String,
    key: String,
    groups: BTreeMap<String, BTreeMap<String, String>>,
}

fn describe_app(stack: &Stack) -> App {
    let conf = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    let client = aws_sdk_kinesisanalyticsv2::Client::from_conf(conf);
    stack.block_on(async {
        let d = client
            .describe_application()
            .application_name("sensor-data-analytics")
            .send()
            .await
            .expect("DescribeApplication");
        let d = d.application_detail().expect("detail");
        let conf = d
            .application_configuration_description()
            .expect("configuration");
        let loc = conf
            .application_code_configuration_description()
            .and_then(|c| c.code_content_description())
            .and_then(|c| c.s3_application_code_location_description())
            .expect("S3 code location");
        let groups = conf
            .environment_property_descriptions()
            .map(|e| e.property_group_descriptions())
            .unwrap_or_default()
            .iter()
            .map(|g| {
                let m = g
                    .property_map()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (g.property_group_id().to_string(), m)
            })
            .collect();
        App {
            bucket: loc
                .bucket_arn()
                .trim_start_matches("arn:aws:s3:::")
                .to_string(),
            key: loc.file_key().to_string(),
            groups,
        }
    })
}

fn get_object(stack: &Stack, bucket: &str, key: &str) -> Vec<u8> {
    let s3 = stack.s3();
    stack.block_on(async {
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("GetObject");
        o.body.collect().await.expect("body").into_bytes().to_vec()
    })
}

/// Every object under `prefix`, decoded as JSON values written back to back.
fn delivered_rows(stack: &Stack, bucket: &str, prefix: &str) -> (usize, Vec<serde_json::Value>) {
    let s3 = stack.s3();
    let keys: Vec<String> = stack.block_on(async {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("ListObjectsV2");
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => return keys,
            }
        }
    });
    let mut rows = Vec::new();
    for k in &keys {
        let body = get_object(stack, bucket, k);
        for v in serde_json::Deserializer::from_slice(&body).into_iter::<serde_json::Value>() {
            rows.push(v.unwrap_or_else(|e| panic!("{k}: not concatenated JSON records: {e}")));
        }
    }
    (keys.len(), rows)
}

/// The jar assembled from the lock with its artifact lines in reverse order (from the
/// artifacts labctl's cache already verified, into a cache of its own).
fn reversed_jar(work: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    let mut artifacts = Vec::new();
    for l in artifact::LOCK.lines() {
        if l.starts_with("artifact ") {
            artifacts.push(l);
        } else {
            head.push(l);
        }
    }
    artifacts.reverse();
    let text = head
        .into_iter()
        .chain(artifacts)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let lock = connectors::parse_lock(&text, Path::new("reversed.lock")).expect("reversed lock");
    let key = connectors::lock_key(text.as_bytes());
    let verified = connectors::default_cache_dir().join("maven");
    let repo = if verified.is_dir() {
        connectors::Repository::Dir(verified)
    } else {
        connectors::Repository::from_env().expect("LABCTL_MAVEN_REPOSITORY")
    };
    let cache = work.join("reversed-cache");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let built = rt
        .block_on(connectors::assemble(
            &lock,
            &key,
            &repo,
            &cache,
            &connectors::NoProgress,
        ))
        .expect("assembling the reversed lock");
    std::fs::read(&built.path).expect("reversed jar")
}

/// Extract the zip into `dir` (main.py, sql/, lib/).
fn unpack(zip: &[u8], dir: &Path) {
    for (name, bytes) in artifact::entries(zip).expect("zip") {
        assert!(!name.contains("..") && !name.starts_with('/'), "{name}");
        let p = dir.join(&name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
        std::fs::write(p, bytes).expect("write");
    }
}

struct Job {
    child: Child,
    work: PathBuf,
}

impl Job {
    /// The exit status, once main.py has ended.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn tail(&self) -> String {
        let mut text = std::fs::read_to_string(self.work.join("job.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        text = lines[lines.len().saturating_sub(40)..].join("\n");
        if let Ok(logs) = std::fs::read_dir(self.work.join("log")) {
            for e in logs.flatten() {
                let log = std::fs::read_to_string(e.path()).unwrap_or_default();
                let bad: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains(" ERROR ") || l.contains("Exception"))
                    .collect();
                text += &format!(
                    "\n--- {:?}: {} error lines, last ones:\n{}",
                    e.file_name(),
                    bad.len(),
                    bad[bad.len().saturating_sub(30)..].join("\n")
                );
            }
        }
        text
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // The whole process group: PyFlink's python and the JVM it started.
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) with the (negative) id of the group this test created.
        unsafe { libc::kill(-pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// main.py on PyFlink in `app`, with the application's property groups plus the local
/// endpoint and credential properties.
fn start_job(
    python: &Path,
    app: &Path,
    work: &Path,
    groups: &BTreeMap<String, BTreeMap<String, String>>,
    kinesis_url: &str,
    firehose_url: &str,
) -> Job {
    let mut groups = groups.clone();
    let pipeline = groups
        .get_mut(artifact::PROPERTY_GROUP)
        .expect("PipelineProperties");
    for (id, url) in [("kinesis", kinesis_url), ("firehose", firehose_url)] {
        pipeline.insert(format!("connector.{id}.aws.endpoint"), url.to_string());
        pipeline.insert(
            format!("connector.{id}.aws.credentials.provider"),
            "BASIC".into(),
        );
        pipeline.insert(
            format!("connector.{id}.aws.credentials.basic.accesskeyid"),
            KEY_ID.into(),
        );
        pipeline.insert(
            format!("connector.{id}.aws.credentials.basic.secretkey"),
            SECRET.into(),
        );
    }
    // aws-base 4.3.0 defaults to HTTP/2, which over plain http is h2c with prior
    // knowledge; the local endpoint speaks HTTP/1.1.
    pipeline.insert(
        "connector.firehose.aws.http.protocol.version".into(),
        "HTTP1_1".into(),
    );
    let json: Vec<serde_json::Value> = groups
        .iter()
        .map(|(g, m)| serde_json::json!({"PropertyGroupId": g, "PropertyMap": m}))
        .collect();
    std::fs::create_dir_all(work).expect("work dir");
    let props = work.join("application_properties.json");
    std::fs::write(&props, serde_json::to_vec_pretty(&json).expect("json")).expect("properties");
    let log = std::fs::File::create(work.join("job.log")).expect("job.log");
    let mut cmd = Command::new(python);
    cmd.arg(app.join("main.py"))
        .current_dir(app)
        .env("LABCTL_APPLICATION_PROPERTIES", &props)
        // The connector's Kinesis client (SDK v1) speaks CBOR, which moto does not.
        .env("AWS_CBOR_DISABLE", "true")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("FLINK_LOG_DIR", work.join("log"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .process_group(0);
    for k in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    Job {
        child: cmd.spawn().expect("starting PyFlink"),
        work: work.to_path_buf(),
    }
}

fn open_shards(stack: &Stack, stream: &str) -> usize {
    let k = stack.kinesis();
    stack.block_on(async {
        let out = k
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .expect("ListShards");
        out.shards()
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_none()
            })
            .count()
    })
}

fn put_readings(stack: &Stack, stream: &str, lines: &[String]) {
    let k = stack.kinesis();
    stack.block_on(async {
        for chunk in lines.chunks(100) {
            let records = chunk
                .iter()
                .map(|l| {
                    aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                        // One partition key: one shard, so the records reach the job in
                        // the order sent (the watermark never passes a record not yet read).
                        .partition_key("labctl-pyflink-test")
                        .data(aws_smithy_types::Blob::new(l.as_bytes()))
                        .build()
                        .expect("entry")
                })
                .collect();
            let out = k
                .put_records()
                .stream_name(stream)
                .set_records(Some(records))
                .send()
                .await
                .expect("PutRecords");
            assert_eq!(out.failed_record_count(), Some(0), "PutRecords failures");
        }
    });
}

/// One run: start the job, wait until it holds an iterator on every shard, send the
/// readings, and wait (bounded) for every expected aggregate under `processed-stream/`.
#[allow(clippy::too_many_arguments)]
fn run_once(
    stack: &Stack,
    kinesis_front: &Front,
    python: &Path,
    app_dir: &Path,
    work: &Path,
    app: &App,
    day: u32,
    label: &str,
) {
    let stream = app.groups[artifact::PROPERTY_GROUP]["input.stream.name"].clone();
    let delivery_bucket = app.bucket.clone();
    let shards = open_shards(stack, &stream);
    let base = kinesis_front.count("GetShardIterator");
    let started = Instant::now();
    let mut job = start_job(
        python,
        app_dir,
        work,
        &app.groups,
        &kinesis_front.url(),
        &stack.front.url(),
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while kinesis_front.count("GetShardIterator") < base + shards
        || kinesis_front.count("GetRecords") == 0
    {
        if let Some(code) = job.exited() {
            panic!(
                "{label}: main.py exited ({code}) before reading the stream:\n{}",
                job.tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{label}: the job got no iterator on all {shards} shards in 300 s:\n{}",
            job.tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let reading_after = started.elapsed();
    let (lines, expected) = readings(day, 0x5EED_0000_0000_0000 + day as u64);
    let sent = Instant::now();
    put_readings(stack, &stream, &lines);
    let date = format!("2026-01-{day:02}");
    let deadline = Instant::now() + Duration::from_secs(240);
    let (objects, rows) = loop {
        let (objects, all) = delivered_rows(stack, &delivery_bucket, "processed-stream/");
        let rows: Vec<serde_json::Value> = all
            .into_iter()
            .filter(|r| {
                r["window_start_time"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&date))
            })
            .collect();
        let have = expected
            .keys()
            .filter(|(s, w)| {
                rows.iter()
                    .any(|r| r["sensor_id"] == s.as_str() && r["window_start_time"] == w.as_str())
            })
            .count();
        if have == expected.len() {
            break (objects, rows);
        }
        if let Some(code) = job.exited() {
            panic!(
                "{label}: main.py exited ({code}) with {have}/{} aggregates delivered:\n{}",
                expected.len(),
                job.tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{label}: {have}/{} aggregates under processed-stream/ after 240 s: {rows:?}\n{}",
            expected.len(),
            job.tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let delivered_after = sent.elapsed();
    check(label, &expected, &rows, &job);
    eprintln!(
        "{label}: job reading after {:.1} s; {} records sent; all {} aggregates in S3 {:.1} s later ({} rows for {date} in {objects} objects under processed-stream/); kinesis calls through the front: GetShardIterator {}, GetRecords {}",
        reading_after.as_secs_f64(),
        lines.len(),
        expected.len(),
        delivered_after.as_secs_f64(),
        rows.len(),
        kinesis_front.count("GetShardIterator"),
        kinesis_front.count("GetRecords"),
    );
}

/// Every expected (sensor, window) once with this test's numbers; nothing else for the
/// day. Identical copies of a row are tolerated (a second consumer of the stream, such
/// as an emulator running the application itself, delivers the same aggregates).
fn check(
    label: &str,
    expected: &BTreeMap<(String, String), Agg>,
    rows: &[serde_json::Value],
    job: &Job,
) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    let mut seen: BTreeMap<(String, String), &serde_json::Value> = BTreeMap::new();
    for r in rows {
        let k = (
            r["sensor_id"].as_str().unwrap_or_default().to_string(),
            r["window_start_time"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        assert!(
            expected.contains_key(&k),
            "{label}: unexpected row {r}\n{}",
            job.tail()
        );
        if let Some(prev) = seen.insert(k, r) {
            assert_eq!(prev, r, "{label}: two different rows for one window");
        }
    }
    eprintln!("{label}: sensor      window start           n   avg_t want   avg_t got    min_t  max_t   avg_h want   avg_h got");
    for ((sensor, start), agg) in expected {
        let row = seen[&(sensor.clone(), start.clone())];
        let n = agg.temps.len() as f64;
        let avg_t = agg.temps.iter().sum::<f64>() / n;
        let min_t = agg.temps.iter().cloned().fold(f64::INFINITY, f64::min);
        let max_t = agg.temps.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let avg_h = agg.hums.iter().sum::<f64>() / n;
        let got = |k: &str| {
            row[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} missing in {row}"))
        };
        let minute: u32 = start[14..16].parse().expect("minute");
        assert_eq!(
            row["window_end_time"],
            format!("{} 10:{:02}:00", &start[..10], minute + 1).as_str(),
            "{row}"
        );
        assert!(
            close(got("avg_temperature"), avg_t),
            "{label} {sensor} {start}: avg temperature {} vs {avg_t}",
            got("avg_temperature")
        );
        assert_eq!(got("min_temperature"), min_t, "{label} {sensor} {start}");
        assert_eq!(got("max_temperature"), max_t, "{label} {sensor} {start}");
        assert!(
            close(got("avg_humidity"), avg_h),
            "{label} {sensor} {start}: avg humidity {} vs {avg_h}",
            got("avg_humidity")
        );
        eprintln!(
            "{label}: {sensor}  {start}  {:>3}  {avg_t:>11.6} {:>11.6}  {min_t:>5.2}  {max_t:>5.2}  {avg_h:>11.6} {:>11.6}",
            agg.temps.len(),
            got("avg_temperature"),
            got("avg_humidity")
        );
    }
}

#[test]
fn real_connectors_deliver_the_per_sensor_per_minute_aggregates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = match tools(root) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let stack = Stack::start();
    let dir = stack.dir.path().to_path_buf();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    for f in [
        "pipeline.yaml",
        "sql/aggregate.flink.sql",
        "sql/aggregate.kda.sql",
    ] {
        std::fs::copy(root.join(f), dir.join(f)).expect("copying the shipped lab");
    }
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);

    let app = describe_app(&stack);
    let zip = get_object(&stack, &app.bucket, &app.key);
    let app_dir = dir.join("app");
    unpack(&zip, &app_dir);
    let run = &app.groups[artifact::RUN_OPTIONS];
    assert_eq!(
        (run["python"].as_str(), run["jarfile"].as_str()),
        ("main.py", "lib/labctl-connectors.jar")
    );
    assert_eq!(
        std::fs::read(app_dir.join("sql/aggregate.flink.sql")).expect("sql"),
        std::fs::read(root.join("sql/aggregate.flink.sql")).expect("sql"),
        "the SQL file runs unmodified"
    );
    let jar_path = app_dir.join("lib/labctl-connectors.jar");
    let jar = std::fs::read(&jar_path).expect("jar");
    eprintln!(
        "jar: {} bytes, sha256 {}",
        jar.len(),
        artifact::sha256_hex(&jar)
    );

    // The job's Kinesis calls go through a front of their own (to the same moto), so
    // the test can tell when the job holds its shard iterators.
    let kinesis_front = stack
        .block_on(front::start(0, &stack.moto_url))
        .expect("kinesis front");

    run_once(
        &stack,
        &kinesis_front,
        &python,
        &app_dir,
        &dir.join("run-lock-order"),
        &app,
        1,
        "lock order",
    );

    let reversed = reversed_jar(&dir);
    assert!(
        reversed == jar,
        "the jar assembled from the reversed lock differs from the uploaded one"
    );
    std::fs::write(&jar_path, &reversed).expect("reversed jar");
    run_once(
        &stack,
        &kinesis_front,
        &python,
        &app_dir,
        &dir.join("run-reversed"),
        &app,
        2,
        "reversed lock",
    );
}
