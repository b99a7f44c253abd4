//! The `json` protocol (awsJson 1.0/1.1: Kinesis, Firehose, both Kinesis Analytics APIs, Logs,
//! Resource Groups Tagging): `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>` and the
//! input as one JSON object.
//!
//! Checked: the body is a JSON object (an empty body counts as `{}`), every member against its
//! shape, members the model does not know, JSON types (numbers must be JSON numbers, booleans
//! booleans, timestamps epoch-second numbers, blobs base64 strings).
//! Not checked: the `Content-Type` version (`application/x-amz-json-1.0` vs `1.1`, which AWS
//! accepts either way for most services), duplicate object keys (the parser keeps the last).

use super::model::ServiceModel;
use super::types::{HttpRequest, Rule};
use super::validate::{Validator, Value};

pub fn check(model: &ServiceModel, operation: &str, req: &HttpRequest<'_>, v: &mut Validator<'_>) {
    if !req.method.eq_ignore_ascii_case("POST") {
        v.violation(
            "",
            Rule::Malformed(format!(
                "JSON protocol requests are POST, not {}",
                req.method
            )),
            String::new(),
        );
    }
    let body: serde_json::Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_slice(req.body) {
            Ok(b) => b,
            Err(e) => {
                v.violation(
                    "",
                    Rule::Malformed(format!("body is not JSON: {e}")),
                    String::from_utf8_lossy(req.body).into_owned(),
                );
                return;
            }
        }
    };
    let value = from_json(&body);
    let Value::Map(entries) = &value else {
        v.violation(
            "",
            Rule::Malformed("body is not a JSON object".into()),
            body.to_string(),
        );
        return;
    };
    let input = model
        .operations
        .get(operation)
        .and_then(|op| op.input.as_deref());
    match input.and_then(|name| model.shape(name)) {
        Some(shape) => v.check_structure("", shape, entries, true),
        None => {
            for (k, _) in entries {
                v.violation(k, Rule::UnknownMember, "(operation takes no input)".into());
            }
        }
    }
}

