//! What every resource kind shares: the context a kind works in ([`Ctx`]), what
//! observing finds ([`Observed`], [`Present`], [`Ownership`], [`Drift`]), the
//! [`Resource`] trait each kind implements, the graph [`Node`], and the ownership tags.
//! Knows no particular kind (they depend on it, never the reverse) and nothing of
//! ordering, concurrency or output.

use std::collections::HashMap;

use anyhow::Result;
use async_trait::async_trait;
use indexmap::IndexMap;
use serde::Serialize;

use crate::aws::connect::Clients;
pub use crate::aws::errors::{aws_err, call_name, sdk_code, sdk_message};
pub use crate::engine::graph::{Dependency, DownRelease, UpNeed};
use crate::engine::journal::Journal;
use crate::engine::progress::Progress;
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::Spec;

/// What every resource operation gets: clients, resolved variables, progress.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub aws: Clients,
    pub vars: Vars,
    pub progress: Progress,
    /// Creates in flight, so an interrupted one is recognised as labctl's own.
    pub journal: std::sync::Arc<Journal>,
    /// `--adopt`: untagged resources with the spec's names may be taken over.
    pub adopt: bool,
    /// Buckets whose objects a replacement may delete: the user confirmed it on a
    /// terminal or passed `up --allow-data-loss` (empty everywhere else).
    pub data_loss_confirmed: Vec<String>,
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
    /// How this resource depends on one of the kind `on` that it references (see
    /// [`Dependency`]): strict unless the kind declares, citing AWS, that less will do.
    fn dependency(&self, on: &str) -> Dependency {
        let _ = on;
        Dependency::STRICT
    }
    /// The class of create AWS may refuse for a whole account and region (see
    /// [`crate::engine::refusals`]), e.g. `sql-application`; None for most kinds.
    fn refusal_class(&self) -> Option<&'static str> {
        None
    }
    async fn observe(&self, ctx: &Ctx) -> Result<Observed>;
    /// Create, then wait until usable.
    async fn create(&self, ctx: &Ctx) -> Result<()>;
    /// Fix `present.drift` in place.
    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()>;
    /// Delete, then wait until gone.
    async fn delete(&self, ctx: &Ctx, present: &Present) -> Result<()>;
}

/// After a create call answered "already exists" (the resource appeared between
/// `observe` and the create, or an SDK retry of a create that went through): the
/// owner tag found on it decides, before anything is tagged, configured or started.
/// Not this pipeline's: the create journal's entry is dropped (a resource made by
/// someone else just after the create began must never be vouched for as labctl's)
/// and the create fails, leaving it alone.
pub fn check_found_on_create(ctx: &Ctx, kind: &str, name: &str, owner: Option<&str>) -> Result<()> {
    if owner == Some(ctx.pipeline()) {
        return Ok(());
    }
    ctx.journal.end(kind, name);
    let whose = match owner {
        Some(p) => format!("belongs to labctl pipeline `{p}`"),
        None => format!("is not tagged {OWNER_TAG}={}", ctx.pipeline()),
    };
    anyhow::bail!(
        "{kind} {name} already existed when labctl created it and {whose}; it was left alone (not tagged, configured or started). If it is the lab's, run `labctl up --adopt`; otherwise rename it in the spec"
    )
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
