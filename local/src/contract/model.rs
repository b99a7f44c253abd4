//! AWS API models as botocore publishes them (`botocore/data/<service>/<api-version>/service-2.json`,
//! gzipped as `service-2.json.gz` since botocore 1.38), reduced to what the contract check needs:
//! each operation's HTTP binding and input shape, and each shape's type, members, locations and
//! constraints (`required`, `enum`, `min`, `max`, `pattern`).
//!
//! Patterns are written for Java's regex engine; [`translate_pattern`] rewrites them for the
//! `regex` crate (`\uXXXX` escapes, POSIX `\p{Alpha}`-style classes, ASCII-only `\d \w \s`,
//! possessive `{n}+`). What the `regex` crate cannot express (look-around, back-references) is
//! kept as an *unchecked* pattern: the check reports it instead of letting the value pass silently.

use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The type of a shape, as botocore names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Timestamp,
    Blob,
    List,
    Map,
    Structure,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "string" => Kind::String,
            "integer" | "short" | "byte" => Kind::Integer,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" | "bigdecimal" => Kind::Double,
            "boolean" => Kind::Boolean,
            "timestamp" => Kind::Timestamp,
            "blob" => Kind::Blob,
            "list" => Kind::List,
            "map" => Kind::Map,
            "structure" => Kind::Structure,
            other => bail!("unknown shape type {other:?}"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Long => "long",
            Kind::Float => "float",
            Kind::Double => "double",
            Kind::Boolean => "boolean",
            Kind::Timestamp => "timestamp",
            Kind::Blob => "blob",
            Kind::List => "list",
            Kind::Map => "map",
            Kind::Structure => "structure",
        }
    }
}

/// Where an HTTP-bound member travels (REST protocols); `Body` for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Body,
    Uri,
    QueryString,
    Header,
    /// A map of headers sharing a prefix (`x-amz-meta-`).
    Headers,
    StatusCode,
}

/// A reference to a shape from a structure member, a list member or a map key/value.
#[derive(Debug, Clone)]
pub struct Member {
    pub shape: String,
    pub location: Location,
    pub location_name: Option<String>,
    pub flattened: bool,
    pub xml_attribute: bool,
}

/// A compiled `pattern` constraint.
#[derive(Debug)]
pub enum Pattern {
    /// `regex` must match the whole value; leading look-aheads at the start of the pattern
    /// (`^(?!aws:)…`, `^(?!\s*$).+`) become prefix tests that must (`must`) or must not
    /// (`must_not`) match at the start of the value.
    Checked {
        source: String,
        regex: Regex,
        must: Vec<Regex>,
        must_not: Vec<Regex>,
    },
    /// The pattern uses a Java feature the `regex` crate lacks; values are not checked against it.
    Unchecked { source: String, reason: String },
}

impl Pattern {
    /// Whether the value matches; `None` for an unchecked pattern.
    pub fn is_match(&self, value: &str) -> Option<bool> {
        match self {
            Pattern::Checked {
                regex,
                must,
                must_not,
                ..
            } => Some(
                regex.is_match(value)
                    && must.iter().all(|r| r.is_match(value))
                    && !must_not.iter().any(|r| r.is_match(value)),
            ),
            Pattern::Unchecked { .. } => None,
        }
    }

    pub fn source(&self) -> &str {
        match self {
            Pattern::Checked { source, .. } | Pattern::Unchecked { source, .. } => source,
        }
    }
}

#[derive(Debug)]
pub struct Shape {
    pub kind: Kind,
    /// Structure members in model order.
    pub members: Vec<(String, Member)>,
    pub required: Vec<String>,
    /// List element.
    pub member: Option<Member>,
    pub key: Option<Member>,
    pub value: Option<Member>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub enum_values: Option<Vec<String>>,
    pub pattern: Option<usize>,
    pub flattened: bool,
    pub timestamp_format: Option<String>,
    pub location_name: Option<String>,
    /// The member that is the whole HTTP body (REST protocols).
    pub payload: Option<String>,
    pub union: bool,
}

