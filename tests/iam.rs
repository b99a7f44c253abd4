//! Least privilege: every IAM document labctl generates for `pipeline.yaml` (each
//! role's trust policy and inline policy, with the analytics application on either
//! engine) is parsed back from its JSON text and checked:
//!
//! - no action holds `*` (neither `*` nor `service:*` nor `service:Get*`);
//! - a resource holds a `*` other than as an S3 object-key prefix only when it is an entry
//!   of `policy::WILDCARD_RESOURCES` (granted alone, to that entry's one action, and
//!   citing the AWS page that requires it: the Managed Flink guide's log permissions);
//! - a resource may end in `*` only as an S3 object-key prefix: `arn:…:s3:::<bucket>/<prefix>*`
//!   with an exact bucket, a non-empty prefix, and that one `*` at the very end. Such
//!   a grant covers the objects Firehose writes under its prefix (`raw-stream/year=…`)
//!   or the application's own artifacts (`code/<app>/…`), never the whole bucket;
//!   `<bucket>/*` counts as a bare wildcard;
//! - no `NotAction`, `NotResource` or `Deny`-less trick: every statement is an `Allow`
//!   of listed actions on listed resources;
//! - every trust policy names one service principal and carries the condition its
//!   service documents, equal to the account: `sts:ExternalId` for
//!   `firehose.amazonaws.com` (Firehose guide, "Allow Firehose to assume an IAM role"),
//!   `aws:SourceAccount` for `kinesisanalytics.amazonaws.com` (Managed Flink guide,
//!   "Cross-service confused deputy prevention"), and nothing else.

use labctl::resource::policy::{self, Wildcard, WILDCARD_RESOURCES};
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

/// Whether `r`, granted for `actions`, is the allow-list entry `w` for these vars
/// (`{log_group}` stands for one exact log group name).
fn matches_entry(w: &Wildcard, r: &str, actions: &[String], v: &Vars) -> bool {
    if actions.len() != 1 || actions[0] != w.action {
        return false;
    }
    let t = w
        .resource
        .replace("{partition}", &v.partition)
        .replace("{region}", &v.region)
        .replace("{account}", &v.account_id);
    match t.split_once("{log_group}") {
        None => t == r,
        Some((pre, post)) => {
            r.len() > pre.len() + post.len()
                && r.starts_with(pre)
                && r.ends_with(post)
                && !r[pre.len()..r.len() - post.len()].contains(['*', '?', ':'])
        }
    }
}

