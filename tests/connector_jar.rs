//! The Flink application's one connector jar, end to end: `labctl up` of the shipped
//! pipeline.yaml uploads a zip whose `lib/` holds exactly one jar, the one assembled
//! from flink/connectors.lock, registering both the Kinesis and the Firehose table
//! factories (read back from the local stack's S3); and a tampered artifact in a
//! directory repository stops `validate` with exit 2 before any request is sent.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{assert_code, stderr, stdout, Stack};
use labctl::artifact::{self, connectors};

/// The shipped spec and its SQL, copied into the test's directory.
fn shipped_lab(stack: &Stack) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("sql")).expect("sql dir");
    for f in [
        "pipeline.yaml",
        "sql/aggregate.flink.sql",
        "sql/aggregate.kda.sql",
    ] {
        std::fs::copy(root.join(f), dir.join(f)).expect("copying the shipped lab");
    }
    dir.join("pipeline.yaml")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn up_uploads_one_jar_with_both_table_factories() {
    let stack = Stack::start();
    shipped_lab(&stack);
    let plan = stack.labctl(&["plan"]);
    assert_code(&plan, 0);
    assert!(
        stdout(&plan).contains("artifact s3://stream-data-"),
        "plan shows the artifact's key: {}",
        stdout(&plan)
    );
    let up = stack.labctl(&["up"]);
    assert_code(&up, 0);

    // The code artifact as the application names it, read back from S3.
    let s3 = stack.s3();
    let (bucket, key) = stack.block_on(async {
        let buckets = s3.list_buckets().send().await.expect("ListBuckets");
        let bucket = buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .find(|n| n.starts_with("stream-data-"))
            .expect("the lab bucket")
            .to_string();
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix("code/")
            .send()
            .await
            .expect("ListObjectsV2");
        let keys: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        assert_eq!(keys.len(), 1, "one artifact under code/: {keys:?}");
        (bucket, keys[0].clone())
    });
    assert!(
        stdout(&plan).contains(&format!("s3://{bucket}/{key}")),
        "plan named the key up uploaded ({key}): {}",
        stdout(&plan)
    );
    let zip = stack.block_on(async {
        let o = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .expect("GetObject");
        o.body.collect().await.expect("body").into_bytes().to_vec()
    });
    let entries = artifact::entries(&zip).expect("the artifact is a zip");
    let libs: Vec<&String> = entries.keys().filter(|k| k.starts_with("lib/")).collect();
    assert_eq!(
        libs,
        ["lib/labctl-connectors.jar"],
        "exactly one jar in lib/"
    );
    let jar = &entries["lib/labctl-connectors.jar"];
    assert_eq!(
        entries["sql/aggregate.flink.sql"],
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/aggregate.flink.sql"))
            .expect("sql")
    );

    // The jar is the one assembled from the lock, with both table factories.
    let built = runtime()
        .block_on(artifact::assemble_from_lock(true))
        .expect("assembling from the lock");
    assert_eq!(
        jar,
        &std::fs::read(&built.path).expect("the cached jar"),
        "the uploaded jar is the lock's"
    );
    let inner = artifact::entries(jar).expect("the jar is a zip");
    let services = String::from_utf8_lossy(&inner[artifact::FACTORY_SERVICES]).into_owned();
    for factory in [
        "org.apache.flink.streaming.connectors.kinesis.table.KinesisDynamicTableFactory",
        "org.apache.flink.connector.firehose.table.KinesisFirehoseDynamicTableFactory",
    ] {
        assert!(
            services.lines().any(|l| l.trim() == factory),
            "{factory} missing from {}:\n{services}",
            artifact::FACTORY_SERVICES
        );
    }
    assert!(
        !inner
            .keys()
            .any(|k| k.ends_with(".SF") || k == "META-INF/INDEX.LIST"),
        "signatures and jar indexes are dropped"
    );
    // Offline with a cold cache: `down` still finds and removes the application.
    let empty = stack.dir.path().join("no-repository");
    std::fs::create_dir_all(&empty).expect("empty repository");
    let cold = stack.dir.path().join("cold-cache");
    let down = labctl_with(
        &stack,
        &["down", "--yes"],
        &[
            ("LABCTL_MAVEN_REPOSITORY", &empty),
            ("LABCTL_CACHE_DIR", &cold),
        ],
    );
    assert_code(&down, 0);
    let conf = aws_sdk_kinesisanalyticsv2::config::Builder::from(&stack.sdk_config())
        .endpoint_url(stack.front.url())
        .build();
    let apps = stack.block_on(async {
        aws_sdk_kinesisanalyticsv2::Client::from_conf(conf)
            .list_applications()
            .send()
            .await
            .expect("ListApplications")
            .application_summaries()
            .len()
    });
    assert_eq!(apps, 0, "down removed the application");
}

