//! The `rest-xml` protocol (S3): the operation is the one whose HTTP method and `requestUri`
//! template match the request (path segments, `{Label}` and greedy `{Key+}` labels, and the
//! query-string selectors the template requires such as `?tagging`, `?delete` or
//! `?list-type=2`; the most specific template wins). Its input is then read from the URI labels,
//! the query-string and header members (by `locationName`, lists in headers comma-separated,
//! `headers` prefix maps such as `x-amz-meta-`) and the payload member: a structure read from the
//! XML body through the model's shapes (`locationName`s, wrapped and flattened lists,
//! `xmlAttribute`s), or a string/blob taken as the raw body.
//!
//! Checked: the shared rules on every member found, the payload's root element name, XML
//! elements the model does not know (unknown members).
//! Not checked: virtual-hosted-style addressing (the bucket must be in the path; labctl's local
//! runs force path style), query parameters and headers the model does not know (the SDKs add
//! their own, e.g. `x-id`), XML namespaces, streaming (`aws-chunked`) payload contents, checksums.
//! S3's model itself constrains little: bucket names and keys carry no `pattern` or length limits
//! there (only `min` on a few members), so most S3 findings are required/type/enum.

use super::model::{Kind, Location, Member, ServiceModel, Shape};
use super::types::{HttpRequest, Rule};
use super::validate::{join, Validator, Value, Wire};

/// A parsed `requestUri`: path segments and required query selectors (`key` or `key=value`).
struct Template<'a> {
    segments: Vec<&'a str>,
    query: Vec<(&'a str, Option<&'a str>)>,
}

fn parse_template(uri: &str) -> Template<'_> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    Template {
        segments: path.split('/').skip(1).collect(),
        query: query
            .split('&')
            .filter(|q| !q.is_empty())
            .map(|q| match q.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (q, None),
            })
            .collect(),
    }
}

/// Matches the path against the template; returns the (label, raw value) pairs.
fn match_path<'r>(template: &Template<'_>, path: &'r str) -> Option<Vec<(String, &'r str)>> {
    let mut rest = path.strip_prefix('/')?;
    let mut labels = Vec::new();
    let n = template.segments.len();
    for (i, seg) in template.segments.iter().enumerate() {
        let last = i + 1 == n;
        if let Some(label) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                if !last || rest.is_empty() {
                    return None;
                }
                labels.push((greedy.to_string(), rest));
                rest = "";
                continue;
            }
            let (value, tail) = match rest.split_once('/') {
                Some((v, t)) => (v, Some(t)),
                None => (rest, None),
            };
            if value.is_empty() {
                return None;
            }
            labels.push((label.to_string(), value));
            rest = match tail {
                Some(t) if !last => t,
                // A trailing slash after the last label (`/bucket/`) is the same resource.
                Some("") => "",
                Some(_) => return None,
                None if last => "",
                None => return None,
            };
        } else {
            let (value, tail) = match rest.split_once('/') {
                Some((v, t)) => (v, t),
                None => (rest, ""),
            };
            if value != *seg {
                return None;
            }
            rest = tail;
        }
    }
    rest.is_empty().then_some(labels)
}