impl Shape {
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub method: String,
    pub request_uri: String,
    pub input: Option<String>,
}

/// One service's model.
#[derive(Debug)]
pub struct ServiceModel {
    /// botocore's directory name (`kinesisanalyticsv2`, `cloudwatch`, …).
    pub name: String,
    pub api_version: String,
    /// SigV4 signing name (`signingName`, else `endpointPrefix`).
    pub signing_name: String,
    pub target_prefix: Option<String>,
    /// Protocols the service speaks (`protocols`, else `[protocol]`).
    pub protocols: Vec<String>,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
    pub patterns: Vec<Pattern>,
    pub path: PathBuf,
}

impl ServiceModel {
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    pub fn speaks(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p == protocol)
    }

    /// Reads `<data_dir>/<service>/<api-version>/service-2.json[.gz]`; with `api_version` `None`
    /// the newest version directory is used.
    pub fn load(data_dir: &Path, service: &str, api_version: Option<&str>) -> Result<ServiceModel> {
        let service_dir = data_dir.join(service);
        let version = match api_version {
            Some(v) => v.to_string(),
            None => newest_version(&service_dir)?,
        };
        let dir = service_dir.join(&version);
        let plain = dir.join("service-2.json");
        let gz = dir.join("service-2.json.gz");
        let (path, text) = if plain.is_file() {
            let text = std::fs::read_to_string(&plain)
                .with_context(|| format!("reading {}", plain.display()))?;
            (plain, text)
        } else if gz.is_file() {
            let file =
                std::fs::File::open(&gz).with_context(|| format!("opening {}", gz.display()))?;
            let mut text = String::new();
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .with_context(|| format!("decompressing {}", gz.display()))?;
            (gz, text)
        } else {
            bail!("no service-2.json(.gz) in {}", dir.display());
        };
        let json: Json =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        parse_model(service, &json, path)
    }
}

fn newest_version(service_dir: &Path) -> Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir(service_dir)
        .with_context(|| format!("listing {}", service_dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| anyhow!("no API version under {}", service_dir.display()))
}

fn str_field(v: &Json, key: &str) -> Option<String> {
    v.get(key).and_then(Json::as_str).map(str::to_string)
}

fn num_field(v: &Json, key: &str) -> Option<f64> {
    v.get(key).and_then(Json::as_f64)
}

fn parse_member(v: &Json) -> Result<Member> {
    let shape = str_field(v, "shape").ok_or_else(|| anyhow!("member without shape"))?;
    let location = match v.get("location").and_then(Json::as_str) {
        None => Location::Body,
        Some("uri") => Location::Uri,
        Some("querystring") => Location::QueryString,
        Some("header") => Location::Header,
        Some("headers") => Location::Headers,
        Some("statusCode") => Location::StatusCode,
        Some(other) => bail!("unknown member location {other:?}"),
    };
    Ok(Member {
        shape,
        location,
        location_name: str_field(v, "locationName"),
        flattened: v.get("flattened").and_then(Json::as_bool).unwrap_or(false),
        xml_attribute: v
            .get("xmlAttribute")
            .and_then(Json::as_bool)
            .unwrap_or(false),
    })
}

/// `operations`: each one's HTTP method, request URI and input shape.
fn parse_operations(json: &Json) -> HashMap<String, Operation> {
    let mut operations = HashMap::new();
    if let Some(ops) = json.get("operations").and_then(Json::as_object) {
        for (name, op) in ops {
            let http = op.get("http");
            operations.insert(
                name.clone(),
                Operation {
                    name: name.clone(),
                    method: http
                        .and_then(|h| str_field(h, "method"))
                        .unwrap_or_else(|| "POST".into()),
                    request_uri: http
                        .and_then(|h| str_field(h, "requestUri"))
                        .unwrap_or_else(|| "/".into()),
                    input: op.get("input").and_then(|i| str_field(i, "shape")),
                },
            );
        }
    }
    operations
}