/// labctl against the stack with extra environment variables.
fn labctl_with(stack: &Stack, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labctl"));
    cmd.current_dir(stack.dir.path())
        .args(args)
        .args([
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running labctl")
}

/// A Maven-layout directory with every locked artifact (links into labctl's verified
/// cache), one of them a copy with one byte changed. Returns the tampered coordinates.
fn tampered_repository(cache: &Path, repo: &Path) -> String {
    let (lock, _) = artifact::lock().expect("lock");
    let victim = lock
        .artifacts
        .iter()
        .find(|a| a.coord.artifact == "joda-time")
        .expect("joda-time is locked");
    for a in &lock.artifacts {
        let from = connectors::fetch::cache_path(cache, &a.coord);
        let to = repo.join(a.coord.layout_path());
        std::fs::create_dir_all(to.parent().expect("parent")).expect("repo dir");
        if a.coord == victim.coord {
            let mut bytes = std::fs::read(&from).expect("cached artifact");
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            std::fs::write(&to, bytes).expect("tampered copy");
        } else {
            std::os::unix::fs::symlink(&from, &to).expect("link");
        }
    }
    victim.coord.to_string()
}

#[test]
fn a_tampered_artifact_stops_validate_before_any_request() {
    // The artifacts, verified, in labctl's usual cache (downloaded once if needed).
    runtime()
        .block_on(artifact::assemble_from_lock(true))
        .expect("assembling from the lock");
    let cache = connectors::default_cache_dir();
    let stack = Stack::start();
    let spec = shipped_lab(&stack);
    let repo = stack.dir.path().join("m2");
    let victim = tampered_repository(&cache, &repo);
    let (lock, _) = artifact::lock().expect("lock");
    let want = lock
        .artifacts
        .iter()
        .find(|a| a.coord.to_string() == victim)
        .expect("victim")
        .sha256
        .clone();
    let fresh = stack.dir.path().join("empty-cache");
    let before = stack.front.requests().len();
    for command in ["validate", "up"] {
        let out = Command::new(env!("CARGO_BIN_EXE_labctl"))
            .current_dir(stack.dir.path())
            .args([command, "-f"])
            .arg(&spec)
            .args([
                "--endpoint-url",
                &stack.front.url(),
                "--region",
                "us-east-1",
            ])
            .env("LABCTL_MAVEN_REPOSITORY", &repo)
            .env("LABCTL_CACHE_DIR", &fresh)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("running labctl");
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(&victim), "{command}: names {victim}: {err}");
        assert!(err.contains(&want), "{command}: expected hash: {err}");
        assert!(err.contains("has SHA-256"), "{command}: actual hash: {err}");
    }
    assert_eq!(
        stack.front.requests().len(),
        before,
        "no request reached the endpoint: {:?}",
        stack.front.requests()
    );
}

/// A jar like a shaded SQL connector: a table-factory services file and an AWS SDK
/// class relocated under `relocated`.
fn shaded_sql_jar(relocated: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    z.start_file(artifact::FACTORY_SERVICES, o).expect("entry");
    z.write_all(b"org.example.Factory\n").expect("write");
    z.start_file(
        format!("{relocated}/shaded/software/amazon/awssdk/core/SdkBytes.class"),
        o,
    )
    .expect("entry");
    z.write_all(b"\xca\xfe\xba\xbe").expect("write");
    z.finish().expect("zip").into_inner()
}

#[test]
fn two_shaded_sql_connector_jars_are_refused_by_validate() {
    let stack = Stack::start();
    let spec = shipped_lab(&stack);
    let lib = stack.dir.path().join("lib");
    std::fs::create_dir_all(&lib).expect("lib");
    std::fs::write(
        lib.join("kinesis-sql.jar"),
        shaded_sql_jar("org/apache/flink/connector/kinesis/sink"),
    )
    .expect("jar");
    std::fs::write(
        lib.join("firehose-sql.jar"),
        shaded_sql_jar("org/apache/flink/connector/firehose/sink"),
    )
    .expect("jar");
    let text = std::fs::read_to_string(&spec).expect("spec");
    let with_jars = text.replacen(
        "    code: sql/aggregate.flink.sql\n",
        "    code: sql/aggregate.flink.sql\n    jars: [lib/kinesis-sql.jar, lib/firehose-sql.jar]\n",
        1,
    );
    assert_ne!(
        with_jars, text,
        "the shipped spec's Flink application has `code:`"
    );
    std::fs::write(&spec, with_jars).expect("spec");
    let before = stack.front.requests().len();
    let out = stack.labctl(&["validate"]);
    assert_code(&out, 2);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("shaded SQL connector jars")
            && all.contains("lib/kinesis-sql.jar")
            && all.contains("lib/firehose-sql.jar")
            && all.contains("NoSuchMethodError"),
        "the refusal names both jars and the reason: {all}"
    );
    // One of them alone is a user's own jar: accepted.
    let one = std::fs::read_to_string(&spec).expect("spec").replace(
        "[lib/kinesis-sql.jar, lib/firehose-sql.jar]",
        "[lib/kinesis-sql.jar]",
    );
    std::fs::write(&spec, one).expect("spec");
    assert_code(&stack.labctl(&["validate"]), 0);
    assert_eq!(
        stack.front.requests().len(),
        before,
        "validate sends nothing"
    );
}
