//! Every check a spec must pass before labctl talks to AWS: names by each service's
//! rules, ranges, Firehose prefix expressions, references, cycles, duplicates and
//! files. `labctl validate` runs exactly these; every other command runs them first.

use std::collections::HashMap;

use super::vars::{self, Vars};
use super::{
    ApplicationSpec, DeliveryLogging, DeliverySpec, Encryption, InputSchema, LoadedSpec,
    RoleService, S3Destination, SourceType, Spec, StreamMode,
};
use crate::engine::graph::Graph;
use crate::error::{SpecError, SpecErrors};

/// The ownership tag key; reserved, a spec may not set it.
pub const OWNER_TAG: &str = "labctl:pipeline";
/// Every tag key labctl sets starts with this (the ownership tag, a role's region tag):
/// a spec's own `tags:` may not use it.
pub const RESERVED_TAG_PREFIX: &str = "labctl:";

struct Checker<'a> {
    loaded: &'a LoadedSpec,
    errors: Vec<SpecError>,
}

impl Checker<'_> {
    fn err(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(self.loaded.error(path, message, hint));
    }
}

/// Validate a loaded spec; `region` is the region from the command line, if any.
pub fn validate(loaded: &LoadedSpec, region: Option<&str>) -> Result<(), SpecErrors> {
    let raw = &loaded.spec;
    let mut c = Checker {
        loaded,
        errors: Vec::new(),
    };

    if raw.version != 1 {
        c.err(
            "version",
            format!("version {} is not known", raw.version),
            "set `version: 1`",
        );
    }
    if !is_pipeline_name(&raw.pipeline) {
        c.err(
            "pipeline",
            format!("pipeline name `{}` is not valid", raw.pipeline),
            "use 1-64 characters: lowercase letters, digits and hyphens, starting with a letter",
        );
    }
    if let Some(r) = &raw.region {
        if !is_region(r) {
            c.err(
                "region",
                format!("`{r}` is not an AWS region name"),
                "write a region such as `us-east-1` or `eu-west-1`, or remove the field",
            );
        }
    }

    // Variables: only known names, well formed.
    let mut var_errors = Vec::new();
    raw.for_each_string(|path, s| match vars::used(s) {
        Err(e) => var_errors.push((path.to_string(), e, "close it with `}`".to_string())),
        Ok(names) => {
            for n in names {
                if !vars::KNOWN.contains(&n.as_str()) {
                    var_errors.push((
                        path.to_string(),
                        format!("unknown variable `${{{n}}}`"),
                        format!(
                            "use one of {}",
                            vars::KNOWN
                                .iter()
                                .map(|k| format!("${{{k}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
    });
    for (p, m, h) in var_errors {
        c.err(&p, m, h);
    }

    // Names are checked with stand-in values as long as the real ones can be.
    let sample = Vars::sample(region.or(raw.region.as_deref()), &raw.pipeline);
    let spec = raw.resolve(&sample);
    check_ids(&mut c, &spec);
    check_tags(&mut c, "tags", &spec.tags);
    check_buckets(&mut c, &spec);
    check_streams(&mut c, &spec);
    check_roles(&mut c, &spec);
    check_deliveries(&mut c, &spec);
    check_applications(&mut c, &spec);
    check_dashboards(&mut c, &spec);
    check_alarms(&mut c, &spec);
    check_graph(&mut c, &spec);

    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(c.errors))
    }
}

fn is_pipeline_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.starts_with(|ch: char| ch.is_ascii_lowercase())
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn check_ids(c: &mut Checker, spec: &Spec) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (section, id) in spec.ids() {
        let path = format!("{section}.{id}");
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !ok {
            c.err(
                &path,
                format!("resource id `{id}` is not valid"),
                "ids are 1-64 letters, digits, `-` or `_`, starting with a letter",
            );
        }
        if let Some(first) = seen.insert(id, section) {
            c.err(&path, format!("resource id `{id}` is already used in `{first}`"), "ids are referenced by other resources, so they must be unique across all sections; rename one");
        }
    }
    // Two resources of one kind may not share an AWS name.
    let entries: Vec<(&str, &String, &String)> = spec
        .buckets
        .iter()
        .map(|(i, b)| ("buckets", i, &b.name))
        .chain(spec.streams.iter().map(|(i, s)| ("streams", i, &s.name)))
        .chain(spec.roles.iter().map(|(i, r)| ("roles", i, &r.name)))
        .chain(
            spec.delivery_streams
                .iter()
                .map(|(i, d)| ("delivery_streams", i, &d.name)),
        )
        .chain(
            spec.applications
                .iter()
                .map(|(i, a)| ("applications", i, &a.name)),
        )
        .chain(
            spec.dashboards
                .iter()
                .map(|(i, d)| ("dashboards", i, &d.name)),
        )
        .chain(spec.alarms.iter().map(|(i, a)| ("alarms", i, &a.name)))
        .chain(spec.topics.iter().map(|(i, t)| ("topics", i, &t.name)))
        .collect();
    let mut names: HashMap<(&str, &str), &str> = HashMap::new();
    for (section, id, name) in entries {
        if let Some(other) = names.insert((section, name.as_str()), id.as_str()) {
            c.err(
                &format!("{section}.{id}.name"),
                format!("the name `{name}` is already used by `{other}` in `{section}`"),
                "AWS names are unique per kind: give each resource its own name",
            );
        }
    }
}

fn check_tags(c: &mut Checker, path: &str, tags: &indexmap::IndexMap<String, String>) {
    for (k, v) in tags {
        let p = format!("{path}.{k}");
        if k == OWNER_TAG {
            c.err(
                &p,
                format!("the tag `{OWNER_TAG}` is set by labctl"),
                "remove it: labctl sets it to the pipeline name",
            );
        } else if k.to_ascii_lowercase().starts_with(RESERVED_TAG_PREFIX) {
            // labctl sets its own `labctl:` keys (`labctl:region` on roles, see
            // resource::role::REGION_TAG): CreateRole would get the key twice, and IAM
            // treats tag keys that differ only in case as the same key ("Tagging IAM
            // resources", IAM User Guide).
            c.err(
                &p,
                format!("the tag key `{k}` is reserved: keys starting with `{RESERVED_TAG_PREFIX}` are set by labctl"),
                "remove it, or rename it without the `labctl:` prefix",
            );
        } else if k.is_empty() || k.len() > 128 || k.to_ascii_lowercase().starts_with("aws:") {
            c.err(
                &p,
                format!("tag key `{k}` is not valid"),
                "tag keys are 1-128 characters and may not start with `aws:`",
            );
        }
        if v.len() > 256 {
            c.err(&p, "tag value is longer than 256 characters", "shorten it");
        }
    }
}

/// S3 general purpose bucket naming rules.
pub fn bucket_name_problem(n: &str) -> Option<String> {
    if !(3..=63).contains(&n.len()) {
        return Some(format!(
            "is {} characters long; bucket names have 3 to 63",
            n.len()
        ));
    }
    if !n
        .chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.')
    {
        return Some("may hold only lowercase letters, digits, `.` and `-`".into());
    }
    let edge_ok =
        |ch: Option<char>| ch.is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
    if !edge_ok(n.chars().next()) || !edge_ok(n.chars().last()) {
        return Some("must begin and end with a letter or digit".into());
    }
    if n.contains("..") || n.contains(".-") || n.contains("-.") {
        return Some("may not have two periods, or a period next to a hyphen".into());
    }
    if n.split('.').count() == 4 && n.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some("may not be formatted as an IP address".into());
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if n.starts_with(p) {
            return Some(format!("may not start with `{p}`"));
        }
    }
    for s in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if n.ends_with(s) {
            return Some(format!("may not end with `{s}`"));
        }
    }
    None
}

fn check_buckets(c: &mut Checker, spec: &Spec) {
    for (id, b) in &spec.buckets {
        let p = format!("buckets.{id}");
        if let Some(why) = bucket_name_problem(&b.name) {
            c.err(&format!("{p}.name"), format!("bucket name `{}` {why}", b.name), "bucket names are global: a pattern such as `lab-stream-data-${account_id}-${region}` keeps them unique and valid");
        }
        for (i, f) in b.folders.iter().enumerate() {
            if f.is_empty() || !f.ends_with('/') || f.starts_with('/') || f.contains("//") {
                c.err(
                    &format!("{p}.folders[{i}]"),
                    format!("folder `{f}` is not a folder key"),
                    "write it like `raw-stream/`: no leading `/`, one trailing `/`",
                );
            }
        }
        check_tags(c, &format!("{p}.tags"), &b.tags);
    }
}

fn aws_name_problem(n: &str, max: usize, extra: &[char]) -> Option<String> {
    if n.is_empty() || n.len() > max {
        return Some(format!(
            "must be 1 to {max} characters long (it has {})",
            n.len()
        ));
    }
    if let Some(bad) = n
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || extra.contains(ch)))
    {
        return Some(format!(
            "holds `{bad}`; allowed are letters, digits and {}",
            extra
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    None
}

fn check_streams(c: &mut Checker, spec: &Spec) {
    for (id, s) in &spec.streams {
        let p = format!("streams.{id}");
        if let Some(why) = aws_name_problem(&s.name, 128, &['_', '.', '-']) {
            c.err(
                &format!("{p}.name"),
                format!("stream name `{}` {why}", s.name),
                "Kinesis stream names are 1-128 of [a-zA-Z0-9_.-]",
            );
        }
        match (s.mode, s.shards) {
            (StreamMode::OnDemand, Some(_)) => c.err(
                &format!("{p}.shards"),
                "an on-demand stream takes no shard count",
                "remove `shards`, or set `mode: provisioned`",
            ),
            (StreamMode::Provisioned, None) => c.err(
                &format!("{p}.mode"),
                "a provisioned stream needs a shard count",
                "add `shards: 1` (or more), or set `mode: on-demand`",
            ),
            (StreamMode::Provisioned, Some(n)) if !(1..=10_000).contains(&n) => c.err(
                &format!("{p}.shards"),
                format!("{n} shards is out of range"),
                "use 1 to 10000 shards",
            ),
            _ => {}
        }
        if !(24..=8760).contains(&s.retention_hours) {
            c.err(
                &format!("{p}.retention_hours"),
                format!("retention of {} hours is out of range", s.retention_hours),
                "Kinesis keeps records 24 to 8760 hours (365 days)",
            );
        }
        check_tags(c, &format!("{p}.tags"), &s.tags);
    }
}

fn check_roles(c: &mut Checker, spec: &Spec) {
    for (id, r) in &spec.roles {
        let p = format!("roles.{id}");
        if let Some(why) = aws_name_problem(&r.name, 64, &['+', '=', ',', '.', '@', '_', '-']) {
            c.err(
                &format!("{p}.name"),
                format!("role name `{}` {why}", r.name),
                "IAM role names are 1-64 of [a-zA-Z0-9+=,.@_-]",
            );
        }
        check_tags(c, &format!("{p}.tags"), &r.tags);
    }
}

/// Check a Firehose S3 prefix's `!{...}` expressions. Returns (has_expressions, has_error_type).
fn prefix_expressions(s: &str) -> Result<(bool, bool), String> {
    let mut any = false;
    let mut error_type = false;
    let mut rest = s;
    while let Some(i) = rest.find("!{") {
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("the expression at `{}` is not closed by `}}`", &rest[i..]))?;
        let expr = &after[..end];
        let (ns, value) = expr
            .split_once(':')
            .ok_or_else(|| format!("`!{{{expr}}}` is not `namespace:value`"))?;
        match ns {
            "timestamp" => {
                if value.is_empty() || value.contains("!{") {
                    return Err(format!("`!{{{expr}}}` needs a date pattern such as `yyyy` or `MM`"));
                }
            }
            "firehose" => match value {
                "error-output-type" => error_type = true,
                "random-string" => {}
                _ => return Err(format!("`!{{{expr}}}`: the firehose namespace has only `error-output-type` and `random-string`")),
            },
            _ => return Err(format!("`!{{{expr}}}`: unknown namespace `{ns}`; use `timestamp` or `firehose`")),
        }
        any = true;
        rest = &after[end + 1..];
    }
    Ok((any, error_type))
}

fn check_deliveries(c: &mut Checker, spec: &Spec) {
    for (id, d) in &spec.delivery_streams {
        let p = format!("delivery_streams.{id}");
        check_delivery_links(c, spec, &p, d);
        let dest = &d.destination;
        let dp = format!("{p}.destination");
        check_destination(c, spec, &dp, dest);
        check_prefixes(c, &dp, dest);
        check_encryption(c, &dp, dest);
        if let Some(l) = &d.logging {
            check_delivery_logging(c, &format!("{p}.logging"), l);
        }
        check_tags(c, &format!("{p}.tags"), &d.tags);
    }
}

/// A delivery stream's name, its source and its role.
fn check_delivery_links(c: &mut Checker, spec: &Spec, p: &str, d: &DeliverySpec) {
    if let Some(why) = aws_name_problem(&d.name, 64, &['_', '.', '-']) {
        c.err(
            &format!("{p}.name"),
            format!("delivery stream name `{}` {why}", d.name),
            "Firehose names are 1-64 of [a-zA-Z0-9_.-]",
        );
    }
    match (d.source.kind, &d.source.stream) {
        (SourceType::KinesisStream, None) => c.err(
            &format!("{p}.source"),
            "a kinesis-stream source needs `stream:`",
            "add `stream: <id of a stream in streams:>`",
        ),
        (SourceType::KinesisStream, Some(s)) if !spec.streams.contains_key(s) => c.err(
            &format!("{p}.source.stream"),
            format!("`{s}` is not a stream id"),
            format!("use one of: {}", list(spec.streams.keys())),
        ),
        (SourceType::DirectPut, Some(_)) => c.err(
            &format!("{p}.source.stream"),
            "a direct-put source takes no stream",
            "remove `stream`, or set `type: kinesis-stream`",
        ),
        _ => {}
    }
    match spec.roles.get(&d.role) {
        None => c.err(
            &format!("{p}.role"),
            format!("`{}` is not a role id", d.role),
            format!("use one of: {}", list(spec.roles.keys())),
        ),
        Some(r) if r.service != RoleService::Firehose => c.err(
            &format!("{p}.role"),
            format!("role `{}` is for another service", d.role),
            "a delivery stream needs a role with `service: firehose`",
        ),
        _ => {}
    }
}

/// The S3 destination's bucket, buffering and the prefix's length and first character.
fn check_destination(c: &mut Checker, spec: &Spec, dp: &str, dest: &S3Destination) {
    if !spec.buckets.contains_key(&dest.bucket) {
        c.err(
            &format!("{dp}.bucket"),
            format!("`{}` is not a bucket id", dest.bucket),
            format!("use one of: {}", list(spec.buckets.keys())),
        );
    }
    if !(0..=900).contains(&dest.buffering.interval_seconds) {
        c.err(
            &format!("{dp}.buffering.interval_seconds"),
            format!("{} s is out of range", dest.buffering.interval_seconds),
            "Firehose buffers 0 to 900 seconds (the lab uses 60)",
        );
    }
    if !(1..=128).contains(&dest.buffering.size_mib) {
        c.err(
            &format!("{dp}.buffering.size_mib"),
            format!("{} MiB is out of range", dest.buffering.size_mib),
            "Firehose buffers 1 to 128 MiB (the lab uses 1)",
        );
    }
    if dest.prefix.len() > 1024 {
        c.err(
            &format!("{dp}.prefix"),
            "prefix is longer than 1024 characters",
            "shorten it",
        );
    }
    if dest.prefix.starts_with('/') {
        c.err(
            &format!("{dp}.prefix"),
            "prefix starts with `/`",
            "S3 keys do not start with `/`: remove it",
        );
    }
}

/// The prefix's and the error prefix's Firehose expressions, and how they go together.
fn check_prefixes(c: &mut Checker, dp: &str, dest: &S3Destination) {
    let prefix = prefix_expressions(&dest.prefix);
    match &prefix {
        Err(e) => c.err(
            &format!("{dp}.prefix"),
            e.clone(),
            "see Firehose's custom prefixes: `!{timestamp:yyyy}`, `!{firehose:random-string}`",
        ),
        Ok((_, true)) => c.err(
            &format!("{dp}.prefix"),
            "the prefix uses `!{firehose:error-output-type}`, which only the error prefix may use",
            "move it to `error_prefix`",
        ),
        Ok(_) => {}
    }
    match (&dest.error_prefix, &prefix) {
        (None, Ok((true, _))) => c.err(
            &format!("{dp}.prefix"),
            "a prefix with expressions needs an error prefix",
            "add `error_prefix:` containing `!{firehose:error-output-type}`, e.g. `errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`",
        ),
        (Some(e), _) => match prefix_expressions(e) {
            Err(m) => c.err(&format!("{dp}.error_prefix"), m, "see Firehose's custom prefixes"),
            Ok((_, false)) if matches!(prefix, Ok((true, _))) => c.err(
                &format!("{dp}.error_prefix"),
                "the error prefix must contain `!{firehose:error-output-type}` when the prefix has expressions",
                "add `!{firehose:error-output-type}` to it, e.g. `errors/!{firehose:error-output-type}/`",
            ),
            _ => {
                if e.len() > 1024 {
                    c.err(&format!("{dp}.error_prefix"), "error prefix is longer than 1024 characters", "shorten it");
                }
            }
        },
        _ => {}
    }
    let fields = [
        ("prefix", Some(&dest.prefix)),
        ("error_prefix", dest.error_prefix.as_ref()),
    ];
    for (field, value) in fields {
        if let Some(v) = value.filter(|v| v.starts_with("!{")) {
            c.err(
                &format!("{dp}.{field}"),
                format!("`{v}` starts with an expression, so the delivery role's S3 grant (on the fixed part before the first `!{{`) would cover every object of the bucket"),
                format!("start it with a fixed folder, e.g. `raw-stream/{v}`"),
            );
        }
    }
}

/// Encryption and the KMS key it needs (or must not have).
fn check_encryption(c: &mut Checker, dp: &str, dest: &S3Destination) {
    match (dest.encryption, &dest.kms_key_arn) {
        (Encryption::Kms, None) => c.err(
            &format!("{dp}.encryption"),
            "KMS encryption needs a key",
            "add `kms_key_arn:`, or use `encryption: bucket-default`",
        ),
        (Encryption::BucketDefault, Some(_)) => c.err(
            &format!("{dp}.kms_key_arn"),
            "a KMS key is given but encryption is bucket-default",
            "remove `kms_key_arn`, or set `encryption: kms`",
        ),
        (Encryption::Kms, Some(k)) if !k.starts_with("arn:") => c.err(
            &format!("{dp}.kms_key_arn"),
            format!("`{k}` is not a key ARN"),
            "write the full `arn:aws:kms:...:key/...`",
        ),
        _ => {}
    }
}

/// The delivery stream's CloudWatch Logs group, stream and retention.
fn check_delivery_logging(c: &mut Checker, lp: &str, l: &DeliveryLogging) {
    if l.log_group.is_empty()
        || l.log_group.len() > 512
        || !l
            .log_group
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "._-/#".contains(ch))
    {
        c.err(
            &format!("{lp}.log_group"),
            format!("log group name `{}` is not valid", l.log_group),
            "log group names are 1-512 of [a-zA-Z0-9._-/#]",
        );
    }
    if l.log_stream.is_empty()
        || l.log_stream.len() > 512
        || l.log_stream.contains(':')
        || l.log_stream.contains('*')
    {
        c.err(
            &format!("{lp}.log_stream"),
            format!("log stream name `{}` is not valid", l.log_stream),
            "log stream names are 1-512 characters without `:` or `*`",
        );
    }
    const DAYS: &[i32] = &[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ];
    if !DAYS.contains(&l.retention_days) {
        c.err(
            &format!("{lp}.retention_days"),
            format!(
                "{} days is not a CloudWatch Logs retention",
                l.retention_days
            ),
            "use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365 …",
        );
    }
}

fn check_applications(c: &mut Checker, spec: &Spec) {
    for (id, a) in &spec.applications {
        let p = format!("applications.{id}");
        check_app_links(c, spec, &p, a);
        let code = c.loaded.base_dir.join(&a.code);
        let confined = confine(c, &format!("{p}.code"), "code", &a.code);
        if !confined {
            // Never read: it is not the lab's file.
        } else if !code.is_file() {
            c.err(
                &format!("{p}.code"),
                format!("the code file `{}` does not exist", code.display()),
                "create it, or give the path relative to the spec file",
            );
        }
        check_engine_settings(c, &p, a);
        let flink = a.engine == super::Engine::Flink;
        if let Some(s) = &a.input.schema {
            check_schema(c, &format!("{p}.input.schema"), s, flink);
        }
        if flink {
            check_flink(c, spec, &p, a);
            if confined {
                check_placeholders(c, &p, &code);
            }
        }
        check_tags(c, &format!("{p}.tags"), &a.tags);
    }
}

/// An application's name, role, input stream and name prefix, and output.
fn check_app_links(c: &mut Checker, spec: &Spec, p: &str, a: &ApplicationSpec) {
    if let Some(why) = aws_name_problem(&a.name, 128, &['_', '.', '-']) {
        c.err(
            &format!("{p}.name"),
            format!("application name `{}` {why}", a.name),
            "application names are 1-128 of [a-zA-Z0-9_.-]",
        );
    }
    match spec.roles.get(&a.role) {
        None => c.err(
            &format!("{p}.role"),
            format!("`{}` is not a role id", a.role),
            format!("use one of: {}", list(spec.roles.keys())),
        ),
        Some(r) if r.service != RoleService::KinesisAnalytics => c.err(
            &format!("{p}.role"),
            format!("role `{}` is for another service", a.role),
            "an application needs a role with `service: kinesis-analytics`",
        ),
        _ => {}
    }
    if !spec.streams.contains_key(&a.input.stream) {
        c.err(
            &format!("{p}.input.stream"),
            format!("`{}` is not a stream id", a.input.stream),
            format!("use one of: {}", list(spec.streams.keys())),
        );
    }
    let np = &a.input.name_prefix;
    if np.is_empty()
        || np.len() > 32
        || !np.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        c.err(
            &format!("{p}.input.name_prefix"),
            format!("`{np}` is not an in-application stream name prefix"),
            "use 1-32 letters, digits or `_`, such as SOURCE_SQL_STREAM",
        );
    }
    match spec.delivery_streams.get(&a.output.delivery_stream) {
        None => c.err(
            &format!("{p}.output.delivery_stream"),
            format!("`{}` is not a delivery stream id", a.output.delivery_stream),
            format!("use one of: {}", list(spec.delivery_streams.keys())),
        ),
        Some(d) if d.source.kind != SourceType::DirectPut => c.err(
            &format!("{p}.output.delivery_stream"),
            format!("delivery stream `{}` reads from a Kinesis stream, so the application cannot write to it", a.output.delivery_stream),
            "point the output at a delivery stream with `source: {type: direct-put}`",
        ),
        _ => {}
    }
}

/// The runtime and the Flink-only settings against the application's engine.
fn check_engine_settings(c: &mut Checker, p: &str, a: &ApplicationSpec) {
    match (a.engine, &a.runtime) {
        (super::Engine::KinesisAnalyticsSql, Some(_)) => c.err(
            &format!("{p}.runtime"),
            "a SQL application has no runtime choice",
            "remove `runtime`, or set `engine: flink`",
        ),
        (super::Engine::Flink, Some(r)) if !r.starts_with("FLINK-") => c.err(
            &format!("{p}.runtime"),
            format!("`{r}` is not a Flink runtime"),
            "use a value such as FLINK-1_20",
        ),
        _ => {}
    }
    let flink_only: [(&str, bool); 4] = [
        ("parallelism", a.parallelism.is_some()),
        ("jars", !a.jars.is_empty()),
        ("artifact", a.artifact.is_some()),
        ("logging", a.logging.is_some()),
    ];
    for (field, given) in flink_only {
        if given && a.engine != super::Engine::Flink {
            c.err(
                &format!("{p}.{field}"),
                format!("`{field}` is a Flink setting and this application's engine is kinesis-analytics-sql"),
                "remove it, or set `engine: flink`",
            );
        }
    }
}

/// A SQL application's input schema (a Flink application must not have one).
fn check_schema(c: &mut Checker, sp: &str, s: &InputSchema, flink: bool) {
    if flink {
        c.err(
            sp,
            "a Flink application declares its columns in the SQL file's CREATE TABLE",
            "remove `input.schema`, or set `engine: kinesis-analytics-sql`",
        );
    } else if s.discover && !s.columns.is_empty() {
        c.err(
            sp,
            "`discover: true` and `columns` are both given",
            "keep one: labctl either asks DiscoverInputSchema or uses the columns",
        );
    } else if !s.discover && s.columns.is_empty() {
        c.err(
            sp,
            "the schema has no columns",
            "list `columns` (name, sql_type, mapping), or set `discover: true`",
        );
    }
    for (i, col) in s.columns.iter().enumerate() {
        if col.name.is_empty() || col.sql_type.trim().is_empty() {
            c.err(
                &format!("{sp}.columns[{i}]"),
                "a column needs a `name` and a `sql_type`",
                "write it like `{name: temperature, sql_type: DOUBLE, mapping: $.temperature}`",
            );
        }
        if let Some(m) = &col.mapping {
            if !m.starts_with('$') {
                c.err(
                    &format!("{sp}.columns[{i}].mapping"),
                    format!("`{m}` is not a JSON path"),
                    "JSON paths start with `$`, e.g. `$.temperature`",
                );
            }
        }
    }
}

/// A Flink application's starting position, parallelism, jars, artifact and logging.
fn check_flink(c: &mut Checker, spec: &Spec, p: &str, a: &ApplicationSpec) {
    if a.input.starting_position == super::StartingPosition::LastStoppedPoint {
        c.err(
            &format!("{p}.input.starting_position"),
            "a Flink application has no LAST_STOPPED_POINT",
            "use NOW or TRIM_HORIZON",
        );
    }
    if let Some(par) = &a.parallelism {
        if par.parallelism < 1 {
            c.err(
                &format!("{p}.parallelism.parallelism"),
                format!("parallelism {} is below 1", par.parallelism),
                "use 1 or more",
            );
        }
        if !(1..=8).contains(&par.per_kpu) {
            c.err(
                &format!("{p}.parallelism.per_kpu"),
                format!("{} per KPU is out of range", par.per_kpu),
                "Managed Flink runs 1 to 8 parallel tasks per KPU",
            );
        }
    }
    check_jars(c, p, &a.jars);
    match &a.artifact {
        Some(x) if !spec.buckets.contains_key(&x.bucket) => c.err(
            &format!("{p}.artifact.bucket"),
            format!("`{}` is not a bucket id", x.bucket),
            format!("use one of: {}", list(spec.buckets.keys())),
        ),
        Some(x)
            if x.prefix.starts_with('/') || (!x.prefix.is_empty() && !x.prefix.ends_with('/')) =>
        {
            c.err(
                &format!("{p}.artifact.prefix"),
                format!("`{}` is not a key prefix", x.prefix),
                "write it like `code/`: no leading `/`, a trailing `/`",
            )
        }
        _ => {}
    }
    if let Some(l) = &a.logging {
        if l.log_group.is_empty()
            || l.log_stream.is_empty()
            || l.log_stream.contains(':')
            || l.log_stream.contains('*')
        {
            c.err(&format!("{p}.logging"), "the log group and log stream need names (the stream without `:` or `*`)", "e.g. `{log_group: /aws/kinesis-analytics/sensor-data-analytics, log_stream: kinesis-analytics-log-stream}`");
        }
    }
}

/// The `${…}` placeholders a Flink application's SQL uses: only those labctl provides.
fn check_placeholders(c: &mut Checker, p: &str, code: &std::path::Path) {
    if let Ok(sql) = std::fs::read_to_string(code) {
        for name in crate::artifact::placeholders(&sql) {
            if !crate::artifact::PLACEHOLDERS
                .iter()
                .any(|(k, _)| *k == name)
            {
                c.err(
                    &format!("{p}.code"),
                    format!("the SQL file uses the placeholder `${{{name}}}`, which labctl does not provide"),
                    format!("use only {}", crate::artifact::PLACEHOLDERS.iter().map(|(k, _)| format!("${{{k}}}")).collect::<Vec<_>>().join(", ")),
                );
            }
        }
    }
}

/// Whether the file starts with a zip's local file header (or is an empty zip): the
/// magic bytes of the ZIP format (PKWARE APPNOTE, 4.3.7 and 4.3.16), which a jar is.
fn is_zip(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06")
}

/// A spec path (`code:`, `jars:`) must name a file inside the spec's directory: not
/// absolute, no `..` leading out of it, no symlink leading out of it (the file is
/// uploaded to S3, so `code: /etc/passwd` or a `.jar` link to `~/.aws/credentials`
/// would publish it). Reports the problem at `at` and returns false when it is not.
fn confine(c: &mut Checker, at: &str, field: &str, rel: &str) -> bool {
    let problem = confinement_problem(&c.loaded.base_dir, rel);
    if let Some(problem) = problem {
        c.err(
            at,
            format!("`{rel}` {problem}; `{field}:` paths must stay inside the spec's directory"),
            format!("copy the file into the spec's directory (beside the spec file or below it) and give its path relative to the spec file, e.g. `{field}: sql/app.sql`"),
        );
        return false;
    }
    true
}

/// Why `rel` does not name a file inside `base`, or None. A path that does not exist
/// is not a confinement problem (the caller reports it as missing).
pub fn confinement_problem(base: &std::path::Path, rel: &str) -> Option<String> {
    use std::path::{Component, Path};
    let p = Path::new(rel);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::Prefix(_))) {
        return Some("is an absolute path".into());
    }
    // Lexically: `..` may not climb above the spec's directory.
    let mut depth: i64 = 0;
    for comp in p.components() {
        match comp {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Some("leads out of the spec's directory with `..`".into());
        }
    }
    // Through symlinks: where it really is must be below where the spec really is.
    let (Ok(real_base), Ok(real)) = (base.canonicalize(), base.join(p).canonicalize()) else {
        return None;
    };
    if !real.starts_with(&real_base) {
        return Some(format!(
            "leads out of the spec's directory through a symbolic link (to `{}`)",
            real.display()
        ));
    }
    None
}

