//! The executor: turns the nodes of a spec into `plan`, `up`, `status` and `down`.
//! `up` runs each node once everything it depends on is usable, independent nodes
//! concurrently; `down` runs the reverse; `plan` and `status` observe every node at
//! once. Ctrl-C starts nothing new, lets in-flight API calls finish but stops every
//! wait at once ([`crate::engine::interrupt`]), and reports the state each resource was
//! left in; a second Ctrl-C prints what is known and exits 130. Knows no AWS service:
//! it only calls [`Resource`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::engine::graph::{self, At, Dependency, Needs, Wait};
use crate::engine::interrupt::{self, Known};
use crate::engine::phase::Phase;
use crate::engine::refusals;
use crate::resource::{Ctx, Drift, Node, Observed, Ownership, Present};

/// What happened (or would happen) to one resource.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// create, update, replace, no-change, blocked, not-built, delete, absent, left-alone,
    /// failed, skipped, not-started, interrupted (Ctrl-C stopped its wait: `state` is the
    /// last one seen); for `status`: ok, missing, drift, not-ours.
    pub action: String,
    /// The state AWS reported, when observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// Fixed hourly cost in US dollars while the resource exists (plan, status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_hour: Option<f64>,
    /// Creation time (seconds since the epoch), when the service reports it (status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Why: the reason for blocked/skipped, or the error of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub seconds: f64,
}

impl Row {
    fn new(node: &Node, action: &str) -> Row {
        Row {
            id: node.id.clone(),
            kind: node.resource.kind().to_string(),
            name: node.resource.name().to_string(),
            action: action.to_string(),
            state: None,
            drift: Vec::new(),
            usd_per_hour: None,
            created: None,
            detail: None,
            seconds: 0.0,
        }
    }
    fn detail(mut self, d: impl Into<String>) -> Row {
        self.detail = Some(d.into());
        self
    }
    /// True when this row means the command did not do its job for the resource.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.action.as_str(),
            "failed" | "skipped" | "blocked" | "not-started" | "interrupted"
        )
    }
}

const NOT_BUILT: &str = "labctl cannot provision this kind yet (planned in a following release)";