/// One shape; its pattern compiled once per distinct source into `patterns`.
fn parse_shape(
    name: &str,
    s: &Json,
    path: &Path,
    patterns: &mut Vec<Pattern>,
    pattern_index: &mut HashMap<String, usize>,
) -> Result<Shape> {
    let kind = Kind::parse(s.get("type").and_then(Json::as_str).unwrap_or(""))
        .with_context(|| format!("{}: shape {name}", path.display()))?;
    let mut members = Vec::new();
    if let Some(ms) = s.get("members").and_then(Json::as_object) {
        for (mname, m) in ms {
            members.push((
                mname.clone(),
                parse_member(m).with_context(|| format!("shape {name}.{mname}"))?,
            ));
        }
    }
    let pattern = str_field(s, "pattern").map(|src| {
        *pattern_index.entry(src.clone()).or_insert_with(|| {
            patterns.push(compile_pattern(&src));
            patterns.len() - 1
        })
    });
    let opt_member =
        |key: &str| -> Result<Option<Member>> { s.get(key).map(parse_member).transpose() };
    Ok(Shape {
        kind,
        members,
        required: s
            .get("required")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        member: opt_member("member")?,
        key: opt_member("key")?,
        value: opt_member("value")?,
        min: num_field(s, "min"),
        max: num_field(s, "max"),
        enum_values: s.get("enum").and_then(Json::as_array).map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        }),
        pattern,
        flattened: s.get("flattened").and_then(Json::as_bool).unwrap_or(false),
        timestamp_format: str_field(s, "timestampFormat"),
        location_name: str_field(s, "locationName"),
        payload: str_field(s, "payload"),
        union: s.get("union").and_then(Json::as_bool).unwrap_or(false),
    })
}

fn parse_model(service: &str, json: &Json, path: PathBuf) -> Result<ServiceModel> {
    let meta = json
        .get("metadata")
        .ok_or_else(|| anyhow!("{}: no metadata", path.display()))?;
    let api_version = str_field(meta, "apiVersion").unwrap_or_default();
    let signing_name = str_field(meta, "signingName")
        .or_else(|| str_field(meta, "endpointPrefix"))
        .unwrap_or_else(|| service.to_string());
    let mut protocols: Vec<String> = meta
        .get("protocols")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if protocols.is_empty() {
        if let Some(p) = str_field(meta, "protocol") {
            protocols.push(p);
        }
    }

    let operations = parse_operations(json);

    let mut patterns: Vec<Pattern> = Vec::new();
    let mut pattern_index: HashMap<String, usize> = HashMap::new();
    let mut shapes = HashMap::new();
    let empty = serde_json::Map::new();
    for (name, s) in json
        .get("shapes")
        .and_then(Json::as_object)
        .unwrap_or(&empty)
    {
        let shape = parse_shape(name, s, &path, &mut patterns, &mut pattern_index)?;
        shapes.insert(name.clone(), shape);
    }

    Ok(ServiceModel {
        name: service.to_string(),
        api_version,
        signing_name,
        target_prefix: str_field(meta, "targetPrefix"),
        protocols,
        operations,
        shapes,
        patterns,
        path,
    })
}

/// Compiles a botocore (Java-syntax) pattern so that it must match the whole value.
pub fn compile_pattern(source: &str) -> Pattern {
    let unchecked = |reason: String| Pattern::Unchecked {
        source: source.to_string(),
        reason,
    };
    let (lookaheads, rest) = split_leading_lookaheads(source);
    let compile = |pattern: &str, whole: bool| -> std::result::Result<Regex, String> {
        let translated = translate_pattern(pattern)?;
        let anchored = if whole {
            format!(r"\A(?:{translated})\z")
        } else {
            format!(r"\A(?:{translated})")
        };
        Regex::new(&anchored).map_err(|e| first_line(&e.to_string()))
    };
    let regex = match compile(&rest, true) {
        Ok(r) => r,
        Err(reason) => return unchecked(reason),
    };
    let (mut must, mut must_not) = (Vec::new(), Vec::new());
    for (negative, inner) in lookaheads {
        match compile(&inner, false) {
            Ok(r) if negative => must_not.push(r),
            Ok(r) => must.push(r),
            Err(reason) => return unchecked(reason),
        }
    }
    Pattern::Checked {
        source: source.to_string(),
        regex,
        must,
        must_not,
    }
}

