//! The rules every protocol shares, applied to a request's input after its protocol module has
//! decoded it into a [`Value`] tree: `required` members, types, `enum`, `min`/`max` (string length
//! in characters, list and map element counts, blob bytes, numeric ranges), `pattern` matched
//! against the whole value, unions with exactly one member set, and (for typed bodies: JSON and
//! CBOR) members the model does not know.
//!
//! Textual wire forms (query parameters, XML text, headers, URI labels) arrive as
//! [`Value::Text`] and are parsed here by the shape's type, so "wrong type" means "does not
//! parse as that type" for them. Member paths are written with model member names and 0-based
//! list indices (`Tags[3].Key`), whatever the wire spelling (`Tags.member.4.Key`).

use super::model::{Kind, Member, Pattern, ServiceModel, Shape};
use super::types::{Rule, UncheckedPattern, Violation};
use regex::Regex;
use std::sync::OnceLock;

/// How a textual value travelled; it decides the default timestamp format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Query,
    Xml,
    Header,
    QueryString,
    Label,
}

/// A decoded input value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// A typed string (JSON, CBOR).
    Str(String),
    /// An untyped textual value (query, XML, HTTP bindings), parsed by the shape's type.
    Text(String, Wire),
    /// Raw bytes (CBOR byte string, an HTTP payload).
    Bytes(Vec<u8>),
    /// CBOR tag 1 (epoch seconds).
    Timestamp(f64),
    List(Vec<Value>),
    /// A JSON object / CBOR map / decoded structure, in wire order.
    Map(Vec<(String, Value)>),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) | Value::Text(s, _) => format!("{s:?}"),
            Value::Bytes(b) => format!("<{} bytes>", b.len()),
            Value::Timestamp(t) => format!("timestamp {t}"),
            Value::List(l) => format!("<list of {}>", l.len()),
            Value::Map(m) => format!("<map of {}>", m.len()),
        }
    }
}

const MAX_VALUE_CHARS: usize = 80;

/// Shortens a value for a report.
pub fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_VALUE_CHARS {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX_VALUE_CHARS).collect();
        format!("{head}…")
    }
}

/// Collects violations for one request.
pub struct Validator<'m> {
    pub model: &'m ServiceModel,
    pub operation: String,
    pub violations: Vec<Violation>,
    pub unchecked: Vec<UncheckedPattern>,
}

impl<'m> Validator<'m> {
    pub fn new(model: &'m ServiceModel, operation: &str) -> Self {
        Validator {
            model,
            operation: operation.to_string(),
            violations: Vec::new(),
            unchecked: Vec::new(),
        }
    }

    pub fn violation(&mut self, member: &str, rule: Rule, value: String) {
        self.violations.push(Violation {
            service: self.model.name.clone(),
            operation: self.operation.clone(),
            member: if member.is_empty() {
                "(input)".into()
            } else {
                member.to_string()
            },
            rule,
            value: truncate(&value),
        });
    }

