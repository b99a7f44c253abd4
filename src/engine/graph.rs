//! The dependency graph of a spec: one node per resource id, an edge for every
//! reference (`role:`, `source.stream:`, `destination.bucket:` …) and every
//! `depends_on`. Gives the execution order and finds cycles. Knows no AWS.

use std::collections::HashMap;

use crate::spec::{SourceType, Spec};

/// How one resource depends on another it references: what of the other it needs in
/// `up`, and what of itself the other waits for in `down`. Each resource kind declares
/// this per kind it references (`Resource::dependency`), citing AWS; the default is
/// the strict one, [`Dependency::STRICT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    pub up: UpNeed,
    pub down: DownRelease,
}

/// In `up`, where the dependent waits for the dependency to be usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpNeed {
    /// Before it starts at all.
    Start,
    /// Only at its [`proceed`](crate::engine::phase::proceed) point: everything before
    /// (creating it, uploading its code) runs while the dependency is still being made.
    Proceed,
}

/// In `down`, what of the dependent's delete the dependency waits for before it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownRelease {
    /// The dependent is gone.
    Gone,
    /// The dependent [`reached`](crate::engine::phase::reached) its point: its delete
    /// was accepted, or it is stopped, and it no longer uses the dependency.
    Accepted,
}

impl Dependency {
    /// Needs the other usable before starting; lets it go only once gone.
    pub const STRICT: Dependency = Dependency {
        up: UpNeed::Start,
        down: DownRelease::Gone,
    };
}

/// Which point of another node a node waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Its [`reached`](crate::engine::phase::reached) point (or its end, if it never says).
    Reached,
    /// Its end, usable (up) or gone (down).
    Done,
}

/// Where in a node the wait happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Start,
    Proceed,
}

/// One wait of one node in one direction: `at` its point, for `needs` of node `on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub on: usize,
    pub at: At,
    pub needs: Needs,
}

/// The waits of every node (indexes into `deps`), for `up` (a node waits for its
/// dependencies) or `down` (a node waits for its dependents). `deps[i]` lists node
/// i's dependencies with how it depends on each.
pub fn waits(deps: &[Vec<(usize, Dependency)>], up: bool) -> Vec<Vec<Wait>> {
    let n = deps.len();
    let mut w: Vec<Vec<Wait>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &(j, d) in ds {
            if up {
                let at = match d.up {
                    UpNeed::Start => At::Start,
                    UpNeed::Proceed => At::Proceed,
                };
                w[i].push(Wait {
                    on: j,
                    at,
                    needs: Needs::Done,
                });
            } else {
                let needs = match d.down {
                    DownRelease::Gone => Needs::Done,
                    DownRelease::Accepted => Needs::Reached,
                };
                w[j].push(Wait {
                    on: i,
                    at: At::Start,
                    needs,
                });
            }
        }
    }
    w
}

/// A reference from one resource to another, with the field that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub to: String,
    /// Field path of the reference, for error messages.
    pub field: String,
}

/// Nodes in file order, each with the edges to what it depends on.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<String>,
    pub deps: HashMap<String, Vec<Edge>>,
}

fn edge(to: &str, field: String) -> Edge {
    Edge {
        to: to.to_string(),
        field,
    }
}

