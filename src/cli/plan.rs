//! `labctl plan`: what `up` would change, in terraform's spirit: the resources that
//! change (every one with `--all`; `--output json` always lists every one), why, a
//! summary line with the counts and the hourly cost delta, and with
//! `--detailed-exitcode` exit 5 when there are changes to make. Changes nothing.
//! Resources tagged for the pipeline that the spec no longer declares are planned as
//! `delete` (see [`crate::engine::prune`]). Each Flink application's code artifact is
//! built first (before any AWS call, as `up` does) and its S3 key and size are shown
//! on the application's row. Takes no lock (it only reads); while a run of the same
//! pipeline holds the lock, it says so on stderr ([`note_running`]).

use anyhow::Result;

use super::args::Cli;
use super::session::{self, Outcome, Pipeline};
use crate::artifact::{self, Artifact};
use crate::cost::Summary;
use crate::engine::executor::{self, Row};
use crate::engine::prune;
use crate::engine::report::{Changes, Format};
use crate::error::exit;
use crate::resource::{self, orphans, Node};
use crate::spec::Spec;

/// `plan --detailed-exitcode`: there are changes to make. Not one of labctl's other
/// codes (0, 1, 2, 3, 4, 130); terraform's own 2 is labctl's "bad input".
pub const CHANGES_PENDING: i32 = 5;

pub async fn run(cli: &Cli, all: bool, detailed_exitcode: bool) -> Result<i32> {
    let loaded = session::load(cli)?;
    let built = artifact::prepare_spec(
        &loaded.spec.clone().with_base_dir(&loaded.base_dir),
        cli.quiet,
    )
    .await?;
    let p = session::open(cli, &loaded).await?;
    note_running(cli, &loaded.base_dir, &p);
    let nodes = resource::build(&p.resolved, &p.ctx.vars);
    let planned = plan(&p, &nodes).await;
    let mut rows = planned.rows;
    show_artifacts(&p.resolved, &built, &mut rows);
    let ok = !rows.iter().any(|r| r.action == "failed");
    let mut changes = Changes::of(&rows);
    let pending = changes.pending();
    // The table shows what changes; JSON (for machines) every row.
    if !all && cli.output == Format::Table {
        let before = rows.len();
        rows.retain(|r| r.action != "no-change");
        changes.hidden = before - rows.len();
    }
    let outcome = Outcome {
        ok,
        cost: Some(planned.cost),
        changes: Some(changes),
        ..Outcome::rows(rows)
    };
    session::print_report(cli, &p, outcome);
    Ok(if !ok {
        exit::FAILED
    } else if detailed_exitcode && pending {
        CHANGES_PENDING
    } else {
        exit::OK
    })
}

/// `plan` and `status` take no lock (they only read): when an `up`, `down` or
/// `leftovers --delete` of this pipeline, account and region holds it now, say so on
/// stderr, since what they show may change as soon as they have shown it.
pub(super) fn note_running(cli: &Cli, spec_dir: &std::path::Path, p: &Pipeline) {
    let scope = crate::engine::lock::Scope {
        spec_dir,
        pipeline: &p.resolved.pipeline,
        account: &p.account,
        region: &p.region,
    };
    if let (false, Some(h)) = (cli.quiet, crate::engine::lock::peek(&scope)) {
        eprintln!(
            "note: {} is changing pipeline {} in {} now; what follows may be out of date as soon as it is shown",
            h.describe(),
            p.resolved.pipeline,
            p.region
        );
    }
}

/// What `up` would do: the declared nodes' rows, then the orphans' `delete` rows.
pub struct Planned {
    pub rows: Vec<Row>,
    /// The nodes that delete the orphans (empty when the search did not answer).
    pub orphans: Vec<Node>,
    /// What the pipeline costs per hour once `up` has run (orphans not counted).
    pub cost: Summary,
}

/// Observe every declared node and search for orphans (a search that fails is a
/// warning: nothing is planned for deletion then), each row with its hourly cost.
pub async fn plan(p: &Pipeline, nodes: &[Node]) -> Planned {
    // Both only read, and neither needs the other: at once.
    let (declared, found) = tokio::join!(declared(p, nodes), orphans(p, nodes));
    let mut rows = declared.rows;
    rows.extend(orphan_rows(p, &found));
    Planned {
        rows,
        orphans: found.nodes,
        cost: declared.cost,
    }
}

/// What `up` would do to the declared nodes, and what they were observed as.
pub struct Declared {
    pub rows: Vec<Row>,
    /// What each node was observed as, in node order, for `up` to act on.
    pub seen: executor::Seen,
    /// What the pipeline costs per hour once `up` has run.
    pub cost: Summary,
}

/// Observe every declared node: its row (with its hourly cost) and what was seen.
pub async fn declared(p: &Pipeline, nodes: &[Node]) -> Declared {
    let (mut rows, seen) = executor::plan_seen(nodes, &p.ctx).await;
    mark_destructive(&mut rows);
    let cost = crate::cost::annotate(&p.resolved, &mut rows, &p.region, false);
    Declared { rows, seen, cost }
}

/// What is tagged for the pipeline and no longer declared; a search that fails is a
/// warning, and nothing is found then.
pub async fn orphans(p: &Pipeline, nodes: &[Node]) -> orphans::Orphans {
    match orphans::find(&p.ctx, nodes, false).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!("{e:#}; nothing is planned for deletion");
            orphans::Orphans {
                found: Vec::new(),
                nodes: Vec::new(),
            }
        }
    }
}

/// The orphans' `delete` rows, each with its hourly cost.
pub fn orphan_rows(p: &Pipeline, found: &orphans::Orphans) -> Vec<Row> {
    let price = |id: &str| {
        found
            .found
            .iter()
            .find(|f| orphans::id_of(&f.kind, &f.name) == id)
            .map(|f| f.usd_per_hour)
    };
    prune::plan_rows(&found.nodes, &p.resolved.pipeline, price)
}

/// A replacement that deletes a bucket's objects says so on its row: `up` asks on a
/// terminal, refuses elsewhere, and goes on only with `--allow-data-loss`.
fn mark_destructive(rows: &mut [Row]) {
    for r in rows.iter_mut().filter(|r| r.action == "replace") {
        let Some(d) = r
            .drift
            .iter()
            .find(|d| d.field == resource::bucket::DATA_AT_STAKE)
        else {
            continue;
        };
        r.detail = Some(format!(
            "DESTROYS DATA: replacing it deletes {} (up asks first, or needs --allow-data-loss)",
            d.actual
        ));
    }
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
