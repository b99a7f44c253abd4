//! The `query` protocol (awsQuery: IAM, SNS, STS, and CloudWatch before rpc-v2-cbor): a
//! form-encoded body (or URL query string) with `Action=<Operation>&Version=<apiVersion>` and the
//! input flattened into dotted keys, read back here through the model's shapes:
//! structure members `A.B` (the member's `locationName` if it has one), lists `A.member.N`
//! (`A.N` when flattened; the list member's `locationName` replaces `member`), maps
//! `A.entry.N.key` / `A.entry.N.value` (`A.N.key` when flattened; key/value `locationName`s
//! apply), 1-based indices.
//!
//! Checked: `Version` equals the model's API version, every parameter belongs to the input
//! (others are unknown members), list indices run 1..N without gaps, scalars parse as their type
//! (integers, booleans `true`/`false`, ISO 8601 timestamps, base64 blobs), then the shared rules.
//! Not checked: an empty list sent as `A=` is read as an empty list (AWS's reading too).

use super::model::{Kind, Member, ServiceModel, Shape};
use super::types::{HttpRequest, Rule};
use super::validate::{join, Validator, Value, Wire};
use std::collections::BTreeMap;

/// Parameters of a query request, body first, then the URL query string.
fn params(req: &HttpRequest<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form_urlencoded::parse(req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.extend(
        form_urlencoded::parse(req.query().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    out
}

/// The `Action` parameter, if any.
pub fn action(req: &HttpRequest<'_>) -> Option<String> {
    params(req)
        .into_iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v)
}

/// A trie of dotted keys.
#[derive(Default, Debug)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, key: &str, value: String) {
        let mut node = self;
        for seg in key.split('.') {
            node = node.children.entry(seg.to_string()).or_default();
        }
        node.value = Some(value);
    }

    /// Every full key below this node, for reporting leftovers.
    fn keys(&self, prefix: &str, out: &mut Vec<(String, String)>) {
        if let Some(v) = &self.value {
            out.push((prefix.to_string(), v.clone()));
        }
        for (seg, child) in &self.children {
            child.keys(&join(prefix, seg), out);
        }
    }
}

pub fn check(model: &ServiceModel, operation: &str, req: &HttpRequest<'_>, v: &mut Validator<'_>) {
    let mut root = Node::default();
    for (k, val) in params(req) {
        match k.as_str() {
            "Action" => {}
            "Version" => {
                if val != model.api_version {
                    v.violation(
                        "Version",
                        Rule::Malformed(format!("expected Version {}", model.api_version)),
                        val,
                    );
                }
            }
            _ => root.insert(&k, val),
        }
    }
    if !params(req).iter().any(|(k, _)| k == "Version") {
        v.violation(
            "Version",
            Rule::Malformed("query request without Version".into()),
            String::new(),
        );
    }
    let input = model
        .operations
        .get(operation)
        .and_then(|op| op.input.as_deref())
        .and_then(|name| model.shape(name));
    if let Some(shape) = input {
        let entries = decode_structure(model, shape, &mut root, "", v);
        v.check_structure("", shape, &entries, false);
    }
    let mut leftovers = Vec::new();
    root.keys("", &mut leftovers);
    for (k, val) in leftovers {
        v.violation(&k, Rule::UnknownMember, val);
    }
}

/// Takes the structure's members out of `node` (what remains is unknown).
fn decode_structure(
    model: &ServiceModel,
    shape: &Shape,
    node: &mut Node,
    path: &str,
    v: &mut Validator<'_>,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, member) in &shape.members {
        let wire = member.location_name.as_deref().unwrap_or(name);
        if let Some(mut child) = node.children.remove(wire) {
            let value = decode(model, member, &mut child, &join(path, name), v);
            out.push((wire.to_string(), value));
            restore(node, wire, child);
        }
    }
    out
}

/// Puts back whatever a decoder left unconsumed so it is reported as unknown.
fn restore(node: &mut Node, seg: &str, child: Node) {
    if child.value.is_some() || !child.children.is_empty() {
        node.children.insert(seg.to_string(), child);
    }
}

