//! Pruning's search: the resources tagged for this pipeline (`labctl:pipeline`) in the
//! account and region (IAM roles: the account's, under labctl's path) that the spec
//! no longer declares, each as a node `down` can delete. The search itself is
//! [`crate::resource::leftovers::find`] (the Tagging API, confirmed with each resource's
//! own describe); the deletion nodes are [`crate::resource::leftovers::nodes_for`].
//! IAM roles are global: a role is pruned only when its `labctl:region` tag
//! ([`crate::resource::role::REGION_TAG`]) names this region, so a rename in one region
//! never deletes the roles of the same pipeline deployed in another; a role without the
//! tag (made before labctl set it) is not pruned but reported as a warning.
//! Knows nothing of commands, ordering or output.

use anyhow::{Context, Result};

use crate::resource::leftovers::{self, Found};
use crate::resource::role::REGION_TAG;
use crate::resource::{Ctx, Node};

/// What the spec no longer declares: what was found, and the nodes that delete it
/// (ids `<kind>:<name>`, each waiting for the kinds that use it, as `leftovers` does).
pub struct Orphans {
    pub found: Vec<Found>,
    pub nodes: Vec<Node>,
}

impl Orphans {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The id of an orphan's node and row.
pub fn id_of(kind: &str, name: &str) -> String {
    format!("{kind}:{name}")
}

/// Whether a found resource is one of the declared nodes (same kind, same name).
fn declared(f: &Found, nodes: &[Node]) -> bool {
    nodes
        .iter()
        .any(|n| n.resource.kind() == f.kind && n.resource.name() == f.name)
}

/// Everything tagged for the context's pipeline that `declared` does not hold. A bucket's
/// node empties it first only with `force_destroy` (`down`, which the user confirmed);
/// otherwise a bucket that holds objects fails its delete and keeps them.
pub async fn find(ctx: &Ctx, declared_nodes: &[Node], force_destroy: bool) -> Result<Orphans> {
    let pipeline = ctx.pipeline().to_string();
    let all = leftovers::find(&ctx.aws, Some(&pipeline), true)
        .await
        .with_context(|| {
            format!("looking for resources tagged labctl:pipeline={pipeline} that the spec no longer declares")
        })?;
    let candidates: Vec<Found> = all
        .into_iter()
        .filter(|f| f.pipeline == pipeline && !declared(f, declared_nodes))
        .collect();
    let found = this_regions(ctx, candidates).await;
    if found.is_empty() {
        return Ok(Orphans {
            found,
            nodes: Vec::new(),
        });
    }
    let refs: Vec<&Found> = found.iter().collect();
    let mut nodes = leftovers::nodes_for(&refs, &pipeline, &ctx.vars, |_: &Found| force_destroy)?;
    // `nodes_for` names nodes r0, r1, …; the report shows `<kind>:<name>` instead.
    let renamed: Vec<(String, String)> = nodes
        .iter()
        .map(|n| (n.id.clone(), id_of(n.resource.kind(), n.resource.name())))
        .collect();
    let rename = |id: &str| {
        renamed
            .iter()
            .find(|(old, _)| old == id)
            .map(|(_, new)| new.clone())
            .unwrap_or_else(|| id.to_string())
    };
    for n in nodes.iter_mut() {
        n.id = rename(&n.id);
        n.deps = n.deps.iter().map(|d| rename(d)).collect();
    }
    Ok(Orphans { found, nodes })
}

/// Which region a role's [`REGION_TAG`] names: `Some(None)` when it has no such tag,
/// `None` when its tags cannot be read (ListRoleTags:
/// https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoleTags.html).
async fn role_region(ctx: &Ctx, name: &str) -> Option<Option<String>> {
    let out = ctx.aws.iam.list_role_tags().role_name(name).send().await;
    let out = out.ok()?;
    Some(
        out.tags()
            .iter()
            .find(|t| t.key() == REGION_TAG)
            .map(|t| t.value().to_string()),
    )
}

/// The candidates this region may prune: every non-role, and the roles tagged for
/// this region. A role tagged for another region is that deployment's (left out
/// silently); one without the tag, or whose tags cannot be read, is left out with a
/// warning naming it.
async fn this_regions(ctx: &Ctx, candidates: Vec<Found>) -> Vec<Found> {
    let mut kept = Vec::new();
    for f in candidates {
        if f.kind != "role" {
            kept.push(f);
            continue;
        }
        match role_region(ctx, &f.name).await {
            Some(Some(r)) if r == ctx.region() => kept.push(f),
            Some(Some(_)) => {}
            Some(None) => tracing::warn!(
                "role {} is tagged for pipeline {} but names no region ({REGION_TAG}; made before labctl tagged roles with their region): not pruned, as it may be this pipeline's in another region; delete it with `labctl leftovers --delete` if it is not",
                f.name,
                f.pipeline
            ),
            None => tracing::warn!(
                "role {}: its tags could not be read; not pruned",
                f.name
            ),
        }
    }
    kept
}