fn fmt_error(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// Observe every node concurrently, in node order, as AWS answered (no journal applied).
async fn observe_raw(nodes: &[Node], ctx: &Ctx) -> Vec<Option<Result<Observed>>> {
    let futs = nodes.iter().map(|n| async move {
        if !n.resource.built() {
            return None;
        }
        Some(n.resource.observe(ctx).await)
    });
    futures::future::join_all(futs).await
}

/// An untagged resource the create journal binds to (same creation time and ARN as its
/// create) is labctl's own unfinished create: shown as ours, with the missing tag as drift.
fn vouched(node: &Node, ctx: &Ctx, mut obs: Observed) -> Observed {
    if let Observed::Present(p) = &mut obs {
        if p.ownership == Ownership::Untagged
            && ctx.journal.vouches(
                node.resource.kind(),
                node.resource.name(),
                p.arn.as_deref(),
                p.created,
            )
        {
            p.ownership = Ownership::Ours;
            p.drift.push(Drift::new(
                "ownership tag",
                "missing (interrupted create)",
                "present",
            ));
        }
    }
    obs
}

/// Observe every node concurrently, in node order, with the journal applied ([`vouched`]).
async fn observe_all(nodes: &[Node], ctx: &Ctx) -> Vec<Option<Result<Observed>>> {
    observe_raw(nodes, ctx)
        .await
        .into_iter()
        .zip(nodes)
        .map(|(o, n)| o.map(|r| r.map(|obs| vouched(n, ctx, obs))))
        .collect()
}

/// What `up` would do to an observed node.
fn decide(node: &Node, obs: &Observed, adopt: bool) -> Row {
    match obs {
        Observed::Absent => Row::new(node, "create"),
        Observed::Present(p) => {
            let adoptable = adopt && p.ownership == Ownership::Untagged;
            let mut row = if adoptable && !p.replace.is_empty() {
                let mut r = Row::new(node, "blocked").detail("adopting it would need a replacement, and labctl does not delete what it did not create");
                r.drift = p.replace.clone();
                r
            } else if adoptable {
                let mut r = Row::new(node, "adopt").detail(
                    "untagged: up --adopt tags it as this pipeline's and makes it match the spec",
                );
                r.drift = p.drift.clone();
                r
            } else if let Some(why) = p.ownership.refusal() {
                let hint = if p.ownership == Ownership::Untagged {
                    ", or take it over with `labctl up --adopt`"
                } else {
                    ""
                };
                Row::new(node, "blocked").detail(format!("{} {why}; labctl will not change it (rename it in the spec, or remove the other resource{hint})", node.resource.kind()))
            } else if !p.replace.is_empty() {
                let mut r = Row::new(node, "replace")
                    .detail("AWS cannot change these fields in place: up deletes and recreates it");
                r.drift = p.replace.clone();
                r
            } else if !p.drift.is_empty() {
                let mut r = Row::new(node, "update");
                r.drift = p.drift.clone();
                r
            } else {
                Row::new(node, "no-change")
            };
            row.state = Some(p.state.clone());
            row
        }
    }
}

/// What each node was observed as (AWS's answer, before the journal is applied), for
/// [`up_from`] to act on without asking again; `None` where it was not observed.
pub type Seen = Vec<Option<Observed>>;

/// `plan`: observe everything, say what `up` would do (change nothing), and what was seen.
pub async fn plan_seen(nodes: &[Node], ctx: &Ctx) -> (Vec<Row>, Seen) {
    let raw = observe_raw(nodes, ctx).await;
    let seen: Seen = raw
        .iter()
        .map(|o| o.as_ref().and_then(|r| r.as_ref().ok()).cloned())
        .collect();
    let mut rows: Vec<Row> = nodes
        .iter()
        .zip(raw)
        .map(|(n, o)| match o {
            None => Row::new(n, "not-built").detail(NOT_BUILT),
            Some(Ok(obs)) => decide(n, &vouched(n, ctx, obs), ctx.adopt),
            Some(Err(e)) => {
                Row::new(n, "failed").detail(format!("cannot observe: {}", fmt_error(&e)))
            }
        })
        .collect();
    // A create AWS refused before in this account and region is a step known to fail.
    let refused = match refusals::load(&ctx.journal, ctx.account(), ctx.region()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("{e:#}");
            Default::default()
        }
    };
    for (row, node) in rows.iter_mut().zip(nodes) {
        known_to_fail(row, node, |class| refused.get(class).cloned());
    }
    // A node whose dependency cannot be provisioned is blocked too.
    let by_id: HashMap<String, String> = rows
        .iter()
        .map(|r| (r.id.clone(), r.action.clone()))
        .collect();
    for (row, node) in rows.iter_mut().zip(nodes) {
        if matches!(
            row.action.as_str(),
            "create" | "update" | "replace" | "adopt"
        ) {
            if let Some(d) = node.deps.iter().find(|d| {
                matches!(
                    by_id.get(*d).map(String::as_str),
                    Some("blocked" | "failed")
                )
            }) {
                row.action = "blocked".into();
                row.detail = Some(format!("depends on `{d}`, which cannot be provisioned"));
            }
        }
    }
    (order_rows(rows, nodes), seen)
}

/// A create (or the create of a replacement) of a class AWS refused before in this
/// account and region ([`refusals`]) becomes `blocked`, saying when AWS refused, what it
/// said and what to do instead.
fn known_to_fail(row: &mut Row, node: &Node, find: impl FnOnce(&str) -> Option<refusals::Refusal>) {
    if !matches!(row.action.as_str(), "create" | "replace") {
        return;
    }
    let Some(r) = node.resource.refusal_class().and_then(find) else {
        return;
    };
    row.action = "blocked".into();
    row.detail = Some(r.why());
}

/// Rows in execution order.
fn order_rows(mut rows: Vec<Row>, nodes: &[Node]) -> Vec<Row> {
    let order = execution_order(nodes);
    rows.sort_by_key(|r| order.iter().position(|i| *i == r.id).unwrap_or(usize::MAX));
    rows
}