/// Peels look-aheads off the very start of a pattern (after an optional `^`): at position 0 a
/// look-ahead is a prefix test of the whole value. Returns (negative?, body) pairs and the rest,
/// re-anchored with `^` if it was.
fn split_leading_lookaheads(source: &str) -> (Vec<(bool, String)>, String) {
    let chars: Vec<char> = source.chars().collect();
    let caret = chars.first() == Some(&'^');
    let mut i = usize::from(caret);
    let mut found = Vec::new();
    while chars.get(i) == Some(&'(')
        && chars.get(i + 1) == Some(&'?')
        && matches!(chars.get(i + 2), Some('!') | Some('='))
    {
        let Some(close) = matching_paren(&chars, i) else {
            break;
        };
        let negative = chars[i + 2] == '!';
        found.push((negative, chars[i + 3..close].iter().collect::<String>()));
        i = close + 1;
    }
    if found.is_empty() {
        return (found, source.to_string());
    }
    let rest: String = chars[i..].iter().collect();
    (found, if caret { format!("^{rest}") } else { rest })
}

/// The index of the `)` closing the group opened at `open`, skipping escapes and classes.
fn matching_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' => in_class = true,
            ']' => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn first_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| s.lines().next().unwrap_or(""))
        .to_string()
}

/// POSIX classes Java spells `\p{Name}` (ASCII-only in Java's default mode).
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "lower",
        "Upper" => "upper",
        "ASCII" => "ascii",
        "Alpha" => "alpha",
        "Digit" => "digit",
        "Alnum" => "alnum",
        "Punct" => "punct",
        "Graph" => "graph",
        "Print" => "print",
        "Blank" => "blank",
        "Cntrl" => "cntrl",
        "XDigit" => "xdigit",
        "Space" => "space",
        _ => return None,
    })
}

/// `\p{Name}` / `\P{Name}` (the backslash and `p` consumed, `*i` on what follows):
/// POSIX and script classes translated, Unicode blocks and Java classes refused. Returns
/// whether it was a class escape inside a class.
fn translate_property(
    chars: &[char],
    i: &mut usize,
    e: char,
    class_depth: usize,
    out: &mut String,
) -> std::result::Result<bool, String> {
    let (name, len) = if chars.get(*i) == Some(&'{') {
        let end = chars[*i..]
            .iter()
            .position(|&c| c == '}')
            .ok_or("unterminated \\p{")?;
        (chars[*i + 1..*i + end].iter().collect::<String>(), end + 1)
    } else {
        (chars.get(*i).map(|c| c.to_string()).unwrap_or_default(), 1)
    };
    *i += len;
    let neg = e == 'P';
    if let Some(posix) = posix_class(&name) {
        let inner = format!("[:{}{posix}:]", if neg { "^" } else { "" });
        if class_depth > 0 {
            out.push_str(&inner);
        } else {
            out.push_str(&format!("[{inner}]"));
        }
    } else {
        let name = match name.as_str() {
            n if n.starts_with("Is") => n[2..].to_string(),
            n if n.starts_with("In") => return Err(format!("Unicode block \\p{{{n}}}")),
            n if n.starts_with("java") => return Err(format!("Java class \\p{{{n}}}")),
            n => n.to_string(),
        };
        out.push_str(&format!("\\{e}{{{name}}}"));
    }
    Ok(class_depth > 0)
}

