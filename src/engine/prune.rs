//! Pruning: what happens to resources tagged for the pipeline that the spec no longer
//! declares (found by [`crate::resource::orphans`]). `plan` shows each as `delete` and
//! says why, `status` reports each as `orphan` (its exit 3), `up` deletes them after
//! everything declared is in place, and `down` deletes them with the rest; deletion is
//! the executor's `down` over their nodes (dependents first). Knows no AWS service and
//! no command line: it only makes rows and runs nodes.

use crate::engine::executor::{self, Row};
use crate::resource::{Ctx, Node};

/// Why an orphan is on the report.
pub fn why(pipeline: &str) -> String {
    format!("tagged for pipeline {pipeline}, no longer in the spec")
}

fn row(node: &Node, action: &str, detail: String, usd_per_hour: Option<f64>) -> Row {
    Row {
        id: node.id.clone(),
        kind: node.resource.kind().to_string(),
        name: node.resource.name().to_string(),
        action: action.to_string(),
        state: None,
        drift: Vec::new(),
        usd_per_hour,
        created: None,
        detail: Some(detail),
        seconds: 0.0,
    }
}

/// `plan`: each orphan as a `delete` row, with its hourly cost (`cost` by node id).
pub fn plan_rows(nodes: &[Node], pipeline: &str, cost: impl Fn(&str) -> Option<f64>) -> Vec<Row> {
    nodes
        .iter()
        .map(|n| {
            // `up` does not empty a bucket it prunes (`down`, confirmed, does).
            let how = if n.resource.kind() == "bucket" {
                "`labctl up` deletes it if it is empty, `labctl down` with its objects"
            } else {
                "`labctl up` deletes it"
            };
            row(
                n,
                "delete",
                format!("{}: {how}", why(pipeline)),
                cost(&n.id),
            )
        })
        .collect()
}

/// `status`: each orphan as an `orphan` row (not ok: status exits 3).
pub fn status_rows(nodes: &[Node], pipeline: &str, cost: impl Fn(&str) -> Option<f64>) -> Vec<Row> {
    nodes
        .iter()
        .map(|n| {
            row(
                n,
                "orphan",
                format!(
                    "{}; still billed: `labctl up` (or `labctl down`) deletes it",
                    why(pipeline)
                ),
                cost(&n.id),
            )
        })
        .collect()
}

/// `up`, when declared work did not all succeed: the orphans are left, and say why.
pub fn kept_rows(nodes: &[Node], pipeline: &str, reason: &str) -> Vec<Row> {
    nodes
        .iter()
        .map(|n| {
            row(
                n,
                "not-started",
                format!("{}; not deleted: {reason}", why(pipeline)),
                None,
            )
        })
        .collect()
}

/// Delete the orphans, dependents first; their rows, each detail saying why it went.
pub async fn delete(nodes: Vec<Node>, ctx: Ctx) -> (Vec<Row>, bool) {
    if nodes.is_empty() {
        return (Vec::new(), false);
    }
    let pipeline = ctx.pipeline().to_string();
    ctx.progress.step(
        "labctl",
        &format!(
            "deleting {} resource(s) tagged for pipeline {pipeline} that the spec no longer declares",
            nodes.len()
        ),
    );
    let (mut rows, interrupted) = executor::down(nodes, ctx).await;
    for r in rows.iter_mut() {
        let note = why(&pipeline);
        r.detail = Some(match r.detail.take() {
            Some(d) => format!("{note}: {d}"),
            None => note,
        });
    }
    (rows, interrupted)
}
