//! `labctl graph`: the plan's dependency graph as Mermaid (default) or Graphviz DOT,
//! each node labelled with its kind and AWS name. Needs no AWS call: names keep their
//! `${...}` variables.

use crate::resource::Node;

fn label(n: &Node) -> String {
    format!("{}<br/>{}", n.resource.kind(), n.resource.name())
}

fn mermaid_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Mermaid flowchart, edges from dependency to dependent (the order `up` runs them).
pub fn mermaid(nodes: &[Node]) -> String {
    let mut out = String::from("flowchart LR\n");
    for n in nodes {
        out.push_str(&format!(
            "    {}[\"{}: {}\"]\n",
            mermaid_id(&n.id),
            n.id,
            label(n).replace('"', "'")
        ));
    }
    for n in nodes {
        for d in &n.deps {
            out.push_str(&format!(
                "    {} --> {}\n",
                mermaid_id(d),
                mermaid_id(&n.id)
            ));
        }
    }
    out
}

/// Graphviz DOT, same edges.
pub fn dot(nodes: &[Node]) -> String {
    let mut out = String::from("digraph pipeline {\n    rankdir=LR;\n    node [shape=box];\n");
    for n in nodes {
        out.push_str(&format!(
            "    \"{}\" [label=\"{}\\n{}\\n{}\"];\n",
            n.id,
            n.id,
            n.resource.kind(),
            n.resource.name().replace('"', "\\\"")
        ));
    }
    for n in nodes {
        for d in &n.deps {
            out.push_str(&format!("    \"{d}\" -> \"{}\";\n", n.id));
        }
    }
    out.push_str("}\n");
    out
}