/// `jars:` (a user's own uber-jar instead of the one labctl assembles from
/// flink/connectors.lock): each path a readable jar, and at most one shaded SQL
/// connector among them (two cannot share one `jarfile`: see
/// [`crate::artifact::TWO_SHADED_SQL_CONNECTORS`]).
fn check_jars(c: &mut Checker, p: &str, jars: &[String]) {
    let mut shaded = Vec::new();
    for (i, j) in jars.iter().enumerate() {
        let at = format!("{p}.jars[{i}]");
        let path = c.loaded.base_dir.join(j);
        if !confine(c, &at, "jars", j) {
            continue;
        }
        if !path.is_file() {
            c.err(&at, format!("the jar `{}` does not exist", path.display()), "give the path of a jar relative to the spec file, or remove `jars` to use the connector jar labctl assembles from flink/connectors.lock");
            continue;
        }
        if !j.ends_with(".jar") {
            c.err(&at, format!("`{j}` is not a .jar file"), "give jars only");
            continue;
        }
        if !is_zip(&path) {
            c.err(
                &at,
                format!("`{j}` is not a jar: a jar is a zip file, which starts with the bytes `PK\\x03\\x04`"),
                "give the path of a jar file (built by Maven or Gradle), or remove `jars` to use the connector jar labctl assembles from flink/connectors.lock",
            );
            continue;
        }
        match std::fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| crate::artifact::is_shaded_sql_connector(&b))
        {
            Ok(true) => shaded.push(j.clone()),
            Ok(false) => {}
            Err(e) => c.err(
                &at,
                format!("cannot read `{j}` as a jar: {e:#}"),
                "give a jar (zip) file",
            ),
        }
    }
    if shaded.len() >= 2 {
        c.err(
            &format!("{p}.jars"),
            format!(
                "{} shaded SQL connector jars ({}) cannot be used together: {}",
                shaded.len(),
                shaded.join(", "),
                crate::artifact::TWO_SHADED_SQL_CONNECTORS
            ),
            "remove `jars` to use the one connector jar labctl assembles from flink/connectors.lock (the non-SQL connectors, shaded once), or give one uber-jar of your own",
        );
    }
}

