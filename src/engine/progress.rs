//! Progress on stderr: one line per step, prefixed with the elapsed time and the
//! resource, colored only on a terminal without `NO_COLOR`. Results go to stdout
//! elsewhere; nothing here is meant for machines.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    color: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Progress {
            inner: Arc::new(Inner {
                start: Instant::now(),
                color,
                quiet,
            }),
        }
    }

    /// Whether color may be used on stderr.
    pub fn color(&self) -> bool {
        self.inner.color
    }

    /// Report a step of work on one resource.
    pub fn step(&self, resource: &str, message: &str) {
        if self.inner.quiet {
            // Shown at -v only when the progress line itself is not.
            tracing::debug!(resource, "{message}");
            return;
        }
        let t = self.inner.start.elapsed().as_secs_f64();
        let line = if self.inner.color {
            format!("\x1b[2m{t:6.1}s\x1b[0m \x1b[36m{resource}\x1b[0m {message}\n")
        } else {
            format!("{t:6.1}s {resource} {message}\n")
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}
