//! Pruning's search: the resources tagged for this pipeline (`labctl:pipeline`) in the
//! account and region (IAM roles: the account's, under labctl's path) that the spec
//! no longer declares, each as a node `down` can delete. The search itself is
//! [`crate::resource::leftovers::find`] (the Tagging API, confirmed with each resource's
//! own describe); the deletion nodes are [`crate::resource::leftovers::nodes_for`].
//! Knows nothing of commands, ordering or output.

use anyhow::{Context, Result};

use crate::resource::leftovers::{self, Found};
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
    let found: Vec<Found> = all
        .into_iter()
        .filter(|f| f.pipeline == pipeline && !declared(f, declared_nodes))
        .collect();
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