fn query_pairs(req: &HttpRequest<'_>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.query().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// How well a template fits: `x-id` names it, query selectors met, literal path segments,
/// required header and query members present.
type Specificity = (bool, usize, usize, bool);

/// The operation whose method and `requestUri` template match, the most specific one first.
pub fn match_operation<'m>(model: &'m ServiceModel, req: &HttpRequest<'_>) -> Option<&'m str> {
    let query = query_pairs(req);
    let mut best: Option<(&'m str, Specificity)> = None;
    let mut names: Vec<&String> = model.operations.keys().collect();
    names.sort();
    for name in names {
        let Some(op) = model.operations.get(name) else {
            continue;
        };
        if !op.method.eq_ignore_ascii_case(req.method) {
            continue;
        }
        let t = parse_template(&op.request_uri);
        if match_path(&t, req.path()).is_none() {
            continue;
        }
        let selectors_met = t.query.iter().all(|(k, v)| {
            query
                .iter()
                .any(|(qk, qv)| qk == k && v.is_none_or(|v| v == qv))
        });
        if !selectors_met {
            continue;
        }
        let literal_segments = t.segments.iter().filter(|s| !s.starts_with('{')).count();
        // Same template (PutObject, CopyObject, UploadPart all PUT /{Bucket}/{Key+}): the SDKs'
        // `x-id` names the operation; else the one whose required header and query members
        // are all present.
        let named = query.iter().any(|(k, v)| k == "x-id" && v == name);
        let score = (
            named,
            t.query.len(),
            literal_segments,
            required_bindings_present(model, op.input.as_deref(), req, &query),
        );
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((op.name.as_str(), score));
        }
    }
    best.map(|(n, _)| n)
}

/// Whether every required header and query-string member of the input is in the request.
fn required_bindings_present(
    model: &ServiceModel,
    input: Option<&str>,
    req: &HttpRequest<'_>,
    query: &[(String, String)],
) -> bool {
    let Some(shape) = input.and_then(|n| model.shape(n)) else {
        return true;
    };
    shape.required.iter().all(|r| match shape.member(r) {
        Some(m) => {
            let wire = m.location_name.as_deref().unwrap_or(r);
            match m.location {
                Location::Header => req.header(wire).is_some(),
                Location::QueryString => query.iter().any(|(k, _)| k == wire),
                _ => true,
            }
        }
        None => true,
    })
}

pub fn check(model: &ServiceModel, operation: &str, req: &HttpRequest<'_>, v: &mut Validator<'_>) {
    let Some(op) = model.operations.get(operation) else {
        return;
    };
    let Some(shape) = op.input.as_deref().and_then(|n| model.shape(n)) else {
        return;
    };
    let labels = match_path(&parse_template(&op.request_uri), req.path()).unwrap_or_default();
    let query = query_pairs(req);
    let mut present: Vec<&str> = Vec::new();
    let mut found: Vec<(&str, &Member, Value)> = Vec::new();

    for (name, member) in &shape.members {
        let value = member_value(model, shape, name, member, &labels, &query, req, v);
        if let Some(value) = value {
            present.push(name);
            found.push((name, member, value));
        }
    }

    // Body members without a payload member: the body is the input shape's own XML element.
    if shape.payload.is_none() && !req.body.is_empty() {
        let has_body_members = shape
            .members
            .iter()
            .any(|(_, m)| m.location == Location::Body);
        if has_body_members {
            if let Some(doc) = parse_xml(req.body, v) {
                let root = doc.root_element();
                if let Value::Map(entries) = decode_structure(model, shape, root, "", v) {
                    for (wire, value) in entries {
                        if let Some((name, member)) = shape
                            .members
                            .iter()
                            .find(|(n, m)| m.location_name.as_deref().unwrap_or(n) == wire)
                        {
                            present.push(name);
                            found.push((name, member, value));
                        }
                    }
                }
            }
        }
    }

    for (name, member, value) in &found {
        v.check(name, &member.shape, value);
    }
    v.check_required("", shape, &present);
}

/// A member's value where its `location` puts it (label, query string, header(s), payload).
#[allow(clippy::too_many_arguments)]
fn member_value(
    model: &ServiceModel,
    shape: &Shape,
    name: &str,
    member: &Member,
    labels: &[(String, &str)],
    query: &[(String, String)],
    req: &HttpRequest<'_>,
    v: &mut Validator<'_>,
) -> Option<Value> {
    let wire = member.location_name.as_deref().unwrap_or(name);
    match member.location {
        Location::Uri => labels.iter().find(|(l, _)| l == wire).map(|(_, raw)| {
            let decoded = urlencoding::decode(raw)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| raw.to_string());
            Value::Text(decoded, Wire::Label)
        }),
        Location::QueryString => {
            let values: Vec<&String> = query
                .iter()
                .filter(|(k, _)| k == wire)
                .map(|(_, v)| v)
                .collect();
            if values.is_empty() {
                None
            } else if kind_of(model, member) == Some(Kind::List) {
                Some(Value::List(
                    values
                        .into_iter()
                        .map(|s| Value::Text(s.clone(), Wire::QueryString))
                        .collect(),
                ))
            } else {
                values
                    .first()
                    .map(|s| Value::Text((*s).clone(), Wire::QueryString))
            }
        }
        Location::Header => req.header(wire).map(|h| {
            if kind_of(model, member) == Some(Kind::List) {
                Value::List(
                    h.split(',')
                        .map(|s| Value::Text(s.trim().to_string(), Wire::Header))
                        .collect(),
                )
            } else {
                Value::Text(h.to_string(), Wire::Header)
            }
        }),
        Location::Headers => {
            let prefix = wire.to_ascii_lowercase();
            let entries: Vec<(String, Value)> = req
                .headers
                .iter()
                .filter_map(|(k, val)| {
                    let lower = k.to_ascii_lowercase();
                    lower
                        .strip_prefix(&prefix)
                        .map(|rest| (rest.to_string(), Value::Text(val.clone(), Wire::Header)))
                })
                .collect();
            (!entries.is_empty()).then_some(Value::Map(entries))
        }
        Location::StatusCode => None,
        Location::Body => {
            if shape.payload.as_deref() == Some(name) {
                payload(model, name, member, req, v)
            } else {
                None
            }
        }
    }
}

