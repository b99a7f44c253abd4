//! Resource kinds. Each module knows, for one AWS service, how to observe a resource
//! (exists? ours? how does it differ from the spec?), create it and wait until usable,
//! update it in place, and delete it and wait until gone. Modules know nothing of
//! ordering, concurrency or output: that is the engine's job.
//!
//! Adding a kind: write a module with a type implementing [`Resource`] and add one
//! line to [`build`].

pub mod alarm;
pub mod analytics;
pub mod bucket;
pub mod dashboard;
pub mod delivery;
pub mod loggroup;
pub mod policy;
pub mod role;
pub mod stream;
pub mod unbuilt;

use std::collections::HashMap;

use anyhow::Result;
use async_trait::async_trait;
use indexmap::IndexMap;
use serde::Serialize;

use crate::aws::Clients;
use crate::graph::Graph;
use crate::progress::Progress;
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{Engine, Spec};

/// What every resource operation gets: clients, resolved variables, progress.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub aws: Clients,
    pub vars: Vars,
    pub progress: Progress,
    /// Creates in flight, so an interrupted one is recognised as labctl's own.
    pub journal: std::sync::Arc<crate::journal::Journal>,
    /// `--adopt`: untagged resources with the spec's names may be taken over.
    pub adopt: bool,
}

impl Ctx {
    pub fn region(&self) -> &str {
        &self.vars.region
    }
    pub fn account(&self) -> &str {
        &self.vars.account_id
    }
    pub fn partition(&self) -> &str {
        &self.vars.partition
    }
    /// Whether to compare a resource with the spec: when it is ours, or when it is
    /// untagged and `--adopt` may take it over.
    pub fn inspects(&self, o: &Ownership) -> bool {
        *o == Ownership::Ours || (self.adopt && *o == Ownership::Untagged)
    }

    /// True when requests go over plain HTTP (the local stack), where TLS conditions cannot hold.
    pub fn plain_http(&self) -> bool {
        self.aws
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
    }
    /// The ownership tag value: the pipeline name.
    pub fn pipeline(&self) -> &str {
        &self.vars.pipeline
    }
}

/// One field that differs between AWS and the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub field: String,
    pub actual: String,
    pub desired: String,
}

impl Drift {
    pub fn new(field: &str, actual: impl ToString, desired: impl ToString) -> Drift {
        Drift {
            field: field.to_string(),
            actual: actual.to_string(),
            desired: desired.to_string(),
        }
    }
}

/// Who owns a resource that exists under the spec's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "owner", content = "detail")]
pub enum Ownership {
    /// Tagged `labctl:pipeline=<this pipeline>`.
    Ours,
    /// No ownership tag: made by hand or by another tool.
    Untagged,
    /// Tagged for another labctl pipeline.
    OtherPipeline(String),
    /// Exists but cannot be read (another account's bucket, say).
    Inaccessible(String),
}

impl Ownership {
    /// From the tags found on the resource.
    pub fn from_tag(value: Option<&str>, pipeline: &str) -> Ownership {
        match value {
            Some(v) if v == pipeline => Ownership::Ours,
            Some(v) => Ownership::OtherPipeline(v.to_string()),
            None => Ownership::Untagged,
        }
    }

    /// Why labctl will not touch it, or None when it is ours.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Ownership::Ours => None,
            Ownership::Untagged => Some(format!(
                "exists without the tag {OWNER_TAG}: it belongs to someone else"
            )),
            Ownership::OtherPipeline(p) => Some(format!("belongs to the labctl pipeline `{p}`")),
            Ownership::Inaccessible(why) => Some(format!("exists but is not accessible ({why})")),
        }
    }
}

/// A resource as found in AWS.
#[derive(Debug, Clone, Serialize)]
pub struct Present {
    /// The service's own state word (ACTIVE, CREATING, …) or `exists`.
    pub state: String,
    pub ownership: Ownership,
    /// Differences `update` can fix in place.
    pub drift: Vec<Drift>,
    /// Differences that need the resource replaced.
    pub replace: Vec<Drift>,
    /// Identifier (ARN) when known.
    pub arn: Option<String>,
    /// Creation time (seconds since the epoch) when the service reports it.
    pub created: Option<i64>,
}

