//! The `smithy-rpc-v2-cbor` protocol (CloudWatch as the current aws-sdk-cloudwatch speaks it;
//! Resource Groups Tagging also offers it): `POST /service/<ServiceName>/operation/<Operation>`
//! with `smithy-protocol: rpc-v2-cbor` and the input as one CBOR map (or no body for no input).
//!
//! Checked: the `smithy-protocol` header, the body decodes as CBOR into a map, members against
//! their shapes, unknown members, CBOR types (text strings for strings, integers for
//! integer/long, byte strings for blobs, timestamps as tag 1 epoch seconds).
//! Not checked: CBOR encoding details (canonical lengths, indefinite-length use), trailing bytes
//! after the top-level item.

use super::model::ServiceModel;
use super::types::{HttpRequest, Rule};
use super::validate::{Validator, Value};
use ciborium::value::Value as Cbor;

pub fn check(model: &ServiceModel, operation: &str, req: &HttpRequest<'_>, v: &mut Validator<'_>) {
    if req.header("smithy-protocol") != Some("rpc-v2-cbor") {
        v.violation(
            "",
            Rule::Malformed("missing header smithy-protocol: rpc-v2-cbor".into()),
            req.header("smithy-protocol")
                .unwrap_or("(absent)")
                .to_string(),
        );
    }
    if !req.method.eq_ignore_ascii_case("POST") {
        v.violation(
            "",
            Rule::Malformed(format!("rpc-v2-cbor requests are POST, not {}", req.method)),
            String::new(),
        );
    }
    let value = if req.body.is_empty() {
        Value::Map(Vec::new())
    } else {
        match ciborium::de::from_reader::<Cbor, _>(req.body) {
            Ok(c) => from_cbor(&c),
            Err(e) => {
                v.violation(
                    "",
                    Rule::Malformed(format!("body is not CBOR: {e}")),
                    format!("<{} bytes>", req.body.len()),
                );
                return;
            }
        }
    };
    let Value::Map(entries) = &value else {
        v.violation(
            "",
            Rule::Malformed("body is not a CBOR map".into()),
            String::new(),
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

/// Converts decoded CBOR into the shared value tree (tag 1 becomes a timestamp).
pub fn from_cbor(c: &Cbor) -> Value {
    match c {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(*b),
        Cbor::Integer(i) => Value::Int(i128::from(*i)),
        Cbor::Float(f) => Value::Float(*f),
        Cbor::Text(s) => Value::Str(s.clone()),
        Cbor::Bytes(b) => Value::Bytes(b.clone()),
        Cbor::Array(a) => Value::List(a.iter().map(from_cbor).collect()),
        Cbor::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, from_cbor(v))
                })
                .collect(),
        ),
        Cbor::Tag(1, inner) => match inner.as_ref() {
            Cbor::Integer(i) => Value::Timestamp(i128::from(*i) as f64),
            Cbor::Float(f) => Value::Timestamp(*f),
            other => from_cbor(other),
        },
        Cbor::Tag(_, inner) => from_cbor(inner),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;
    use ciborium::value::Value as Cbor;

    fn text(s: &str) -> Cbor {
        Cbor::Text(s.into())
    }

    fn map(entries: Vec<(&str, Cbor)>) -> Cbor {
        Cbor::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
    }

    fn alarm(extra: Vec<(&str, Cbor)>) -> Cbor {
        let mut entries = vec![
            ("AlarmName", text("lab-alarm")),
            ("EvaluationPeriods", Cbor::Integer(1.into())),
            ("ComparisonOperator", text("LessThanThreshold")),
            ("MetricName", text("IncomingRecords")),
            ("Namespace", text("AWS/Kinesis")),
            ("Statistic", text("Sum")),
            ("Period", Cbor::Integer(60.into())),
            ("Threshold", Cbor::Float(1.0)),
            (
                "Dimensions",
                Cbor::Array(vec![map(vec![
                    ("Name", text("StreamName")),
                    ("Value", text("s")),
                ])]),
            ),
        ];
        entries.extend(extra);
        map(entries)
    }

    fn send(op: &str, body: &Cbor, with_header: bool) -> Result<Checked, CheckError> {
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(body, &mut bytes).expect("encode");
        let mut headers = vec![auth("monitoring")];
        if with_header {
            headers.push(("smithy-protocol".into(), "rpc-v2-cbor".into()));
        }
        let path = format!("/service/GraniteServiceVersion20100801/operation/{op}");
        contract().check(&HttpRequest {
            method: "POST",
            path_and_query: &path,
            headers: &headers,
            body: &bytes,
        })
    }

    fn vs(r: Result<Checked, CheckError>) -> Vec<(String, &'static str)> {
        match r {
            Ok(_) => vec![],
            Err(CheckError::Violations(v)) => {
                v.into_iter().map(|v| (v.member, v.rule.name())).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn valid_alarm_passes() {
        let c = send("PutMetricAlarm", &alarm(vec![]), true).expect("valid");
        assert_eq!(
            (c.service.as_str(), c.operation.as_str(), c.protocol),
            ("cloudwatch", "PutMetricAlarm", "smithy-rpc-v2-cbor")
        );
    }

    #[test]
    fn each_rule_is_caught() {
        let v = vs(send(
            "PutMetricAlarm",
            &alarm(vec![("Statistic", text("Total"))]),
            true,
        ));
        assert!(has(&v, "Statistic", "enum"), "{v:?}");
        let v = vs(send(
            "PutMetricAlarm",
            &alarm(vec![("Period", text("60"))]),
            true,
        ));
        assert!(has(&v, "Period", "type"), "{v:?}");
        let v = vs(send(
            "PutMetricAlarm",
            &alarm(vec![("EvaluationPeriods", Cbor::Integer(0.into()))]),
            true,
        ));
        assert!(has(&v, "EvaluationPeriods", "range"), "{v:?}");
        let v = vs(send(
            "PutMetricAlarm",
            &alarm(vec![("AlarmName", text(&"a".repeat(256)))]),
            true,
        ));
        assert!(has(&v, "AlarmName", "max length"), "{v:?}");
        // botocore's PutMetricAlarm requires only AlarmName.
        let v = vs(send(
            "PutMetricAlarm",
            &map(vec![("Period", Cbor::Integer(60.into()))]),
            true,
        ));
        assert!(has(&v, "AlarmName", "required"), "{v:?}");
        let v = vs(send(
            "PutMetricAlarm",
            &alarm(vec![("Colour", text("red"))]),
            true,
        ));
        assert!(has(&v, "Colour", "unknown member"), "{v:?}");
        let v = vs(send("PutMetricAlarm", &alarm(vec![]), false));
        assert!(has(&v, "(input)", "malformed"), "{v:?}");
    }

    #[test]
    fn timestamps_need_tag_1() {
        let body = |t: Cbor| {
            map(vec![
                ("Namespace", text("AWS/Kinesis")),
                ("MetricName", text("IncomingRecords")),
                ("StartTime", t.clone()),
                ("EndTime", t),
                ("Period", Cbor::Integer(60.into())),
                ("Statistics", Cbor::Array(vec![text("Sum")])),
            ])
        };
        let tagged = Cbor::Tag(1, Box::new(Cbor::Float(1_767_225_600.0)));
        assert!(send("GetMetricStatistics", &body(tagged), true).is_ok());
        let v = vs(send(
            "GetMetricStatistics",
            &body(text("2026-01-01T00:00:00Z")),
            true,
        ));
        assert!(has(&v, "StartTime", "type"), "{v:?}");
    }

    #[test]
    fn garbage_body_is_malformed() {
        let headers = vec![
            auth("monitoring"),
            ("smithy-protocol".into(), "rpc-v2-cbor".into()),
        ];
        let r = contract().check(&HttpRequest {
            method: "POST",
            path_and_query: "/service/GraniteServiceVersion20100801/operation/ListMetrics",
            headers: &headers,
            body: &[0xff, 0x00, 0x13],
        });
        let v = vs(r);
        assert!(has(&v, "(input)", "malformed"), "{v:?}");
    }
}
