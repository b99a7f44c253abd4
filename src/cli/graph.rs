//! `labctl graph`: the plan's dependency graph as Mermaid (default) or Graphviz DOT,
//! each node labelled with its kind and AWS name. Needs no AWS call: names keep their
//! `${...}` variables.

use anyhow::Result;

use super::args::Cli;
use super::session;
use crate::error::exit;
use crate::resource::{self, Node};
use crate::spec::vars::Vars;

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
    let nodes = resource::build(&loaded.spec.resolve(&vars), &vars);
    print!(
        "{}",
        if dot_format {
            dot(&nodes)
        } else {
            mermaid(&nodes)
        }
    );
    Ok(exit::OK)
}

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