impl Present {
    pub fn new(state: impl Into<String>, ownership: Ownership) -> Present {
        Present {
            state: state.into(),
            ownership,
            drift: Vec::new(),
            replace: Vec::new(),
            arn: None,
            created: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "exists")]
pub enum Observed {
    #[serde(rename = "false")]
    Absent,
    #[serde(rename = "true")]
    Present(Present),
}

/// One resource kind's behaviour for one declared resource.
#[async_trait]
pub trait Resource: Send + Sync {
    /// Short kind name shown to users: `bucket`, `stream`, …
    fn kind(&self) -> &'static str;
    /// The AWS name.
    fn name(&self) -> &str;
    /// False for kinds this version cannot provision yet; the engine reports them as such.
    fn built(&self) -> bool {
        true
    }
    async fn observe(&self, ctx: &Ctx) -> Result<Observed>;
    /// Create, then wait until usable.
    async fn create(&self, ctx: &Ctx) -> Result<()>;
    /// Fix `present.drift` in place.
    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()>;
    /// Delete, then wait until gone.
    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()>;
}

/// A resource with its id and what it depends on.
pub struct Node {
    pub id: String,
    pub deps: Vec<String>,
    pub resource: Box<dyn Resource>,
}

/// Tags for a resource: the spec's global tags, its own, and the ownership tag.
pub fn tags_for(spec: &Spec, own: &IndexMap<String, String>) -> IndexMap<String, String> {
    let mut t = spec.tags.clone();
    t.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    t.insert(OWNER_TAG.to_string(), spec.pipeline.clone());
    t
}

/// Tag drift: desired tags missing or different (extra tags are left alone).
pub fn tag_drift(
    actual: &HashMap<String, String>,
    desired: &IndexMap<String, String>,
) -> Option<Drift> {
    let wrong: Vec<String> = desired
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if wrong.is_empty() {
        None
    } else {
        let have: Vec<String> = desired
            .keys()
            .filter_map(|k| actual.get(k).map(|v| format!("{k}={v}")))
            .collect();
        Some(Drift::new(
            "tags",
            if have.is_empty() {
                "(none)".into()
            } else {
                have.join(",")
            },
            wrong.join(","),
        ))
    }
}

/// Every node of a resolved spec, in file order, plus the implicit log-group node of
/// each delivery stream with `logging:`. The one registry of kinds.
pub fn build(spec: &Spec, vars: &Vars) -> Vec<Node> {
    let graph = Graph::of(spec);
    let mut nodes: Vec<Node> = Vec::new();
    let mut push = |id: &str, extra: Vec<String>, r: Box<dyn Resource>| {
        let mut deps = graph.deps_of(id);
        deps.extend(extra);
        nodes.push(Node {
            id: id.to_string(),
            deps,
            resource: r,
        })
    };
    for (id, b) in &spec.buckets {
        push(id, vec![], Box::new(bucket::Bucket::new(spec, b)));
    }
    for (id, s) in &spec.streams {
        push(id, vec![], Box::new(stream::Stream::new(spec, s)));
    }
    for (id, r) in &spec.roles {
        push(
            id,
            vec![],
            Box::new(role::Role::new(spec, id, r.service, &r.name, &r.tags, vars)),
        );
    }
    for (id, d) in &spec.delivery_streams {
        let mut extra = Vec::new();
        if let Some(l) = &d.logging {
            let logs_id = format!("{id}/logs");
            let group = loggroup::LogGroup {
                group: l.log_group.clone(),
                stream: l.log_stream.clone(),
                retention_days: l.retention_days,
                tags: tags_for(spec, &d.tags),
            };
            push(&logs_id, vec![], Box::new(group));
            extra.push(logs_id);
        }
        push(id, extra, Box::new(delivery::Delivery::new(spec, d, vars)));
    }
    for (id, a) in &spec.applications {
        match a.engine {
            Engine::KinesisAnalyticsSql => push(
                id,
                vec![],
                Box::new(analytics::sql::SqlApp::new(spec, id, a, vars)),
            ),
            Engine::Flink => {
                // Its log group, and the bucket its artifact goes to, come first.
                let logs_id = format!("{id}/logs");
                let (group, stream, retention_days) = analytics::flink::log_target(a);
                let group = loggroup::LogGroup {
                    group,
                    stream,
                    retention_days,
                    tags: tags_for(spec, &a.tags),
                };
                push(&logs_id, vec![], Box::new(group));
                let mut extra = vec![logs_id];
                if let Some((bucket, _)) = analytics::flink::artifact_target(spec, a) {
                    extra.push(bucket);
                }
                push(
                    id,
                    extra,
                    Box::new(analytics::flink::FlinkApp::new(spec, id, a, vars)),
                );
            }
        }
    }
    for (id, d) in &spec.dashboards {
        push(
            id,
            vec![],
            Box::new(dashboard::Dashboard::new(spec, &d.name, &vars.region)),
        );
    }
    for (id, t) in &spec.topics {
        push(id, vec![], Box::new(alarm::Topic::new(spec, t, vars)));
    }
    for (id, a) in &spec.alarms {
        push(id, vec![], Box::new(alarm::Alarm::new(spec, a, vars)));
    }
    nodes
}

/// AWS error text without the SDK's wrapping: code and message.
pub fn sdk_message<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    // Errors without an AWS error code name the call, so a malformed or missing
    // answer says which request it was the answer to.
    let call = call_name::<E>();
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{call}: the endpoint answered an error labctl cannot read ({inner})"),
            }
        }
        SdkError::TimeoutError(_) => format!("{call}: the request timed out"),
        SdkError::DispatchFailure(e) => {
            if e.is_timeout() {
                format!("{call}: the request timed out")
            } else if e.is_io() {
                format!("{call}: cannot reach the endpoint (connection failed)")
            } else {
                format!("{call}: the request could not be sent ({e:?})")
            }
        }
        SdkError::ResponseError(_) => {
            let cause = std::error::Error::source(err)
                .and_then(|s| s.source().or(Some(s)))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!("{call}: the response could not be read{cause}")
        }
        other => format!("{call}: {other}"),
    }
}

/// The API call an SDK operation error type belongs to: `DescribeStreamSummary` for
/// `aws_sdk_kinesis::operation::describe_stream_summary::DescribeStreamSummaryError`.
pub fn call_name<E>() -> &'static str {
    let t = std::any::type_name::<E>();
    let last = t.rsplit("::").next().unwrap_or(t);
    last.strip_suffix("Error").unwrap_or(last)
}

/// The AWS error code, if the error came from the service.
pub fn sdk_code<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

/// Turn an SDK error into anyhow with a "what failed" context line.
pub fn aws_err<E, R>(what: &str, err: aws_sdk_s3::error::SdkError<E, R>) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    anyhow::anyhow!("{what}: {}", sdk_message(&err))
}
