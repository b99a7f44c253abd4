//! Resource kinds. Each module knows, for one AWS service, how to observe a resource
//! (exists? ours? how does it differ from the spec?), create it and wait until usable,
//! update it in place, and delete it and wait until gone. Modules know nothing of
//! ordering, concurrency or output: that is the engine's job.
//!
//! Adding a kind: write a module with a type implementing [`Resource`] and add one
//! line to [`build`]. The shared types live in [`model`]; kinds use it and their
//! siblings, never this module (it uses them all).

pub mod alarm;
pub mod analytics;
pub mod bucket;
pub mod dashboard;
pub mod delivery;
pub mod grants;
pub mod jsondiff;
pub mod loggroup;
pub mod metrics;
pub mod operator;
pub mod policy;
pub mod role;
pub mod stream;
pub mod unbuilt;

pub mod leftovers;
pub mod model;
pub mod orphans;

pub use model::*;

use crate::engine::graph::Graph;
use crate::spec::vars::Vars;
use crate::spec::{Engine, Spec};

// check-lengths: allow (the registry: one flat entry per resource kind)
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
                let (group, stream, retention_days) = analytics::log_target(a);
                let group = loggroup::LogGroup {
                    group,
                    stream,
                    retention_days,
                    tags: tags_for(spec, &a.tags),
                };
                push(&logs_id, vec![], Box::new(group));
                let mut extra = vec![logs_id];
                if let Some((bucket, _)) = analytics::artifact_target(spec, a) {
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