fn check_dashboards(c: &mut Checker, spec: &Spec) {
    for (id, d) in &spec.dashboards {
        if let Some(why) = aws_name_problem(&d.name, 255, &['_', '-']) {
            c.err(
                &format!("dashboards.{id}.name"),
                format!("dashboard name `{}` {why}", d.name),
                "dashboard names are 1-255 of [a-zA-Z0-9_-]",
            );
        }
    }
}

fn check_alarms(c: &mut Checker, spec: &Spec) {
    use super::AlarmMetric;
    for (id, t) in &spec.topics {
        if let Some(why) = aws_name_problem(&t.name, 256, &['_', '-']) {
            c.err(
                &format!("topics.{id}.name"),
                format!("topic name `{}` {why}", t.name),
                "SNS topic names are 1-256 of [a-zA-Z0-9_-]",
            );
        }
        check_tags(c, &format!("topics.{id}.tags"), &t.tags);
    }
    for (id, a) in &spec.alarms {
        let p = format!("alarms.{id}");
        if a.name.is_empty() || a.name.len() > 255 || a.name.chars().any(|ch| ch.is_control()) {
            c.err(
                &format!("{p}.name"),
                format!("alarm name `{}` is not valid", a.name),
                "alarm names are 1-255 printable characters",
            );
        }
        let (kind, ok) = match a.metric {
            AlarmMetric::DeliveryFreshness => (
                "a delivery stream",
                spec.delivery_streams.contains_key(&a.target),
            ),
            AlarmMetric::IteratorAge | AlarmMetric::WriteThrottling => {
                ("a stream", spec.streams.contains_key(&a.target))
            }
            AlarmMetric::AppDowntime => {
                ("an application", spec.applications.contains_key(&a.target))
            }
        };
        if !ok {
            c.err(
                &format!("{p}.target"),
                format!("`{}` is not the id of {kind}", a.target),
                format!("this metric watches {kind}: give its id"),
            );
        }
        if !(a.threshold.is_finite() && a.threshold >= 0.0) {
            c.err(
                &format!("{p}.threshold"),
                format!("threshold {} is not a non-negative number", a.threshold),
                "give the value above which the alarm fires",
            );
        }
        if !(a.period_seconds == 10
            || a.period_seconds == 30
            || (a.period_seconds >= 60 && a.period_seconds % 60 == 0))
        {
            c.err(
                &format!("{p}.period_seconds"),
                format!("a period of {} s is not allowed", a.period_seconds),
                "CloudWatch periods are 10, 30 or a multiple of 60 seconds",
            );
        }
        if !(1..=100).contains(&a.evaluation_periods) {
            c.err(
                &format!("{p}.evaluation_periods"),
                format!(
                    "{} evaluation periods is out of range",
                    a.evaluation_periods
                ),
                "use 1 to 100",
            );
        }
        if let Some(t) = &a.topic {
            if !spec.topics.contains_key(t) {
                c.err(
                    &format!("{p}.topic"),
                    format!("`{t}` is not a topic id"),
                    format!("use one of: {}", list(spec.topics.keys())),
                );
            }
        }
        check_tags(c, &format!("{p}.tags"), &a.tags);
    }
}