/// Converts parsed JSON into the shared value tree.
pub fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i as i128)
            } else if let Some(u) = n.as_u64() {
                Value::Int(u as i128)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn json_req(target: &str, signing: &str, body: &str) -> Vec<(String, &'static str)> {
        let headers = vec![
            auth(signing),
            ("X-Amz-Target".into(), target.into()),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ];
        violations(&HttpRequest {
            method: "POST",
            path_and_query: "/",
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    fn kinesis(op: &str, body: &str) -> Vec<(String, &'static str)> {
        json_req(&format!("Kinesis_20131202.{op}"), "kinesis", body)
    }

    #[test]
    fn valid_request_passes_and_is_identified() {
        let headers = vec![
            auth("kinesis"),
            (
                "X-Amz-Target".into(),
                "Kinesis_20131202.CreateStream".into(),
            ),
        ];
        let req = HttpRequest {
            method: "POST",
            path_and_query: "/",
            headers: &headers,
            body: br#"{"StreamName":"lab-stream","ShardCount":1,"StreamModeDetails":{"StreamMode":"PROVISIONED"},"Tags":{"project":"lab"}}"#,
        };
        let c = contract().check(&req).expect("valid");
        assert_eq!(
            (c.service.as_str(), c.operation.as_str()),
            ("kinesis", "CreateStream")
        );
        assert_eq!(c.protocol, "json");
    }

    #[test]
    fn missing_required() {
        let vs = kinesis("CreateStream", r#"{"ShardCount":1}"#);
        assert!(has(&vs, "StreamName", "required"), "{vs:?}");
    }

    #[test]
    fn bad_enum() {
        let vs = kinesis(
            "CreateStream",
            r#"{"StreamName":"s","StreamModeDetails":{"StreamMode":"FAST"}}"#,
        );
        assert!(has(&vs, "StreamModeDetails.StreamMode", "enum"), "{vs:?}");
    }

    #[test]
    fn too_long_and_too_short() {
        let long = "a".repeat(129);
        let vs = kinesis("CreateStream", &format!(r#"{{"StreamName":"{long}"}}"#));
        assert!(has(&vs, "StreamName", "max length"), "{vs:?}");
        let vs = kinesis("CreateStream", r#"{"StreamName":""}"#);
        assert!(has(&vs, "StreamName", "min length"), "{vs:?}");
    }

    #[test]
    fn out_of_range() {
        let vs = kinesis("CreateStream", r#"{"StreamName":"s","ShardCount":0}"#);
        assert!(has(&vs, "ShardCount", "range"), "{vs:?}");
        let vs = kinesis(
            "IncreaseStreamRetentionPeriod",
            r#"{"StreamName":"s","RetentionPeriodHours":2147483648}"#,
        );
        assert!(
            has(&vs, "RetentionPeriodHours", "type"),
            "i32 overflow: {vs:?}"
        );
    }

    #[test]
    fn pattern_mismatch() {
        let vs = kinesis("CreateStream", r#"{"StreamName":"my stream"}"#);
        assert!(has(&vs, "StreamName", "pattern"), "{vs:?}");
    }

    #[test]
    fn wrong_types() {
        let vs = kinesis("CreateStream", r#"{"StreamName":"s","ShardCount":"1"}"#);
        assert!(has(&vs, "ShardCount", "type"), "{vs:?}");
        let vs = kinesis("CreateStream", r#"{"StreamName":"s","ShardCount":1.5}"#);
        assert!(has(&vs, "ShardCount", "type"), "{vs:?}");
        let vs = kinesis("CreateStream", r#"{"StreamName":["s"]}"#);
        assert!(has(&vs, "StreamName", "type"), "{vs:?}");
        // Timestamps are epoch seconds numbers.
        let vs = kinesis(
            "GetShardIterator",
            r#"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":"2026-01-01T00:00:00Z"}"#,
        );
        assert!(has(&vs, "Timestamp", "type"), "{vs:?}");
        // Blobs are base64.
        let vs = kinesis(
            "PutRecord",
            r#"{"StreamName":"s","Data":"not base64!","PartitionKey":"k"}"#,
        );
        assert!(has(&vs, "Data", "type"), "{vs:?}");
    }

    #[test]
    fn unknown_member_and_malformed_body() {
        let vs = kinesis("CreateStream", r#"{"StreamName":"s","Colour":"red"}"#);
        assert!(has(&vs, "Colour", "unknown member"), "{vs:?}");
        let vs = kinesis("CreateStream", "{not json");
        assert!(has(&vs, "(input)", "malformed"), "{vs:?}");
    }

    #[test]
    fn nested_list_paths_and_map_keys() {
        let vs = json_req(
            "Firehose_20150804.TagDeliveryStream",
            "firehose",
            r#"{"DeliveryStreamName":"d","Tags":[{"Key":"a","Value":"1"},{"Key":"b"},{"Key":"","Value":"x"},{"Value":"y"}]}"#,
        );
        assert!(has(&vs, "Tags[2].Key", "min length"), "{vs:?}");
        assert!(has(&vs, "Tags[3].Key", "required"), "{vs:?}");
        assert!(!vs.iter().any(|(m, _)| m.starts_with("Tags[0]")), "{vs:?}");
        let long_key = "k".repeat(129);
        let vs = kinesis(
            "AddTagsToStream",
            &format!(r#"{{"StreamName":"s","Tags":{{"{long_key}":"v"}}}}"#),
        );
        assert!(
            vs.iter()
                .any(|(m, r)| m.starts_with("Tags{key") && *r == "max length"),
            "{vs:?}"
        );
    }

    #[test]
    fn leading_lookahead_pattern_is_checked() {
        let vs = json_req(
            "Firehose_20150804.TagDeliveryStream",
            "firehose",
            r#"{"DeliveryStreamName":"d","Tags":[{"Key":"aws:reserved","Value":"1"}]}"#,
        );
        assert!(has(&vs, "Tags[0].Key", "pattern"), "{vs:?}");
    }

    #[test]
    fn analytics_v1_and_v2_are_told_apart() {
        for (target, service) in [
            (
                "KinesisAnalytics_20150814.ListApplications",
                "kinesisanalytics",
            ),
            (
                "KinesisAnalytics_20180523.ListApplications",
                "kinesisanalyticsv2",
            ),
        ] {
            let headers = vec![
                auth("kinesisanalytics"),
                ("X-Amz-Target".into(), target.into()),
            ];
            let req = HttpRequest {
                method: "POST",
                path_and_query: "/",
                headers: &headers,
                body: b"{}",
            };
            let c = contract().check(&req).expect("valid");
            assert_eq!(c.service, service);
        }
    }
}
