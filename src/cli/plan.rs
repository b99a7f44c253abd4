//! `labctl plan`: what `up` would do to each resource, and the hourly cost. Changes
//! nothing. Each Flink application's code artifact is built first (before any AWS
//! call, as `up` does) and its S3 key and size are shown on the application's row.

use anyhow::Result;

use super::args::Cli;
use super::session::{self, Outcome};
use crate::artifact::{self, Artifact};
use crate::engine::executor::{self, Row};
use crate::error::exit;
use crate::resource;
use crate::spec::Spec;

pub async fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    let built = artifact::prepare_spec(
        &loaded.spec.clone().with_base_dir(&loaded.base_dir),
        cli.quiet,
    )
    .await?;
    let p = session::open(cli, &loaded).await?;
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let mut rows = executor::plan(&nodes, &p.ctx).await;
    show_artifacts(&p.resolved, &built, &mut rows);
    let ok = !rows.iter().any(|r| r.action == "failed");
    let cost = crate::cost::annotate(&p.resolved, &mut rows, &p.region, false);
    let outcome = Outcome {
        ok,
        cost: Some(cost),
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if ok { exit::OK } else { exit::FAILED })
}

/// The artifact's `s3://bucket/key` and size on each Flink application's row.
fn show_artifacts(spec: &Spec, built: &[(String, Artifact)], rows: &mut [Row]) {
    for (id, a) in built {
        let (Some(app), Some(row)) = (
            spec.applications.get(id),
            rows.iter_mut().find(|r| &r.id == id),
        ) else {
            continue;
        };
        let Some((bucket_id, prefix)) = resource::analytics::artifact_target(spec, app) else {
            continue;
        };
        let bucket = spec
            .buckets
            .get(&bucket_id)
            .map(|b| b.name.as_str())
            .unwrap_or(bucket_id.as_str());
        let text = format!(
            "artifact s3://{bucket}/{} ({} bytes; {} {} bytes)",
            a.key(&prefix, &app.name),
            a.bytes.len(),
            a.jar_path,
            a.jar_size
        );
        row.detail = Some(match row.detail.take() {
            Some(d) => format!("{d}; {text}"),
            None => text,
        });
    }
}