/// Ids with every node after its dependencies (file order among equals).
pub fn execution_order(nodes: &[Node]) -> Vec<String> {
    let graph = crate::engine::graph::Graph {
        nodes: nodes.iter().map(|n| n.id.clone()).collect(),
        deps: nodes
            .iter()
            .map(|n| {
                let edges = n.deps.iter().map(|d| crate::engine::graph::Edge {
                    to: d.clone(),
                    field: String::new(),
                });
                (n.id.clone(), edges.collect())
            })
            .collect(),
    };
    let mut order = graph.order();
    // Nodes on a cycle (validation rejects these) keep their file order at the end.
    for n in nodes {
        if !order.contains(&n.id) {
            order.push(n.id.clone());
        }
    }
    order
}

/// `status`: observe everything; drift and absence are reported, not fixed.
pub async fn status(nodes: &[Node], ctx: &Ctx) -> Vec<Row> {
    let seen = observe_all(nodes, ctx).await;
    let rows = nodes
        .iter()
        .zip(seen)
        .map(|(n, o)| match o {
            None => Row::new(n, "not-built").detail(NOT_BUILT),
            Some(Err(e)) => {
                Row::new(n, "failed").detail(format!("cannot observe: {}", fmt_error(&e)))
            }
            Some(Ok(Observed::Absent)) => {
                Row::new(n, "missing").detail("does not exist; `labctl up` creates it")
            }
            Some(Ok(Observed::Present(p))) => {
                let mut r = if let Some(why) = p.ownership.refusal() {
                    Row::new(n, "not-ours").detail(format!("{} {why}", n.resource.kind()))
                } else if !p.drift.is_empty() || !p.replace.is_empty() {
                    let mut r = Row::new(n, "drift")
                        .detail("differs from the spec; `labctl up` corrects it");
                    r.drift = p.drift.iter().chain(&p.replace).cloned().collect();
                    r
                } else {
                    Row::new(n, "ok")
                };
                r.state = Some(p.state);
                r.created = p.created;
                r
            }
        })
        .collect();
    order_rows(rows, nodes)
}

/// True when `status` rows mean everything declared (and buildable) exists and matches.
pub fn status_ok(rows: &[Row]) -> bool {
    rows.iter()
        .all(|r| matches!(r.action.as_str(), "ok" | "not-built"))
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Up,
    Down,
}

fn waits_for(nodes: &[Node], dir: Direction) -> Vec<Vec<Wait>> {
    waits(nodes, dir == Direction::Up)
}

/// What each node waits for in `up` (its dependencies) or `down` (its dependents), and
/// at which point of each, as the kinds declare it (`Resource::dependency`). The one
/// source of the schedule: the executor runs on it, the local stack's critical path
/// is computed from it.
pub fn waits(nodes: &[Node], up: bool) -> Vec<Vec<Wait>> {
    let deps: Vec<Vec<(usize, Dependency)>> = nodes
        .iter()
        .map(|n| {
            n.deps
                .iter()
                .filter_map(|d| nodes.iter().position(|m| &m.id == d))
                .map(|j| (j, n.resource.dependency(nodes[j].resource.kind())))
                .collect()
        })
        .collect();
    graph::waits(&deps, up)
}

/// Why a node cannot run (or go on): `blocker`, which it waits for, did not end usable.
fn blocked_why(dir: Direction, blocker: &Row) -> String {
    let (verb, wanted) = match dir {
        Direction::Up => ("depends on", "provisioned"),
        Direction::Down => ("is used by", "removed"),
    };
    format!(
        "{verb} `{}`, which was not {wanted}: {}",
        blocker.id, blocker.action
    )
}

/// The row of a node that cannot run because `blocker`, which it waits for, did not
/// end usable.
fn blocked_row(node: &Node, dir: Direction, blocker: &Row) -> Row {
    if !node.resource.built() {
        return Row::new(node, "not-built").detail(NOT_BUILT);
    }
    Row::new(node, "skipped").detail(blocked_why(dir, blocker))
}

type Gate = watch::Sender<Option<std::result::Result<(), String>>>;

