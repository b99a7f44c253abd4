//! Bounded waits: poll a resource until it reaches the state asked for, with
//! exponential backoff (so that a whole pipeline waiting at once stays inside the
//! services' describe limits), a progress line before every wait, and an error that
//! says what was awaited, the last state seen and what to do when the bound passes.
//! On Ctrl-C ([`crate::engine::interrupt`]) a wait stops at once: the poll in flight
//! finishes, one more poll reads the current state, and the wait ends with
//! [`interrupt::NotWaited`] unless that poll found it ready.
//!
//! Benchmarks only, behind the `wait-scale` cargo feature (off by default, so a normal
//! build has no such knob): `LABCTL_WAIT_SCALE` (a factor, default 1) scales every bound
//! and delay, so that against `labctl-local dev --transitions F` (AWS transition times
//! scaled by F) a run with the same F behaves like a real-time run, only shorter.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::engine::interrupt;
use crate::engine::progress::Progress;

/// The outcome of one poll.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the current state, for the progress line.
    Pending(String),
}

/// How long to wait and how often to look. A wait ends up to `max_delay` after AWS's
/// state changed, so the waits on the pipeline's critical path (the delivery streams
/// and the application: `labctl-local critical-path`) look every 0.5 s, the stream's
/// every 1 s. Kinesis documents DescribeStreamSummary at 20 TPS per account (Kinesis
/// Data Streams API Reference); the Firehose and Managed Flink quota pages
/// (general/latest/gr/fh.html, ka.html) list no per-call describe limit, and a
/// throttled describe is retried by the SDK's standard retry mode.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub timeout: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

/// `LABCTL_WAIT_SCALE`, read once; 1 when unset or not a positive number.
#[cfg(feature = "wait-scale")]
fn scale() -> f64 {
    use std::sync::OnceLock;
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("LABCTL_WAIT_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(1.0)
    })
}

/// Without the `wait-scale` feature every wait runs in real time.
#[cfg(not(feature = "wait-scale"))]
fn scale() -> f64 {
    1.0
}

impl Bound {
    /// This bound with every duration multiplied by `f`.
    pub fn scaled(self, f: f64) -> Bound {
        Bound {
            timeout: self.timeout.mul_f64(f),
            first_delay: self.first_delay.mul_f64(f),
            max_delay: self.max_delay.mul_f64(f),
        }
    }

    pub const fn new(timeout_secs: u64, first_delay_ms: u64, max_delay_ms: u64) -> Bound {
        Bound {
            timeout: Duration::from_secs(timeout_secs),
            first_delay: Duration::from_millis(first_delay_ms),
            max_delay: Duration::from_millis(max_delay_ms),
        }
    }
}

/// Poll until ready. `what` completes "waiting for …", e.g. "stream to become ACTIVE".
pub async fn until<T, F, Fut>(
    progress: &Progress,
    resource: &str,
    what: &str,
    bound: Bound,
    mut poll: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let bound = bound.scaled(scale());
    let start = Instant::now();
    let mut delay = bound.first_delay;
    let mut announced = false;
    loop {
        match poll().await? {
            Poll::Ready(v) => {
                if announced {
                    progress.step(
                        resource,
                        &format!(
                            "done waiting for {what} after {:.1}s",
                            start.elapsed().as_secs_f64()
                        ),
                    );
                }
                return Ok(v);
            }
            Poll::Pending(state) => {
                // Ctrl-C: a wait is only polling; stop it (the poll in flight finished).
                if interrupt::requested() {
                    return Err(interrupt::NotWaited {
                        what: what.to_string(),
                        state,
                        accepted: true,
                    }
                    .into());
                }
                let waited = start.elapsed();
                if waited >= bound.timeout {
                    bail!(
                        "gave up waiting for {what} after {}s (last state: {state}); AWS may still be working on it: run the same command again to resume, or check the resource in the console",
                        waited.as_secs()
                    );
                }
                progress.step(
                    resource,
                    &format!(
                        "waiting for {what}: {state} ({}s of at most {}s)",
                        waited.as_secs(),
                        bound.timeout.as_secs()
                    ),
                );
                announced = true;
                let left = bound.timeout.saturating_sub(waited);
                // On Ctrl-C, look once more at once (the state the report gives is fresh).
                tokio::select! {
                    _ = tokio::time::sleep(delay.min(left)) => {}
                    _ = interrupt::stopped() => {}
                }
                delay = (delay * 2).min(bound.max_delay);
            }
        }
    }
}

/// How long IAM-propagation refusals are retried: 120 s, or `LABCTL_IAM_PROPAGATION_SECONDS`.
pub fn iam_propagation_bound() -> Bound {
    let secs = std::env::var("LABCTL_IAM_PROPAGATION_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    Bound {
        timeout: Duration::from_secs(secs),
        // Every 0.5 s: a create refused while IAM propagates goes through within 0.5 s of
        // the role becoming usable (it is on `up`'s critical path: role, propagation,
        // processed delivery stream, application). Two calls per second per resource; a
        // throttled call is retried by the SDK's standard retry mode.
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_millis(500),
    }
}

/// Run a call, retrying only the refusals `is_propagation` recognises (a service that
/// cannot use a role IAM has not propagated yet), with a progress line before each
/// wait and a clear error once [`iam_propagation_bound`] has passed. Every other error
/// is returned at once.
pub async fn retry_iam_propagation<F, Fut>(
    progress: &Progress,
    resource: &str,
    service: &str,
    role: &str,
    what: &str,
    is_propagation: fn(&str) -> bool,
    mut call: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let bound = iam_propagation_bound();
    let start = Instant::now();
    let mut delay = bound.first_delay;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(e) if is_propagation(&format!("{e:#}")) => {
                if start.elapsed() + delay > bound.timeout {
                    bail!(
                        "{what}: {service} still cannot use role {role} after {}s ({e:#}); check that the role exists and its policy grants what the message names, then run `labctl up` again",
                        start.elapsed().as_secs()
                    );
                }
                progress.step(
                    resource,
                    &format!(
                        "IAM is propagating ({service} cannot use the role yet); retrying {what} in {:.1}s",
                        delay.as_secs_f64()
                    ),
                );
                // Ctrl-C: the call was refused, so nothing was made; do not send it again.
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = interrupt::stopped() => {
                        return Err(anyhow::Error::new(interrupt::NotWaited {
                            what: format!("{service} to accept role {role} ({what})"),
                            state: "refused while IAM propagates".into(),
                            accepted: false,
                        })
                        .context(format!("{e:#}")));
                    }
                }
                delay = (delay * 2).min(bound.max_delay);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_when_ready_and_gives_up_at_the_bound() {
        let p = Progress::new(true);
        let n = AtomicU32::new(0);
        let v = until(&p, "x", "thing", Bound::new(5, 1, 1000), || async {
            Ok(if n.fetch_add(1, Ordering::SeqCst) >= 2 {
                Poll::Ready(7)
            } else {
                Poll::Pending("CREATING".into())
            })
        })
        .await
        .unwrap();
        assert_eq!((v, n.load(Ordering::SeqCst)), (7, 3));

        let err = until(
            &p,
            "x",
            "thing",
            Bound {
                timeout: Duration::from_millis(30),
                first_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(5),
            },
            || async { Ok(Poll::<()>::Pending("CREATING".into())) },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("gave up waiting for thing") && err.contains("CREATING"),
            "{err}"
        );
    }
}
