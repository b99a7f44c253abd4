//! Least privilege: every IAM document labctl generates for `pipeline.yaml` (each
//! role's trust policy and inline policy, with the analytics application on either
//! engine) is parsed back from its JSON text and checked:
//!
//! - no action holds `*` (neither `*` nor `service:*` nor `service:Get*`);
//! - no resource is `*` unless listed in `policy::WILDCARD_RESOURCES`, with its reason;
//! - a resource may end in `*` only as an S3 object-key prefix: `arn:…:s3:::<bucket>/<prefix>*`
//!   with an exact bucket, a non-empty prefix, and that one `*` at the very end. Such
//!   a grant covers the objects Firehose writes under its prefix (`raw-stream/year=…`)
//!   or the application's own artifacts (`code/<app>-…`), never the whole bucket;
//!   `<bucket>/*` counts as a bare wildcard;
//! - no `NotAction`, `NotResource` or `Deny`-less trick: every statement is an `Allow`
//!   of listed actions on listed resources;
//! - every trust policy names one service principal and carries the
//!   `aws:SourceAccount` condition equal to the account.

use labctl::resource::policy::{self, WILDCARD_RESOURCES};
use labctl::spec::vars::Vars;
use labctl::spec::{self, Engine, Spec};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

fn lab_spec(engine: Engine) -> (Spec, Vars) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    let loaded = spec::load(&file).expect("pipeline.yaml loads");
    spec::validate::validate(&loaded, None).expect("pipeline.yaml is valid");
    let vars = Vars {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        partition: "aws".into(),
        pipeline: loaded.spec.pipeline.clone(),
    };
    let mut spec = loaded.spec.resolve(&vars);
    assert!(
        !spec.applications.is_empty(),
        "pipeline.yaml has an application"
    );
    for a in spec.applications.values_mut() {
        a.engine = engine;
        if engine == Engine::KinesisAnalyticsSql {
            a.runtime = None;
        }
    }
    (spec, vars)
}

/// The document as IAM would receive it: its JSON text, parsed again.
fn reparsed(doc: &Value) -> Value {
    serde_json::from_str(&doc.to_string()).expect("a policy is JSON")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Why a resource is too broad, or None.
fn resource_problem(r: &str) -> Option<String> {
    if !r.contains('*') && !r.contains('?') {
        return None;
    }
    if WILDCARD_RESOURCES.iter().any(|(allowed, _)| *allowed == r) {
        return None;
    }
    if r.contains('?') || r.matches('*').count() > 1 || !r.ends_with('*') {
        return Some("a wildcard other than one trailing `*`".into());
    }
    let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
        return Some("a trailing `*` on a resource that is not an S3 object ARN".into());
    };
    let Some((bucket, key_prefix)) = rest.split_once('/') else {
        return Some("a wildcard bucket name".into());
    };
    if bucket.is_empty() || bucket.contains('*') {
        return Some("a wildcard bucket name".into());
    }
    if key_prefix == "*" {
        return Some("every object of the bucket (`<bucket>/*`)".into());
    }
    None
}

fn check_inline(what: &str, doc: &Value, problems: &mut Vec<String>) {
    assert_eq!(doc["Version"], "2012-10-17", "{what}");
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    for st in &statements {
        let sid = st["Sid"].as_str().unwrap_or("?");
        let at = format!("{what} statement {sid}");
        if st["Effect"] != "Allow" {
            problems.push(format!("{at}: Effect is {}", st["Effect"]));
        }
        for k in ["NotAction", "NotResource", "NotPrincipal"] {
            if st.get(k).is_some() {
                problems.push(format!("{at}: uses {k}"));
            }
        }
        let actions = strings(st.get("Action"));
        if actions.is_empty() {
            problems.push(format!("{at}: no action"));
        }
        for a in &actions {
            if a.contains('*') || !a.contains(':') {
                problems.push(format!("{at}: action `{a}` is a wildcard"));
            }
        }
        let resources = strings(st.get("Resource"));
        if resources.is_empty() {
            problems.push(format!("{at}: no resource"));
        }
        for r in &resources {
            if let Some(why) = resource_problem(r) {
                problems.push(format!("{at}: resource `{r}`: {why}"));
            }
        }
    }
}

fn check_trust(what: &str, doc: &Value, problems: &mut Vec<String>) {
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    if statements.is_empty() {
        problems.push(format!("{what}: no statement"));
    }
    for st in &statements {
        let services = strings(st["Principal"].get("Service"));
        let only_service = st["Principal"]
            .as_object()
            .is_some_and(|p| p.keys().all(|k| k == "Service"));
        if services.len() != 1 || !only_service || services[0].contains('*') {
            problems.push(format!(
                "{what}: principal is not one service: {}",
                st["Principal"]
            ));
        }
        if strings(st.get("Action")) != ["sts:AssumeRole"] {
            problems.push(format!(
                "{what}: action is not sts:AssumeRole: {}",
                st["Action"]
            ));
        }
        let account = &st["Condition"]["StringEquals"]["aws:SourceAccount"];
        if account.as_str() != Some(ACCOUNT) {
            problems.push(format!(
                "{what}: no aws:SourceAccount condition for {ACCOUNT}: {}",
                st["Condition"]
            ));
        }
    }
}

#[test]
fn every_generated_policy_is_least_privilege() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for engine in [Engine::Flink, Engine::KinesisAnalyticsSql] {
        let (spec, vars) = lab_spec(engine);
        assert!(spec.roles.len() >= 2, "pipeline.yaml has both roles");
        for (id, role) in &spec.roles {
            let what = format!("{engine:?} role {id}");
            let trust = reparsed(&policy::trust_policy(role.service, &vars));
            check_trust(&format!("{what} trust policy"), &trust, &mut problems);
            let inline = reparsed(&policy::inline_policy(&spec, id, &vars));
            let n = inline["Statement"].as_array().map_or(0, Vec::len);
            assert!(n > 0, "{what}: an empty inline policy; is the role used?");
            check_inline(&format!("{what} inline policy"), &inline, &mut problems);
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    assert!(resource_problem("*").is_some());
    assert!(resource_problem("arn:aws:s3:::bucket/*").is_some());
    assert!(resource_problem("arn:aws:s3:::*/raw/*").is_some());
    assert!(resource_problem("arn:aws:kinesis:eu-west-1:123456789012:stream/*").is_some());
    assert!(resource_problem("arn:aws:s3:::bucket/raw-*/x").is_some());
    assert!(resource_problem("arn:aws:s3:::bucket/raw-stream/year=*").is_none());
    assert!(resource_problem("arn:aws:kinesis:eu-west-1:123456789012:stream/s").is_none());

    let mut p = Vec::new();
    let bad = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": ["kinesis:Get*"], "Resource": ["arn:aws:s3:::b/*"]}
    ]});
    check_inline("bad", &bad, &mut p);
    assert_eq!(p.len(), 4, "{p:?}");
    let mut p = Vec::new();
    let trust = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    check_trust("no condition", &trust, &mut p);
    assert_eq!(p.len(), 1, "{p:?}");
}
