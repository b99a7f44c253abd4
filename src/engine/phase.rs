//! The two points inside one resource's `create` or `delete` that other resources
//! may wait for, so that `up` and `down` wait only for what AWS needs:
//!
//! - [`reached`]: the resource says "the others may go on": in `down`, its delete was
//!   accepted (DELETING) or it is stopped and no longer uses what it references; in
//!   `up`, its create was accepted.
//! - [`proceed`]: the resource waits, mid-operation, for what it needs only from here
//!   on (a Flink application is created at once but started only once its stream and
//!   delivery stream are usable).
//!
//! The executor installs one [`Phase`] per running node (a task-local); outside the
//! executor both calls do nothing. Knows no AWS service and no resource kind: which
//! edge waits for which point is declared by the kinds ([`crate::engine::graph::Dependency`]).

use anyhow::{anyhow, Result};
use tokio::sync::{mpsc, watch};

/// One running node's link to the executor.
#[derive(Clone)]
pub struct Phase {
    node: usize,
    reached: mpsc::UnboundedSender<usize>,
    /// None while the node may not proceed; then Ok, or why it never will.
    gate: watch::Receiver<Option<Result<(), String>>>,
    /// The node is being removed (`down`, or `up` deleting what left the spec).
    removing: bool,
}

tokio::task_local! {
    static PHASE: Phase;
}

impl Phase {
    pub fn new(
        node: usize,
        reached: mpsc::UnboundedSender<usize>,
        gate: watch::Receiver<Option<Result<(), String>>>,
    ) -> Phase {
        Phase {
            node,
            reached,
            gate,
            removing: false,
        }
    }

    /// This phase for a node being removed (see [`removing`]).
    pub fn for_removal(mut self) -> Phase {
        self.removing = true;
        self
    }

    /// Run `f` with this phase as the current task's.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        PHASE.scope(self, f).await
    }
}

/// Whether the current node is being removed: its observation then needs only what the
/// delete uses (ownership, state), not a comparison with the spec. False outside the
/// executor.
pub fn removing() -> bool {
    PHASE.try_with(|p| p.removing).unwrap_or(false)
}

/// Tell the executor that what waits for this resource's accepted create/delete may go.
/// Calling it more than once, or outside the executor, is harmless.
pub fn reached() {
    let _ = PHASE.try_with(|p| p.reached.send(p.node));
}

/// Wait until what this resource needs from here on is usable; an error when it will
/// never be (it failed, or the run was interrupted before it started).
pub async fn proceed() -> Result<()> {
    let Ok(mut gate) = PHASE.try_with(|p| p.gate.clone()) else {
        return Ok(());
    };
    let seen = gate
        .wait_for(Option::is_some)
        .await
        .map_err(|_| anyhow!("the run ended before this step could go on"))?;
    match seen.clone() {
        Some(Ok(())) | None => Ok(()),
        Some(Err(why)) => Err(anyhow!(why)),
    }
}
