//! S3 object keys as Firehose names them: the custom-prefix expressions and the object
//! name suffix.
//!
//! Emulated (Firehose developer guide, "Understand custom prefixes for Amazon S3 objects",
//! <https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html>, and "Configure
//! Amazon S3 object name format", <https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html>):
//! - `!{timestamp:<pattern>}`: a Java `DateTimeFormatter` pattern, evaluated in UTC at the
//!   approximate arrival time of the oldest record in the object; every instance in one
//!   prefix evaluates to the same instant.
//! - `!{firehose:random-string}`: 11 random characters, a new string per instance.
//! - `!{firehose:error-output-type}`: only in the error prefix; the same string for every
//!   instance.
//! - A `Prefix` without a `timestamp` expression gets `!{timestamp:yyyy/MM/dd/HH/}` appended;
//!   an evaluated prefix longer than 512 characters is an error.
//! - The suffix `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`.
//!
//! Not emulated: `CustomTimeZone` (always UTC), the `partitionKeyFromQuery` /
//! `partitionKeyFromLambda` namespaces (dynamic partitioning), file extensions of
//! compressed output. Pattern letters other than `y u M d H m s S` (for example `EEE`,
//! `MMM`, `D`, `w`) are reported as [`PrefixError`]: the caller then routes the records to
//! the error prefix.

use std::fmt::Write as _;

