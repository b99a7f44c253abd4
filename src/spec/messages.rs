//! The YAML parser's messages in the spec's words: no Rust type names (`u32`, `struct
//! StreamSpec`, `sequence`), and a "did you mean" for a misspelt field or value.
//! Knows serde's message shapes, not the spec's fields.

/// A serde message rewritten for a person writing YAML.
pub fn humanize(message: &str) -> String {
    let mut m = message.to_string();
    if let Some(rest) = m.strip_prefix("unknown field ") {
        return with_suggestion("unknown field", rest);
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        return with_suggestion("unknown value", rest);
    }
    for (rust, words) in TYPES {
        m = replace_word(&m, rust, words);
    }
    m
}

/// Rust and serde type words and what they are in YAML.
const TYPES: [(&str, &str); 18] = [
    ("u8", "a whole number from 0 to 255"),
    ("u16", "a whole number from 0 to 65535"),
    ("u32", "a whole number of 0 or more"),
    ("u64", "a whole number of 0 or more"),
    ("usize", "a whole number of 0 or more"),
    ("i8", "a whole number"),
    ("i16", "a whole number"),
    ("i32", "a whole number"),
    ("i64", "a whole number"),
    ("f32", "a number"),
    ("f64", "a number"),
    ("a sequence", "a list"),
    ("sequence", "list"),
    ("a map", "a mapping (key: value lines)"),
    ("unit value", "an empty value"),
    ("a string", "text"),
    ("a boolean", "true or false"),
    ("char", "one character"),
];

/// `word` replaced where it stands as a whole word; `struct XSpec` / `enum X` become
/// "a mapping" / "one of the listed values".
fn replace_word(s: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().last();
        let after = rest[i + word.len()..].chars().next();
        let bound = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..i]);
        if bound(before) && bound(after) {
            out.push_str(with);
        } else {
            out.push_str(word);
        }
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    let mut o = out;
    while let Some(i) = o.find("struct ") {
        let end = o[i + 7..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|e| i + 7 + e)
            .unwrap_or(o.len());
        o.replace_range(i..end, "a mapping (key: value lines)");
    }
    o
}

/// "unknown field `x`, expected one of `a`, `b`" → the field, the nearest allowed name,
/// and the allowed names.
fn with_suggestion(what: &str, rest: &str) -> String {
    let names: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((given, allowed)) = names.split_first() else {
        return format!("{what} {rest}");
    };
    let near = allowed
        .iter()
        .map(|a| (distance(given, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min();
    let mut out = format!("{what} `{given}`");
    if let Some((_, a)) = near {
        out.push_str(&format!("; did you mean `{a}`?"));
    }
    if !allowed.is_empty() {
        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        out.push_str(&format!(" (allowed: {})", list.join(", ")));
    }
    out
}

/// Edit distance (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::humanize;

    #[test]
    fn no_rust_type_names() {
        let m = humanize("invalid type: string \"two\", expected u32");
        assert_eq!(
            m,
            "invalid type: string \"two\", expected a whole number of 0 or more"
        );
        let m = humanize("invalid type: sequence, expected struct StreamSpec");
        assert!(!m.contains("struct") && !m.contains("StreamSpec"), "{m}");
        assert!(m.contains("list") && m.contains("mapping"), "{m}");
    }

    #[test]
    fn a_misspelt_field_or_value_gets_a_suggestion() {
        let m = humanize("unknown field `retention_hour`, expected one of `name`, `mode`, `shards`, `retention_hours`");
        assert!(
            m.starts_with("unknown field `retention_hour`; did you mean `retention_hours`?"),
            "{m}"
        );
        let m = humanize("unknown variant `on-demnd`, expected `provisioned` or `on-demand`");
        assert!(m.contains("did you mean `on-demand`?"), "{m}");
        let m = humanize("unknown field `zzz`, expected `name`");
        assert!(!m.contains("did you mean"), "{m}");
    }
}