/// Why a resource is too broad, or None.
fn resource_problem(r: &str, actions: &[String], v: &Vars) -> Option<String> {
    if !r.contains('*') && !r.contains('?') {
        return None;
    }
    if WILDCARD_RESOURCES
        .iter()
        .any(|w| matches_entry(w, r, actions, v))
    {
        return None;
    }
    if r.contains('?') || r.matches('*').count() > 1 || !r.ends_with('*') {
        return Some("a wildcard other than one trailing `*`".into());
    }
    let s3 = format!("arn:{}:s3:::", v.partition);
    let Some(rest) = r.strip_prefix(&s3) else {
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

fn check_inline(what: &str, doc: &Value, v: &Vars, problems: &mut Vec<String>) {
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
            if let Some(why) = resource_problem(r, &actions, v) {
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
        let key = match services.first().map(String::as_str) {
            Some("firehose.amazonaws.com") => "sts:ExternalId",
            _ => "aws:SourceAccount",
        };
        let want = serde_json::json!({"StringEquals": {key: ACCOUNT}});
        if st["Condition"] != want {
            problems.push(format!(
                "{what}: the condition is not {want} (the one its service documents): {}",
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
            check_inline(
                &format!("{what} inline policy"),
                &inline,
                &vars,
                &mut problems,
            );
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

fn test_vars() -> Vars {
    Vars {
        account_id: ACCOUNT.into(),
        region: "eu-west-1".into(),
        partition: "aws".into(),
        pipeline: "p".into(),
    }
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let v = test_vars();
    let a = |x: &str| vec![x.to_string()];
    let get = a("s3:GetObject");
    assert!(resource_problem("*", &get, &v).is_some());
    assert!(resource_problem("arn:aws:s3:::bucket/*", &get, &v).is_some());
    assert!(resource_problem("arn:aws:s3:::*/raw/*", &get, &v).is_some());
    assert!(
        resource_problem("arn:aws:kinesis:eu-west-1:123456789012:stream/*", &get, &v).is_some()
    );
    assert!(resource_problem("arn:aws:s3:::bucket/raw-*/x", &get, &v).is_some());
    assert!(resource_problem("arn:aws:s3:::bucket/raw-stream/year=*", &get, &v).is_none());
    assert!(
        resource_problem("arn:aws:kinesis:eu-west-1:123456789012:stream/s", &get, &v).is_none()
    );
    // Another partition's S3 prefix is not this partition's.
    assert!(resource_problem("arn:aws-cn:s3:::bucket/raw-*", &get, &v).is_some());
    // The allow-list holds only for its own action, in this account and region.
    let groups = "arn:aws:logs:eu-west-1:123456789012:log-group:*";
    assert!(resource_problem(groups, &a("logs:DescribeLogGroups"), &v).is_none());
    assert!(resource_problem(groups, &a("logs:PutLogEvents"), &v).is_some());
    assert!(resource_problem(groups, &a("logs:DescribeLogStreams"), &v).is_some());
    let other = "arn:aws:logs:eu-west-1:999999999999:log-group:*";
    assert!(resource_problem(other, &a("logs:DescribeLogGroups"), &v).is_some());
    let streams = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/x:log-stream:*";
    assert!(resource_problem(streams, &a("logs:DescribeLogStreams"), &v).is_none());
    let any_group = "arn:aws:logs:eu-west-1:123456789012:log-group:*:log-stream:*";
    assert!(resource_problem(any_group, &a("logs:DescribeLogStreams"), &v).is_some());
    let two = vec![
        "logs:DescribeLogGroups".to_string(),
        "s3:GetObject".to_string(),
    ];
    assert!(resource_problem(groups, &two, &v).is_some());

    let mut p = Vec::new();
    let bad = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": ["kinesis:Get*"], "Resource": ["arn:aws:s3:::b/*"]}
    ]});
    check_inline("bad", &bad, &v, &mut p);
    assert_eq!(p.len(), 4, "{p:?}");
    let mut p = Vec::new();
    let trust = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    check_trust("no condition", &trust, &mut p);
    assert_eq!(p.len(), 1, "{p:?}");
    // Firehose does not document aws:SourceAccount: the old condition is caught.
    let mut p = Vec::new();
    let trust = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]});
    check_trust("source account on firehose", &trust, &mut p);
    assert_eq!(p.len(), 1, "{p:?}");
    let mut p = Vec::new();
    let trust = serde_json::json!({"Statement": [{"Effect": "Allow",
        "Principal": {"Service": "kinesisanalytics.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]});
    check_trust("analytics", &trust, &mut p);
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn every_allow_list_entry_cites_aws() {
    assert!(!WILDCARD_RESOURCES.is_empty());
    for w in WILDCARD_RESOURCES {
        assert!(
            w.source.starts_with("https://docs.aws.amazon.com/"),
            "{w:?}: no AWS page"
        );
        assert!(w.resource.ends_with('*') && w.action.contains(':'), "{w:?}");
    }
}

/// The Flink application's role grants what the Managed Flink guide lists for roles
/// made by automation tools (policy::FLINK_ROLE_DOC), on these exact resources.
#[test]
fn the_flink_role_grants_what_aws_documents() {
    let (spec, vars) = lab_spec(Engine::Flink);
    let (id, app) = spec.applications.iter().next().expect("an application");
    let doc = reparsed(&policy::inline_policy(&spec, &app.role, &vars));
    let grants: Vec<(Vec<String>, Vec<String>)> = doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (strings(s.get("Action")), strings(s.get("Resource"))))
        .collect();
    let granted = |action: &str, resource: &str| {
        grants
            .iter()
            .any(|(a, r)| a.iter().any(|x| x == action) && r.iter().any(|x| x == resource))
    };
    let (group, stream, _) = labctl::resource::analytics::log_target(app);
    let (bucket_id, prefix) =
        labctl::resource::analytics::artifact_target(&spec, app).expect("an artifact target");
    let bucket = &spec.buckets[&bucket_id].name;
    let code = format!("arn:aws:s3:::{bucket}/{prefix}{}/*", app.name);
    let logs = "arn:aws:logs:eu-west-1:123456789012";
    let want = [
        ("s3:GetObject", code.clone()),
        ("s3:GetObjectVersion", code),
        ("logs:DescribeLogGroups", format!("{logs}:log-group:*")),
        (
            "logs:DescribeLogStreams",
            format!("{logs}:log-group:{group}:log-stream:*"),
        ),
        (
            "logs:PutLogEvents",
            format!("{logs}:log-group:{group}:log-stream:{stream}"),
        ),
    ];
    for (action, resource) in &want {
        assert!(
            granted(action, resource),
            "{id}: the role lacks {action} on {resource}: {doc:#}"
        );
    }
}

/// Issue 18: bucket names are predictable and global, so every S3 grant is conditioned
/// on the bucket belonging to this account (`s3:ResourceAccount`), in both engines.
#[test]
fn every_s3_statement_is_limited_to_this_accounts_buckets() {
    for engine in [Engine::KinesisAnalyticsSql, Engine::Flink] {
        let (spec, vars) = lab_spec(engine);
        for role in spec.roles.keys() {
            let doc = reparsed(&policy::inline_policy(&spec, role, &vars));
            for s in doc["Statement"].as_array().into_iter().flatten() {
                let actions = strings(s.get("Action"));
                if !actions.iter().any(|a| a.starts_with("s3:")) {
                    continue;
                }
                assert_eq!(
                    s["Condition"]["StringEquals"]["s3:ResourceAccount"],
                    Value::String(vars.account_id.clone()),
                    "{s:#}"
                );
            }
        }
    }
}