fn check_graph(c: &mut Checker, spec: &Spec) {
    let graph = Graph::of(spec);
    let ids: Vec<&str> = spec.ids().into_iter().map(|(_, i)| i).collect();
    for n in &graph.nodes {
        for e in graph.deps.get(n).into_iter().flatten() {
            if e.field.contains(".depends_on[") {
                if !ids.contains(&e.to.as_str()) {
                    c.err(
                        &e.field,
                        format!("`{}` is not a resource id", e.to),
                        format!("use one of: {}", ids.join(", ")),
                    );
                } else if &e.to == n {
                    c.err(
                        &e.field,
                        "a resource cannot depend on itself",
                        "remove this entry",
                    );
                }
            }
        }
    }
    if let Some(cycle) = graph.find_cycle() {
        if cycle.len() > 2 {
            let first = &cycle[0];
            let field = graph
                .deps
                .get(first)
                .and_then(|e| e.iter().find(|e| e.to == cycle[1]))
                .map(|e| e.field.clone())
                .unwrap_or_default();
            c.err(
                &field,
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these references (usually a `depends_on` entry)",
            );
        }
    }
}

fn list<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = keys.map(|s| s.as_str()).collect();
    if v.is_empty() {
        "(none declared)".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rules() {
        assert!(bucket_name_problem("lab-stream-data-123456789012-us-east-1").is_none());
        assert!(bucket_name_problem("Lab").is_some());
        assert!(bucket_name_problem("ab").is_some());
        assert!(bucket_name_problem("192.168.1.1").is_some());
        assert!(bucket_name_problem("a..b").is_some());
        assert!(bucket_name_problem("xn--abc").is_some());
        assert!(bucket_name_problem("abc-s3alias").is_some());
    }

    #[test]
    fn prefix_rules() {
        assert_eq!(
            prefix_expressions("raw/year=!{timestamp:yyyy}/"),
            Ok((true, false))
        );
        assert_eq!(
            prefix_expressions("err/!{firehose:error-output-type}/"),
            Ok((true, true))
        );
        assert!(prefix_expressions("x/!{nope:x}/").is_err());
        assert!(prefix_expressions("x/!{timestamp:yyyy/").is_err());
        assert!(prefix_expressions("x/!{firehose:other}/").is_err());
        assert_eq!(prefix_expressions("plain/"), Ok((false, false)));
    }

    #[test]
    fn region_names() {
        assert!(is_region("us-east-1"));
        assert!(is_region("ap-southeast-2"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("US-EAST-1"));
    }
}