/// The nodes of one `up` or `down` and how far each has come.
struct Schedule {
    nodes: Arc<Vec<Node>>,
    ctx: Arc<Ctx>,
    dir: Direction,
    waits_for: Vec<Vec<Wait>>,
    result: Vec<Option<Row>>,
    started: Vec<bool>,
    /// The node said its dependencies may go on ([`crate::engine::phase::reached`]).
    reached: Vec<bool>,
    /// Open proceed gates of running nodes ([`crate::engine::phase::proceed`]).
    gates: Vec<Option<Gate>>,
    reached_tx: mpsc::UnboundedSender<usize>,
    interrupted: bool,
    /// Flipped on the first Ctrl-C: every running node's waits stop.
    stop: watch::Sender<bool>,
    /// What the second Ctrl-C prints.
    known: Known,
    /// `up`: what the plan observed of each node just before the run ([`up_from`]).
    prior: Seen,
}

impl Schedule {
    /// Whether node `j` ended as the others need it: usable (up) or removed (down).
    fn ended_ok(&self, j: usize) -> Option<bool> {
        self.result[j].as_ref().map(|r| match self.dir {
            Direction::Up => matches!(
                r.action.as_str(),
                "create" | "update" | "replace" | "adopt" | "no-change"
            ),
            Direction::Down => !r.is_failure(),
        })
    }

    /// Whether a wait is over: Some(true) met, Some(false) never will be, None not yet.
    fn settled(&self, w: &Wait) -> Option<bool> {
        if w.needs == Needs::Reached && self.reached[w.on] {
            return Some(true);
        }
        match self.ended_ok(w.on) {
            Some(ok) => Some(ok),
            None if self.interrupted && !self.started[w.on] => Some(false),
            None => None,
        }
    }

    /// Whether everything node `i` waits for before it starts is decided.
    fn ready(&self, i: usize) -> bool {
        !self.started[i]
            && self.waits_for[i]
                .iter()
                .filter(|w| w.at == At::Start)
                .all(|w| self.settled(w).is_some())
    }

    /// A node that `i` waits for at `at` and that will never be what `i` needs.
    fn blocker(&self, i: usize, at: At) -> Option<&Row> {
        self.waits_for[i]
            .iter()
            .filter(|w| w.at == at && self.settled(w) == Some(false))
            .find_map(|w| self.result[w.on].as_ref())
    }

