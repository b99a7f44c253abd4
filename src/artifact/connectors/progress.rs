//! Progress of fetching and merging the connector artifacts: a trait the caller
//! implements (every method has a no-op default), and a simple stderr renderer: a
//! one-line bar on a terminal, plain lines otherwise (logs, CI).
//!
//! This module must not know how artifacts are fetched or merged, nor any CLI state:
//! it only renders the events it is given.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::assembled::Assembled;

/// Where an artifact's bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// labctl's own cache (verified again on read).
    Cache,
    /// A repository directory (`LABCTL_MAVEN_REPOSITORY=/path`).
    Directory,
    /// Downloaded.
    Network,
}

/// Receives progress events. Artifacts are named by their coordinates; sizes are in
/// bytes. Calls may come from concurrent downloads, in any order between artifacts.
pub trait Progress: Send + Sync {
    /// The artifacts will be fetched: how many, and their total size.
    fn begin(&self, _artifacts: usize, _total_bytes: u64) {}
    /// An artifact starts being read from a repository (not called for cache hits).
    fn started(&self, _artifact: &str, _total: u64, _origin: Origin) {}
    /// More of an artifact has arrived.
    fn advanced(&self, _artifact: &str, _done: u64, _total: u64) {}
    /// An artifact is verified (size and SHA-256) and ready.
    fn finished(&self, _artifact: &str, _total: u64, _origin: Origin) {}
    /// All artifacts are there; merging starts.
    fn merging(&self, _artifacts: usize) {}
    /// The jar is ready (built now, or reused from the cache: see [`Assembled::reused`]).
    fn assembled(&self, _jar: &Assembled) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A size for people: `31.1 KiB`, `60.2 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Progress on stderr: a redrawn bar when stderr is a terminal, else one line per
/// artifact started and finished.
pub struct StderrProgress {
    bar: bool,
    state: Mutex<State>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for StderrProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StderrProgress")
            .field("bar", &self.bar)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    artifacts: usize,
    total: u64,
    finished: usize,
    finished_bytes: u64,
    active: BTreeMap<String, (u64, u64)>,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl Default for StderrProgress {
    fn default() -> Self {
        StderrProgress::new()
    }
}

impl StderrProgress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> StderrProgress {
        StderrProgress::with_bar(std::io::stderr().is_terminal())
    }

    /// On stderr, with a bar or plain lines as asked.
    pub fn with_bar(bar: bool) -> StderrProgress {
        StderrProgress::with_writer(bar, std::io::stderr())
    }

    /// To any writer (tests).
    pub fn with_writer(bar: bool, out: impl Write + Send + 'static) -> StderrProgress {
        StderrProgress {
            bar,
            state: Mutex::new(State::default()),
            out: Mutex::new(Box::new(out)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn line(&self, s: &mut State, text: &str) {
        let mut buf = Vec::new();
        if s.drawn {
            buf.extend_from_slice(b"\r\x1b[2K");
            s.drawn = false;
        }
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        self.write(&buf);
    }

    fn draw(&self, s: &mut State, force: bool) {
        let now = Instant::now();
        if !force
            && s.last_draw
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        s.last_draw = Some(now);
        let done = s.finished_bytes + s.active.values().map(|(d, _)| *d).sum::<u64>();
        let total = s.total.max(done).max(1);
        const WIDTH: u64 = 24;
        let filled = (done.saturating_mul(WIDTH) / total).min(WIDTH) as usize;
        let current = s
            .active
            .keys()
            .next()
            .map(|k| format!("  {k}"))
            .unwrap_or_default();
        let text = format!(
            "\r\x1b[2Kconnectors [{}{}] {} / {}  {}/{}{current}",
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            human_size(done),
            human_size(s.total),
            s.finished,
            s.artifacts,
        );
        self.write(text.as_bytes());
        s.drawn = true;
    }
}

impl Progress for StderrProgress {
    fn begin(&self, artifacts: usize, total_bytes: u64) {
        let mut s = self.state();
        s.artifacts = artifacts;
        s.total = total_bytes;
        if self.bar {
            self.draw(&mut s, true);
        }
    }

    fn started(&self, artifact: &str, total: u64, origin: Origin) {
        let mut s = self.state();
        s.active.insert(artifact.to_string(), (0, total));
        if self.bar {
            self.draw(&mut s, false);
        } else {
            let how = match origin {
                Origin::Network => "downloading",
                _ => "reading",
            };
            self.line(&mut s, &format!("{how} {artifact} ({})", human_size(total)));
        }
    }

    fn advanced(&self, artifact: &str, done: u64, total: u64) {
        if !self.bar {
            return;
        }
        let mut s = self.state();
        s.active.insert(artifact.to_string(), (done, total));
        self.draw(&mut s, false);
    }

    fn finished(&self, artifact: &str, total: u64, origin: Origin) {
        let mut s = self.state();
        s.active.remove(artifact);
        s.finished += 1;
        s.finished_bytes += total;
        if self.bar {
            self.draw(&mut s, true);
        } else {
            let from = match origin {
                Origin::Cache => "cached",
                Origin::Directory => "read",
                Origin::Network => "downloaded",
            };
            self.line(
                &mut s,
                &format!(
                    "{from} {artifact} ({}, SHA-256 verified)",
                    human_size(total)
                ),
            );
        }
    }

    fn merging(&self, artifacts: usize) {
        let mut s = self.state();
        self.line(
            &mut s,
            &format!("merging {artifacts} connector jar(s) into one"),
        );
    }

    fn assembled(&self, jar: &Assembled) {
        let mut s = self.state();
        let how = if jar.reused { "reused" } else { "built" };
        self.line(
            &mut s,
            &format!(
                "connector jar {how}: {} ({}, SHA-256 {})",
                jar.path.display(),
                human_size(jar.size),
                jar.sha256.get(..16).unwrap_or(&jar.sha256)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(31104), "30.4 KiB");
        assert_eq!(human_size(60 << 20), "60.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().map(|v| v.clone()).unwrap_or_default())
                .into_owned()
        }
    }

    fn events(p: &StderrProgress) {
        p.begin(2, 300 << 10);
        p.started("a:b:1", 100 << 10, Origin::Network);
        p.advanced("a:b:1", 50 << 10, 100 << 10);
        p.finished("a:b:1", 100 << 10, Origin::Network);
        p.finished("a:c:1", 200 << 10, Origin::Cache);
        p.merging(2);
    }

    #[test]
    fn plain_lines_off_a_terminal() {
        let sink = Sink::default();
        let p = StderrProgress::with_writer(false, sink.clone());
        events(&p);
        assert_eq!(
            sink.text(),
            "downloading a:b:1 (100.0 KiB)\n\
             downloaded a:b:1 (100.0 KiB, SHA-256 verified)\n\
             cached a:c:1 (200.0 KiB, SHA-256 verified)\n\
             merging 2 connector jar(s) into one\n"
        );
    }

    #[test]
    fn a_bar_on_a_terminal() {
        let sink = Sink::default();
        let p = StderrProgress::with_writer(true, sink.clone());
        events(&p);
        let text = sink.text();
        assert!(
            text.starts_with("\r\x1b[2Kconnectors [------------------------] 0 B / 300.0 KiB  0/2"),
            "{text:?}"
        );
        assert!(
            text.contains("[########----------------] 100.0 KiB / 300.0 KiB  1/2"),
            "{text:?}"
        );
        assert!(
            text.contains("[########################] 300.0 KiB / 300.0 KiB  2/2"),
            "{text:?}"
        );
        assert!(
            text.ends_with("\r\x1b[2Kmerging 2 connector jar(s) into one\n"),
            "{text:?}"
        );
        let s = p.state();
        assert_eq!((s.finished, s.finished_bytes), (2, 300 << 10));
        assert!(s.active.is_empty());
    }
}
