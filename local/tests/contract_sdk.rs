//! Real requests from the real aws-sdk-rust clients, recorded by a tiny local HTTP server (which
//! answers every request with a 500, retries off) and held to the contract: valid calls pass with
//! their operation identified, calls with values the SDK does not validate client-side are caught.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use labctl_local::contract::{
    botocore_data_dir_from_env, CheckError, Checked, Contract, HttpRequest, Tally, LABCTL_SERVICES,
};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| {
        // The pinned botocore `scripts/local-stack install` puts next to moto.
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.labctl/venv");
        let dir = botocore_data_dir_from_env(Some(&venv)).expect("botocore data dir");
        Contract::load(&dir, LABCTL_SERVICES).expect("models load")
    })
}

/// Starts the recorder on a loopback port; returns its URL and log.
async fn recorder() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let log: Log = Arc::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = server_log.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await?.to_bytes().to_vec();
                        log.lock().expect("log").push(Recorded {
                            method: parts.method.to_string(),
                            path_and_query: parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                                })
                                .collect(),
                            body,
                        });
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"recorded")));
                        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                        Ok::<_, hyper::Error>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, log)
}

/// The one request recorded, checked.
fn check_only(log: &Log) -> (Recorded, Result<Checked, CheckError>) {
    let recorded = log.lock().expect("log").clone();
    assert_eq!(
        recorded.len(),
        1,
        "expected exactly one request: {recorded:#?}"
    );
    let r = recorded[0].clone();
    let result = contract().check(&HttpRequest {
        method: &r.method,
        path_and_query: &r.path_and_query,
        headers: &r.headers,
        body: &r.body,
    });
    (r, result)
}

fn assert_passes(log: &Log, service: &str, operation: &str, protocol: &str, tally: &mut Tally) {
    let (r, result) = check_only(log);
    tally.record(&result);
    match result {
        Ok(c) => {
            assert_eq!(
                (c.service.as_str(), c.operation.as_str(), c.protocol),
                (service, operation, protocol),
                "{r:?}"
            );
        }
        Err(e) => panic!(
            "{service} {operation} should pass: {e}\nrequest: {} {} {:?}\n{}",
            r.method,
            r.path_and_query,
            r.headers,
            String::from_utf8_lossy(&r.body)
        ),
    }
}

fn assert_caught(log: &Log, operation: &str, member: &str, rule: &str) {
    let (_, result) = check_only(log);
    match result {
        Err(CheckError::Violations(vs)) => {
            assert!(
                vs.iter().any(|v| v.operation == operation
                    && v.member == member
                    && v.rule.name() == rule),
                "expected {operation} {member} {rule}, got {vs:#?}"
            );
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

macro_rules! sdk_config {
    ($sdk:ident, $url:expr) => {
        $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .credentials_provider($sdk::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "contract-test",
            ))
            .endpoint_url($url)
            .retry_config($sdk::config::retry::RetryConfig::disabled())
    };
}

#[tokio::test]
async fn kinesis_create_stream() {
    let mut tally = Tally::new();
    let (url, log) = recorder().await;
    let client = aws_sdk_kinesis::Client::from_conf(sdk_config!(aws_sdk_kinesis, &url).build());
    let _ = client
        .create_stream()
        .stream_name("labctl-events")
        .shard_count(2)
        .stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::Provisioned)
                .build()
                .expect("mode"),
        )
        .tags("project", "labctl")
        .send()
        .await;
    assert_passes(&log, "kinesis", "CreateStream", "json", &mut tally);

    // The SDK does not check patterns client-side; the contract does.
    let (url, log) = recorder().await;
    let client = aws_sdk_kinesis::Client::from_conf(sdk_config!(aws_sdk_kinesis, &url).build());
    let _ = client
        .create_stream()
        .stream_name("my stream")
        .shard_count(1)
        .send()
        .await;
    assert_caught(&log, "CreateStream", "StreamName", "pattern");

    let (url, log) = recorder().await;
    let client = aws_sdk_kinesis::Client::from_conf(sdk_config!(aws_sdk_kinesis, &url).build());
    let _ = client
        .create_stream()
        .stream_name("s")
        .shard_count(0)
        .send()
        .await;
    assert_caught(&log, "CreateStream", "ShardCount", "range");
    println!("{}", tally.summary());
}

#[tokio::test]
async fn firehose_create_delivery_stream() {
    use aws_sdk_firehose::types::{
        BufferingHints, CloudWatchLoggingOptions, CompressionFormat, DeliveryStreamType,
        ExtendedS3DestinationConfiguration, KinesisStreamSourceConfiguration, Tag,
    };
    let mut tally = Tally::new();
    let destination = |prefix: &str| {
        ExtendedS3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::123456789012:role/labctl/labctl-firehose")
            .bucket_arn("arn:aws:s3:::labctl-archive-123456789012")
            .prefix(prefix)
            .error_output_prefix("errors/!{firehose:error-output-type}/")
            .buffering_hints(
                BufferingHints::builder()
                    .size_in_mbs(5)
                    .interval_in_seconds(60)
                    .build(),
            )
            .compression_format(CompressionFormat::Gzip)
            .cloud_watch_logging_options(
                CloudWatchLoggingOptions::builder()
                    .enabled(true)
                    .log_group_name("/aws/kinesisfirehose/labctl")
                    .log_stream_name("S3Delivery")
                    .build(),
            )
            .build()
            .expect("destination")
    };
    let (url, log) = recorder().await;
    let client = aws_sdk_firehose::Client::from_conf(sdk_config!(aws_sdk_firehose, &url).build());
    let _ = client
        .create_delivery_stream()
        .delivery_stream_name("labctl-archive")
        .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
        .kinesis_stream_source_configuration(
            KinesisStreamSourceConfiguration::builder()
                .kinesis_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/labctl-events")
                .role_arn("arn:aws:iam::123456789012:role/labctl/labctl-firehose")
                .build()
                .expect("source"),
        )
        .extended_s3_destination_configuration(destination("raw/"))
        .tags(
            Tag::builder()
                .key("project")
                .value("labctl")
                .build()
                .expect("tag"),
        )
        .send()
        .await;
    assert_passes(&log, "firehose", "CreateDeliveryStream", "json", &mut tally);

    let (url, log) = recorder().await;
    let client = aws_sdk_firehose::Client::from_conf(sdk_config!(aws_sdk_firehose, &url).build());
    let _ = client
        .create_delivery_stream()
        .delivery_stream_name("d".repeat(65))
        .extended_s3_destination_configuration(destination("raw/"))
        .send()
        .await;
    assert_caught(
        &log,
        "CreateDeliveryStream",
        "DeliveryStreamName",
        "max length",
    );
    println!("{}", tally.summary());
}