fn kind_of(model: &ServiceModel, member: &Member) -> Option<Kind> {
    model.shape(&member.shape).map(|s| s.kind)
}

fn parse_xml<'b>(body: &'b [u8], v: &mut Validator<'_>) -> Option<roxmltree::Document<'b>> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => {
            v.violation(
                "",
                Rule::Malformed("XML body is not UTF-8".into()),
                String::new(),
            );
            return None;
        }
    };
    match roxmltree::Document::parse(text) {
        Ok(d) => Some(d),
        Err(e) => {
            v.violation(
                "",
                Rule::Malformed(format!("body is not XML: {e}")),
                text.to_string(),
            );
            None
        }
    }
}

/// The payload member's value: an XML structure, or the raw body for string/blob payloads.
fn payload(
    model: &ServiceModel,
    name: &str,
    member: &Member,
    req: &HttpRequest<'_>,
    v: &mut Validator<'_>,
) -> Option<Value> {
    let shape = model.shape(&member.shape)?;
    match shape.kind {
        Kind::Structure => {
            if req.body.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            let doc = parse_xml(req.body, v)?;
            let root = doc.root_element();
            let expected = member
                .location_name
                .as_deref()
                .or(shape.location_name.as_deref())
                .unwrap_or(&member.shape);
            if root.tag_name().name() != expected {
                v.violation(
                    name,
                    Rule::Malformed(format!("payload root element must be <{expected}>")),
                    format!("<{}>", root.tag_name().name()),
                );
                return None;
            }
            Some(decode_structure(model, shape, root, name, v))
        }
        Kind::Blob | Kind::String => {
            if req.body.is_empty() {
                None
            } else if req
                .header("content-encoding")
                .is_some_and(|e| e.contains("aws-chunked"))
            {
                // Streaming upload framed in signed chunks: the raw bytes are not the value.
                None
            } else {
                Some(Value::Bytes(req.body.to_vec()))
            }
        }
        _ => None,
    }
}

fn element_text(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn decode_structure(
    model: &ServiceModel,
    shape: &Shape,
    node: roxmltree::Node<'_, '_>,
    path: &str,
    v: &mut Validator<'_>,
) -> Value {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (name, member) in &shape.members {
        if member.xml_attribute {
            let wire = member.location_name.as_deref().unwrap_or(name);
            let local = wire.rsplit(':').next().unwrap_or(wire);
            if let Some(a) = node.attributes().find(|a| a.name() == local) {
                out.push((
                    wire.to_string(),
                    Value::Text(a.value().to_string(), Wire::Xml),
                ));
            }
        }
    }
    for child in node.children().filter(|c| c.is_element()) {
        let tag = child.tag_name().name();
        let found = shape.members.iter().find(|(n, m)| {
            !m.xml_attribute && m.location == Location::Body && xml_name(model, n, m) == tag
        });
        let Some((name, member)) = found else {
            v.violation(&join(path, tag), Rule::UnknownMember, format!("<{tag}>"));
            continue;
        };
        let child_path = join(path, name);
        let wire = member.location_name.as_deref().unwrap_or(name);
        let flattened_list = model
            .shape(&member.shape)
            .is_some_and(|s| s.kind == Kind::List && (s.flattened || member.flattened));
        if flattened_list {
            let item = model.shape(&member.shape).and_then(|s| s.member.clone());
            let index = out
                .iter()
                .find(|(k, _)| k == wire)
                .map_or(0, |(_, l)| match l {
                    Value::List(items) => items.len(),
                    _ => 0,
                });
            let value = match &item {
                Some(item) => decode(model, item, child, &format!("{child_path}[{index}]"), v),
                None => Value::Null,
            };
            match out.iter_mut().find(|(k, _)| k == wire) {
                Some((_, Value::List(items))) => items.push(value),
                _ => out.push((wire.to_string(), Value::List(vec![value]))),
            }
        } else {
            let value = decode(model, member, child, &child_path, v);
            out.push((wire.to_string(), value));
        }
    }
    Value::Map(out)
}

/// The element name a member travels as: for a flattened list, the list member's name.
fn xml_name<'a>(model: &'a ServiceModel, name: &'a str, member: &'a Member) -> &'a str {
    if let Some(s) = model.shape(&member.shape) {
        if s.kind == Kind::List
            && (s.flattened || member.flattened)
            && member.location_name.is_none()
        {
            if let Some(item_name) = s.member.as_ref().and_then(|m| m.location_name.as_deref()) {
                return item_name;
            }
        }
    }
    member.location_name.as_deref().unwrap_or(name)
}

