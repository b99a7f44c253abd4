//! CloudWatch protocol translation for the front: Smithy rpc-v2-cbor (spoken by the
//! current `aws-sdk-cloudwatch`, so by labctl) <-> awsQuery (spoken by moto 5.2.5).
//! Knows nothing of HTTP, the front or labctl.
//!
//! Pure functions, no I/O. A front that receives an rpc-v2-cbor request:
//!
//! 1. takes the operation from the path with [`rpcv2_operation`];
//! 2. turns the CBOR body into a form-urlencoded awsQuery body with
//!    [`cbor_request_to_query`] and POSTs it to the emulator at `/` with
//!    `content-type: application/x-www-form-urlencoded` (re-signing if it must);
//! 3. turns the emulator's XML answer into the rpc-v2-cbor answer with
//!    [`query_response_to_cbor`] (status, body, headers to set).
//!
//! Type knowledge comes from a shape table generated from botocore's CloudWatch
//! model by `gen_shapes.py` (see the generated block at the end of this file).

use anyhow::{anyhow, bail, Context, Result};

const SERVICE_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";
const API_VERSION: &str = "2010-08-01";
/// Nesting limit for CBOR input and XML output walks.
const MAX_DEPTH: u32 = 64;

/// The operation named by an rpc-v2-cbor request path
/// (`/service/GraniteServiceVersion20100801/operation/<Op>`), or `None` when the
/// path is not a CloudWatch rpc-v2-cbor path. A query string is ignored; a prefix
/// before `/service/` (an endpoint URL with a path) is allowed.
pub fn rpcv2_operation(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let idx = path.find(SERVICE_PATH)?;
    let op = &path[idx + SERVICE_PATH.len()..];
    if op.is_empty() || !op.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(op.to_string())
}

/// Translate an rpc-v2-cbor request body for `op` into the form-urlencoded awsQuery
/// body (`Action=<op>&Version=2010-08-01&...`). An empty body is an empty input.
pub fn cbor_request_to_query(op: &str, body: &[u8]) -> Result<String> {
    let spec = find_op(op)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !body.is_empty() {
        let mut dec = minicbor::Decoder::new(body);
        let value = decode_value(&mut dec, 0).context("decoding the CBOR request body")?;
        if dec.position() != body.len() {
            bail!("trailing bytes after the CBOR request body");
        }
        match (spec.input, value) {
            (_, Val::Null) => {}
            (Some(input), value) => flatten(input, &value, "", &mut pairs, 0)
                .with_context(|| format!("translating the {op} request"))?,
            (None, Val::Map(m)) if m.is_empty() => {}
            (None, _) => bail!("{op} takes no input, but the request body is not empty"),
        }
    }
    let mut out = format!("Action={}&Version={}", urlencoding::encode(op), API_VERSION);
    for (k, v) in pairs {
        out.push('&');
        out.push_str(&urlencoding::encode(&k));
        out.push('=');
        out.push_str(&urlencoding::encode(&v));
    }
    Ok(out)
}

/// Translate the emulator's awsQuery XML answer for `op` into the rpc-v2-cbor answer:
/// `(status, body, headers)`. A success becomes the CBOR map of the output shape (an
/// empty body for operations without output). An XML error
/// (`<ErrorResponse><Error><Code>..`) becomes the rpc-v2-cbor error form: the status
/// kept (400 when the emulator said 2xx), a CBOR map with `__type` (the awsQuery error
/// code, which is what the SDK matches for this awsQuery-compatible service) and
/// `message`, plus the `x-amzn-query-error: <Code>;<Sender|Receiver>` header.
// The tuple is the agreed interface: (status, body, headers).
#[allow(clippy::type_complexity)]
pub fn query_response_to_cbor(
    op: &str,
    status: u16,
    xml: &[u8],
) -> Result<(u16, Vec<u8>, Vec<(String, String)>)> {
    let spec = find_op(op)?;
    let mut headers = vec![
        ("smithy-protocol".to_string(), "rpc-v2-cbor".to_string()),
        ("content-type".to_string(), "application/cbor".to_string()),
    ];
    let text = std::str::from_utf8(xml).context("the XML answer is not UTF-8");
    let doc = match &text {
        Ok(t) if !t.trim().is_empty() => roxmltree::Document::parse(t).ok(),
        _ => None,
    };
    let success = (200..300).contains(&status);
    let Some(doc) = doc else {
        if success && spec.output.is_none() {
            return Ok((status, Vec::new(), headers));
        }
        if success {
            bail!("{op}: the emulator's answer is not XML");
        }
        // An error that is not XML: keep the status, pass the text on as the message.
        return Ok(generic_error(status, text.unwrap_or(""), headers));
    };
    let root = doc.root_element();
    let error = if root.tag_name().name() == "Error" {
        Some(root)
    } else {
        root.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == "Error")
    };
    if let Some(request_id) = root
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "RequestId")
        .map(|n| element_text(&n))
    {
        headers.push(("x-amzn-requestid".into(), request_id));
    }
    if let (Some(err), true) = (error, !success || root.tag_name().name() != op_response(op)) {
        let code = child_text(&err, "Code").unwrap_or_else(|| "UnknownError".into());
        let message = child_text(&err, "Message").unwrap_or_default();
        let status = if success { 400 } else { status };
        let kind = child_text(&err, "Type")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| if status >= 500 { "Receiver" } else { "Sender" }.into());
        headers.push(("x-amzn-query-error".into(), format!("{code};{kind}")));
        return Ok((status, error_body(&code, &message), headers));
    }
    if !success {
        // XML, but not an awsQuery error document: pass its text on as the message.
        let text: String = root
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        return Ok(generic_error(status, &text, headers));
    }
    let Some(output) = spec.output else {
        return Ok((status, Vec::new(), headers));
    };
    let wrapper = spec.wrapper.unwrap_or("");
    let result = root
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == wrapper);
    let value = match result {
        Some(node) => xml_to_value(output, &node, 0)
            .with_context(|| format!("translating the {op} answer"))?,
        None => Val::Map(Vec::new()),
    };
    let mut body = Vec::new();
    encode_value(&value, &mut minicbor::Encoder::new(&mut body))?;
    Ok((status, body, headers))
}

fn op_response(op: &str) -> String {
    format!("{op}Response")
}

fn find_op(op: &str) -> Result<&'static Op> {
    OPS.iter().find(|o| o.name == op).ok_or_else(|| {
        anyhow!(
            "CloudWatch operation {op} is not supported by the translator \
                 (shape table from botocore {BOTOCORE_VERSION})"
        )
    })
}

/// The rpc-v2-cbor error for a failed answer that carries no awsQuery error code.
fn generic_error(
    status: u16,
    text: &str,
    mut headers: Vec<(String, String)>,
) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let (code, kind) = if status >= 500 {
        ("InternalServiceError", "Receiver")
    } else {
        ("UnknownError", "Sender")
    };
    let message: String = text.trim().chars().take(1000).collect();
    headers.push(("x-amzn-query-error".into(), format!("{code};{kind}")));
    (status, error_body(code, &message), headers)
}

fn error_body(code: &str, message: &str) -> Vec<u8> {
    let value = Val::Map(vec![
        ("__type".into(), Val::Text(code.into())),
        ("message".into(), Val::Text(message.into())),
    ]);
    let mut body = Vec::new();
    // Writing text into a Vec cannot fail.
    let _ = encode_value(&value, &mut minicbor::Encoder::new(&mut body));
    body
}

// ---------------------------------------------------------------------------
// Shape table types (the table itself is generated, at the end of the file)

#[derive(Debug)]
struct Shape {
    name: &'static str,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Str,
    Int,
    Long,
    Double,
    Bool,
    Ts,
    // No blob member in the generated operations; kept for the generator's sake.
    #[allow(dead_code)]
    Blob,
    Struct(&'static [Member]),
    List {
        item: usize,
        loc: Option<&'static str>,
        flat: bool,
    },
    Map {
        key: usize,
        value: usize,
        key_loc: &'static str,
        value_loc: &'static str,
        flat: bool,
    },
}

#[derive(Debug)]
struct Member {
    name: &'static str,
    target: usize,
    loc: Option<&'static str>,
    flat: bool,
}

impl Member {
    fn wire_name(&self) -> &'static str {
        self.loc.unwrap_or(self.name)
    }
}

#[derive(Debug)]
struct Op {
    name: &'static str,
    input: Option<usize>,
    output: Option<usize>,
    wrapper: Option<&'static str>,
}

fn shape(idx: usize) -> Result<&'static Shape> {
    SHAPES
        .get(idx)
        .ok_or_else(|| anyhow!("shape table index {idx} out of range"))
}

// ---------------------------------------------------------------------------
// A dynamic CBOR value

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Array(Vec<Val>),
    Map(Vec<(String, Val)>),
    Tag(u64, Box<Val>),
}

// check-lengths: allow (one flat match over the CBOR data types)
fn decode_value(d: &mut minicbor::Decoder<'_>, depth: u32) -> Result<Val> {
    use minicbor::data::Type as T;
    if depth > MAX_DEPTH {
        bail!("CBOR nesting deeper than {MAX_DEPTH}");
    }
    let pos = d.position();
    let value = match d.datatype()? {
        T::Bool => Val::Bool(d.bool()?),
        T::Null | T::Undefined => {
            d.skip()?;
            Val::Null
        }
        T::U8 | T::U16 | T::U32 | T::U64 => Val::Int(i128::from(d.u64()?)),
        T::I8 | T::I16 | T::I32 | T::I64 | T::Int => Val::Int(i128::from(d.int()?)),
        T::F16 | T::F32 | T::F64 => Val::Float(d.f64()?),
        T::Bytes | T::BytesIndef => {
            let mut out = Vec::new();
            for chunk in d.bytes_iter()? {
                out.extend_from_slice(chunk?);
            }
            Val::Bytes(out)
        }
        T::String | T::StringIndef => {
            let mut out = String::new();
            for chunk in d.str_iter()? {
                out.push_str(chunk?);
            }
            Val::Text(out)
        }
        T::Array | T::ArrayIndef => {
            let mut items = Vec::new();
            match d.array()? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(decode_value(d, depth + 1)?);
                    }
                }
                None => loop {
                    if d.datatype()? == T::Break {
                        d.skip()?;
                        break;
                    }
                    items.push(decode_value(d, depth + 1)?);
                },
            }
            Val::Array(items)
        }
        T::Map | T::MapIndef => {
            let mut entries = Vec::new();
            let mut entry = |d: &mut minicbor::Decoder<'_>| -> Result<()> {
                let key = match decode_value(d, depth + 1)? {
                    Val::Text(k) => k,
                    other => bail!("CBOR map key at byte {pos} is not a string: {other:?}"),
                };
                entries.push((key, decode_value(d, depth + 1)?));
                Ok(())
            };
            match d.map()? {
                Some(n) => {
                    for _ in 0..n {
                        entry(d)?;
                    }
                }
                None => loop {
                    if d.datatype()? == T::Break {
                        d.skip()?;
                        break;
                    }
                    entry(d)?;
                },
            }
            Val::Map(entries)
        }
        T::Tag => {
            let tag = d.tag()?;
            Val::Tag(tag.as_u64(), Box::new(decode_value(d, depth + 1)?))
        }
        other => bail!("unsupported CBOR item {other} at byte {pos}"),
    };
    Ok(value)
}

