//! Ctrl-C inside `up` and `down`: how a running node learns that the run was
//! interrupted, so that its *waits* stop at once while its API calls finish.
//!
//! The executor runs every node inside [`scope`] with a receiver it flips on the first
//! Ctrl-C. [`crate::engine::wait`] asks [`requested`] / [`stopped`] between polls and
//! gives up with [`NotWaited`] (a typed error the executor turns into an `interrupted`
//! row): a wait is only polling, so abandoning it loses nothing (AWS goes on, the next
//! run observes), whereas an API call that was sent is always let finish (its answer
//! may be what the create journal needs). Outside a scope nothing is ever interrupted.
//!
//! Also [`Known`]: the per-resource state as far as the executor knows it, printed on
//! stderr by the second Ctrl-C before the process exits with 130.
//!
//! Knows no AWS service, no resource kind and no command line.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The exit code of a second Ctrl-C (128 + SIGINT, as shells report it; README).
pub const SECOND_CTRL_C: i32 = 130;

tokio::task_local! {
    static STOP: watch::Receiver<bool>;
}

/// Run `f` with `stop` as the current task's interrupt flag (true: Ctrl-C was pressed).
pub async fn scope<F: Future>(stop: watch::Receiver<bool>, f: F) -> F::Output {
    STOP.scope(stop, f).await
}

/// Whether the run this task belongs to was interrupted.
pub fn requested() -> bool {
    STOP.try_with(|s| *s.borrow()).unwrap_or(false)
}

/// Resolves once the run is interrupted; never outside a scope (or when the run ended).
pub async fn stopped() {
    let Ok(mut stop) = STOP.try_with(|s| s.clone()) else {
        return std::future::pending().await;
    };
    if stop.wait_for(|v| *v).await.is_err() {
        // The executor is gone without an interrupt: nothing will ever interrupt this.
        std::future::pending::<()>().await;
    }
}

/// A wait given up because of Ctrl-C: what was awaited and the last state seen.
#[derive(Debug, Clone)]
pub struct NotWaited {
    /// Completes "waiting for …", e.g. "stream to become ACTIVE".
    pub what: String,
    /// The last state AWS reported, e.g. "CREATING".
    pub state: String,
    /// Whether the operation was accepted by AWS before the wait (false: it was still
    /// being retried, e.g. while IAM propagated, and was not sent again).
    pub accepted: bool,
}

impl std::fmt::Display for NotWaited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ctrl-C: stopped waiting for {} (last state: {})",
            self.what, self.state
        )
    }
}

impl std::error::Error for NotWaited {}

/// The Ctrl-C wait found in an error's chain, if any.
pub fn not_waited(e: &anyhow::Error) -> Option<&NotWaited> {
    e.chain().find_map(|c| c.downcast_ref::<NotWaited>())
}

/// The per-resource state as far as it is known, one line per resource, kept current
/// by the executor for the second Ctrl-C to print.
#[derive(Clone, Default)]
pub struct Known(Arc<Mutex<Vec<String>>>);

impl Known {
    pub fn set(&self, lines: Vec<String>) {
        if let Ok(mut l) = self.0.lock() {
            *l = lines;
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_scope_whose_flag_is_set_is_interrupted() {
        assert!(!requested());
        let (tx, rx) = watch::channel(false);
        scope(rx, async {
            assert!(!requested());
            tx.send(true).unwrap();
            assert!(requested());
            stopped().await;
        })
        .await;
        let e = anyhow::Error::new(NotWaited {
            what: "x to become ACTIVE".into(),
            state: "CREATING".into(),
            accepted: true,
        })
        .context("creating x");
        assert_eq!(not_waited(&e).map(|n| n.state.as_str()), Some("CREATING"));
        assert!(not_waited(&anyhow::anyhow!("other")).is_none());
    }
}