    fn shape(&mut self, path: &str, name: &str) -> Option<&'m Shape> {
        let shape = self.model.shape(name);
        if shape.is_none() {
            self.violation(
                path,
                Rule::Malformed(format!("model has no shape {name}")),
                String::new(),
            );
        }
        shape
    }

    /// Checks `value` against the shape named `shape_name`.
    pub fn check(&mut self, path: &str, shape_name: &str, value: &Value) {
        let Some(shape) = self.shape(path, shape_name) else {
            return;
        };
        match shape.kind {
            Kind::Structure => match value {
                Value::Map(entries) => self.check_structure(path, shape, entries, true),
                other => self.wrong_type(path, shape, other),
            },
            Kind::List => match value {
                Value::List(items) => {
                    self.check_count(path, shape, items.len(), value);
                    if let Some(member) = &shape.member {
                        for (i, item) in items.iter().enumerate() {
                            self.check(&format!("{path}[{i}]"), &member.shape, item);
                        }
                    }
                }
                other => self.wrong_type(path, shape, other),
            },
            Kind::Map => match value {
                Value::Map(entries) => {
                    self.check_count(path, shape, entries.len(), value);
                    for (k, v) in entries {
                        if let Some(key) = &shape.key {
                            self.check(
                                &format!("{path}{{key {k:?}}}"),
                                &key.shape,
                                &Value::Str(k.clone()),
                            );
                        }
                        if let Some(val) = &shape.value {
                            self.check(&format!("{path}[{k:?}]"), &val.shape, v);
                        }
                    }
                }
                other => self.wrong_type(path, shape, other),
            },
            _ => self.check_scalar(path, shape, value),
        }
    }

    /// Checks a structure whose entries are keyed by wire name (`locationName`, else the member
    /// name). With `report_unknown`, keys the model does not know are violations.
    pub fn check_structure(
        &mut self,
        path: &str,
        shape: &Shape,
        entries: &[(String, Value)],
        report_unknown: bool,
    ) {
        let mut present: Vec<&str> = Vec::new();
        for (key, value) in entries {
            let found = find_member(shape, key);
            let child = join(path, found.map(|(n, _)| n.as_str()).unwrap_or(key));
            match found {
                None => {
                    if report_unknown {
                        self.violation(&child, Rule::UnknownMember, value.describe());
                    }
                }
                Some((name, member)) => {
                    if *value == Value::Null {
                        continue;
                    }
                    present.push(name);
                    self.check(&child, &member.shape, value);
                }
            }
        }
        self.check_required(path, shape, &present);
    }

    /// Reports each required member missing from `present`, and unions without exactly one member.
    pub fn check_required(&mut self, path: &str, shape: &Shape, present: &[&str]) {
        for req in &shape.required {
            if !present.iter().any(|p| p == req) {
                self.violation(&join(path, req), Rule::Required, "(absent)".into());
            }
        }
        if shape.union && present.len() != 1 {
            self.violation(
                path,
                Rule::Union,
                format!("{} members set: {}", present.len(), present.join(", ")),
            );
        }
    }

    fn wrong_type(&mut self, path: &str, shape: &Shape, value: &Value) {
        self.violation(
            path,
            Rule::Type {
                expected: shape.kind.name(),
            },
            value.describe(),
        );
    }

    fn check_count(&mut self, path: &str, shape: &Shape, count: usize, value: &Value) {
        let n = count as f64;
        if let Some(min) = shape.min {
            if n < min {
                self.violation(path, Rule::MinLength(min as u64), value.describe());
            }
        }
        if let Some(max) = shape.max {
            if n > max {
                self.violation(path, Rule::MaxLength(max as u64), value.describe());
            }
        }
    }

    fn check_scalar(&mut self, path: &str, shape: &Shape, value: &Value) {
        match shape.kind {
            Kind::String => {
                let s = match value {
                    Value::Str(s) | Value::Text(s, _) => s.clone(),
                    Value::Bytes(b) => match std::str::from_utf8(b) {
                        Ok(s) => s.to_string(),
                        Err(_) => return self.wrong_type(path, shape, value),
                    },
                    other => return self.wrong_type(path, shape, other),
                };
                self.check_string(path, shape, &s);
            }
            Kind::Integer | Kind::Long => self.check_integer(path, shape, value),
            Kind::Float | Kind::Double => {
                let f = match value {
                    Value::Int(i) => *i as f64,
                    Value::Float(f) => *f,
                    // JSON protocols send non-finite numbers as strings.
                    Value::Str(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                        return
                    }
                    Value::Text(t, _) => match t.trim().parse::<f64>() {
                        Ok(f) => f,
                        Err(_) => return self.wrong_type(path, shape, value),
                    },
                    other => return self.wrong_type(path, shape, other),
                };
                if f.is_finite() {
                    self.check_range(path, shape, f, value);
                }
            }
            Kind::Boolean => match value {
                Value::Bool(_) => {}
                Value::Text(t, _) if t == "true" || t == "false" => {}
                other => self.wrong_type(path, shape, other),
            },
            Kind::Timestamp => {
                if !timestamp_ok(shape, value) {
                    self.wrong_type(path, shape, value);
                }
            }
            Kind::Blob => self.check_blob(path, shape, value),
            Kind::Structure | Kind::List | Kind::Map => self.wrong_type(path, shape, value),
        }
    }

    fn check_integer(&mut self, path: &str, shape: &Shape, value: &Value) {
        let n = match value {
            Value::Int(i) => *i,
            Value::Text(t, _) => match t.trim().parse::<i128>() {
                Ok(i) => i,
                Err(_) => return self.wrong_type(path, shape, value),
            },
            other => return self.wrong_type(path, shape, other),
        };
        let (lo, hi) = if shape.kind == Kind::Integer {
            (i32::MIN as i128, i32::MAX as i128)
        } else {
            (i64::MIN as i128, i64::MAX as i128)
        };
        if n < lo || n > hi {
            return self.wrong_type(path, shape, value);
        }
        self.check_range(path, shape, n as f64, value);
    }

    fn check_blob(&mut self, path: &str, shape: &Shape, value: &Value) {
        let len = match value {
            Value::Bytes(b) => Some(b.len()),
            Value::Str(s) | Value::Text(s, _) => base64_len(s),
            _ => None,
        };
        match len {
            None => self.wrong_type(path, shape, value),
            Some(len) => {
                if let Some(min) = shape.min {
                    if (len as f64) < min {
                        self.violation(path, Rule::MinLength(min as u64), value.describe());
                    }
                }
                if let Some(max) = shape.max {
                    if (len as f64) > max {
                        self.violation(path, Rule::MaxLength(max as u64), value.describe());
                    }
                }
            }
        }
    }

    fn check_string(&mut self, path: &str, shape: &Shape, s: &str) {
        let shown = format!("{s:?}");
        let len = s.chars().count() as f64;
        if let Some(min) = shape.min {
            if len < min {
                self.violation(path, Rule::MinLength(min as u64), shown.clone());
            }
        }
        if let Some(max) = shape.max {
            if len > max {
                self.violation(path, Rule::MaxLength(max as u64), shown.clone());
            }
        }
        if let Some(values) = &shape.enum_values {
            if !values.iter().any(|v| v == s) {
                self.violation(path, Rule::Enum, shown.clone());
            }
        }
        if let Some(idx) = shape.pattern {
            match self.model.patterns.get(idx) {
                Some(p @ Pattern::Checked { source, .. }) if p.is_match(s) == Some(false) => {
                    self.violation(path, Rule::Pattern(source.clone()), shown);
                }
                Some(Pattern::Unchecked { source, reason }) => {
                    self.unchecked.push(UncheckedPattern {
                        service: self.model.name.clone(),
                        operation: self.operation.clone(),
                        member: path.to_string(),
                        pattern: source.clone(),
                        reason: reason.clone(),
                    });
                }
                Some(Pattern::Checked { .. }) | None => {}
            }
        }
    }

    fn check_range(&mut self, path: &str, shape: &Shape, n: f64, value: &Value) {
        let below = shape.min.is_some_and(|min| n < min);
        let above = shape.max.is_some_and(|max| n > max);
        if below || above {
            self.violation(
                path,
                Rule::Range {
                    min: shape.min,
                    max: shape.max,
                },
                value.describe(),
            );
        }
    }
}