/// The escape whose backslash is at `chars[*i]`, translated into `out`; `*i` moves past it.
/// Returns whether it was a class escape inside a class (a `-` after one is literal in Java).
fn translate_escape(
    chars: &[char],
    i: &mut usize,
    class_depth: usize,
    out: &mut String,
) -> std::result::Result<bool, String> {
    let mut after_class_escape = false;
    let Some(&e) = chars.get(*i + 1) else {
        return Err("trailing backslash".into());
    };
    *i += 2;
    match e {
        'u' => {
            let hex: String = chars.iter().skip(*i).take(4).collect();
            if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                return Err(format!("bad \\u escape near {hex:?}"));
            }
            *i += 4;
            let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
            if (0xD800..=0xDFFF).contains(&code) {
                return Err(format!("surrogate code unit \\u{hex}"));
            }
            out.push_str(&format!("\\x{{{hex}}}"));
        }
        'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
            // Java's \d \w \s are ASCII-only; the regex crate's are Unicode.
            let (name, neg) = match e {
                'd' => ("digit", false),
                'D' => ("digit", true),
                'w' => ("word", false),
                'W' => ("word", true),
                's' => ("space", false),
                _ => ("space", true),
            };
            let inner = format!("[:{}{name}:]", if neg { "^" } else { "" });
            if class_depth > 0 {
                out.push_str(&inner);
                after_class_escape = true;
            } else {
                out.push('[');
                out.push_str(&inner);
                out.push(']');
            }
        }
        'p' | 'P' => after_class_escape = translate_property(chars, i, e, class_depth, out)?,
        'Q' => return Err("\\Q…\\E quoting".into()),
        '1'..='9' => return Err("back-reference".into()),
        'k' => return Err("named back-reference".into()),
        'G' | 'Z' | 'R' | 'X' | 'h' | 'H' | 'v' | 'V' => return Err(format!("Java escape \\{e}")),
        other => {
            out.push('\\');
            out.push(other);
        }
    }
    Ok(after_class_escape)
}

/// A `[` at `chars[*i]`: opens a class (with its literal leading `]` or `:`), or is a
/// literal inside one; `*i` is left on the last character consumed.
fn translate_open_class(chars: &[char], i: &mut usize, class_depth: &mut usize, out: &mut String) {
    if *class_depth > 0 && chars.get(*i + 1) == Some(&':') {
        // A literal `[` inside a class that the regex crate would read as `[:name:]`.
        out.push_str("\\[");
    } else {
        *class_depth += 1;
        out.push('[');
        if chars.get(*i + 1) == Some(&'^') {
            out.push('^');
            *i += 1;
        }
        // A leading `]` is literal; a leading `:` could start a POSIX class here.
        match chars.get(*i + 1) {
            Some(']') | Some(':') => {
                out.push('\\');
                out.push(chars[*i + 1]);
                *i += 1;
            }
            _ => {}
        }
    }
}