    /// Start every node whose waits are over; a node behind a failure gets its row at
    /// once (which may decide others: repeat until nothing changes).
    fn start_ready(&mut self, set: &mut JoinSet<(usize, Row)>) {
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.nodes.len() {
                if !self.ready(i) {
                    continue; // started, or something it waits for is still pending or running
                }
                self.started[i] = true;
                if let Some(b) = self.blocker(i, At::Start) {
                    let row = blocked_row(&self.nodes[i], self.dir, b);
                    self.result[i] = Some(row);
                    changed = true;
                    continue;
                }
                self.spawn(i, set);
            }
        }
    }

    fn spawn(&mut self, i: usize, set: &mut JoinSet<(usize, Row)>) {
        let has_gate = self.waits_for[i].iter().any(|w| w.at == At::Proceed);
        let (gate, gate_rx) = watch::channel(if has_gate { None } else { Some(Ok(())) });
        if has_gate {
            self.gates[i] = Some(gate);
        }
        let phase = Phase::new(i, self.reached_tx.clone(), gate_rx);
        let phase = match self.dir {
            Direction::Up => phase,
            Direction::Down => phase.for_removal(),
        };
        let nodes = self.nodes.clone();
        let ctx = self.ctx.clone();
        let dir = self.dir;
        let stop = self.stop.subscribe();
        // A node that waits for nothing starts right after the plan observed it and acts
        // on that observation; one that waited looks again (time has passed).
        let prior = if self.waits_for[i].iter().any(|w| w.at == At::Start) {
            None
        } else {
            self.prior.get_mut(i).and_then(Option::take)
        };
        set.spawn(interrupt::scope(
            stop,
            phase.scope(async move {
                let t = Instant::now();
                let node = &nodes[i];
                let mut row = match dir {
                    Direction::Up => up_one(node, &ctx, prior).await,
                    Direction::Down => down_one(node, &ctx).await,
                };
                row.seconds = t.elapsed().as_secs_f64();
                (i, row)
            }),
        ));
    }

    /// Open the proceed gate of every running node whose proceed waits are met, or
    /// close it with the reason when one never will be.
    fn update_gates(&mut self) {
        for i in 0..self.nodes.len() {
            if self.gates[i].is_none() {
                continue;
            }
            let at_gate = self.waits_for[i].iter().filter(|w| w.at == At::Proceed);
            let verdict = if let Some(b) = self.blocker(i, At::Proceed) {
                Some(Err(blocked_why(self.dir, b)))
            } else if at_gate.clone().any(|w| self.settled(w) == Some(false)) {
                Some(Err(
                    "interrupted before what it needs was ready; run the command again to finish"
                        .to_string(),
                ))
            } else if at_gate.clone().all(|w| self.settled(w) == Some(true)) {
                Some(Ok(()))
            } else if self.interrupted {
                // Waiting at the gate is a wait too: Ctrl-C stops it at once.
                Some(Err(GATE_INTERRUPTED.to_string()))
            } else {
                None
            };
            if let Some(v) = verdict {
                if let Some(g) = self.gates[i].take() {
                    let _ = g.send(Some(v));
                }
            }
        }
    }

    /// One line per node, in execution order, as far as its state is known now: for
    /// the second Ctrl-C.
    fn known_lines(&self) -> Vec<String> {
        let mut lines: Vec<(usize, String)> = (0..self.nodes.len())
            .map(|i| {
                let n = &self.nodes[i];
                let left = match &self.result[i] {
                    Some(r) => left_as(r),
                    None if self.started[i] => {
                        "in flight: an API call or a wait was under way; its outcome is unknown"
                            .to_string()
                    }
                    None => "not started".to_string(),
                };
                (
                    i,
                    format!(
                        "{} ({} {}): {left}",
                        n.id,
                        n.resource.kind(),
                        n.resource.name()
                    ),
                )
            })
            .collect();
        let order = execution_order(&self.nodes);
        lines.sort_by_key(|(i, _)| {
            order
                .iter()
                .position(|id| *id == self.nodes[*i].id)
                .unwrap_or(usize::MAX)
        });
        if self.dir == Direction::Down {
            lines.reverse();
        }
        lines.into_iter().map(|(_, l)| l).collect()
    }

    /// Every node's row in execution order (dependencies first for up, dependents
    /// first for down); a node that never ran says why.
    fn rows(self, interrupted: bool) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for (i, r) in self.result.into_iter().enumerate() {
            rows.push(r.unwrap_or_else(|| {
                let why = if interrupted {
                    "not started: Ctrl-C came first; run the command again to finish"
                } else {
                    "never started"
                };
                Row::new(&self.nodes[i], "not-started").detail(why)
            }));
        }
        let mut rows = order_rows(rows, &self.nodes);
        if self.dir == Direction::Down {
            rows.reverse();
        }
        rows
    }
}

/// What a gate closed by Ctrl-C says (the node's proceed wait ends with it).
const GATE_INTERRUPTED: &str = "Ctrl-C before what it needs from the other resources was ready";

/// The first Ctrl-C: say so, and on a second one print what is known and exit 130.
fn on_first_interrupt(ctx: &Ctx, known: Known, verb: &'static str) {
    ctx.progress.step("labctl", "interrupted: in-flight API calls finish, waits stop now, nothing new starts (Ctrl-C again to quit at once)");
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            second_interrupt(&known.lines(), verb);
            std::process::exit(interrupt::SECOND_CTRL_C);
        }
    });
}