/// The member a wire key names: `locationName` first, then the member name.
pub fn find_member<'s>(shape: &'s Shape, key: &str) -> Option<&'s (String, Member)> {
    shape
        .members
        .iter()
        .find(|(_, m)| m.location_name.as_deref() == Some(key))
        .or_else(|| shape.members.iter().find(|(n, _)| n == key))
}

/// `parent.child`, or `child` at the top.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

fn iso8601() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})\z")
            .expect("static regex")
    })
}

fn http_date() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\A[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\z")
            .expect("static regex")
    })
}

fn timestamp_ok(shape: &Shape, value: &Value) -> bool {
    let declared = shape.timestamp_format.as_deref();
    let text_ok = |t: &str, default: &str| match declared.unwrap_or(default) {
        "unixTimestamp" => t.trim().parse::<f64>().is_ok(),
        "rfc822" => http_date().is_match(t),
        _ => iso8601().is_match(t),
    };
    match value {
        // JSON: epoch seconds unless the shape says otherwise.
        Value::Int(_) | Value::Float(_) => declared.is_none_or(|f| f == "unixTimestamp"),
        Value::Str(s) => declared.is_some_and(|f| f != "unixTimestamp") && text_ok(s, "iso8601"),
        Value::Timestamp(_) => true,
        Value::Text(t, Wire::Header) => text_ok(t, "rfc822"),
        Value::Text(t, _) => text_ok(t, "iso8601"),
        _ => false,
    }
}

/// Decoded length of standard base64 text, `None` if it is not base64.
pub fn base64_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return None;
    }
    let body = &bytes[..bytes.len() - pad];
    if !body
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
    {
        return None;
    }
    Some(bytes.len() / 4 * 3 - pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lengths() {
        assert_eq!(base64_len(""), Some(0));
        assert_eq!(base64_len("aGVsbG8="), Some(5));
        assert_eq!(base64_len("aGVsbG8h"), Some(6));
        assert_eq!(base64_len("aGVsbG8"), None);
        assert_eq!(base64_len("a b c d "), None);
    }

    #[test]
    fn truncates_long_values() {
        let long = "x".repeat(200);
        assert!(truncate(&long).chars().count() <= MAX_VALUE_CHARS + 1);
        assert_eq!(truncate("short"), "short");
    }
}