#[tokio::test]
async fn iam_create_role() {
    let mut tally = Tally::new();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"123456789012"}}}]}"#;
    let (url, log) = recorder().await;
    let client = aws_sdk_iam::Client::from_conf(sdk_config!(aws_sdk_iam, &url).build());
    let _ = client
        .create_role()
        .role_name("labctl-firehose")
        .path("/labctl/")
        .assume_role_policy_document(trust)
        .description("Firehose delivery role for labctl")
        .max_session_duration(3600)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("project")
                .value("labctl")
                .build()
                .expect("tag"),
        )
        .send()
        .await;
    assert_passes(&log, "iam", "CreateRole", "query", &mut tally);

    let (url, log) = recorder().await;
    let client = aws_sdk_iam::Client::from_conf(sdk_config!(aws_sdk_iam, &url).build());
    let _ = client
        .create_role()
        .role_name("labctl role")
        .path("labctl")
        .assume_role_policy_document(trust)
        .send()
        .await;
    assert_caught(&log, "CreateRole", "RoleName", "pattern");
    assert_caught(&log, "CreateRole", "Path", "pattern");
    println!("{}", tally.summary());
}

#[tokio::test]
async fn s3_put_bucket_tagging() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let mut tally = Tally::new();
    let (url, log) = recorder().await;
    let client =
        aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, &url).force_path_style(true).build());
    let _ = client
        .put_bucket_tagging()
        .bucket("labctl-archive-123456789012")
        .tagging(
            Tagging::builder()
                .tag_set(
                    Tag::builder()
                        .key("project")
                        .value("labctl")
                        .build()
                        .expect("tag"),
                )
                .tag_set(
                    Tag::builder()
                        .key("owner")
                        .value("lab")
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await;
    assert_passes(&log, "s3", "PutBucketTagging", "rest-xml", &mut tally);

    // An empty tag key reaches the XML payload; the model's ObjectKey has min 1.
    let (url, log) = recorder().await;
    let client =
        aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, &url).force_path_style(true).build());
    let _ = client
        .put_bucket_tagging()
        .bucket("labctl-archive-123456789012")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("").value("labctl").build().expect("tag"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await;
    assert_caught(
        &log,
        "PutBucketTagging",
        "Tagging.TagSet[0].Key",
        "min length",
    );

    let (url, log) = recorder().await;
    let client =
        aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, &url).force_path_style(true).build());
    let _ = client
        .list_objects_v2()
        .bucket("labctl-archive-123456789012")
        .prefix("raw/")
        .max_keys(100)
        .send()
        .await;
    assert_passes(&log, "s3", "ListObjectsV2", "rest-xml", &mut tally);

    let (url, log) = recorder().await;
    let client =
        aws_sdk_s3::Client::from_conf(sdk_config!(aws_sdk_s3, &url).force_path_style(true).build());
    let _ = client
        .put_object()
        .bucket("labctl-archive-123456789012")
        .key("flink/app.jar")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"jar bytes",
        ))
        .send()
        .await;
    assert_passes(&log, "s3", "PutObject", "rest-xml", &mut tally);
    println!("{}", tally.summary());
}

#[tokio::test]
async fn cloudwatch_put_metric_alarm() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    let mut tally = Tally::new();
    let alarm = |client: &aws_sdk_cloudwatch::Client, evaluation_periods: i32| {
        client
            .put_metric_alarm()
            .alarm_name("labctl-no-incoming-records")
            .alarm_description("No records reached the stream")
            .namespace("AWS/Kinesis")
            .metric_name("IncomingRecords")
            .dimensions(
                Dimension::builder()
                    .name("StreamName")
                    .value("labctl-events")
                    .build(),
            )
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(evaluation_periods)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::LessThanThreshold)
            .treat_missing_data("breaching")
            .alarm_actions("arn:aws:sns:us-east-1:123456789012:labctl-alarms")
    };
    let (url, log) = recorder().await;
    let client =
        aws_sdk_cloudwatch::Client::from_conf(sdk_config!(aws_sdk_cloudwatch, &url).build());
    let _ = alarm(&client, 1).send().await;
    assert_passes(
        &log,
        "cloudwatch",
        "PutMetricAlarm",
        "smithy-rpc-v2-cbor",
        &mut tally,
    );

    let (url, log) = recorder().await;
    let client =
        aws_sdk_cloudwatch::Client::from_conf(sdk_config!(aws_sdk_cloudwatch, &url).build());
    let _ = alarm(&client, 0).send().await;
    assert_caught(&log, "PutMetricAlarm", "EvaluationPeriods", "range");
    println!("{}", tally.summary());
}
