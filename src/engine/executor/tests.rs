//! Scheduling tests of the relaxed dependencies: the lab's real nodes (their kinds and
//! the dependency each kind declares), with stand-in resources that log when they
//! begin, reach their `reached`/`proceed` point and end. No clock: a stand-in that a
//! relaxed edge should let something overtake holds its end until that something has
//! begun (or until a generous deadline, so a tightened edge fails an ordering
//! assertion instead of hanging). Only the order of events is asserted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::aws::connect::Clients;
use crate::engine::journal::Journal;
use crate::engine::phase;
use crate::engine::progress::Progress;
use crate::resource::{self, Resource};
use crate::spec::vars::Vars;

type Log = Arc<Mutex<Vec<(String, &'static str)>>>;

/// How long a held stand-in waits for the event it expects before giving up (only
/// reached when the edge under test is too strict; the assertions then fail).
const DEADLOCK_GUARD: Duration = Duration::from_secs(5);

struct Fake {
    id: String,
    real: Box<dyn Resource>,
    log: Log,
    exists: Mutex<bool>,
    /// Before ending, wait until each of these (id, event) is in the log.
    hold_for: Vec<(String, &'static str)>,
}

impl Fake {
    fn note(&self, event: &'static str) {
        if let Ok(mut l) = self.log.lock() {
            l.push((self.id.clone(), event));
        }
    }
    async fn hold(&self) {
        let start = std::time::Instant::now();
        loop {
            let seen = {
                let l = self.log.lock().map(|l| l.clone()).unwrap_or_default();
                self.hold_for
                    .iter()
                    .all(|(id, ev)| l.iter().any(|(i, e)| i == id && e == ev))
            };
            if seen || start.elapsed() > DEADLOCK_GUARD {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[async_trait]
impl Resource for Fake {
    fn kind(&self) -> &'static str {
        self.real.kind()
    }
    fn name(&self) -> &str {
        self.real.name()
    }
    fn dependency(&self, on: &str) -> Dependency {
        self.real.dependency(on)
    }
    async fn observe(&self, _: &Ctx) -> Result<Observed> {
        self.note("observe");
        let exists = self.exists.lock().map(|e| *e).unwrap_or(false);
        Ok(if exists {
            Observed::Present(Present::new("ACTIVE", Ownership::Ours))
        } else {
            Observed::Absent
        })
    }
    async fn create(&self, _: &Ctx) -> Result<()> {
        self.note("begin");
        tokio::task::yield_now().await;
        phase::proceed().await?;
        self.note("proceed");
        self.hold().await;
        if let Ok(mut e) = self.exists.lock() {
            *e = true;
        }
        self.note("done");
        Ok(())
    }
    async fn update(&self, _: &Ctx, _: &Present) -> Result<()> {
        Ok(())
    }
    async fn delete(&self, _: &Ctx, _: &Present) -> Result<()> {
        self.note("begin");
        tokio::task::yield_now().await;
        phase::reached();
        self.note("reached");
        self.hold().await;
        if let Ok(mut e) = self.exists.lock() {
            *e = false;
        }
        self.note("done");
        Ok(())
    }
}

fn offline_clients() -> Clients {
    macro_rules! client {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::Config::builder()
                    .behavior_version($sdk::config::BehaviorVersion::latest())
                    .region($sdk::config::Region::new("us-east-1"))
                    .build(),
            )
        };
    }
    Clients {
        s3: client!(aws_sdk_s3),
        tagging: client!(aws_sdk_resourcegroupstagging),
        sns: client!(aws_sdk_sns),
        kinesis: client!(aws_sdk_kinesis),
        firehose: client!(aws_sdk_firehose),
        iam: client!(aws_sdk_iam),
        cloudwatch: client!(aws_sdk_cloudwatch),
        logs: client!(aws_sdk_cloudwatchlogs),
        sts: client!(aws_sdk_sts),
        kinesisanalytics: client!(aws_sdk_kinesisanalytics),
        kinesisanalyticsv2: client!(aws_sdk_kinesisanalyticsv2),
        region: "us-east-1".into(),
        endpoint: None,
        profile: None,
    }
}

/// The repository's lab (pipeline.yaml), its nodes standing in as [`Fake`]s that
/// exist (`down`) or not (`up`); `holds` says which node waits for which events.
fn lab(exists: bool, holds: &[(&str, &[(&str, &'static str)])]) -> (Vec<Node>, Ctx, Log) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    let loaded = crate::spec::load(&file).expect("the repository's pipeline.yaml loads");
    let vars = Vars::sample(Some("us-east-1"), &loaded.spec.pipeline);
    let log: Log = Arc::default();
    let nodes = resource::build(&loaded.spec, &vars)
        .into_iter()
        .map(|n| {
            let hold_for = holds
                .iter()
                .filter(|(id, _)| *id == n.id)
                .flat_map(|(_, evs)| evs.iter().map(|(i, e)| (i.to_string(), *e)))
                .collect();
            Node {
                resource: Box::new(Fake {
                    id: n.id.clone(),
                    real: n.resource,
                    log: log.clone(),
                    exists: Mutex::new(exists),
                    hold_for,
                }),
                id: n.id,
                deps: n.deps,
            }
        })
        .collect();
    let ctx = Ctx {
        aws: offline_clients(),
        vars,
        progress: Progress::new(true),
        journal: Arc::new(Journal::detached()),
        adopt: false,
        data_loss_confirmed: Vec::new(),
    };
    (nodes, ctx, log)
}

/// Position of an event in the log; panics with the log when it is missing.
fn at(log: &[(String, &'static str)], id: &str, event: &str) -> usize {
    log.iter()
        .position(|(i, e)| i == id && *e == event)
        .unwrap_or_else(|| panic!("no `{event}` of {id} in {log:?}"))
}

fn events(log: &Log) -> Vec<(String, &'static str)> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

#[tokio::test]
async fn down_deletes_the_stream_once_its_readers_are_deleting_or_stopped() {
    // The deliveries and the application end only after the stream's delete began:
    // possible only if the stream waits for their `reached`, not for their end.
    let (nodes, ctx, log) = lab(
        true,
        &[
            ("raw-delivery", &[("sensor-stream", "begin")]),
            (
                "analytics",
                &[("sensor-stream", "begin"), ("processed-delivery", "begin")],
            ),
        ],
    );
    let (rows, interrupted) = down(nodes, ctx).await;
    assert!(!interrupted);
    assert!(rows.iter().all(|r| !r.is_failure()), "{rows:?}");
    let l = events(&log);
    let stream = at(&l, "sensor-stream", "begin");
    // Relaxed: Firehose DeleteDeliveryStream accepted (DELETING) is enough ...
    assert!(at(&l, "raw-delivery", "reached") < stream, "{l:?}");
    assert!(stream < at(&l, "raw-delivery", "done"), "{l:?}");
    // ... and so is the application stopped (StopApplication).
    assert!(at(&l, "analytics", "reached") < stream, "{l:?}");
    assert!(stream < at(&l, "analytics", "done"), "{l:?}");
    // The output delivery stream likewise goes once the application is stopped.
    let processed = at(&l, "processed-delivery", "begin");
    assert!(at(&l, "analytics", "reached") < processed, "{l:?}");
    assert!(processed < at(&l, "analytics", "done"), "{l:?}");
}

#[tokio::test]
async fn down_removes_the_bucket_roles_and_log_groups_only_after_their_users_are_gone() {
    let (nodes, ctx, log) = lab(true, &[]);
    let (rows, _) = down(nodes, ctx).await;
    assert!(rows.iter().all(|r| !r.is_failure()), "{rows:?}");
    let l = events(&log);
    let gone_before = |what: &str, users: &[&str]| {
        for u in users {
            assert!(
                at(&l, u, "done") < at(&l, what, "begin"),
                "{what} began before {u} was gone: {l:?}"
            );
        }
    };
    // A deleting Firehose may still flush its buffer to the bucket, as its role, and
    // log errors; the application writes its logs while it stops, and labctl removes
    // its artifacts from the bucket after deleting it.
    gone_before(
        "lab-data",
        &["raw-delivery", "processed-delivery", "analytics"],
    );
    gone_before("delivery-role", &["raw-delivery", "processed-delivery"]);
    gone_before("analytics-role", &["analytics"]);
    gone_before("raw-delivery/logs", &["raw-delivery"]);
    gone_before("processed-delivery/logs", &["processed-delivery"]);
    gone_before("analytics/logs", &["analytics"]);
}

#[tokio::test]
async fn up_creates_the_application_while_its_streams_are_made_and_starts_it_after() {
    // The stream and the output delivery stream end only after the application began.
    let (nodes, ctx, log) = lab(
        false,
        &[
            ("sensor-stream", &[("analytics", "begin")]),
            ("processed-delivery", &[("analytics", "begin")]),
        ],
    );
    let (rows, interrupted) = up_from(nodes, ctx, Vec::new()).await;
    assert!(!interrupted);
    assert!(
        rows.iter()
            .all(|r| matches!(r.action.as_str(), "create" | "not-built")),
        "{rows:?}"
    );
    let l = events(&log);
    let app = at(&l, "analytics", "begin");
    assert!(app < at(&l, "sensor-stream", "done"), "{l:?}");
    assert!(app < at(&l, "processed-delivery", "done"), "{l:?}");
    // Started (proceed) only once both are usable.
    let start = at(&l, "analytics", "proceed");
    assert!(at(&l, "sensor-stream", "done") < start, "{l:?}");
    assert!(at(&l, "processed-delivery", "done") < start, "{l:?}");
    // What it needs at creation comes first: role, log group, the artifact's bucket.
    for d in ["analytics-role", "analytics/logs", "lab-data"] {
        assert!(at(&l, d, "done") < app, "{d}: {l:?}");
    }
    // A Kinesis-sourced delivery stream is created only once the stream is ACTIVE.
    assert!(at(&l, "sensor-stream", "done") < at(&l, "raw-delivery", "begin"));
}

#[tokio::test]
async fn a_failed_dependency_closes_the_gate_of_a_waiting_start() {
    // The stream's create fails: the application, created meanwhile, must not start.
    let (mut nodes, ctx, log) = lab(false, &[]);
    let i = nodes
        .iter()
        .position(|n| n.id == "sensor-stream")
        .expect("the lab has sensor-stream");
    let n = nodes.remove(i);
    nodes.insert(
        i,
        Node {
            id: n.id,
            deps: n.deps,
            resource: Box::new(Broken(n.resource)),
        },
    );
    let (rows, _) = up_from(nodes, ctx, Vec::new()).await;
    let app = rows.iter().find(|r| r.id == "analytics").expect("row");
    assert_eq!(app.action, "failed", "{app:?}");
    assert!(
        app.detail
            .as_deref()
            .unwrap_or("")
            .contains("sensor-stream"),
        "{app:?}"
    );
    let l = events(&log);
    assert!(l.iter().any(|(i, e)| i == "analytics" && *e == "begin"));
    assert!(!l.iter().any(|(i, e)| i == "analytics" && *e == "proceed"));
}

/// A resource whose create fails.
struct Broken(Box<dyn Resource>);

#[async_trait]
impl Resource for Broken {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn observe(&self, _: &Ctx) -> Result<Observed> {
        Ok(Observed::Absent)
    }
    async fn create(&self, _: &Ctx) -> Result<()> {
        anyhow::bail!("refused")
    }
    async fn update(&self, _: &Ctx, _: &Present) -> Result<()> {
        Ok(())
    }
    async fn delete(&self, _: &Ctx, _: &Present) -> Result<()> {
        Ok(())
    }
}

/// How many times each node was observed.
fn observations(l: &[(String, &'static str)], id: &str) -> usize {
    l.iter().filter(|(i, e)| i == id && *e == "observe").count()
}

#[tokio::test]
async fn up_acts_on_the_plans_observation_where_nothing_was_awaited() {
    let (nodes, ctx, log) = lab(false, &[]);
    let (planned, seen) = plan_seen(&nodes, &ctx).await;
    assert!(
        planned
            .iter()
            .all(|r| matches!(r.action.as_str(), "create" | "not-built")),
        "{planned:?}"
    );
    let (rows, interrupted) = up_from(nodes, ctx, seen).await;
    assert!(!interrupted);
    assert!(rows.iter().all(|r| !r.is_failure()), "{rows:?}");
    let l = events(&log);
    // A role waits for nothing: the plan's look, then the read-back after its create.
    assert_eq!(observations(&l, "delivery-role"), 2, "{l:?}");
    assert_eq!(observations(&l, "lab-data"), 2, "{l:?}");
    // The raw delivery stream waited for its stream, bucket and role: it looks again.
    assert_eq!(observations(&l, "raw-delivery"), 3, "{l:?}");
}

#[tokio::test]
async fn up_without_a_plan_observes_every_node_itself() {
    let (nodes, ctx, log) = lab(false, &[]);
    let (rows, _) = up_from(nodes, ctx, Vec::new()).await;
    assert!(rows.iter().all(|r| !r.is_failure()), "{rows:?}");
    let l = events(&log);
    assert_eq!(observations(&l, "delivery-role"), 2, "{l:?}");
    assert_eq!(observations(&l, "raw-delivery"), 2, "{l:?}");
}
