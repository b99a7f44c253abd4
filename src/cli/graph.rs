//! `labctl graph`: the pipeline as Mermaid (default), Graphviz DOT or JSON. Arrows follow
//! the data (stream → delivery → bucket, stream → application → delivery); dotted ones say
//! what a resource uses (a role, a log group, code in a bucket), what an alarm watches
//! and notifies; a legend says which is which. Needs no AWS call: names keep their
//! `${...}` variables. Node ids are escaped so that no spec id can break the diagram or
//! collide with another (`end`, `a-b` and `a_b`).

use anyhow::Result;

use super::args::Cli;
use super::session;
use crate::engine::report::Format;
use crate::error::exit;
use crate::resource::{self, Node};
use crate::spec::vars::Vars;
use crate::spec::Spec;

pub fn run(cli: &Cli, dot_format: bool) -> Result<i32> {
    let loaded = session::load(cli)?;
    // Variables stay as written: the graph needs no account or region.
    let vars = Vars {
        account_id: "${account_id}".into(),
        region: cli
            .region
            .clone()
            .or(loaded.spec.region.clone())
            .unwrap_or_else(|| "${region}".into()),
        partition: "${partition}".into(),
        pipeline: loaded.spec.pipeline.clone(),
    };
    let spec = loaded.spec.resolve(&vars);
    let nodes = resource::build(&spec, &vars);
    let edges = edges(&spec, &nodes);
    let text = match (cli.output, dot_format) {
        (Format::Json, _) => json(&nodes, &edges),
        (_, true) => dot(&nodes, &edges),
        _ => mermaid(&nodes, &edges),
    };
    print!("{text}");
    Ok(exit::OK)
}

/// One arrow of the diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `data` (records flow this way), else what the relation is: `uses`, `logs to`,
    /// `reads code from`, `watches`, `notifies`, `after` (only an order).
    pub relation: &'static str,
}

/// The arrows: each dependency of each node, turned to follow the data or labelled
/// with what it is; each alarm also points at what it watches.
pub fn edges(spec: &Spec, nodes: &[Node]) -> Vec<Edge> {
    let kind = |id: &str| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.resource.kind())
            .unwrap_or("")
    };
    let mut out = Vec::new();
    for n in nodes {
        let me = n.resource.kind();
        for d in &n.deps {
            let (from, to, relation) = match (kind(d), me) {
                ("stream", "delivery-stream" | "application") => (d, &n.id, "data"),
                ("bucket", "delivery-stream") => (&n.id, d, "data"),
                ("delivery-stream", "application") => (&n.id, d, "data"),
                ("bucket", "application") => (&n.id, d, "reads code from"),
                ("role", _) => (&n.id, d, "uses"),
                ("log-group", _) => (&n.id, d, "logs to"),
                ("topic", "alarm") => (&n.id, d, "notifies"),
                _ => (d, &n.id, "after"),
            };
            out.push(Edge {
                from: from.clone(),
                to: to.clone(),
                relation,
            });
        }
    }
    for (id, a) in &spec.alarms {
        if nodes.iter().any(|n| &n.id == id) && nodes.iter().any(|n| n.id == a.target) {
            out.push(Edge {
                from: id.clone(),
                to: a.target.clone(),
                relation: "watches",
            });
        }
    }
    out
}

/// A Mermaid node id for a spec id: prefixed (no reserved word such as `end`), letters
/// and digits kept, `_` doubled, any other character `_x<hex>_`, so distinct ids stay
/// distinct (`a-b` → `n_a_x2d_b`, `a_b` → `n_a__b`).
pub fn mermaid_id(id: &str) -> String {
    let mut out = String::from("n_");
    for c in id.chars() {
        match c {
            c if c.is_ascii_alphanumeric() => out.push(c),
            '_' => out.push_str("__"),
            c => out.push_str(&format!("_x{:x}_", c as u32)),
        }
    }
    out
}

/// Text inside a Mermaid label: no quote or bracket can end it early.
fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// Mermaid flowchart, left to right, with a legend.
pub fn mermaid(nodes: &[Node], edges: &[Edge]) -> String {
    let mut out = String::from("flowchart LR\n");
    for n in nodes {
        out.push_str(&format!(
            "    {}[\"{}: {}<br/>{}\"]\n",
            mermaid_id(&n.id),
            mermaid_text(&n.id),
            n.resource.kind(),
            mermaid_text(n.resource.name())
        ));
    }
    for e in edges {
        let (a, b) = (mermaid_id(&e.from), mermaid_id(&e.to));
        if e.relation == "data" {
            out.push_str(&format!("    {a} --> {b}\n"));
        } else {
            out.push_str(&format!("    {a} -.->|{}| {b}\n", e.relation));
        }
    }
    out.push_str(
        "    subgraph legend[\"legend\"]\n        direction LR\n        legend_a[\" \"] -->|records flow| legend_b[\" \"]\n        legend_c[\" \"] -.->|uses, logs to, watches, notifies, after| legend_d[\" \"]\n    end\n",
    );
    out
}

/// Graphviz DOT, same arrows (dashed for the non-data ones), with a legend.
pub fn dot(nodes: &[Node], edges: &[Edge]) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph pipeline {\n    rankdir=LR;\n    node [shape=box];\n");
    for n in nodes {
        out.push_str(&format!(
            "    \"{}\" [label=\"{}\\n{}\\n{}\"];\n",
            q(&n.id),
            q(&n.id),
            n.resource.kind(),
            q(n.resource.name())
        ));
    }
    for e in edges {
        let style = if e.relation == "data" {
            String::new()
        } else {
            format!(" [style=dashed, label=\"{}\"]", e.relation)
        };
        out.push_str(&format!(
            "    \"{}\" -> \"{}\"{style};\n",
            q(&e.from),
            q(&e.to)
        ));
    }
    out.push_str("    subgraph cluster_legend {\n        label=\"legend\";\n        node [shape=plaintext];\n        legend_a -> legend_b [label=\"records flow\"];\n        legend_c -> legend_d [style=dashed, label=\"uses, logs to, watches, notifies, after\"];\n    }\n");
    out.push_str("}\n");
    out
}

/// The graph as JSON: nodes (id, kind, name) and edges (from, to, relation).
pub fn json(nodes: &[Node], edges: &[Edge]) -> String {
    let doc = serde_json::json!({
        "nodes": nodes.iter().map(|n| serde_json::json!({
            "id": n.id, "kind": n.resource.kind(), "name": n.resource.name(),
        })).collect::<Vec<_>>(),
        "edges": edges.iter().map(|e| serde_json::json!({
            "from": e.from, "to": e.to, "relation": e.relation,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::mermaid_id;

    #[test]
    fn ids_are_escaped_and_never_collide() {
        assert_eq!(mermaid_id("end"), "n_end");
        assert_ne!(mermaid_id("a-b"), mermaid_id("a_b"));
        assert_ne!(mermaid_id("a_x2d_b"), mermaid_id("a-b"));
        assert!(mermaid_id("raw-delivery/logs")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