/// A UTC civil time with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    /// From milliseconds since the Unix epoch.
    pub fn from_millis(ms: i64) -> Utc {
        let secs = ms.div_euclid(1000);
        let millis = ms.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        // Civil date from a day count (the era-based algorithm for the proleptic
        // Gregorian calendar: 400-year eras of 146097 days, years starting in March).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: (sod % 3600 / 60) as u32,
            second: (sod % 60) as u32,
            millis,
        }
    }

    /// `20260101T120000Z`, the SigV4 `x-amz-date` form.
    pub fn amz_date(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-01-01T12:00:00.000Z`.
    pub fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a prefix could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixError(pub String);

impl std::fmt::Display for PrefixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest evaluated prefix Firehose accepts (s3-prefixes.html, "Semantic rules").
pub const MAX_PREFIX: usize = 512;

/// Format `t` with a Java `DateTimeFormatter` pattern (the subset in the module doc).
/// Text in single quotes is literal, `''` is a quote; other non-letters are literal.
pub fn format_java(pattern: &str, t: &Utc) -> Result<String, PrefixError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' inside or outside quotes is one quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => {
                        return Err(PrefixError(format!(
                            "unterminated quote in timestamp pattern {pattern:?}"
                        )))
                    }
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        out.push(*ch);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            let pad = |v: u32, width: usize| format!("{v:0width$}");
            let field = match (c, n) {
                ('y' | 'u', 2) => format!("{:02}", t.year.rem_euclid(100)),
                ('y' | 'u', _) => format!("{:0n$}", t.year),
                ('M', 1 | 2) => pad(t.month, n),
                ('d', 1 | 2) => pad(t.day, n),
                ('H', 1 | 2) => pad(t.hour, n),
                ('m', 1 | 2) => pad(t.minute, n),
                ('s', 1 | 2) => pad(t.second, n),
                ('S', 1..=9) => format!("{:03}000000", t.millis)[..n].to_string(),
                _ => {
                    return Err(PrefixError(format!(
                        "timestamp pattern letter {:?} (x{n}) in {pattern:?} is not supported by the local stack",
                        c
                    )))
                }
            };
            out.push_str(&field);
            i += n;
            continue;
        }
        if matches!(c, '[' | ']' | '{' | '}' | '#') {
            return Err(PrefixError(format!(
                "character {c:?} is reserved in DateTimeFormatter patterns ({pattern:?})"
            )));
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// 11 random characters for `!{firehose:random-string}` (AWS's example output
/// `5abf82daaa5`: lowercase hex).
pub fn random_string() -> String {
    (0..11)
        .map(|_| {
            let v = fastrand::u8(0..16);
            char::from_digit(u32::from(v), 16).unwrap_or('0')
        })
        .collect()
}

/// A random (version 4) UUID in its canonical lowercase form.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    for x in b.iter_mut() {
        *x = fastrand::u8(..);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// One piece of a parsed prefix.
enum Part<'a> {
    Literal(&'a str),
    Expr { namespace: &'a str, value: &'a str },
}

fn parse(prefix: &str) -> Result<Vec<Part<'_>>, PrefixError> {
    let mut parts = Vec::new();
    let mut rest = prefix;
    while let Some(start) = rest.find("!{") {
        if start > 0 {
            parts.push(Part::Literal(&rest[..start]));
        }
        let body = &rest[start + 2..];
        // The expression ends at the first `}` outside single quotes.
        let mut quoted = false;
        let mut end = None;
        for (i, ch) in body.char_indices() {
            match ch {
                '\'' => quoted = !quoted,
                '}' if !quoted => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| PrefixError(format!("unterminated `!{{` in {prefix:?}")))?;
        let expr = &body[..end];
        let (namespace, value) = expr
            .split_once(':')
            .ok_or_else(|| PrefixError(format!("expression `!{{{expr}}}` has no namespace")))?;
        parts.push(Part::Expr { namespace, value });
        rest = &body[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    Ok(parts)
}

/// Whether the prefix contains a `!{timestamp:…}` expression.
pub fn has_timestamp(prefix: &str) -> bool {
    parse(prefix)
        .map(|ps| {
            ps.iter()
                .any(|p| matches!(p, Part::Expr { namespace, .. } if *namespace == "timestamp"))
        })
        .unwrap_or(false)
}

/// Whether the prefix contains any `!{…}` expression.
pub fn has_expressions(prefix: &str) -> bool {
    prefix.contains("!{")
}

/// Evaluate one prefix at `arrival_ms`. `error_output_type` is `Some` only for the error
/// prefix; `!{firehose:error-output-type}` anywhere else is an error.
pub fn evaluate(
    prefix: &str,
    arrival_ms: i64,
    error_output_type: Option<&str>,
) -> Result<String, PrefixError> {
    let t = Utc::from_millis(arrival_ms);
    let mut out = String::new();
    for part in parse(prefix)? {
        match part {
            Part::Literal(s) => out.push_str(s),
            Part::Expr {
                namespace: "timestamp",
                value,
            } => out.push_str(&format_java(value, &t)?),
            Part::Expr {
                namespace: "firehose",
                value: "random-string",
            } => out.push_str(&random_string()),
            Part::Expr {
                namespace: "firehose",
                value: "error-output-type",
            } => match error_output_type {
                Some(e) => out.push_str(e),
                None => {
                    return Err(PrefixError(
                        "Prefix can't contain !{firehose:error-output-type}".into(),
                    ))
                }
            },
            Part::Expr { namespace, value } => {
                return Err(PrefixError(format!(
                    "expression !{{{namespace}:{value}}} is not supported by the local stack"
                )))
            }
        }
    }
    if out.len() > MAX_PREFIX {
        return Err(PrefixError(format!(
            "evaluated prefix is {} characters, more than {MAX_PREFIX}",
            out.len()
        )));
    }
    Ok(out)
}

/// The evaluated `Prefix` of a successful delivery. A prefix without a timestamp
/// expression (or none at all) gets `!{timestamp:yyyy/MM/dd/HH/}` appended.
pub fn object_prefix(prefix: Option<&str>, arrival_ms: i64) -> Result<String, PrefixError> {
    let p = prefix.unwrap_or("");
    if has_timestamp(p) {
        evaluate(p, arrival_ms, None)
    } else {
        evaluate(
            &format!("{p}!{{timestamp:yyyy/MM/dd/HH/}}"),
            arrival_ms,
            None,
        )
    }
}

/// The evaluated error prefix. With no `ErrorOutputPrefix`, Firehose uses
/// `<Prefix><error-output-type>/yyyy/MM/dd/HH/` (s3-prefixes.html, "Semantic rules" and
/// its last example); a given `ErrorOutputPrefix` is evaluated as written.
pub fn error_prefix(
    prefix: Option<&str>,
    error_output_prefix: Option<&str>,
    arrival_ms: i64,
    error_output_type: &str,
) -> Result<String, PrefixError> {
    match error_output_prefix.filter(|e| !e.is_empty()) {
        Some(e) => evaluate(e, arrival_ms, Some(error_output_type)),
        None => {
            let p = prefix.unwrap_or("");
            // Only a prefix without expressions can go without an error prefix.
            let literal = if has_expressions(p) { "" } else { p };
            evaluate(
                &format!("{literal}{error_output_type}/!{{timestamp:yyyy/MM/dd/HH/}}"),
                arrival_ms,
                Some(error_output_type),
            )
        }
    }
}

/// The object name that follows the prefix:
/// `<stream name>-<stream version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>` (s3-object-name.html).
/// The time is the one the prefix was evaluated at (the oldest record's arrival).
pub fn object_suffix(stream: &str, version: u64, at_ms: i64) -> String {
    let t = Utc::from_millis(at_ms);
    format!(
        "{stream}-{version}-{:04}-{:02}-{:02}-{:02}-{:02}-{:02}-{}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        uuid_v4()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2018-07-06T23:30:05.123Z
    const T: i64 = 1_530_919_805_123;

    #[test]
    fn civil_time() {
        let t = Utc::from_millis(T);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis),
            (2018, 7, 6, 23, 30, 5, 123)
        );
        assert_eq!(Utc::from_millis(0).iso8601(), "1970-01-01T00:00:00.000Z");
        // A leap day and the turn of a century.
        assert_eq!(
            Utc::from_millis(951_782_400_000).iso8601(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(Utc::from_millis(T).amz_date(), "20180706T233005Z");
    }

    #[test]
    fn aws_documented_examples() {
        // s3-prefixes.html, "Example prefixes".
        let p = "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
        assert_eq!(
            evaluate(p, T, None).unwrap(),
            "myPrefix/year=2018/month=07/day=06/hour=23/"
        );
        let e = "myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}";
        assert_eq!(
            evaluate(e, T, Some("processing-failed")).unwrap(),
            "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed"
        );
        let r = evaluate(
            "myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}",
            T,
            None,
        )
        .unwrap();
        let rand = r
            .strip_prefix("myFirehose/DeliveredYear=2018/anyMonth/rand=")
            .unwrap();
        assert_eq!(rand.len(), 11);
        assert!(rand.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn lab_prefixes() {
        let p = "raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/";
        assert_eq!(
            object_prefix(Some(p), T).unwrap(),
            "raw-stream/year=2018/month=07/day=06/hour=23/"
        );
        assert_eq!(
            error_prefix(
                Some(p),
                Some("errors/!{firehose:error-output-type}/"),
                T,
                "processing-failed"
            )
            .unwrap(),
            "errors/processing-failed/"
        );
    }

    #[test]
    fn default_time_prefix() {
        assert_eq!(object_prefix(None, T).unwrap(), "2018/07/06/23/");
        assert_eq!(object_prefix(Some(""), T).unwrap(), "2018/07/06/23/");
        assert_eq!(
            object_prefix(Some("raw/"), T).unwrap(),
            "raw/2018/07/06/23/"
        );
        // A prefix with only a random string still gets the time appended.
        let k = object_prefix(Some("r/!{firehose:random-string}/"), T).unwrap();
        assert!(k.starts_with("r/") && k.ends_with("/2018/07/06/23/"), "{k}");
        assert_eq!(
            error_prefix(Some("raw/"), None, T, "processing-failed").unwrap(),
            "raw/processing-failed/2018/07/06/23/"
        );
    }

    #[test]
    fn patterns() {
        let t = Utc::from_millis(T);
        assert_eq!(
            format_java("yyyy-MM-dd HH:mm:ss.SSS", &t).unwrap(),
            "2018-07-06 23:30:05.123"
        );
        assert_eq!(format_java("yy/M/d/H", &t).unwrap(), "18/7/6/23");
        assert_eq!(format_java("'it''s' yyyy", &t).unwrap(), "it's 2018");
        assert_eq!(format_java("uuuu''", &t).unwrap(), "2018'");
        assert!(format_java("EEE", &t).is_err());
        assert!(format_java("MMM", &t).is_err());
        assert!(format_java("'open", &t).is_err());
        assert!(format_java("yyyy[MM]", &t).is_err());
    }

    #[test]
    fn errors() {
        assert!(evaluate("a/!{timestamp:yyyy", T, None).is_err());
        assert!(evaluate("a/!{nonamespace}", T, None).is_err());
        assert!(evaluate("a/!{partitionKeyFromQuery:id}/", T, None).is_err());
        assert!(evaluate("a/!{firehose:error-output-type}/", T, None).is_err());
        assert!(evaluate("a/!{firehose:other}/", T, None).is_err());
        let long = "x".repeat(513);
        assert!(evaluate(&long, T, None).is_err());
        assert!(evaluate(&"x".repeat(512), T, None).is_ok());
        // Every error-output-type instance evaluates to the same string.
        assert_eq!(
            evaluate(
                "!{firehose:error-output-type}/!{firehose:error-output-type}",
                T,
                Some("x")
            )
            .unwrap(),
            "x/x"
        );
    }

    #[test]
    fn suffix_form() {
        let s = object_suffix("raw-delivery", 1, T);
        let rest = s
            .strip_prefix("raw-delivery-1-2018-07-06-23-30-05-")
            .unwrap();
        assert_eq!(rest.len(), 36);
        let groups: Vec<usize> = rest.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert_eq!(&rest[14..15], "4");
    }
}