fn encode_value(v: &Val, e: &mut minicbor::Encoder<&mut Vec<u8>>) -> Result<()> {
    match v {
        Val::Null => {
            e.null()?;
        }
        Val::Bool(b) => {
            e.bool(*b)?;
        }
        Val::Int(i) => {
            if let Ok(i) = i64::try_from(*i) {
                e.i64(i)?;
            } else if let Ok(u) = u64::try_from(*i) {
                e.u64(u)?;
            } else {
                bail!("integer {i} does not fit CBOR");
            }
        }
        // Always a 64-bit float: the SDK's decoder reads f16 only with minicbor's
        // `half` feature, f64 always.
        Val::Float(f) => {
            e.f64(*f)?;
        }
        Val::Text(s) => {
            e.str(s)?;
        }
        Val::Bytes(b) => {
            e.bytes(b)?;
        }
        Val::Array(items) => {
            e.array(items.len() as u64)?;
            for item in items {
                encode_value(item, e)?;
            }
        }
        Val::Map(entries) => {
            e.map(entries.len() as u64)?;
            for (k, item) in entries {
                e.str(k)?;
                encode_value(item, e)?;
            }
        }
        Val::Tag(t, inner) => {
            e.tag(minicbor::data::Tag::new(*t))?;
            encode_value(inner, e)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// CBOR input -> awsQuery parameters

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn flatten(
    idx: usize,
    value: &Val,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    depth: u32,
) -> Result<()> {
    if depth > MAX_DEPTH {
        bail!("input nesting deeper than {MAX_DEPTH}");
    }
    let sh = shape(idx)?;
    if *value == Val::Null {
        return Ok(());
    }
    let scalar = |s: String, out: &mut Vec<(String, String)>| {
        out.push((prefix.to_string(), s));
        Ok(())
    };
    match (&sh.kind, value) {
        (Kind::Struct(members), Val::Map(entries)) => {
            for (key, item) in entries {
                // Unknown members are dropped, as a server would ignore them.
                let Some(m) = members.iter().find(|m| m.name == key) else {
                    continue;
                };
                let name = join(prefix, m.wire_name());
                let target = shape(m.target)?;
                match (&target.kind, m.flat) {
                    (Kind::List { item: it, loc, .. }, true) => {
                        flatten_list(*it, *loc, true, item, &name, out, depth)?
                    }
                    (Kind::Map { .. }, true) => {
                        flatten_map(m.target, true, item, &name, out, depth)?
                    }
                    _ => flatten(m.target, item, &name, out, depth + 1)
                        .with_context(|| format!("member {}.{}", sh.name, m.name))?,
                }
            }
            Ok(())
        }
        (Kind::List { item, loc, flat }, v) => {
            flatten_list(*item, *loc, *flat, v, prefix, out, depth)
        }
        (Kind::Map { flat, .. }, v) => flatten_map(idx, *flat, v, prefix, out, depth),
        (Kind::Str, Val::Text(s)) => scalar(s.clone(), out),
        (Kind::Int | Kind::Long, Val::Int(i)) => scalar(i.to_string(), out),
        (Kind::Int | Kind::Long, Val::Float(f)) if f.fract() == 0.0 && f.is_finite() => {
            scalar(format!("{}", *f as i64), out)
        }
        (Kind::Double, Val::Float(f)) => scalar(format_double(*f), out),
        (Kind::Double, Val::Int(i)) => scalar(i.to_string(), out),
        (Kind::Bool, Val::Bool(b)) => scalar(b.to_string(), out),
        (Kind::Ts, v) => scalar(format_iso8601(epoch_of(v)?)?, out),
        (Kind::Blob, Val::Bytes(b)) => scalar(base64_encode(b), out),
        (kind, v) => bail!("{} ({kind:?}) cannot take the CBOR value {v:?}", sh.name),
    }
}

fn flatten_list(
    item: usize,
    loc: Option<&'static str>,
    flat: bool,
    value: &Val,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    depth: u32,
) -> Result<()> {
    let Val::Array(items) = value else {
        bail!("expected a CBOR array for {prefix}, got {value:?}");
    };
    if items.is_empty() {
        // awsQuery: an empty list is sent as the bare name with an empty value.
        out.push((prefix.to_string(), String::new()));
        return Ok(());
    }
    let base = if flat {
        match loc {
            Some(l) => match prefix.rsplit_once('.') {
                Some((head, _)) => format!("{head}.{l}"),
                None => l.to_string(),
            },
            None => prefix.to_string(),
        }
    } else {
        join(prefix, loc.unwrap_or("member"))
    };
    for (i, v) in items.iter().enumerate() {
        flatten(item, v, &format!("{base}.{}", i + 1), out, depth + 1)?;
    }
    Ok(())
}

fn flatten_map(
    idx: usize,
    flat: bool,
    value: &Val,
    prefix: &str,
    out: &mut Vec<(String, String)>,
    depth: u32,
) -> Result<()> {
    let Kind::Map {
        key,
        value: vshape,
        key_loc,
        value_loc,
        ..
    } = shape(idx)?.kind
    else {
        bail!("shape {idx} is not a map");
    };
    let Val::Map(entries) = value else {
        bail!("expected a CBOR map for {prefix}, got {value:?}");
    };
    let base = if flat {
        prefix.to_string()
    } else {
        join(prefix, "entry")
    };
    for (i, (k, v)) in entries.iter().enumerate() {
        let entry = format!("{base}.{}", i + 1);
        flatten(
            key,
            &Val::Text(k.clone()),
            &join(&entry, key_loc),
            out,
            depth + 1,
        )?;
        flatten(vshape, v, &join(&entry, value_loc), out, depth + 1)?;
    }
    Ok(())
}

fn format_double(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        format!("{f}")
    }
}

/// Epoch seconds of a CBOR timestamp: tag 1 around an int or a float (a bare number
/// is accepted too).
fn epoch_of(v: &Val) -> Result<f64> {
    let inner = match v {
        Val::Tag(1, inner) => inner.as_ref(),
        other => other,
    };
    match inner {
        Val::Int(i) => Ok(*i as f64),
        Val::Float(f) if f.is_finite() => Ok(*f),
        other => bail!("expected a CBOR timestamp (tag 1 epoch seconds), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// awsQuery XML -> CBOR output

fn element_text(node: &roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn child_text(node: &roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .map(|c| element_text(&c))
}

fn child_elements<'a, 'i>(
    node: &roxmltree::Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

// check-lengths: allow (one flat match over the shape kinds)
/// The CBOR value of `node` read as shape `idx`; `Val::Null` means "leave the member out".
fn xml_to_value(idx: usize, node: &roxmltree::Node<'_, '_>, depth: u32) -> Result<Val> {
    if depth > MAX_DEPTH {
        bail!("XML nesting deeper than {MAX_DEPTH}");
    }
    let sh = shape(idx)?;
    let text = || element_text(node);
    let number = |t: String| -> Option<String> {
        let t = t.trim().to_string();
        (!t.is_empty()).then_some(t)
    };
    Ok(match &sh.kind {
        Kind::Struct(members) => {
            let mut entries = Vec::new();
            for m in members.iter() {
                let target = shape(m.target)?;
                let flat = m.flat
                    || matches!(
                        target.kind,
                        Kind::List { flat: true, .. } | Kind::Map { flat: true, .. }
                    );
                let value = match (&target.kind, flat) {
                    (Kind::List { item, loc, .. }, true) => {
                        let name = loc.unwrap_or(m.wire_name());
                        let items = child_elements(node, name)
                            .map(|c| xml_to_value(*item, &c, depth + 1))
                            .collect::<Result<Vec<_>>>()?;
                        if items.is_empty() {
                            Val::Null
                        } else {
                            Val::Array(items.into_iter().filter(|v| *v != Val::Null).collect())
                        }
                    }
                    (Kind::Map { .. }, true) => {
                        let entries: Vec<_> = child_elements(node, m.wire_name()).collect();
                        if entries.is_empty() {
                            Val::Null
                        } else {
                            map_entries(m.target, entries.into_iter(), depth)?
                        }
                    }
                    _ => match child_elements(node, m.wire_name()).next() {
                        Some(c) => xml_to_value(m.target, &c, depth + 1)
                            .with_context(|| format!("member {}.{}", sh.name, m.name))?,
                        None => Val::Null,
                    },
                };
                if value != Val::Null {
                    entries.push((m.name.to_string(), value));
                }
            }
            Val::Map(entries)
        }
        Kind::List { item, loc, .. } => {
            let items = child_elements(node, loc.unwrap_or("member"))
                .map(|c| xml_to_value(*item, &c, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            Val::Array(items.into_iter().filter(|v| *v != Val::Null).collect())
        }
        Kind::Map { .. } => map_entries(idx, child_elements(node, "entry"), depth)?,
        Kind::Str => Val::Text(text()),
        Kind::Int | Kind::Long => match number(text()) {
            Some(t) => Val::Int(
                t.parse::<i128>()
                    .with_context(|| format!("{}: {t:?} is not an integer", sh.name))?,
            ),
            None => Val::Null,
        },
        Kind::Double => match number(text()) {
            Some(t) => Val::Float(parse_double(&t).context(sh.name)?),
            None => Val::Null,
        },
        Kind::Bool => match text().trim() {
            "" => Val::Null,
            t if t.eq_ignore_ascii_case("true") => Val::Bool(true),
            t if t.eq_ignore_ascii_case("false") => Val::Bool(false),
            t => bail!("{}: {t:?} is not a boolean", sh.name),
        },
        Kind::Ts => match number(text()) {
            Some(t) => Val::Tag(
                1,
                Box::new(Val::Float(parse_timestamp(&t).context(sh.name)?)),
            ),
            None => Val::Null,
        },
        Kind::Blob => Val::Bytes(base64_decode(text().trim()).context(sh.name)?),
    })
}

fn map_entries<'a, 'i: 'a>(
    idx: usize,
    entries: impl Iterator<Item = roxmltree::Node<'a, 'i>>,
    depth: u32,
) -> Result<Val> {
    let Kind::Map {
        key,
        value,
        key_loc,
        value_loc,
        ..
    } = shape(idx)?.kind
    else {
        bail!("shape {idx} is not a map");
    };
    let mut out = Vec::new();
    for entry in entries {
        let k = match child_elements(&entry, key_loc).next() {
            Some(k) => xml_to_value(key, &k, depth + 1)?,
            None => continue,
        };
        let Val::Text(k) = k else {
            bail!("map key of {} is not a string", shape(idx)?.name);
        };
        let v = match child_elements(&entry, value_loc).next() {
            Some(v) => xml_to_value(value, &v, depth + 1)?,
            None => Val::Null,
        };
        if v != Val::Null {
            out.push((k, v));
        }
    }
    Ok(Val::Map(out))
}

fn parse_double(t: &str) -> Result<f64> {
    match t {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => t
            .parse::<f64>()
            .with_context(|| format!("{t:?} is not a number")),
    }
}

// ---------------------------------------------------------------------------
// Timestamps (UTC, proleptic Gregorian) without a date crate

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, milliseconds only when not zero.
fn format_iso8601(epoch: f64) -> Result<String> {
    if !epoch.is_finite() || epoch.abs() > 253_402_300_799.0 {
        bail!("timestamp {epoch} out of range");
    }
    let millis_total = (epoch * 1000.0).round() as i64;
    let secs = millis_total.div_euclid(1000);
    let millis = millis_total.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if millis != 0 {
        s.push_str(&format!(".{millis:03}"));
    }
    s.push('Z');
    Ok(s)
}

/// Epoch seconds of an ISO-8601 date-time (`T` or space separator, optional
/// fraction, `Z`/`±HH:MM`/`±HHMM`/no zone = UTC) or of a bare epoch number.
fn parse_timestamp(t: &str) -> Result<f64> {
    let t = t.trim();
    if let Ok(n) = t.parse::<f64>() {
        return Ok(n);
    }
    let bad = || anyhow!("{t:?} is not an ISO-8601 timestamp");
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        t.get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        frac = format!("0.{}", &t[start..i])
            .parse::<f64>()
            .map_err(|_| bad())?;
    }
    let offset = match &t[i..] {
        "" | "Z" | "z" => 0,
        z if (z.len() == 6 || z.len() == 5) && (z.starts_with('+') || z.starts_with('-')) => {
            let digits = z[1..].replace(':', "");
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let hh: i64 = digits[..2].parse().map_err(|_| bad())?;
            let mm: i64 = digits[2..].parse().map_err(|_| bad())?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Ok(secs as f64 + frac)
}

// ---------------------------------------------------------------------------
// Base64 (standard alphabet, padded) for blobs

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = B64
            .iter()
            .position(|x| *x == c)
            .ok_or_else(|| anyhow!("invalid base64 character {:?}", c as char))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Generated from botocore's CloudWatch model by gen_shapes.py.

// BEGIN GENERATED SHAPES (gen_shapes.py)
// botocore 1.44.8, CloudWatch API 2010-08-01; do not edit by hand.
const BOTOCORE_VERSION: &str = "1.44.8";
#[rustfmt::skip]
static SHAPES: &[Shape] = &[
    /* 0 */ Shape { name: "PutDashboardInput", kind: Kind::Struct(&[Member { name: "DashboardName", target: 1, loc: None, flat: false }, Member { name: "DashboardBody", target: 1, loc: None, flat: false }, Member { name: "Tags", target: 2, loc: None, flat: false }]) },
    /* 1 */ Shape { name: "Str", kind: Kind::Str },
    /* 2 */ Shape { name: "TagList", kind: Kind::List { item: 3, loc: None, flat: false } },
    /* 3 */ Shape { name: "Tag", kind: Kind::Struct(&[Member { name: "Key", target: 1, loc: None, flat: false }, Member { name: "Value", target: 1, loc: None, flat: false }]) },
    /* 4 */ Shape { name: "PutDashboardOutput", kind: Kind::Struct(&[Member { name: "DashboardValidationMessages", target: 5, loc: None, flat: false }]) },
    /* 5 */ Shape { name: "DashboardValidationMessages", kind: Kind::List { item: 6, loc: None, flat: false } },
    /* 6 */ Shape { name: "DashboardValidationMessage", kind: Kind::Struct(&[Member { name: "DataPath", target: 1, loc: None, flat: false }, Member { name: "Message", target: 1, loc: None, flat: false }]) },
    /* 7 */ Shape { name: "GetDashboardInput", kind: Kind::Struct(&[Member { name: "DashboardName", target: 1, loc: None, flat: false }]) },
    /* 8 */ Shape { name: "GetDashboardOutput", kind: Kind::Struct(&[Member { name: "DashboardArn", target: 1, loc: None, flat: false }, Member { name: "DashboardBody", target: 1, loc: None, flat: false }, Member { name: "DashboardName", target: 1, loc: None, flat: false }]) },
    /* 9 */ Shape { name: "ListDashboardsInput", kind: Kind::Struct(&[Member { name: "DashboardNamePrefix", target: 1, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }]) },
    /* 10 */ Shape { name: "ListDashboardsOutput", kind: Kind::Struct(&[Member { name: "DashboardEntries", target: 11, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }]) },
    /* 11 */ Shape { name: "DashboardEntries", kind: Kind::List { item: 12, loc: None, flat: false } },
    /* 12 */ Shape { name: "DashboardEntry", kind: Kind::Struct(&[Member { name: "DashboardName", target: 1, loc: None, flat: false }, Member { name: "DashboardArn", target: 1, loc: None, flat: false }, Member { name: "LastModified", target: 13, loc: None, flat: false }, Member { name: "Size", target: 14, loc: None, flat: false }]) },
    /* 13 */ Shape { name: "Ts", kind: Kind::Ts },
    /* 14 */ Shape { name: "Long", kind: Kind::Long },
    /* 15 */ Shape { name: "DeleteDashboardsInput", kind: Kind::Struct(&[Member { name: "DashboardNames", target: 16, loc: None, flat: false }]) },
    /* 16 */ Shape { name: "DashboardNames", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 17 */ Shape { name: "DeleteDashboardsOutput", kind: Kind::Struct(&[]) },
    /* 18 */ Shape { name: "PutMetricAlarmInput", kind: Kind::Struct(&[Member { name: "AlarmName", target: 1, loc: None, flat: false }, Member { name: "AlarmDescription", target: 1, loc: None, flat: false }, Member { name: "ActionsEnabled", target: 19, loc: None, flat: false }, Member { name: "OKActions", target: 20, loc: None, flat: false }, Member { name: "AlarmActions", target: 20, loc: None, flat: false }, Member { name: "InsufficientDataActions", target: 20, loc: None, flat: false }, Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "Statistic", target: 1, loc: None, flat: false }, Member { name: "ExtendedStatistic", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 21, loc: None, flat: false }, Member { name: "Period", target: 23, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }, Member { name: "EvaluationPeriods", target: 23, loc: None, flat: false }, Member { name: "DatapointsToAlarm", target: 23, loc: None, flat: false }, Member { name: "Threshold", target: 24, loc: None, flat: false }, Member { name: "ComparisonOperator", target: 1, loc: None, flat: false }, Member { name: "TreatMissingData", target: 1, loc: None, flat: false }, Member { name: "EvaluateLowSampleCountPercentile", target: 1, loc: None, flat: false }, Member { name: "Metrics", target: 25, loc: None, flat: false }, Member { name: "Tags", target: 2, loc: None, flat: false }, Member { name: "ThresholdMetricId", target: 1, loc: None, flat: false }, Member { name: "EvaluationWindow", target: 29, loc: None, flat: false }, Member { name: "WarmUpConfiguration", target: 32, loc: None, flat: false }, Member { name: "EvaluationCriteria", target: 33, loc: None, flat: false }, Member { name: "EvaluationInterval", target: 23, loc: None, flat: false }, Member { name: "ActionConfiguration", target: 35, loc: None, flat: false }]) },
    /* 19 */ Shape { name: "Bool", kind: Kind::Bool },
    /* 20 */ Shape { name: "ResourceList", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 21 */ Shape { name: "Dimensions", kind: Kind::List { item: 22, loc: None, flat: false } },
    /* 22 */ Shape { name: "Dimension", kind: Kind::Struct(&[Member { name: "Name", target: 1, loc: None, flat: false }, Member { name: "Value", target: 1, loc: None, flat: false }]) },
    /* 23 */ Shape { name: "Int", kind: Kind::Int },
    /* 24 */ Shape { name: "Double", kind: Kind::Double },
    /* 25 */ Shape { name: "MetricDataQueries", kind: Kind::List { item: 26, loc: None, flat: false } },
    /* 26 */ Shape { name: "MetricDataQuery", kind: Kind::Struct(&[Member { name: "Id", target: 1, loc: None, flat: false }, Member { name: "MetricStat", target: 27, loc: None, flat: false }, Member { name: "Expression", target: 1, loc: None, flat: false }, Member { name: "Label", target: 1, loc: None, flat: false }, Member { name: "ReturnData", target: 19, loc: None, flat: false }, Member { name: "Period", target: 23, loc: None, flat: false }, Member { name: "AccountId", target: 1, loc: None, flat: false }]) },
    /* 27 */ Shape { name: "MetricStat", kind: Kind::Struct(&[Member { name: "Metric", target: 28, loc: None, flat: false }, Member { name: "Period", target: 23, loc: None, flat: false }, Member { name: "Stat", target: 1, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }]) },
    /* 28 */ Shape { name: "Metric", kind: Kind::Struct(&[Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 21, loc: None, flat: false }]) },
    /* 29 */ Shape { name: "EvaluationWindow", kind: Kind::Struct(&[Member { name: "WallClockWindow", target: 30, loc: None, flat: false }, Member { name: "SlidingWindow", target: 31, loc: None, flat: false }]) },
    /* 30 */ Shape { name: "WallClockWindow", kind: Kind::Struct(&[Member { name: "Timezone", target: 1, loc: None, flat: false }]) },
    /* 31 */ Shape { name: "SlidingWindow", kind: Kind::Struct(&[]) },
    /* 32 */ Shape { name: "WarmUpConfiguration", kind: Kind::Struct(&[Member { name: "WarmUpPeriodDurationInMinutes", target: 23, loc: None, flat: false }, Member { name: "OnlyStartEvaluatingAfterWarmUpPeriodEnds", target: 19, loc: None, flat: false }]) },
    /* 33 */ Shape { name: "EvaluationCriteria", kind: Kind::Struct(&[Member { name: "PromQLCriteria", target: 34, loc: None, flat: false }]) },
    /* 34 */ Shape { name: "AlarmPromQLCriteria", kind: Kind::Struct(&[Member { name: "Query", target: 1, loc: None, flat: false }, Member { name: "PendingPeriod", target: 23, loc: None, flat: false }, Member { name: "RecoveryPeriod", target: 23, loc: None, flat: false }]) },
    /* 35 */ Shape { name: "ActionConfiguration", kind: Kind::Struct(&[Member { name: "AlarmTagsPropagation", target: 36, loc: None, flat: false }]) },
    /* 36 */ Shape { name: "AlarmTagsPropagation", kind: Kind::Struct(&[Member { name: "Enabled", target: 19, loc: None, flat: false }, Member { name: "IncludedTagKeys", target: 37, loc: None, flat: false }, Member { name: "ExcludedTagKeys", target: 37, loc: None, flat: false }]) },
    /* 37 */ Shape { name: "AlarmTagsPropagationTagKeys", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 38 */ Shape { name: "DescribeAlarmsInput", kind: Kind::Struct(&[Member { name: "AlarmNames", target: 39, loc: None, flat: false }, Member { name: "AlarmNamePrefix", target: 1, loc: None, flat: false }, Member { name: "AlarmTypes", target: 40, loc: None, flat: false }, Member { name: "ChildrenOfAlarmName", target: 1, loc: None, flat: false }, Member { name: "ParentsOfAlarmName", target: 1, loc: None, flat: false }, Member { name: "StateValue", target: 1, loc: None, flat: false }, Member { name: "ActionPrefix", target: 1, loc: None, flat: false }, Member { name: "MaxRecords", target: 23, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }]) },
    /* 39 */ Shape { name: "AlarmNames", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 40 */ Shape { name: "AlarmTypes", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 41 */ Shape { name: "DescribeAlarmsOutput", kind: Kind::Struct(&[Member { name: "CompositeAlarms", target: 42, loc: None, flat: false }, Member { name: "MetricAlarms", target: 44, loc: None, flat: false }, Member { name: "LogAlarms", target: 46, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }]) },
    /* 42 */ Shape { name: "CompositeAlarms", kind: Kind::List { item: 43, loc: None, flat: false } },
    /* 43 */ Shape { name: "CompositeAlarm", kind: Kind::Struct(&[Member { name: "ActionsEnabled", target: 19, loc: None, flat: false }, Member { name: "AlarmActions", target: 20, loc: None, flat: false }, Member { name: "AlarmArn", target: 1, loc: None, flat: false }, Member { name: "AlarmConfigurationUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "AlarmDescription", target: 1, loc: None, flat: false }, Member { name: "AlarmName", target: 1, loc: None, flat: false }, Member { name: "AlarmRule", target: 1, loc: None, flat: false }, Member { name: "InsufficientDataActions", target: 20, loc: None, flat: false }, Member { name: "OKActions", target: 20, loc: None, flat: false }, Member { name: "StateReason", target: 1, loc: None, flat: false }, Member { name: "StateReasonData", target: 1, loc: None, flat: false }, Member { name: "StateUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "StateValue", target: 1, loc: None, flat: false }, Member { name: "StateTransitionedTimestamp", target: 13, loc: None, flat: false }, Member { name: "ActionsSuppressedBy", target: 1, loc: None, flat: false }, Member { name: "ActionsSuppressedReason", target: 1, loc: None, flat: false }, Member { name: "ActionsSuppressor", target: 1, loc: None, flat: false }, Member { name: "ActionsSuppressorWaitPeriod", target: 23, loc: None, flat: false }, Member { name: "ActionsSuppressorExtensionPeriod", target: 23, loc: None, flat: false }, Member { name: "ActionConfiguration", target: 35, loc: None, flat: false }]) },
    /* 44 */ Shape { name: "MetricAlarms", kind: Kind::List { item: 45, loc: None, flat: false } },
    /* 45 */ Shape { name: "MetricAlarm", kind: Kind::Struct(&[Member { name: "AlarmName", target: 1, loc: None, flat: false }, Member { name: "AlarmArn", target: 1, loc: None, flat: false }, Member { name: "AlarmDescription", target: 1, loc: None, flat: false }, Member { name: "AlarmConfigurationUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "ActionsEnabled", target: 19, loc: None, flat: false }, Member { name: "OKActions", target: 20, loc: None, flat: false }, Member { name: "AlarmActions", target: 20, loc: None, flat: false }, Member { name: "InsufficientDataActions", target: 20, loc: None, flat: false }, Member { name: "StateValue", target: 1, loc: None, flat: false }, Member { name: "StateReason", target: 1, loc: None, flat: false }, Member { name: "StateReasonData", target: 1, loc: None, flat: false }, Member { name: "StateUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "Statistic", target: 1, loc: None, flat: false }, Member { name: "ExtendedStatistic", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 21, loc: None, flat: false }, Member { name: "Period", target: 23, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }, Member { name: "EvaluationPeriods", target: 23, loc: None, flat: false }, Member { name: "DatapointsToAlarm", target: 23, loc: None, flat: false }, Member { name: "Threshold", target: 24, loc: None, flat: false }, Member { name: "ComparisonOperator", target: 1, loc: None, flat: false }, Member { name: "TreatMissingData", target: 1, loc: None, flat: false }, Member { name: "EvaluateLowSampleCountPercentile", target: 1, loc: None, flat: false }, Member { name: "Metrics", target: 25, loc: None, flat: false }, Member { name: "ThresholdMetricId", target: 1, loc: None, flat: false }, Member { name: "EvaluationState", target: 1, loc: None, flat: false }, Member { name: "StateTransitionedTimestamp", target: 13, loc: None, flat: false }, Member { name: "EvaluationWindow", target: 29, loc: None, flat: false }, Member { name: "WarmUpConfiguration", target: 32, loc: None, flat: false }, Member { name: "EvaluationCriteria", target: 33, loc: None, flat: false }, Member { name: "EvaluationInterval", target: 23, loc: None, flat: false }, Member { name: "ActionConfiguration", target: 35, loc: None, flat: false }]) },
    /* 46 */ Shape { name: "LogAlarms", kind: Kind::List { item: 47, loc: None, flat: false } },
    /* 47 */ Shape { name: "LogAlarm", kind: Kind::Struct(&[Member { name: "AlarmName", target: 1, loc: None, flat: false }, Member { name: "AlarmArn", target: 1, loc: None, flat: false }, Member { name: "AlarmDescription", target: 1, loc: None, flat: false }, Member { name: "AlarmConfigurationUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "ActionsEnabled", target: 19, loc: None, flat: false }, Member { name: "OKActions", target: 20, loc: None, flat: false }, Member { name: "AlarmActions", target: 20, loc: None, flat: false }, Member { name: "InsufficientDataActions", target: 20, loc: None, flat: false }, Member { name: "StateValue", target: 1, loc: None, flat: false }, Member { name: "StateReason", target: 1, loc: None, flat: false }, Member { name: "StateReasonData", target: 1, loc: None, flat: false }, Member { name: "StateUpdatedTimestamp", target: 13, loc: None, flat: false }, Member { name: "ScheduledQueryConfiguration", target: 48, loc: None, flat: false }, Member { name: "QueryResultsToEvaluate", target: 23, loc: None, flat: false }, Member { name: "QueryResultsToAlarm", target: 23, loc: None, flat: false }, Member { name: "Threshold", target: 24, loc: None, flat: false }, Member { name: "ComparisonOperator", target: 1, loc: None, flat: false }, Member { name: "TreatMissingData", target: 1, loc: None, flat: false }, Member { name: "StateTransitionedTimestamp", target: 13, loc: None, flat: false }, Member { name: "EvaluationState", target: 1, loc: None, flat: false }, Member { name: "ActionLogLineCount", target: 23, loc: None, flat: false }, Member { name: "ActionLogLineRoleArn", target: 1, loc: None, flat: false }, Member { name: "WarmUpConfiguration", target: 32, loc: None, flat: false }, Member { name: "ActionConfiguration", target: 35, loc: None, flat: false }]) },
    /* 48 */ Shape { name: "ScheduledQueryConfiguration", kind: Kind::Struct(&[Member { name: "QueryString", target: 1, loc: None, flat: false }, Member { name: "LogGroupIdentifiers", target: 49, loc: None, flat: false }, Member { name: "QueryARN", target: 1, loc: None, flat: false }, Member { name: "ScheduledQueryRoleARN", target: 1, loc: None, flat: false }, Member { name: "ScheduleConfiguration", target: 50, loc: None, flat: false }, Member { name: "AggregationExpression", target: 1, loc: None, flat: false }, Member { name: "Tags", target: 2, loc: None, flat: false }]) },
    /* 49 */ Shape { name: "LogGroupIdentifiers", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 50 */ Shape { name: "ScheduleConfiguration", kind: Kind::Struct(&[Member { name: "ScheduleExpression", target: 1, loc: None, flat: false }, Member { name: "StartTimeOffset", target: 14, loc: None, flat: false }, Member { name: "EndTimeOffset", target: 14, loc: None, flat: false }]) },
    /* 51 */ Shape { name: "DeleteAlarmsInput", kind: Kind::Struct(&[Member { name: "AlarmNames", target: 39, loc: None, flat: false }]) },
    /* 52 */ Shape { name: "GetMetricStatisticsInput", kind: Kind::Struct(&[Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 21, loc: None, flat: false }, Member { name: "StartTime", target: 13, loc: None, flat: false }, Member { name: "EndTime", target: 13, loc: None, flat: false }, Member { name: "Period", target: 23, loc: None, flat: false }, Member { name: "Statistics", target: 53, loc: None, flat: false }, Member { name: "ExtendedStatistics", target: 54, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }]) },
    /* 53 */ Shape { name: "Statistics", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 54 */ Shape { name: "ExtendedStatistics", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 55 */ Shape { name: "GetMetricStatisticsOutput", kind: Kind::Struct(&[Member { name: "Label", target: 1, loc: None, flat: false }, Member { name: "Datapoints", target: 56, loc: None, flat: false }]) },
    /* 56 */ Shape { name: "Datapoints", kind: Kind::List { item: 57, loc: None, flat: false } },
    /* 57 */ Shape { name: "Datapoint", kind: Kind::Struct(&[Member { name: "Timestamp", target: 13, loc: None, flat: false }, Member { name: "SampleCount", target: 24, loc: None, flat: false }, Member { name: "Average", target: 24, loc: None, flat: false }, Member { name: "Sum", target: 24, loc: None, flat: false }, Member { name: "Minimum", target: 24, loc: None, flat: false }, Member { name: "Maximum", target: 24, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }, Member { name: "ExtendedStatistics", target: 58, loc: None, flat: false }]) },
    /* 58 */ Shape { name: "DatapointValueMap", kind: Kind::Map { key: 1, value: 24, key_loc: "key", value_loc: "value", flat: false } },
    /* 59 */ Shape { name: "ListTagsForResourceInput", kind: Kind::Struct(&[Member { name: "ResourceARN", target: 1, loc: None, flat: false }]) },
    /* 60 */ Shape { name: "ListTagsForResourceOutput", kind: Kind::Struct(&[Member { name: "Tags", target: 2, loc: None, flat: false }]) },
    /* 61 */ Shape { name: "TagResourceInput", kind: Kind::Struct(&[Member { name: "ResourceARN", target: 1, loc: None, flat: false }, Member { name: "Tags", target: 2, loc: None, flat: false }]) },
    /* 62 */ Shape { name: "TagResourceOutput", kind: Kind::Struct(&[]) },
    /* 63 */ Shape { name: "GetMetricDataInput", kind: Kind::Struct(&[Member { name: "MetricDataQueries", target: 25, loc: None, flat: false }, Member { name: "StartTime", target: 13, loc: None, flat: false }, Member { name: "EndTime", target: 13, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }, Member { name: "ScanBy", target: 1, loc: None, flat: false }, Member { name: "MaxDatapoints", target: 23, loc: None, flat: false }, Member { name: "LabelOptions", target: 64, loc: None, flat: false }]) },
    /* 64 */ Shape { name: "LabelOptions", kind: Kind::Struct(&[Member { name: "Timezone", target: 1, loc: None, flat: false }]) },
    /* 65 */ Shape { name: "GetMetricDataOutput", kind: Kind::Struct(&[Member { name: "MetricDataResults", target: 66, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }, Member { name: "Messages", target: 70, loc: None, flat: false }]) },
    /* 66 */ Shape { name: "MetricDataResults", kind: Kind::List { item: 67, loc: None, flat: false } },
    /* 67 */ Shape { name: "MetricDataResult", kind: Kind::Struct(&[Member { name: "Id", target: 1, loc: None, flat: false }, Member { name: "Label", target: 1, loc: None, flat: false }, Member { name: "Timestamps", target: 68, loc: None, flat: false }, Member { name: "Values", target: 69, loc: None, flat: false }, Member { name: "StatusCode", target: 1, loc: None, flat: false }, Member { name: "Messages", target: 70, loc: None, flat: false }]) },
    /* 68 */ Shape { name: "Timestamps", kind: Kind::List { item: 13, loc: None, flat: false } },
    /* 69 */ Shape { name: "DatapointValues", kind: Kind::List { item: 24, loc: None, flat: false } },
    /* 70 */ Shape { name: "MetricDataResultMessages", kind: Kind::List { item: 71, loc: None, flat: false } },
    /* 71 */ Shape { name: "MessageData", kind: Kind::Struct(&[Member { name: "Code", target: 1, loc: None, flat: false }, Member { name: "Value", target: 1, loc: None, flat: false }]) },
    /* 72 */ Shape { name: "PutMetricDataInput", kind: Kind::Struct(&[Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "MetricData", target: 73, loc: None, flat: false }, Member { name: "EntityMetricData", target: 78, loc: None, flat: false }, Member { name: "StrictEntityValidation", target: 19, loc: None, flat: false }]) },
    /* 73 */ Shape { name: "MetricData", kind: Kind::List { item: 74, loc: None, flat: false } },
    /* 74 */ Shape { name: "MetricDatum", kind: Kind::Struct(&[Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 21, loc: None, flat: false }, Member { name: "Timestamp", target: 13, loc: None, flat: false }, Member { name: "Value", target: 24, loc: None, flat: false }, Member { name: "StatisticValues", target: 75, loc: None, flat: false }, Member { name: "Values", target: 76, loc: None, flat: false }, Member { name: "Counts", target: 77, loc: None, flat: false }, Member { name: "Unit", target: 1, loc: None, flat: false }, Member { name: "StorageResolution", target: 23, loc: None, flat: false }]) },
    /* 75 */ Shape { name: "StatisticSet", kind: Kind::Struct(&[Member { name: "SampleCount", target: 24, loc: None, flat: false }, Member { name: "Sum", target: 24, loc: None, flat: false }, Member { name: "Minimum", target: 24, loc: None, flat: false }, Member { name: "Maximum", target: 24, loc: None, flat: false }]) },
    /* 76 */ Shape { name: "Values", kind: Kind::List { item: 24, loc: None, flat: false } },
    /* 77 */ Shape { name: "Counts", kind: Kind::List { item: 24, loc: None, flat: false } },
    /* 78 */ Shape { name: "EntityMetricDataList", kind: Kind::List { item: 79, loc: None, flat: false } },
    /* 79 */ Shape { name: "EntityMetricData", kind: Kind::Struct(&[Member { name: "Entity", target: 80, loc: None, flat: false }, Member { name: "MetricData", target: 73, loc: None, flat: false }]) },
    /* 80 */ Shape { name: "Entity", kind: Kind::Struct(&[Member { name: "KeyAttributes", target: 81, loc: None, flat: false }, Member { name: "Attributes", target: 82, loc: None, flat: false }]) },
    /* 81 */ Shape { name: "EntityKeyAttributesMap", kind: Kind::Map { key: 1, value: 1, key_loc: "key", value_loc: "value", flat: false } },
    /* 82 */ Shape { name: "EntityAttributesMap", kind: Kind::Map { key: 1, value: 1, key_loc: "key", value_loc: "value", flat: false } },
    /* 83 */ Shape { name: "ListMetricsInput", kind: Kind::Struct(&[Member { name: "Namespace", target: 1, loc: None, flat: false }, Member { name: "MetricName", target: 1, loc: None, flat: false }, Member { name: "Dimensions", target: 84, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }, Member { name: "RecentlyActive", target: 1, loc: None, flat: false }, Member { name: "IncludeLinkedAccounts", target: 19, loc: None, flat: false }, Member { name: "OwningAccount", target: 1, loc: None, flat: false }]) },
    /* 84 */ Shape { name: "DimensionFilters", kind: Kind::List { item: 85, loc: None, flat: false } },
    /* 85 */ Shape { name: "DimensionFilter", kind: Kind::Struct(&[Member { name: "Name", target: 1, loc: None, flat: false }, Member { name: "Value", target: 1, loc: None, flat: false }]) },
    /* 86 */ Shape { name: "ListMetricsOutput", kind: Kind::Struct(&[Member { name: "Metrics", target: 87, loc: None, flat: false }, Member { name: "NextToken", target: 1, loc: None, flat: false }, Member { name: "OwningAccounts", target: 88, loc: None, flat: false }]) },
    /* 87 */ Shape { name: "Metrics", kind: Kind::List { item: 28, loc: None, flat: false } },
    /* 88 */ Shape { name: "OwningAccounts", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 89 */ Shape { name: "UntagResourceInput", kind: Kind::Struct(&[Member { name: "ResourceARN", target: 1, loc: None, flat: false }, Member { name: "TagKeys", target: 90, loc: None, flat: false }]) },
    /* 90 */ Shape { name: "TagKeyList", kind: Kind::List { item: 1, loc: None, flat: false } },
    /* 91 */ Shape { name: "UntagResourceOutput", kind: Kind::Struct(&[]) },
];
#[rustfmt::skip]
static OPS: &[Op] = &[
    Op { name: "PutDashboard", input: Some(0), output: Some(4), wrapper: Some("PutDashboardResult") },
    Op { name: "GetDashboard", input: Some(7), output: Some(8), wrapper: Some("GetDashboardResult") },
    Op { name: "ListDashboards", input: Some(9), output: Some(10), wrapper: Some("ListDashboardsResult") },
    Op { name: "DeleteDashboards", input: Some(15), output: Some(17), wrapper: Some("DeleteDashboardsResult") },
    Op { name: "PutMetricAlarm", input: Some(18), output: None, wrapper: None },
    Op { name: "DescribeAlarms", input: Some(38), output: Some(41), wrapper: Some("DescribeAlarmsResult") },
    Op { name: "DeleteAlarms", input: Some(51), output: None, wrapper: None },
    Op { name: "GetMetricStatistics", input: Some(52), output: Some(55), wrapper: Some("GetMetricStatisticsResult") },
    Op { name: "ListTagsForResource", input: Some(59), output: Some(60), wrapper: Some("ListTagsForResourceResult") },
    Op { name: "TagResource", input: Some(61), output: Some(62), wrapper: Some("TagResourceResult") },
    Op { name: "GetMetricData", input: Some(63), output: Some(65), wrapper: Some("GetMetricDataResult") },
    Op { name: "PutMetricData", input: Some(72), output: None, wrapper: None },
    Op { name: "ListMetrics", input: Some(83), output: Some(86), wrapper: Some("ListMetricsResult") },
    Op { name: "UntagResource", input: Some(89), output: Some(91), wrapper: Some("UntagResourceResult") },
];
// END GENERATED SHAPES

#[cfg(test)]
mod tests {
    use super::*;

    // -- helpers -------------------------------------------------------------

    fn t(s: &str) -> Val {
        Val::Text(s.into())
    }
    fn i(n: i128) -> Val {
        Val::Int(n)
    }
    fn f(x: f64) -> Val {
        Val::Float(x)
    }
    fn ts(secs: f64) -> Val {
        Val::Tag(1, Box::new(Val::Float(secs)))
    }
    fn arr(items: Vec<Val>) -> Val {
        Val::Array(items)
    }
    fn map(entries: Vec<(&str, Val)>) -> Val {
        Val::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    fn cbor(v: &Val) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(v, &mut minicbor::Encoder::new(&mut out)).expect("encode");
        out
    }
    fn decode(b: &[u8]) -> Val {
        decode_value(&mut minicbor::Decoder::new(b), 0).expect("decode")
    }
    /// The query body of `op` for CBOR input `v`, as decoded pairs without Action/Version.
    fn query(op: &str, v: &Val) -> Vec<(String, String)> {
        let q = cbor_request_to_query(op, &cbor(v)).expect("translate");
        let mut pairs = q.split('&').map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            (
                urlencoding::decode(k).expect("utf8").into_owned(),
                urlencoding::decode(v).expect("utf8").into_owned(),
            )
        });
        assert_eq!(
            pairs.next(),
            Some(("Action".to_string(), op.to_string())),
            "{q}"
        );
        assert_eq!(
            pairs.next(),
            Some(("Version".to_string(), "2010-08-01".to_string()))
        );
        pairs.collect()
    }
    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn wrap(op: &str, inner: &str) -> String {
        format!(
            "<{op}Response xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <{op}Result>{inner}</{op}Result>\
             <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></{op}Response>"
        )
    }
    /// Translate a successful XML answer and decode the CBOR body.
    fn answer(op: &str, inner: &str) -> Val {
        let (status, body, headers) =
            query_response_to_cbor(op, 200, wrap(op, inner).as_bytes()).expect("translate");
        assert_eq!(status, 200);
        assert!(headers.contains(&("smithy-protocol".into(), "rpc-v2-cbor".into())));
        assert!(headers.contains(&("content-type".into(), "application/cbor".into())));
        assert!(headers.contains(&("x-amzn-requestid".into(), "req-1".into())));
        decode(&body)
    }

    // -- paths ---------------------------------------------------------------

    #[test]
    fn operation_from_path() {
        let p = "/service/GraniteServiceVersion20100801/operation/PutMetricData";
        assert_eq!(rpcv2_operation(p).as_deref(), Some("PutMetricData"));
        assert_eq!(
            rpcv2_operation(&format!("{p}?x=1")).as_deref(),
            Some("PutMetricData")
        );
        assert_eq!(
            rpcv2_operation(&format!("/prefix{p}")).as_deref(),
            Some("PutMetricData")
        );
        assert_eq!(rpcv2_operation("/"), None);
        assert_eq!(
            rpcv2_operation("/service/GraniteServiceVersion20100801/operation/"),
            None
        );
        assert_eq!(
            rpcv2_operation("/service/GraniteServiceVersion20100801/operation/A/B"),
            None
        );
        assert_eq!(
            rpcv2_operation("/service/Kinesis_20131202/operation/ListStreams"),
            None
        );
    }

    // -- requests ------------------------------------------------------------

    #[test]
    fn put_dashboard_request() {
        let body = r#"{"widgets":[{"type":"text","properties":{"markdown":"a & b = c"}}]}"#;
        let q = query(
            "PutDashboard",
            &map(vec![
                ("DashboardName", t("dash 1")),
                ("DashboardBody", t(body)),
            ]),
        );
        assert_eq!(
            q,
            kv(&[("DashboardName", "dash 1"), ("DashboardBody", body)])
        );
        // the raw body is form-encoded
        let raw = cbor_request_to_query(
            "PutDashboard",
            &cbor(&map(vec![("DashboardBody", t(body))])),
        )
        .expect("translate");
        assert!(raw.contains("DashboardBody=%7B%22widgets"), "{raw}");
        assert!(raw.contains("a%20%26%20b%20%3D%20c"), "{raw}");
    }

    #[test]
    fn get_list_delete_dashboards_requests() {
        assert_eq!(
            query("GetDashboard", &map(vec![("DashboardName", t("d"))])),
            kv(&[("DashboardName", "d")])
        );
        assert_eq!(
            query(
                "ListDashboards",
                &map(vec![
                    ("DashboardNamePrefix", t("lab-")),
                    ("NextToken", t("tok"))
                ])
            ),
            kv(&[("DashboardNamePrefix", "lab-"), ("NextToken", "tok")])
        );
        assert_eq!(query("ListDashboards", &map(vec![])), kv(&[]));
        assert_eq!(
            cbor_request_to_query("ListDashboards", b"").expect("empty body"),
            "Action=ListDashboards&Version=2010-08-01"
        );
        assert_eq!(
            query(
                "DeleteDashboards",
                &map(vec![("DashboardNames", arr(vec![t("a"), t("b")]))])
            ),
            kv(&[
                ("DashboardNames.member.1", "a"),
                ("DashboardNames.member.2", "b")
            ])
        );
        // awsQuery sends an empty list as the bare name
        assert_eq!(
            query(
                "DeleteDashboards",
                &map(vec![("DashboardNames", arr(vec![]))])
            ),
            kv(&[("DashboardNames", "")])
        );
    }

    #[test]
    fn put_metric_alarm_request() {
        let input = map(vec![
            ("AlarmName", t("lab-lag")),
            ("AlarmDescription", t("iterator age")),
            ("ActionsEnabled", Val::Bool(false)),
            (
                "AlarmActions",
                arr(vec![t("arn:aws:sns:us-east-1:123:topic")]),
            ),
            ("MetricName", t("GetRecords.IteratorAgeMilliseconds")),
            ("Namespace", t("AWS/Kinesis")),
            ("Statistic", t("Maximum")),
            ("ExtendedStatistic", Val::Null),
            (
                "Dimensions",
                arr(vec![map(vec![
                    ("Name", t("StreamName")),
                    ("Value", t("s1")),
                ])]),
            ),
            ("Period", i(60)),
            ("EvaluationPeriods", i(3)),
            ("DatapointsToAlarm", i(2)),
            ("Threshold", f(60000.5)),
            ("ComparisonOperator", t("GreaterThanThreshold")),
            ("TreatMissingData", t("notBreaching")),
            (
                "Tags",
                arr(vec![map(vec![("Key", t("owner")), ("Value", t("lab"))])]),
            ),
        ]);
        assert_eq!(
            query("PutMetricAlarm", &input),
            kv(&[
                ("AlarmName", "lab-lag"),
                ("AlarmDescription", "iterator age"),
                ("ActionsEnabled", "false"),
                ("AlarmActions.member.1", "arn:aws:sns:us-east-1:123:topic"),
                ("MetricName", "GetRecords.IteratorAgeMilliseconds"),
                ("Namespace", "AWS/Kinesis"),
                ("Statistic", "Maximum"),
                ("Dimensions.member.1.Name", "StreamName"),
                ("Dimensions.member.1.Value", "s1"),
                ("Period", "60"),
                ("EvaluationPeriods", "3"),
                ("DatapointsToAlarm", "2"),
                ("Threshold", "60000.5"),
                ("ComparisonOperator", "GreaterThanThreshold"),
                ("TreatMissingData", "notBreaching"),
                ("Tags.member.1.Key", "owner"),
                ("Tags.member.1.Value", "lab"),
            ])
        );
        // metric-math alarm: nested structures inside a list
        let math = map(vec![
            ("AlarmName", t("m")),
            (
                "Metrics",
                arr(vec![
                    map(vec![
                        ("Id", t("m1")),
                        (
                            "MetricStat",
                            map(vec![
                                (
                                    "Metric",
                                    map(vec![
                                        ("Namespace", t("NS")),
                                        ("MetricName", t("M")),
                                        (
                                            "Dimensions",
                                            arr(vec![map(vec![
                                                ("Name", t("a")),
                                                ("Value", t("b")),
                                            ])]),
                                        ),
                                    ]),
                                ),
                                ("Period", i(300)),
                                ("Stat", t("Sum")),
                            ]),
                        ),
                        ("ReturnData", Val::Bool(false)),
                    ]),
                    map(vec![
                        ("Id", t("e1")),
                        ("Expression", t("m1*2")),
                        ("ReturnData", Val::Bool(true)),
                    ]),
                ]),
            ),
            ("Threshold", f(1.0)),
        ]);
        assert_eq!(
            query("PutMetricAlarm", &math),
            kv(&[
                ("AlarmName", "m"),
                ("Metrics.member.1.Id", "m1"),
                ("Metrics.member.1.MetricStat.Metric.Namespace", "NS"),
                ("Metrics.member.1.MetricStat.Metric.MetricName", "M"),
                (
                    "Metrics.member.1.MetricStat.Metric.Dimensions.member.1.Name",
                    "a"
                ),
                (
                    "Metrics.member.1.MetricStat.Metric.Dimensions.member.1.Value",
                    "b"
                ),
                ("Metrics.member.1.MetricStat.Period", "300"),
                ("Metrics.member.1.MetricStat.Stat", "Sum"),
                ("Metrics.member.1.ReturnData", "false"),
                ("Metrics.member.2.Id", "e1"),
                ("Metrics.member.2.Expression", "m1*2"),
                ("Metrics.member.2.ReturnData", "true"),
                ("Threshold", "1"),
            ])
        );
    }

    #[test]
    fn describe_and_delete_alarms_requests() {
        assert_eq!(
            query(
                "DescribeAlarms",
                &map(vec![
                    ("AlarmNames", arr(vec![t("a1"), t("a2")])),
                    (
                        "AlarmTypes",
                        arr(vec![t("MetricAlarm"), t("CompositeAlarm")])
                    ),
                    ("StateValue", t("ALARM")),
                    ("MaxRecords", i(50)),
                ])
            ),
            kv(&[
                ("AlarmNames.member.1", "a1"),
                ("AlarmNames.member.2", "a2"),
                ("AlarmTypes.member.1", "MetricAlarm"),
                ("AlarmTypes.member.2", "CompositeAlarm"),
                ("StateValue", "ALARM"),
                ("MaxRecords", "50"),
            ])
        );
        assert_eq!(
            query(
                "DeleteAlarms",
                &map(vec![("AlarmNames", arr(vec![t("a1")]))])
            ),
            kv(&[("AlarmNames.member.1", "a1")])
        );
    }

    #[test]
    fn get_metric_statistics_request() {
        assert_eq!(
            query(
                "GetMetricStatistics",
                &map(vec![
                    ("Namespace", t("Lab")),
                    ("MetricName", t("Records")),
                    (
                        "Dimensions",
                        arr(vec![map(vec![("Name", t("Stream")), ("Value", t("s"))])]),
                    ),
                    ("StartTime", Val::Tag(1, Box::new(i(1_700_000_000)))),
                    ("EndTime", ts(1_700_003_600.25)),
                    ("Period", i(60)),
                    ("Statistics", arr(vec![t("Sum"), t("Average")])),
                    ("ExtendedStatistics", arr(vec![t("p99")])),
                    ("Unit", t("Count")),
                ])
            ),
            kv(&[
                ("Namespace", "Lab"),
                ("MetricName", "Records"),
                ("Dimensions.member.1.Name", "Stream"),
                ("Dimensions.member.1.Value", "s"),
                ("StartTime", "2023-11-14T22:13:20Z"),
                ("EndTime", "2023-11-14T23:13:20.250Z"),
                ("Period", "60"),
                ("Statistics.member.1", "Sum"),
                ("Statistics.member.2", "Average"),
                ("ExtendedStatistics.member.1", "p99"),
                ("Unit", "Count"),
            ])
        );
    }

    #[test]
    fn tag_requests() {
        let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a1";
        assert_eq!(
            query("ListTagsForResource", &map(vec![("ResourceARN", t(arn))])),
            kv(&[("ResourceARN", arn)])
        );
        assert_eq!(
            query(
                "TagResource",
                &map(vec![
                    ("ResourceARN", t(arn)),
                    (
                        "Tags",
                        arr(vec![
                            map(vec![("Key", t("k1")), ("Value", t("v1"))]),
                            map(vec![("Key", t("k2")), ("Value", t(""))]),
                        ]),
                    ),
                ])
            ),
            kv(&[
                ("ResourceARN", arn),
                ("Tags.member.1.Key", "k1"),
                ("Tags.member.1.Value", "v1"),
                ("Tags.member.2.Key", "k2"),
                ("Tags.member.2.Value", ""),
            ])
        );
        assert_eq!(
            query(
                "UntagResource",
                &map(vec![
                    ("ResourceARN", t(arn)),
                    ("TagKeys", arr(vec![t("k1")]))
                ])
            ),
            kv(&[("ResourceARN", arn), ("TagKeys.member.1", "k1")])
        );
    }

    #[test]
    fn metric_data_requests() {
        let q = query(
            "PutMetricData",
            &map(vec![
                ("Namespace", t("Lab")),
                (
                    "MetricData",
                    arr(vec![
                        map(vec![
                            ("MetricName", t("Records")),
                            ("Timestamp", ts(0.5)),
                            ("Value", f(42.0)),
                            ("Unit", t("Count")),
                            ("StorageResolution", i(1)),
                        ]),
                        map(vec![
                            ("MetricName", t("Latency")),
                            ("Values", arr(vec![f(1.5), f(2.0)])),
                            ("Counts", arr(vec![f(3.0), f(1.0)])),
                            (
                                "StatisticValues",
                                map(vec![
                                    ("SampleCount", f(4.0)),
                                    ("Sum", f(7.0)),
                                    ("Minimum", f(1.5)),
                                    ("Maximum", f(2.0)),
                                ]),
                            ),
                        ]),
                    ]),
                ),
                (
                    "EntityMetricData",
                    arr(vec![map(vec![(
                        "Entity",
                        map(vec![(
                            "KeyAttributes",
                            map(vec![("Type", t("Service")), ("Name", t("lab"))]),
                        )]),
                    )])]),
                ),
                ("StrictEntityValidation", Val::Bool(true)),
            ]),
        );
        assert_eq!(
            q,
            kv(&[
                ("Namespace", "Lab"),
                ("MetricData.member.1.MetricName", "Records"),
                ("MetricData.member.1.Timestamp", "1970-01-01T00:00:00.500Z"),
                ("MetricData.member.1.Value", "42"),
                ("MetricData.member.1.Unit", "Count"),
                ("MetricData.member.1.StorageResolution", "1"),
                ("MetricData.member.2.MetricName", "Latency"),
                ("MetricData.member.2.Values.member.1", "1.5"),
                ("MetricData.member.2.Values.member.2", "2"),
                ("MetricData.member.2.Counts.member.1", "3"),
                ("MetricData.member.2.Counts.member.2", "1"),
                ("MetricData.member.2.StatisticValues.SampleCount", "4"),
                ("MetricData.member.2.StatisticValues.Sum", "7"),
                ("MetricData.member.2.StatisticValues.Minimum", "1.5"),
                ("MetricData.member.2.StatisticValues.Maximum", "2"),
                (
                    "EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key",
                    "Type"
                ),
                (
                    "EntityMetricData.member.1.Entity.KeyAttributes.entry.1.value",
                    "Service"
                ),
                (
                    "EntityMetricData.member.1.Entity.KeyAttributes.entry.2.key",
                    "Name"
                ),
                (
                    "EntityMetricData.member.1.Entity.KeyAttributes.entry.2.value",
                    "lab"
                ),
                ("StrictEntityValidation", "true"),
            ])
        );
        assert_eq!(
            query(
                "GetMetricData",
                &map(vec![
                    (
                        "MetricDataQueries",
                        arr(vec![map(vec![
                            ("Id", t("q1")),
                            (
                                "MetricStat",
                                map(vec![
                                    (
                                        "Metric",
                                        map(vec![
                                            ("Namespace", t("Lab")),
                                            ("MetricName", t("Records"))
                                        ]),
                                    ),
                                    ("Period", i(60)),
                                    ("Stat", t("Sum")),
                                ]),
                            ),
                        ])]),
                    ),
                    ("StartTime", ts(86_400.0)),
                    ("EndTime", ts(951_782_400.0)),
                    ("ScanBy", t("TimestampAscending")),
                    ("LabelOptions", map(vec![("Timezone", t("+0130"))])),
                ])
            ),
            kv(&[
                ("MetricDataQueries.member.1.Id", "q1"),
                (
                    "MetricDataQueries.member.1.MetricStat.Metric.Namespace",
                    "Lab"
                ),
                (
                    "MetricDataQueries.member.1.MetricStat.Metric.MetricName",
                    "Records"
                ),
                ("MetricDataQueries.member.1.MetricStat.Period", "60"),
                ("MetricDataQueries.member.1.MetricStat.Stat", "Sum"),
                ("StartTime", "1970-01-02T00:00:00Z"),
                ("EndTime", "2000-02-29T00:00:00Z"),
                ("ScanBy", "TimestampAscending"),
                ("LabelOptions.Timezone", "+0130"),
            ])
        );
        assert_eq!(
            query(
                "ListMetrics",
                &map(vec![
                    ("Namespace", t("Lab")),
                    (
                        "Dimensions",
                        arr(vec![
                            map(vec![("Name", t("Stream")), ("Value", t("s"))]),
                            map(vec![("Name", t("Shard"))]),
                        ]),
                    ),
                    ("RecentlyActive", t("PT3H")),
                    ("IncludeLinkedAccounts", Val::Bool(false)),
                ])
            ),
            kv(&[
                ("Namespace", "Lab"),
                ("Dimensions.member.1.Name", "Stream"),
                ("Dimensions.member.1.Value", "s"),
                ("Dimensions.member.2.Name", "Shard"),
                ("RecentlyActive", "PT3H"),
                ("IncludeLinkedAccounts", "false"),
            ])
        );
    }

    #[test]
    fn indefinite_lengths_and_special_doubles() {
        // {_ "AlarmNames": [_ "a"]} with indefinite-length map, array and string chunks
        let mut body = vec![0xbf];
        body.push(0x6a);
        body.extend_from_slice(b"AlarmNames");
        body.extend_from_slice(&[0x9f, 0x7f, 0x61, b'a', 0x61, b'b', 0xff, 0xff, 0xff]);
        assert_eq!(
            cbor_request_to_query("DeleteAlarms", &body).expect("translate"),
            "Action=DeleteAlarms&Version=2010-08-01&AlarmNames.member.1=ab"
        );
        // half-precision float for a double member
        let mut body = vec![0xa1, 0x69];
        body.extend_from_slice(b"Threshold");
        body.extend_from_slice(&[0xf9, 0x3e, 0x00]); // 1.5
        assert_eq!(
            cbor_request_to_query("PutMetricAlarm", &body).expect("translate"),
            "Action=PutMetricAlarm&Version=2010-08-01&Threshold=1.5"
        );
        assert_eq!(format_double(f64::NAN), "NaN");
        assert_eq!(format_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(format_double(1e-7), "0.0000001");
    }

    #[test]
    fn bad_requests_are_errors() {
        // unknown operation
        assert!(cbor_request_to_query("DescribeInsightRules", b"").is_err());
        // not CBOR / truncated
        assert!(cbor_request_to_query("GetDashboard", &[0xa1, 0x6d]).is_err());
        // trailing garbage
        let mut b = cbor(&map(vec![]));
        b.push(0x00);
        assert!(cbor_request_to_query("GetDashboard", &b).is_err());
        // wrong types
        for bad in [
            map(vec![("DashboardName", i(1))]),
            map(vec![("DashboardName", arr(vec![]))]),
        ] {
            assert!(cbor_request_to_query("GetDashboard", &cbor(&bad)).is_err());
        }
        assert!(
            cbor_request_to_query("PutMetricAlarm", &cbor(&map(vec![("Period", t("60"))])))
                .is_err()
        );
        assert!(
            cbor_request_to_query("PutMetricAlarm", &cbor(&map(vec![("Period", f(1.5))]))).is_err()
        );
        assert!(
            cbor_request_to_query("DeleteAlarms", &cbor(&map(vec![("AlarmNames", t("a"))])))
                .is_err()
        );
        assert!(cbor_request_to_query(
            "GetMetricStatistics",
            &cbor(&map(vec![("StartTime", t("x"))]))
        )
        .is_err());
        assert!(cbor_request_to_query("GetDashboard", &cbor(&arr(vec![]))).is_err());
        // deep nesting is refused, not a stack overflow
        let deep = vec![0x81; 10_000];
        assert!(cbor_request_to_query("GetDashboard", &deep).is_err());
        // unknown members are dropped
        assert_eq!(
            query(
                "GetDashboard",
                &map(vec![("Nope", i(1)), ("DashboardName", t("d"))])
            ),
            kv(&[("DashboardName", "d")])
        );
    }

    // -- responses -----------------------------------------------------------

    #[test]
    fn dashboard_answers() {
        let body = r#"{"widgets":[]}"#;
        assert_eq!(
            answer(
                "GetDashboard",
                "<DashboardArn>arn:aws:cloudwatch::123:dashboard/d</DashboardArn>\
                 <DashboardBody>{&quot;widgets&quot;:[]}</DashboardBody>\
                 <DashboardName>d</DashboardName>"
            ),
            map(vec![
                ("DashboardArn", t("arn:aws:cloudwatch::123:dashboard/d")),
                ("DashboardBody", t(body)),
                ("DashboardName", t("d")),
            ])
        );
        assert_eq!(
            answer(
                "ListDashboards",
                "<DashboardEntries><member><DashboardName>d</DashboardName>\
                 <DashboardArn>arn:d</DashboardArn>\
                 <LastModified>2024-03-01T10:20:30.500Z</LastModified><Size>14</Size></member>\
                 </DashboardEntries>"
            ),
            map(vec![(
                "DashboardEntries",
                arr(vec![map(vec![
                    ("DashboardName", t("d")),
                    ("DashboardArn", t("arn:d")),
                    ("LastModified", ts(1_709_288_430.5)),
                    ("Size", i(14)),
                ])]),
            )])
        );
        assert_eq!(
            answer("ListDashboards", "<DashboardEntries/>"),
            map(vec![("DashboardEntries", arr(vec![]))])
        );
        assert_eq!(
            answer(
                "PutDashboard",
                "<DashboardValidationMessages><member><DataPath>/widgets</DataPath>\
                 <Message>bad</Message></member></DashboardValidationMessages>"
            ),
            map(vec![(
                "DashboardValidationMessages",
                arr(vec![map(vec![
                    ("DataPath", t("/widgets")),
                    ("Message", t("bad"))
                ])]),
            )])
        );
        assert_eq!(answer("PutDashboard", ""), map(vec![]));
        assert_eq!(answer("DeleteDashboards", ""), map(vec![]));
        // no result element at all
        let (_, body, _) = query_response_to_cbor(
            "DeleteDashboards",
            200,
            b"<DeleteDashboardsResponse></DeleteDashboardsResponse>",
        )
        .expect("translate");
        assert_eq!(decode(&body), map(vec![]));
    }

    #[test]
    fn describe_alarms_answer() {
        let got = answer(
            "DescribeAlarms",
            "<MetricAlarms><member>\
               <AlarmName>a1</AlarmName>\
               <AlarmArn>arn:aws:cloudwatch:us-east-1:123:alarm:a1</AlarmArn>\
               <AlarmConfigurationUpdatedTimestamp>2024-01-01T00:00:00+00:00</AlarmConfigurationUpdatedTimestamp>\
               <ActionsEnabled>true</ActionsEnabled>\
               <OKActions/>\
               <AlarmActions><member>arn:sns</member></AlarmActions>\
               <StateValue>INSUFFICIENT_DATA</StateValue>\
               <StateUpdatedTimestamp>2024-01-01T00:00:01.25Z</StateUpdatedTimestamp>\
               <MetricName>M</MetricName><Namespace>NS</Namespace><Statistic>Maximum</Statistic>\
               <Dimensions><member><Name>StreamName</Name><Value>s1</Value></member></Dimensions>\
               <Period>60</Period><EvaluationPeriods>3</EvaluationPeriods>\
               <Threshold>5</Threshold><ComparisonOperator>GreaterThanThreshold</ComparisonOperator>\
               <Unknown>ignored</Unknown>\
             </member></MetricAlarms>\
             <CompositeAlarms/>",
        );
        assert_eq!(
            got,
            map(vec![
                ("CompositeAlarms", arr(vec![]),),
                (
                    "MetricAlarms",
                    arr(vec![map(vec![
                        ("AlarmName", t("a1")),
                        ("AlarmArn", t("arn:aws:cloudwatch:us-east-1:123:alarm:a1")),
                        ("AlarmConfigurationUpdatedTimestamp", ts(1_704_067_200.0)),
                        ("ActionsEnabled", Val::Bool(true)),
                        ("OKActions", arr(vec![])),
                        ("AlarmActions", arr(vec![t("arn:sns")])),
                        ("StateValue", t("INSUFFICIENT_DATA")),
                        ("StateUpdatedTimestamp", ts(1_704_067_201.25)),
                        ("MetricName", t("M")),
                        ("Namespace", t("NS")),
                        ("Statistic", t("Maximum")),
                        (
                            "Dimensions",
                            arr(vec![map(vec![
                                ("Name", t("StreamName")),
                                ("Value", t("s1"))
                            ])]),
                        ),
                        ("Period", i(60)),
                        ("EvaluationPeriods", i(3)),
                        // a Double member stays a float even when written as "5"
                        ("Threshold", f(5.0)),
                        ("ComparisonOperator", t("GreaterThanThreshold")),
                    ])]),
                ),
            ])
        );
        // the CBOR bytes of the double are a 64-bit float (0xfb)
        let (_, body, _) = query_response_to_cbor(
            "DescribeAlarms",
            200,
            wrap(
                "DescribeAlarms",
                "<MetricAlarms><member><Threshold>5</Threshold></member></MetricAlarms>",
            )
            .as_bytes(),
        )
        .expect("translate");
        let needle = [b"Threshold".as_slice(), &[0xfb]].concat();
        assert!(body.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn metric_answers() {
        assert_eq!(
            answer(
                "GetMetricStatistics",
                "<Label>Records</Label><Datapoints><member>\
                   <Timestamp>2024-05-01T12:00:00Z</Timestamp><Sum>42.0</Sum>\
                   <SampleCount>2</SampleCount><Unit>Count</Unit>\
                   <ExtendedStatistics><entry><key>p99</key><value>41.5</value></entry></ExtendedStatistics>\
                 </member></Datapoints>"
            ),
            map(vec![
                ("Label", t("Records")),
                (
                    "Datapoints",
                    arr(vec![map(vec![
                        ("Timestamp", ts(1_714_564_800.0)),
                        ("SampleCount", f(2.0)),
                        ("Sum", f(42.0)),
                        ("Unit", t("Count")),
                        ("ExtendedStatistics", map(vec![("p99", f(41.5))])),
                    ])]),
                ),
            ])
        );
        assert_eq!(
            answer(
                "GetMetricData",
                "<MetricDataResults><member><Id>q1</Id><Label>Records</Label>\
                   <Timestamps><member>2024-05-01T12:01:00Z</member><member>2024-05-01T12:00:00Z</member></Timestamps>\
                   <Values><member>1</member><member>2.5</member></Values>\
                   <StatusCode>Complete</StatusCode></member></MetricDataResults>\
                 <Messages/><NextToken>n</NextToken>"
            ),
            map(vec![
                (
                    "MetricDataResults",
                    arr(vec![map(vec![
                        ("Id", t("q1")),
                        ("Label", t("Records")),
                        ("Timestamps", arr(vec![ts(1_714_564_860.0), ts(1_714_564_800.0)])),
                        ("Values", arr(vec![f(1.0), f(2.5)])),
                        ("StatusCode", t("Complete")),
                    ])]),
                ),
                ("NextToken", t("n")),
                ("Messages", arr(vec![])),
            ])
        );
        assert_eq!(
            answer(
                "ListMetrics",
                "<Metrics><member><Namespace>Lab</Namespace><MetricName>Records</MetricName>\
                   <Dimensions><member><Name>Stream</Name><Value>s</Value></member></Dimensions>\
                 </member></Metrics><NextToken>x</NextToken>"
            ),
            map(vec![
                (
                    "Metrics",
                    arr(vec![map(vec![
                        ("Namespace", t("Lab")),
                        ("MetricName", t("Records")),
                        (
                            "Dimensions",
                            arr(vec![map(vec![("Name", t("Stream")), ("Value", t("s"))])]),
                        ),
                    ])]),
                ),
                ("NextToken", t("x")),
            ])
        );
    }

    #[test]
    fn tag_answers() {
        assert_eq!(
            answer(
                "ListTagsForResource",
                "<Tags><member><Key>k1</Key><Value>v1</Value></member>\
                 <member><Key>k2</Key><Value></Value></member></Tags>"
            ),
            map(vec![(
                "Tags",
                arr(vec![
                    map(vec![("Key", t("k1")), ("Value", t("v1"))]),
                    map(vec![("Key", t("k2")), ("Value", t(""))]),
                ]),
            )])
        );
        assert_eq!(answer("TagResource", ""), map(vec![]));
        assert_eq!(answer("UntagResource", ""), map(vec![]));
    }

    #[test]
    fn operations_without_output_answer_an_empty_body() {
        for op in ["PutMetricAlarm", "DeleteAlarms", "PutMetricData"] {
            let xml = format!(
                "<{op}Response><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{op}Response>"
            );
            let (status, body, headers) =
                query_response_to_cbor(op, 200, xml.as_bytes()).expect("translate");
            assert_eq!((status, body.len()), (200, 0), "{op}");
            assert!(headers.contains(&("smithy-protocol".into(), "rpc-v2-cbor".into())));
        }
    }

    #[test]
    fn errors_become_rpcv2_errors() {
        let xml = "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
                   <Error><Type>Sender</Type><Code>ResourceNotFound</Code>\
                   <Message>Dashboard d does not exist</Message></Error>\
                   <RequestId>rid</RequestId></ErrorResponse>";
        let (status, body, headers) =
            query_response_to_cbor("GetDashboard", 404, xml.as_bytes()).expect("translate");
        assert_eq!(status, 404);
        assert_eq!(
            decode(&body),
            map(vec![
                ("__type", t("ResourceNotFound")),
                ("message", t("Dashboard d does not exist")),
            ])
        );
        assert!(headers.contains(&(
            "x-amzn-query-error".into(),
            "ResourceNotFound;Sender".into()
        )));
        assert!(headers.contains(&("x-amzn-requestid".into(), "rid".into())));
        assert!(headers.contains(&("content-type".into(), "application/cbor".into())));

        // an error without <Type>, on a 500
        let xml = "<ErrorResponse><Error><Code>InternalFailure</Code><Message>boom</Message></Error></ErrorResponse>";
        let (status, body, headers) =
            query_response_to_cbor("PutMetricAlarm", 500, xml.as_bytes()).expect("translate");
        assert_eq!(status, 500);
        assert_eq!(
            decode(&body),
            map(vec![
                ("__type", t("InternalFailure")),
                ("message", t("boom"))
            ])
        );
        assert!(headers.contains(&(
            "x-amzn-query-error".into(),
            "InternalFailure;Receiver".into()
        )));

        // an error document on a 2xx status still is an error
        let xml = "<ErrorResponse><Error><Code>ValidationError</Code><Message>m</Message></Error></ErrorResponse>";
        let (status, _, _) =
            query_response_to_cbor("DescribeAlarms", 200, xml.as_bytes()).expect("translate");
        assert_eq!(status, 400);

        // XML that is no error document
        let (status, body, _) = query_response_to_cbor(
            "ListDashboards",
            403,
            b"<html><body>Forbidden</body></html>",
        )
        .expect("translate");
        assert_eq!(status, 403);
        assert_eq!(
            decode(&body),
            map(vec![
                ("__type", t("UnknownError")),
                ("message", t("Forbidden"))
            ])
        );

        // a non-XML error keeps its status and text
        let (status, body, _) =
            query_response_to_cbor("ListDashboards", 502, b"Bad Gateway").expect("translate");
        assert_eq!(status, 502);
        assert_eq!(
            decode(&body),
            map(vec![
                ("__type", t("InternalServiceError")),
                ("message", t("Bad Gateway"))
            ])
        );
    }

    #[test]
    fn bad_answers_are_errors() {
        assert!(query_response_to_cbor("ListDashboards", 200, b"not xml").is_err());
        assert!(query_response_to_cbor("Nope", 200, b"<a/>").is_err());
        let bad_int = wrap(
            "DescribeAlarms",
            "<MetricAlarms><member><Period>x</Period></member></MetricAlarms>",
        );
        assert!(query_response_to_cbor("DescribeAlarms", 200, bad_int.as_bytes()).is_err());
        let bad_ts = wrap("ListDashboards", "<DashboardEntries><member><LastModified>yesterday</LastModified></member></DashboardEntries>");
        assert!(query_response_to_cbor("ListDashboards", 200, bad_ts.as_bytes()).is_err());
        let bad_bool = wrap(
            "DescribeAlarms",
            "<MetricAlarms><member><ActionsEnabled>yes</ActionsEnabled></member></MetricAlarms>",
        );
        assert!(query_response_to_cbor("DescribeAlarms", 200, bad_bool.as_bytes()).is_err());
    }

    // -- helpers of the module -----------------------------------------------

    #[test]
    fn timestamps_round_trip() {
        for (s, secs) in [
            ("1970-01-01T00:00:00Z", 0.0),
            ("2000-02-29T00:00:00Z", 951_782_400.0),
            ("2024-12-31T23:59:59.999Z", 1_735_689_599.999),
            ("1969-12-31T23:59:59Z", -1.0),
        ] {
            assert_eq!(format_iso8601(secs).expect("format"), s);
            assert!(
                (parse_timestamp(s).expect("parse") - secs).abs() < 1e-6,
                "{s}"
            );
        }
        assert_eq!(
            parse_timestamp("2024-01-01T02:00:00+02:00").expect("parse"),
            1_704_067_200.0
        );
        assert_eq!(
            parse_timestamp("2024-01-01 00:00:00").expect("parse"),
            1_704_067_200.0
        );
        assert_eq!(
            parse_timestamp("2024-01-01T00:00:00-0130").expect("parse"),
            1_704_072_600.0
        );
        assert_eq!(
            parse_timestamp("1704067200").expect("parse"),
            1_704_067_200.0
        );
        for bad in [
            "",
            "2024-01-01",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00Q",
            "2024-01-01T00:00:00.",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
        assert!(format_iso8601(f64::NAN).is_err());
    }

    #[test]
    fn base64_round_trip() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let enc = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&enc).expect("decode"), s.as_bytes());
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm9v!").is_err());
    }

    #[test]
    fn shape_table_is_consistent() {
        assert!(!BOTOCORE_VERSION.is_empty());
        for (n, s) in SHAPES.iter().enumerate() {
            let targets: Vec<usize> = match &s.kind {
                Kind::Struct(members) => members.iter().map(|m| m.target).collect(),
                Kind::List { item, .. } => vec![*item],
                Kind::Map { key, value, .. } => vec![*key, *value],
                _ => vec![],
            };
            for t in targets {
                assert!(
                    t < SHAPES.len(),
                    "shape {n} ({}) points outside the table",
                    s.name
                );
            }
        }
        for op in [
            "PutDashboard",
            "GetDashboard",
            "ListDashboards",
            "DeleteDashboards",
            "PutMetricAlarm",
            "DescribeAlarms",
            "DeleteAlarms",
            "GetMetricStatistics",
            "ListTagsForResource",
            "TagResource",
            "GetMetricData",
            "PutMetricData",
            "ListMetrics",
            "UntagResource",
        ] {
            assert!(find_op(op).is_ok(), "{op}");
        }
    }
}