/// The second Ctrl-C: each resource's state as far as it is known, on stderr.
fn second_interrupt(lines: &[String], verb: &str) {
    use std::io::Write;
    let mut text =
        String::from("labctl: second Ctrl-C: quitting now. Each resource as far as known:\n");
    for l in lines {
        text.push_str(&format!("  {l}\n"));
    }
    text.push_str(&format!(
        "next: run `labctl {verb}` again to finish (it observes what AWS did meanwhile)\n"
    ));
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Run `up` (dependencies first) or `down` (dependents first), each node as soon as
/// what it waits for has reached the point its kind declares. Returns rows in
/// execution order, and whether Ctrl-C interrupted the run.
async fn run(nodes: Vec<Node>, ctx: Ctx, dir: Direction, prior: Seen) -> (Vec<Row>, bool) {
    let n = nodes.len();
    let (reached_tx, mut reached_rx) = mpsc::unbounded_channel();
    let mut schedule = Schedule {
        waits_for: waits_for(&nodes, dir),
        nodes: Arc::new(nodes),
        ctx: Arc::new(ctx),
        dir,
        result: vec![None; n],
        started: vec![false; n],
        reached: vec![false; n],
        gates: (0..n).map(|_| None).collect(),
        reached_tx,
        interrupted: false,
        stop: watch::Sender::new(false),
        known: Known::default(),
        prior,
    };
    let verb = match dir {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    let mut set: JoinSet<(usize, Row)> = JoinSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        if !schedule.interrupted {
            schedule.start_ready(&mut set);
        }
        schedule.update_gates();
        schedule.known.set(schedule.known_lines());
        if set.is_empty() {
            // Either all done, or nothing more can start (interrupted / nothing ready).
            let progressed = !schedule.interrupted && (0..n).any(|i| schedule.ready(i));
            if !progressed {
                break;
            }
            continue;
        }
        tokio::select! {
            joined = set.join_next() => {
                if let Some(Ok((i, row))) = joined {
                    schedule.result[i] = Some(row);
                    schedule.gates[i] = None;
                } else if let Some(Err(e)) = joined {
                    tracing::error!("a resource task ended abnormally: {e}");
                }
            }
            Some(i) = reached_rx.recv() => {
                schedule.reached[i] = true;
            }
            _ = &mut ctrl_c, if !schedule.interrupted => {
                schedule.interrupted = true;
                schedule.stop.send_replace(true);
                on_first_interrupt(&schedule.ctx, schedule.known.clone(), verb);
            }
        }
    }
    let interrupted = schedule.interrupted;
    (schedule.rows(interrupted), interrupted)
}

/// What `up` will do to a node, from what was observed: `decide`, except that a
/// journaled create an earlier run did not finish is created again. A create or
/// replace is journaled before it starts.
fn plan_up(node: &Node, obs: &Observed, ctx: &Ctx) -> Row {
    let r = &node.resource;
    let unfinished = matches!(obs, Observed::Present(p) if p.ownership == Ownership::Untagged
        && ctx.journal.vouches(r.kind(), r.name(), p.arn.as_deref(), p.created));
    let mut planned = decide(node, obs, ctx.adopt);
    if unfinished {
        ctx.progress.step(
            r.name(),
            "finishing a create that an earlier run did not complete",
        );
        planned = Row::new(node, "create");
    }
    known_to_fail(&mut planned, node, |class| {
        refusals::find(&ctx.journal, ctx.account(), ctx.region(), class)
    });
    if planned.action == "create" || planned.action == "replace" {
        ctx.journal.begin(r.kind(), r.name());
    }
    planned
}

/// Make the change `action` says (create, update, adopt or replace).
async fn change(node: &Node, ctx: &Ctx, action: &str, obs: &Observed) -> Result<()> {
    let r = &node.resource;
    match (action, obs) {
        ("create", _) => r.create(ctx).await,
        ("update", Observed::Present(p)) => r.update(ctx, p).await,
        ("adopt", Observed::Present(p)) => {
            let changes: Vec<String> = p
                .drift
                .iter()
                .map(|d| format!("{}: {} -> {}", d.field, d.actual, d.desired))
                .collect();
            ctx.progress.step(
                r.name(),
                &format!("adopting (--adopt): {}", changes.join("; ")),
            );
            r.update(ctx, p).await
        }
        ("replace", Observed::Present(p)) => {
            ctx.progress.step(
                r.name(),
                &format!(
                    "replacing: {} cannot change in place",
                    p.replace
                        .iter()
                        .map(|d| d.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            match r.delete(ctx, p).await {
                Ok(()) => r.create(ctx).await,
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    }
}

/// After a change: look again; what is left is reported, not hidden.
async fn converged(node: &Node, ctx: &Ctx, planned: Row) -> Row {
    let r = &node.resource;
    let mut row = planned;
    let seen = r.observe(ctx).await;
    if matches!(&seen, Ok(Observed::Present(p)) if p.ownership == Ownership::Ours) {
        // Tagged: the tag says it is ours from now on, the journal entry expires.
        ctx.journal.end(r.kind(), r.name());
    }
    match seen {
        Ok(Observed::Present(p))
            if p.ownership == Ownership::Ours && p.drift.is_empty() && p.replace.is_empty() =>
        {
            row.state = Some(p.state);
            ctx.progress.step(r.name(), &format!("{} done", row.action));
            return row;
        }
        Ok(Observed::Present(p)) => {
            row.detail = Some(format!(
                "still differs from the spec after {}: {}",
                row.action,
                describe_drift(&p)
            ));
        }
        Ok(Observed::Absent) => {
            row.detail = Some("not found after it was created; run `labctl up` again".into());
        }
        Err(e) => {
            row.detail = Some(format!(
                "cannot observe after the change: {}",
                fmt_error(&e)
            ));
        }
    }
    row.action = "failed".into();
    row
}

/// One node of `up`: observe it (or take `prior`, what the plan observed just before),
/// decide, change, observe again.
async fn up_one(node: &Node, ctx: &Ctx, prior: Option<Observed>) -> Row {
    let r = &node.resource;
    if !r.built() {
        return Row::new(node, "not-built").detail(NOT_BUILT);
    }
    let obs = match prior {
        Some(o) => o,
        None => match r.observe(ctx).await {
            Ok(o) => o,
            Err(e) => {
                return Row::new(node, "failed")
                    .detail(format!("cannot observe: {}", fmt_error(&e)))
            }
        },
    };
    let planned = plan_up(node, &obs, ctx);
    match planned.action.as_str() {
        "no-change" => return planned,
        "blocked" => {
            ctx.progress
                .step(r.name(), planned.detail.as_deref().unwrap_or("blocked"));
            return planned;
        }
        _ => {}
    }
    if let Err(e) = change(node, ctx, &planned.action, &obs).await {
        if let Some(row) = interrupted_row(node, ctx, &planned.action, &e).await {
            return row;
        }
        let mut row = planned;
        row.detail = Some(fmt_error(&e));
        row.action = "failed".into();
        return row;
    }
    converged(node, ctx, planned).await
}

fn describe_drift(p: &Present) -> String {
    p.drift
        .iter()
        .chain(&p.replace)
        .map(|d| format!("{} is {} (want {})", d.field, d.actual, d.desired))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn down_one(node: &Node, ctx: &Ctx) -> Row {
    let r = &node.resource;
    if !r.built() {
        return Row::new(node, "not-built").detail(NOT_BUILT);
    }
    match r.observe(ctx).await {
        Err(e) => Row::new(node, "failed").detail(format!("cannot observe: {}", fmt_error(&e))),
        Ok(Observed::Absent) => {
            ctx.journal.end(r.kind(), r.name());
            Row::new(node, "absent")
        }
        Ok(Observed::Present(p)) => {
            let unfinished = p.ownership == Ownership::Untagged
                && ctx
                    .journal
                    .vouches(r.kind(), r.name(), p.arn.as_deref(), p.created);
            if unfinished {
                ctx.progress.step(
                    r.name(),
                    "deleting what an interrupted create left (it is in the create journal)",
                );
            }
            if let (false, Some(why)) = (unfinished, p.ownership.refusal()) {
                ctx.progress.step(r.name(), &format!("left alone: {why}"));
                return Row::new(node, "left-alone").detail(format!("{} {why}", r.kind()));
            }
            match r.delete(ctx, &p).await {
                Ok(()) => {
                    ctx.journal.end(r.kind(), r.name());
                    ctx.progress.step(r.name(), "deleted");
                    Row::new(node, "delete")
                }
                Err(e) => match interrupted_row(node, ctx, "delete", &e).await {
                    Some(row) => row,
                    None => Row::new(node, "failed").detail(fmt_error(&e)),
                },
            }
        }
    }
}

/// The row of a node whose `action` Ctrl-C cut short (a wait stopped, or its proceed
/// gate closed), with the state it was left in; None when `e` is any other failure.
async fn interrupted_row(node: &Node, ctx: &Ctx, action: &str, e: &anyhow::Error) -> Option<Row> {
    let (sent, not_sent, command) = match action {
        "create" => ("created", "not created", "up"),
        "update" | "adopt" => ("update sent", "not updated", "up"),
        "replace" => ("replacement under way", "not replaced", "up"),
        _ => ("delete sent", "not deleted", "down"),
    };
    let msg = fmt_error(e);
    let (mut state, left) = if let Some(nw) = interrupt::not_waited(e) {
        if nw.accepted {
            let left = format!("{sent}, still {} — not waited for ({})", nw.state, nw.what);
            (Some(nw.state.clone()), left)
        } else {
            let left = format!(
                "{not_sent}: Ctrl-C while waiting for {} ({})",
                nw.what, nw.state
            );
            (None, left)
        }
    } else if msg.contains(GATE_INTERRUPTED) {
        (None, format!("{sent}; did not go on: {GATE_INTERRUPTED}"))
    } else {
        return None;
    };
    if state.is_none() {
        // One read, so that the report says what AWS holds now.
        state = match node.resource.observe(ctx).await {
            Ok(Observed::Present(p)) => Some(p.state),
            Ok(Observed::Absent) => Some("absent".into()),
            Err(_) => None,
        };
    }
    ctx.progress.step(node.resource.name(), &left);
    let mut row = Row::new(node, "interrupted")
        .detail(format!("{left}; `labctl {command}` again finishes it"));
    row.state = state;
    Some(row)
}

/// Rows for nodes a run never reached (Ctrl-C came before it started them), in
/// execution order (dependents first for `down`), each `not-started` saying `why`.
pub fn not_started_rows(nodes: &[Node], down: bool, why: &str) -> Vec<Row> {
    let rows = nodes
        .iter()
        .map(|n| Row::new(n, "not-started").detail(why))
        .collect();
    let mut rows = order_rows(rows, nodes);
    if down {
        rows.reverse();
    }
    rows
}

/// `up`: create or update everything, dependencies first. Right after [`plan_seen`]
/// observed the same nodes with the same context, `seen` is what it saw: a node with
/// nothing to wait for acts on that instead of asking AWS again (the requests before
/// `up`'s first create are on its critical path; issue 17). Empty: every node observes.
pub async fn up_from(nodes: Vec<Node>, ctx: Ctx, seen: Seen) -> (Vec<Row>, bool) {
    run(nodes, ctx, Direction::Up, seen).await
}

/// `down`: delete everything that is ours, dependents first.
pub async fn down(nodes: Vec<Node>, ctx: Ctx) -> (Vec<Row>, bool) {
    run(nodes, ctx, Direction::Down, Vec::new()).await
}

#[cfg(test)]
mod tests;

/// The state a run left one resource in, in words: "done (create, ACTIVE)", "not
/// started", "created, still CREATING — not waited for (…)", "failed: …". What an
/// interrupted run reports per resource.
pub fn left_as(r: &Row) -> String {
    let detail = r.detail.as_deref().unwrap_or("");
    let state = r
        .state
        .as_deref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    match r.action.as_str() {
        "create" | "update" | "replace" | "adopt" | "delete" => {
            format!("done ({}{state})", r.action)
        }
        "no-change" => format!("done (no change needed{state})"),
        "absent" => "done (already gone)".into(),
        "not-built" => "not provisioned by labctl (kind not built yet)".into(),
        "left-alone" => format!("left alone: {detail}"),
        "not-started" => "not started".into(),
        // Its detail is the whole story ("created, still CREATING — not waited for …").
        "interrupted" => detail.to_string(),
        other => format!("{other}: {detail}"),
    }
}