fn decode(
    model: &ServiceModel,
    member: &Member,
    node: &mut Node,
    path: &str,
    v: &mut Validator<'_>,
) -> Value {
    let Some(shape) = model.shape(&member.shape) else {
        return Value::Null;
    };
    match shape.kind {
        Kind::Structure => {
            node.value = None;
            Value::Map(decode_structure(model, shape, node, path, v))
        }
        Kind::List => decode_list(model, member, shape, node, path, v),
        Kind::Map => decode_map(model, member, shape, node, path, v),
        _ => match node.value.take() {
            Some(s) => Value::Text(s, Wire::Query),
            None => Value::Null,
        },
    }
}

fn decode_list(
    model: &ServiceModel,
    member: &Member,
    shape: &Shape,
    node: &mut Node,
    path: &str,
    v: &mut Validator<'_>,
) -> Value {
    if node.value.as_deref() == Some("") && node.children.is_empty() {
        node.value = None;
        return Value::List(Vec::new());
    }
    let flattened = member.flattened || shape.flattened;
    let Some(item) = &shape.member else {
        return Value::List(Vec::new());
    };
    let items = if flattened {
        indexed(node, path, v)
    } else {
        let seg = item.location_name.as_deref().unwrap_or("member");
        match node.children.remove(seg) {
            Some(mut inner) => {
                let items = indexed(&mut inner, path, v);
                restore(node, seg, inner);
                items
            }
            None => Vec::new(),
        }
    };
    Value::List(
        items
            .into_iter()
            .enumerate()
            .map(|(i, mut n)| decode(model, item, &mut n, &format!("{path}[{i}]"), v))
            .collect(),
    )
}