/// Rewrites a Java regex for the `regex` crate, or says which Java feature it cannot express.
pub fn translate_pattern(src: &str) -> std::result::Result<String, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 8);
    let mut i = 0;
    // Depth of character classes (Java allows nested classes such as `[a-z[0-9]]`).
    let mut class_depth = 0usize;
    // Whether the previous class item was a class escape (a `-` after it is a literal in Java).
    let mut after_class_escape = false;
    // The quantifier just emitted, if the previous token was one.
    let mut quantifier: Option<Quantifier> = None;
    while i < chars.len() {
        let c = chars[i];
        let was_class_escape = after_class_escape;
        after_class_escape = false;
        let last_quantifier = quantifier.take();
        match c {
            '\\' => {
                after_class_escape = translate_escape(&chars, &mut i, class_depth, &mut out)?;
                continue;
            }
            '[' => translate_open_class(&chars, &mut i, &mut class_depth, &mut out),
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            '-' if class_depth > 0 && was_class_escape => out.push_str("\\-"),
            '&' if class_depth > 0 && chars.get(i + 1) == Some(&'&') => {
                return Err("class intersection &&".into())
            }
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => match chars.get(i + 2) {
                Some('=') | Some('!') => return Err("look-ahead".into()),
                Some('<') if matches!(chars.get(i + 3), Some('=') | Some('!')) => {
                    return Err("look-behind".into())
                }
                Some('>') => return Err("atomic group".into()),
                _ => out.push('('),
            },
            '{' if class_depth == 0 => {
                // A repetition `{n}`, `{n,}`, `{n,m}`; any other `{` is a literal.
                let close = chars[i..].iter().position(|&c| c == '}').map(|p| i + p);
                let inner: Option<String> = close.map(|c| chars[i + 1..c].iter().collect());
                match (close, inner) {
                    (Some(close), Some(inner))
                        if !inner.is_empty()
                            && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                            && inner.chars().next().is_some_and(|c| c.is_ascii_digit()) =>
                    {
                        out.push('{');
                        out.push_str(&inner);
                        out.push('}');
                        i = close + 1;
                        quantifier = Some(if inner.contains(',') {
                            Quantifier::Variable
                        } else {
                            Quantifier::Exact
                        });
                        continue;
                    }
                    _ => out.push_str("\\{"),
                }
            }
            '*' | '+' | '?' if class_depth == 0 => match (c, last_quantifier) {
                // Possessive `{n}+` matches exactly what `{n}` does.
                ('+', Some(Quantifier::Exact)) => {}
                ('+', Some(_)) => return Err("possessive quantifier".into()),
                // Lazy `*?`, `+?`, `??`, `{..}?`.
                ('?', Some(_)) => out.push('?'),
                (_, None) => {
                    out.push(c);
                    quantifier = Some(Quantifier::Variable);
                }
                (_, Some(_)) => return Err("stacked quantifiers".into()),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    Exact,
    Variable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> Regex {
        match compile_pattern(p) {
            Pattern::Checked { regex, .. } => regex,
            Pattern::Unchecked { reason, .. } => panic!("{p}: {reason}"),
        }
    }

    #[test]
    fn anchors_whole_value() {
        let r = ok("[a-z]+");
        assert!(r.is_match("abc"));
        assert!(!r.is_match("abc1"));
        assert!(!r.is_match("1abc"));
        let alt = ok("ab|cd");
        assert!(!alt.is_match("abd"));
        assert!(alt.is_match("cd"));
    }

    #[test]
    fn java_escapes() {
        let r = ok(r"[\u0009\u000A\u000D\u0020-\u007E]*");
        assert!(r.is_match("a b\t"));
        assert!(!r.is_match("é"));
        let w = ok(r"[\w+=,.@-]+");
        assert!(w.is_match("my_role+=,.@-"));
        assert!(!w.is_match("é"), "Java \\w is ASCII-only");
        let dash = ok(r"[\w-_]*");
        assert!(dash.is_match("a-_"));
        let p = ok(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*");
        assert!(p.is_match("Ünïcode 123"));
        let posix = ok(r"\p{Alnum}+");
        assert!(posix.is_match("abc1"));
        assert!(!posix.is_match("a-b"));
        assert!(ok(r"\d{12}+").is_match("123456789012"));
        assert!(ok(r"[:\w]+").is_match("a:b"));
    }

    #[test]
    fn leading_lookaheads_are_prefix_tests() {
        let p = compile_pattern(r"^(?!aws:)[\p{L}\p{Z}\p{N}_.:\/=+\-@%]*$");
        assert_eq!(p.is_match("project"), Some(true));
        assert_eq!(p.is_match("aws:cloudformation"), Some(false));
        assert_eq!(p.is_match("bad*key"), Some(false));
        let nonblank = compile_pattern(r"^(?!\s*$).+");
        assert_eq!(nonblank.is_match("x"), Some(true));
        assert_eq!(nonblank.is_match("   "), Some(false));
        let both = compile_pattern(r"^(?=^\$)(?=^\S+$).*$");
        assert_eq!(both.is_match("$.field"), Some(true));
        assert_eq!(both.is_match("field"), Some(false));
        assert_eq!(both.is_match("$ x"), Some(false));
    }

    #[test]
    fn unsupported_features_are_unchecked() {
        for p in [
            r"a(?!\s*$).+",
            r"(?<!-)a",
            r"(a)\1",
            r"a*+",
            r"^(?!a(?!b))c",
        ] {
            assert!(
                matches!(compile_pattern(p), Pattern::Unchecked { .. }),
                "{p} should be unchecked"
            );
        }
    }
}
