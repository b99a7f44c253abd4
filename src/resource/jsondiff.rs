//! JSON documents compared key by key, for the drift of policies and dashboards: instead
//! of "differs", `plan` and `status` show the keys that changed with the value each side
//! has (`{Statement[0].Action: ["s3:*"]} -> {Statement[0].Action: ["s3:GetObject"]}`).
//! Pure: knows no AWS service, no resource kind and no output format.

use serde_json::Value;

/// At most this many changed keys are named; the rest are counted.
const MAX_KEYS: usize = 5;
/// Each value is cut to this many characters.
const MAX_VALUE: usize = 80;

/// One changed leaf: its path, and its value on each side (None: absent there).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub actual: Option<Value>,
    pub desired: Option<Value>,
}

/// Every changed leaf between `actual` and `desired`, in key order. Objects are
/// compared key by key, arrays of the same length element by element; anything else
/// that differs (including arrays of different lengths) is one change at its path.
pub fn changes(actual: &Value, desired: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(actual), Some(desired), &mut out);
    out
}

fn walk(path: &str, a: Option<&Value>, d: Option<&Value>, out: &mut Vec<Change>) {
    if a == d {
        return;
    }
    match (a, d) {
        (Some(Value::Object(am)), Some(Value::Object(dm))) => {
            let mut keys: Vec<&String> = am.keys().chain(dm.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, am.get(k), dm.get(k), out);
            }
        }
        (Some(Value::Array(aa)), Some(Value::Array(da))) if aa.len() == da.len() => {
            for (i, (x, y)) in aa.iter().zip(da).enumerate() {
                walk(&format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        _ => out.push(Change {
            path: if path.is_empty() {
                "(whole)".into()
            } else {
                path.into()
            },
            actual: a.cloned(),
            desired: d.cloned(),
        }),
    }
}

fn show(v: &Option<Value>) -> String {
    let text = match v {
        None => "(absent)".to_string(),
        Some(v) => v.to_string(),
    };
    if text.chars().count() > MAX_VALUE {
        let cut: String = text.chars().take(MAX_VALUE - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The two sides of a drift row: `{path: value, …}` for what AWS has and for what the
/// spec wants, the same keys on both sides; at most [`MAX_KEYS`], then `… N more`.
/// None when the documents are equal.
pub fn sides(actual: &Value, desired: &Value) -> Option<(String, String)> {
    let all = changes(actual, desired);
    if all.is_empty() {
        return None;
    }
    let shown = &all[..all.len().min(MAX_KEYS)];
    let more = if all.len() > MAX_KEYS {
        format!(", … {} more", all.len() - MAX_KEYS)
    } else {
        String::new()
    };
    let side = |pick: fn(&Change) -> &Option<Value>| {
        let parts: Vec<String> = shown
            .iter()
            .map(|c| format!("{}: {}", c.path, show(pick(c))))
            .collect();
        format!("{{{}{more}}}", parts.join(", "))
    };
    Some((side(|c| &c.actual), side(|c| &c.desired)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_changed_keys_with_both_values() {
        let a = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"]}]});
        let d = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Sid": "x"}]});
        let (have, want) = sides(&a, &d).expect("differs");
        assert_eq!(
            have,
            r#"{Statement[0].Action[0]: "s3:*", Statement[0].Sid: (absent)}"#
        );
        assert_eq!(
            want,
            r#"{Statement[0].Action[0]: "s3:GetObject", Statement[0].Sid: "x"}"#
        );
        assert_eq!(sides(&a, &a), None);
    }

    #[test]
    fn arrays_of_other_lengths_and_many_changes_are_summed_up() {
        let a = json!({"w": [1, 2], "a": 1, "b": 1, "c": 1, "d": 1, "e": 1});
        let d = json!({"w": [1], "a": 2, "b": 2, "c": 2, "d": 2, "e": 2});
        let all = changes(&a, &d);
        assert_eq!(all.len(), 6);
        assert!(all
            .iter()
            .any(|c| c.path == "w" && c.desired == Some(json!([1]))));
        let (have, _) = sides(&a, &d).expect("differs");
        assert!(have.ends_with(", … 1 more}"), "{have}");
        let long = json!({"k": "x".repeat(200)});
        let (_, want) = sides(&json!({}), &long).expect("differs");
        assert!(want.chars().count() < 100, "{want}");
    }
}