fn decode_map(
    model: &ServiceModel,
    member: &Member,
    shape: &Shape,
    node: &mut Node,
    path: &str,
    v: &mut Validator<'_>,
) -> Value {
    let flattened = member.flattened || shape.flattened;
    let (Some(key), Some(val)) = (&shape.key, &shape.value) else {
        return Value::Map(Vec::new());
    };
    let key_seg = key.location_name.as_deref().unwrap_or("key");
    let val_seg = val.location_name.as_deref().unwrap_or("value");
    let entries = if flattened {
        indexed(node, path, v)
    } else {
        match node.children.remove("entry") {
            Some(mut inner) => {
                let items = indexed(&mut inner, path, v);
                restore(node, "entry", inner);
                items
            }
            None => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for (i, mut entry) in entries.into_iter().enumerate() {
        let k = entry.children.remove(key_seg).and_then(|n| n.value);
        let value = match entry.children.remove(val_seg) {
            Some(mut n) => decode(model, val, &mut n, &format!("{path}[{i}]"), v),
            None => Value::Null,
        };
        match k {
            Some(k) => out.push((k, value)),
            None => v.violation(
                &format!("{path}[{i}]"),
                Rule::Required,
                format!("map entry without {key_seg}"),
            ),
        }
    }
    Value::Map(out)
}

/// The numbered children `1..N` of a node, in order; gaps and non-numeric keys are reported.
fn indexed(node: &mut Node, path: &str, v: &mut Validator<'_>) -> Vec<Node> {
    let mut numbered: Vec<(u64, Node)> = Vec::new();
    let keys: Vec<String> = node.children.keys().cloned().collect();
    for k in keys {
        if let Ok(n) = k.parse::<u64>() {
            if let Some(child) = node.children.remove(&k) {
                numbered.push((n, child));
            }
        }
    }
    numbered.sort_by_key(|(n, _)| *n);
    for (i, (n, _)) in numbered.iter().enumerate() {
        if *n != i as u64 + 1 {
            v.violation(
                path,
                Rule::Malformed(format!("list index {n} where {} was expected", i + 1)),
                String::new(),
            );
            break;
        }
    }
    numbered.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn query(service: &str, body: &str) -> Vec<(String, &'static str)> {
        let headers = vec![
            auth(service),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ];
        violations(&HttpRequest {
            method: "POST",
            path_and_query: "/",
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    const TRUST: &str = "%7B%22Version%22%3A%222012-10-17%22%7D";

    #[test]
    fn valid_create_role_passes() {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=lab-role&Path=%2Flabctl%2F&AssumeRolePolicyDocument={TRUST}&Tags.member.1.Key=project&Tags.member.1.Value=lab&MaxSessionDuration=3600"
        );
        let headers = vec![auth("iam")];
        let req = HttpRequest {
            method: "POST",
            path_and_query: "/",
            headers: &headers,
            body: body.as_bytes(),
        };
        let c = contract().check(&req).expect("valid");
        assert_eq!(
            (c.service.as_str(), c.operation.as_str(), c.protocol),
            ("iam", "CreateRole", "query")
        );
    }

    #[test]
    fn missing_required_and_unknown() {
        let vs = query(
            "iam",
            "Action=CreateRole&Version=2010-05-08&RoleName=r&Colour=red",
        );
        assert!(has(&vs, "AssumeRolePolicyDocument", "required"), "{vs:?}");
        assert!(has(&vs, "Colour", "unknown member"), "{vs:?}");
    }

    #[test]
    fn list_members_are_decoded_with_paths() {
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument={TRUST}&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Value=2"
        );
        let vs = query("iam", &body);
        assert_eq!(vs, vec![("Tags[1].Key".to_string(), "required")]);
        let body = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument={TRUST}&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.3.Key=b&Tags.member.3.Value=2"
        );
        let vs = query("iam", &body);
        assert!(has(&vs, "Tags", "malformed"), "index gap: {vs:?}");
    }

    #[test]
    fn range_pattern_type_length() {
        let base = format!("Action=CreateRole&Version=2010-05-08&AssumeRolePolicyDocument={TRUST}");
        let vs = query("iam", &format!("{base}&RoleName=r&MaxSessionDuration=60"));
        assert!(has(&vs, "MaxSessionDuration", "range"), "{vs:?}");
        let vs = query(
            "iam",
            &format!("{base}&RoleName=r&MaxSessionDuration=an+hour"),
        );
        assert!(has(&vs, "MaxSessionDuration", "type"), "{vs:?}");
        let vs = query("iam", &format!("{base}&RoleName=bad%20name"));
        assert!(has(&vs, "RoleName", "pattern"), "{vs:?}");
        let long = "r".repeat(65);
        let vs = query("iam", &format!("{base}&RoleName={long}"));
        assert!(has(&vs, "RoleName", "max length"), "{vs:?}");
    }

    #[test]
    fn maps_and_enums_sns() {
        let ok = "Action=CreateTopic&Version=2010-03-31&Name=lab-alarms&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=Lab&Tags.member.1.Key=project&Tags.member.1.Value=lab";
        assert_eq!(query("sns", ok), vec![]);
        let vs = query(
            "sns",
            "Action=Subscribe&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:123456789012:t&Protocol=email&Attributes.entry.1.value=x",
        );
        assert!(has(&vs, "Attributes[0]", "required"), "{vs:?}");
    }

    #[test]
    fn wrong_version_is_malformed() {
        let vs = query("sts", "Action=GetCallerIdentity&Version=2099-01-01");
        assert!(has(&vs, "Version", "malformed"), "{vs:?}");
        assert_eq!(
            query("sts", "Action=GetCallerIdentity&Version=2011-06-15"),
            vec![]
        );
    }

    #[test]
    fn cloudwatch_query_enum_and_timestamps() {
        let ok = "Action=PutMetricAlarm&Version=2010-08-01&AlarmName=a&EvaluationPeriods=1&ComparisonOperator=GreaterThanThreshold&MetricName=IncomingRecords&Namespace=AWS%2FKinesis&Statistic=Sum&Period=60&Threshold=1.5&Dimensions.member.1.Name=StreamName&Dimensions.member.1.Value=s";
        assert_eq!(query("monitoring", ok), vec![]);
        let vs = query(
            "monitoring",
            &ok.replace("Statistic=Sum", "Statistic=Total"),
        );
        assert!(has(&vs, "Statistic", "enum"), "{vs:?}");
        let vs = query(
            "monitoring",
            "Action=GetMetricStatistics&Version=2010-08-01&Namespace=AWS%2FKinesis&MetricName=m&StartTime=yesterday&EndTime=2026-01-01T00%3A00%3A00Z&Period=60&Statistics.member.1=Sum",
        );
        assert_eq!(vs, vec![("StartTime".to_string(), "type")]);
    }
}