fn decode(
    model: &ServiceModel,
    member: &Member,
    node: roxmltree::Node<'_, '_>,
    path: &str,
    v: &mut Validator<'_>,
) -> Value {
    let Some(shape) = model.shape(&member.shape) else {
        return Value::Null;
    };
    match shape.kind {
        Kind::Structure => decode_structure(model, shape, node, path, v),
        Kind::List => {
            let Some(item) = &shape.member else {
                return Value::List(Vec::new());
            };
            let item_name = item.location_name.as_deref().unwrap_or("member");
            let mut items = Vec::new();
            for child in node.children().filter(|c| c.is_element()) {
                let tag = child.tag_name().name();
                if tag != item_name {
                    v.violation(&join(path, tag), Rule::UnknownMember, format!("<{tag}>"));
                    continue;
                }
                let p = format!("{path}[{}]", items.len());
                items.push(decode(model, item, child, &p, v));
            }
            Value::List(items)
        }
        Kind::Map => {
            let (Some(key), Some(val)) = (&shape.key, &shape.value) else {
                return Value::Map(Vec::new());
            };
            let key_name = key.location_name.as_deref().unwrap_or("key");
            let val_name = val.location_name.as_deref().unwrap_or("value");
            let mut out = Vec::new();
            for entry in node.children().filter(|c| c.is_element()) {
                let k = entry
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == key_name)
                    .map(element_text);
                let value = entry
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == val_name)
                    .map(|n| decode(model, val, n, path, v))
                    .unwrap_or(Value::Null);
                match k {
                    Some(k) => out.push((k, value)),
                    None => v.violation(
                        path,
                        Rule::Required,
                        format!("map entry without <{key_name}>"),
                    ),
                }
            }
            Value::Map(out)
        }
        _ => Value::Text(element_text(node), Wire::Xml),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

    fn s3(
        method: &str,
        path: &str,
        extra: Vec<(&str, &str)>,
        body: &str,
    ) -> Result<Checked, CheckError> {
        let mut headers = vec![auth("s3")];
        headers.extend(
            extra
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        contract().check(&HttpRequest {
            method,
            path_and_query: path,
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    fn op(r: Result<Checked, CheckError>) -> String {
        match r {
            Ok(c) => c.operation,
            Err(e) => panic!("{e}"),
        }
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

    const TAGGING: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>project</Key><Value>lab</Value></Tag></TagSet></Tagging>"#;

    #[test]
    fn operations_are_matched_by_method_path_and_selectors() {
        let cases = [
            ("PUT", "/bucket", "CreateBucket"),
            ("HEAD", "/bucket", "HeadBucket"),
            ("DELETE", "/bucket", "DeleteBucket"),
            ("GET", "/bucket?tagging", "GetBucketTagging"),
            ("GET", "/bucket?encryption", "GetBucketEncryption"),
            ("GET", "/bucket?publicAccessBlock", "GetPublicAccessBlock"),
            ("GET", "/bucket?policy", "GetBucketPolicy"),
            ("GET", "/bucket?location", "GetBucketLocation"),
            ("GET", "/bucket?versions&prefix=a", "ListObjectVersions"),
            ("GET", "/bucket?list-type=2&prefix=a%2F", "ListObjectsV2"),
            ("GET", "/bucket/", "ListObjects"),
            ("GET", "/", "ListBuckets"),
            ("GET", "/bucket/dir/key.jar?x-id=GetObject", "GetObject"),
            ("HEAD", "/bucket/dir/key.jar", "HeadObject"),
            ("DELETE", "/bucket/key?x-id=DeleteObject", "DeleteObject"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                op(s3(method, path, vec![], "")),
                expected,
                "{method} {path}"
            );
        }
        assert_eq!(
            op(s3("PUT", "/bucket?tagging", vec![], TAGGING)),
            "PutBucketTagging"
        );
        assert_eq!(
            op(s3("PUT", "/bucket/k?x-id=PutObject", vec![], "data")),
            "PutObject"
        );
        assert!(matches!(
            s3("PATCH", "/bucket", vec![], ""),
            Err(CheckError::Unidentified(_))
        ));
    }

    #[test]
    fn xml_payloads_are_checked() {
        // A Tag without Value, and an element the model does not know.
        let body = TAGGING.replace("<Value>lab</Value>", "<Colour>red</Colour>");
        let v = vs(s3("PUT", "/bucket?tagging", vec![], &body));
        assert!(has(&v, "Tagging.TagSet[0].Value", "required"), "{v:?}");
        assert!(
            has(&v, "Tagging.TagSet[0].Colour", "unknown member"),
            "{v:?}"
        );
        // The payload itself is required.
        let v = vs(s3("PUT", "/bucket?tagging", vec![], ""));
        assert!(has(&v, "Tagging", "required"), "{v:?}");
        let v = vs(s3("PUT", "/bucket?tagging", vec![], "<Tags/>"));
        assert!(has(&v, "Tagging", "malformed"), "{v:?}");
        let v = vs(s3("PUT", "/bucket?tagging", vec![], "<Tagging"));
        assert!(has(&v, "(input)", "malformed"), "{v:?}");
    }

    #[test]
    fn flattened_lists_and_enums_in_delete_objects() {
        let ok = "<Delete><Object><Key>a</Key><VersionId>1</VersionId></Object><Object><Key>b</Key></Object><Quiet>true</Quiet></Delete>";
        assert_eq!(vs(s3("POST", "/bucket?delete", vec![], ok)), vec![]);
        let bad = "<Delete><Object><Key>a</Key></Object><Object><VersionId>1</VersionId></Object><Quiet>yes</Quiet></Delete>";
        let v = vs(s3("POST", "/bucket?delete", vec![], bad));
        assert!(has(&v, "Delete.Objects[1].Key", "required"), "{v:?}");
        assert!(has(&v, "Delete.Quiet", "type"), "{v:?}");
        let enc = "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>ROT13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
        let v = vs(s3("PUT", "/bucket?encryption", vec![], enc));
        assert!(has(
            &v,
            "ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm",
            "enum"
        ), "{v:?}");
    }

    #[test]
    fn headers_and_query_members() {
        let v = vs(s3(
            "PUT",
            "/bucket",
            vec![("x-amz-acl", "world-writable")],
            "",
        ));
        assert!(has(&v, "ACL", "enum"), "{v:?}");
        let v = vs(s3("GET", "/bucket?list-type=2&max-keys=many", vec![], ""));
        assert!(has(&v, "MaxKeys", "type"), "{v:?}");
        let v = vs(s3(
            "PUT",
            "/bucket/k",
            vec![("x-amz-object-lock-retain-until-date", "tomorrow")],
            "x",
        ));
        assert!(has(&v, "ObjectLockRetainUntilDate", "type"), "{v:?}");
        let v = vs(s3("PUT", "/bucket/k", vec![("Content-Length", "-")], "x"));
        assert!(has(&v, "ContentLength", "type"), "{v:?}");
        let ok = vs(s3(
            "PUT",
            "/bucket/k",
            vec![
                (
                    "x-amz-object-lock-retain-until-date",
                    "2026-01-01T00:00:00Z",
                ),
                ("x-amz-meta-owner", "lab"),
                ("Content-Length", "1"),
            ],
            "x",
        ));
        assert_eq!(ok, vec![]);
        let v = vs(s3(
            "PUT",
            "/bucket?publicAccessBlock",
            vec![],
            "<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>",
        ));
        assert!(
            has(&v, "PublicAccessBlockConfiguration.BlockPublicAcls", "type"),
            "{v:?}"
        );
    }

    #[test]
    fn string_payload_policy() {
        let c = s3(
            "PUT",
            "/bucket?policy",
            vec![],
            r#"{"Version":"2012-10-17","Statement":[]}"#,
        );
        assert_eq!(op(c), "PutBucketPolicy");
        let v = vs(s3("PUT", "/bucket?policy", vec![], ""));
        assert!(has(&v, "Policy", "required"), "{v:?}");
    }
}