impl Graph {
    /// Build the graph of a spec. References are not checked here (validation does).
    pub fn of(spec: &Spec) -> Graph {
        let mut g = Graph::default();
        let mut add = |id: &str, mut edges: Vec<Edge>, depends_on: &[String], section: &str| {
            for (i, d) in depends_on.iter().enumerate() {
                edges.push(edge(d, format!("{section}.{id}.depends_on[{i}]")));
            }
            g.nodes.push(id.to_string());
            g.deps.insert(id.to_string(), edges);
        };
        for (id, b) in &spec.buckets {
            add(id, vec![], &b.depends_on, "buckets");
        }
        for (id, s) in &spec.streams {
            add(id, vec![], &s.depends_on, "streams");
        }
        for (id, r) in &spec.roles {
            add(id, vec![], &r.depends_on, "roles");
        }
        for (id, d) in &spec.delivery_streams {
            let p = format!("delivery_streams.{id}");
            let mut e = vec![
                edge(&d.role, format!("{p}.role")),
                edge(&d.destination.bucket, format!("{p}.destination.bucket")),
            ];
            if d.source.kind == SourceType::KinesisStream {
                if let Some(s) = &d.source.stream {
                    e.push(edge(s, format!("{p}.source.stream")));
                }
            }
            add(id, e, &d.depends_on, "delivery_streams");
        }
        for (id, a) in &spec.applications {
            let p = format!("applications.{id}");
            let e = vec![
                edge(&a.role, format!("{p}.role")),
                edge(&a.input.stream, format!("{p}.input.stream")),
                edge(
                    &a.output.delivery_stream,
                    format!("{p}.output.delivery_stream"),
                ),
            ];
            add(id, e, &a.depends_on, "applications");
        }
        for (id, d) in &spec.dashboards {
            add(id, vec![], &d.depends_on, "dashboards");
        }
        for (id, t) in &spec.topics {
            add(id, vec![], &t.depends_on, "topics");
        }
        for (id, a) in &spec.alarms {
            // An alarm needs its topic to exist; its target only by name.
            let e = a
                .topic
                .iter()
                .map(|t| edge(t, format!("alarms.{id}.topic")))
                .collect();
            add(id, e, &a.depends_on, "alarms");
        }
        g
    }

    /// Ids this node depends on.
    pub fn deps_of(&self, id: &str) -> Vec<String> {
        self.deps
            .get(id)
            .map(|e| e.iter().map(|e| e.to.clone()).collect())
            .unwrap_or_default()
    }

    /// Ids that depend on this node.
    pub fn dependents_of(&self, id: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| {
                self.deps
                    .get(*n)
                    .is_some_and(|e| e.iter().any(|e| e.to == id))
            })
            .cloned()
            .collect()
    }

    /// A cycle, as the list of ids along it (first repeated at the end), if there is one.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            n: &str,
            mark: &mut HashMap<String, Mark>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            match mark.get(n).copied().unwrap_or(Mark::New) {
                Mark::Done => return None,
                Mark::Open => {
                    let start = stack.iter().position(|s| s == n).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(n.to_string());
                    return Some(cycle);
                }
                Mark::New => {}
            }
            mark.insert(n.to_string(), Mark::Open);
            stack.push(n.to_string());
            for d in g.deps_of(n) {
                if g.deps.contains_key(&d) {
                    if let Some(c) = visit(g, &d, mark, stack) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
            mark.insert(n.to_string(), Mark::Done);
            None
        }
        let mut mark = HashMap::new();
        for n in &self.nodes {
            let mut stack = Vec::new();
            if let Some(c) = visit(self, n, &mut mark, &mut stack) {
                return Some(c);
            }
        }
        None
    }

    /// Nodes in an order where each comes after everything it depends on; ties keep
    /// file order. Nodes on a cycle are left out (validation rejects cycles).
    pub fn order(&self) -> Vec<String> {
        let mut done: Vec<String> = Vec::new();
        let mut left: Vec<String> = self.nodes.clone();
        loop {
            let ready: Vec<String> = left
                .iter()
                .filter(|n| {
                    self.deps_of(n)
                        .iter()
                        .all(|d| done.contains(d) || !self.deps.contains_key(d))
                })
                .cloned()
                .collect();
            if ready.is_empty() {
                return done;
            }
            left.retain(|n| !ready.contains(n));
            done.extend(ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(pairs: &[(&str, &[&str])]) -> Graph {
        let mut g = Graph::default();
        for (n, ds) in pairs {
            g.nodes.push(n.to_string());
            g.deps.insert(
                n.to_string(),
                ds.iter().map(|d| edge(d, String::new())).collect(),
            );
        }
        g
    }

    #[test]
    fn orders_dependencies_first() {
        let graph = g(&[
            ("app", &["delivery", "stream"]),
            ("delivery", &["bucket", "stream"]),
            ("bucket", &[]),
            ("stream", &[]),
        ]);
        assert_eq!(graph.order(), vec!["bucket", "stream", "delivery", "app"]);
        assert!(graph.find_cycle().is_none());
        assert_eq!(graph.dependents_of("stream"), vec!["app", "delivery"]);
    }

    #[test]
    fn finds_a_cycle() {
        let graph = g(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(
            graph.find_cycle(),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }
}
