//! The contract check's vocabulary, shared by every protocol module: the request as it
//! arrived, what passed, the rules and their violations. It knows no model and no protocol.

use std::fmt;

/// One HTTP request as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &'a str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(p, _)| p)
    }

    pub fn query(&self) -> &'a str {
        self.path_and_query.split_once('?').map_or("", |(_, q)| q)
    }
}

/// A request that passed: which service and operation it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// botocore's service name (`kinesis`, `kinesisanalyticsv2`, `cloudwatch`, …).
    pub service: String,
    pub operation: String,
    /// The protocol it was read as (`json`, `query`, `smithy-rpc-v2-cbor`, `rest-xml`).
    pub protocol: &'static str,
    /// Values whose shape has a pattern the checker could not compile: not checked.
    pub unchecked_patterns: Vec<UncheckedPattern>,
}

/// The rule a value broke.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Required,
    Type {
        expected: &'static str,
    },
    Enum,
    MinLength(u64),
    MaxLength(u64),
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// The (botocore) pattern the whole value must match.
    Pattern(String),
    UnknownMember,
    /// A union (`"union": true`) must have exactly one member set.
    Union,
    /// The request cannot be read as its protocol says (bad JSON/CBOR/XML, wrong Version, …).
    Malformed(String),
}

impl Rule {
    /// A short stable name: `required`, `type`, `enum`, `min length`, `max length`, `range`,
    /// `pattern`, `unknown member`, `union`, `malformed`.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Type { .. } => "type",
            Rule::Enum => "enum",
            Rule::MinLength(_) => "min length",
            Rule::MaxLength(_) => "max length",
            Rule::Range { .. } => "range",
            Rule::Pattern(_) => "pattern",
            Rule::UnknownMember => "unknown member",
            Rule::Union => "union",
            Rule::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => write!(f, "required member missing"),
            Rule::Type { expected } => write!(f, "type: expected {expected}"),
            Rule::Enum => write!(f, "enum: not one of the model's values"),
            Rule::MinLength(n) => write!(f, "min length {n}"),
            Rule::MaxLength(n) => write!(f, "max length {n}"),
            Rule::Range { min, max } => {
                let b = |x: &Option<f64>| x.map_or("…".to_string(), |v| v.to_string());
                write!(f, "range [{}, {}]", b(min), b(max))
            }
            Rule::Pattern(p) => write!(f, "pattern /{p}/ (whole value)"),
            Rule::UnknownMember => write!(f, "unknown member"),
            Rule::Union => write!(f, "union: exactly one member must be set"),
            Rule::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub service: String,
    pub operation: String,
    /// Member path with model names and 0-based indices: `Tags[3].Key`, `Attributes["k"]`.
    pub member: String,
    pub rule: Rule,
    /// The offending value, truncated.
    pub value: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}: {} (got {})",
            self.service, self.operation, self.member, self.rule, self.value
        )
    }
}

/// A value whose pattern could not be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct UncheckedPattern {
    pub service: String,
    pub operation: String,
    pub member: String,
    pub pattern: String,
    pub reason: String,
}

/// Why a request did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckError {
    /// The checker could not tell which service or operation the request is.
    Unidentified(String),
    /// It is a known operation, and its input breaks these rules.
    Violations(Vec<Violation>),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Unidentified(why) => write!(f, "unidentified request: {why}"),
            CheckError::Violations(vs) => {
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CheckError {}
