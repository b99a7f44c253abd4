//! One application's job: prepare its directory, run `python main.py`, follow it.
//!
//! - Running: decided by the job itself, through Flink's REST API of the job's mini
//!   cluster (`GET /jobs/overview`, a job in state RUNNING). The REST port is the one
//!   the mini cluster logs ("Rest endpoint listening at …") in `FLINK_LOG_DIR`, which
//!   the runner points into the job's directory; `LABCTL_FLINK_REST_PORT` is also set
//!   for a main.py that pins the port (a local-only knob).
//! - Cannot be submitted (the process ends before the job ran): the job's error lines
//!   go to the application's log stream and the application returns to READY, as a
//!   Managed Flink application whose job cannot be submitted does.
//! - Dies while RUNNING: Managed Flink restarts the job (its default restart strategy;
//!   developer guide, "Fault tolerance" and "Implement fault tolerance"); the
//!   application stays RUNNING while `fullRestarts` counts up and `downtime` grows
//!   until the job runs again. Here the process is started again after
//!   [`super::RunnerConfig::restart_delay`].
//! - Stop: SIGTERM to the process group (SIGKILL for Force, or after 10 s), then READY.
//!
//! Metrics (namespace `AWS/KinesisAnalytics`, dimension `Application`; developer guide,
//! "Metrics and dimensions in Managed Service for Apache Flink"), every
//! [`super::RunnerConfig::metrics_every`] (15 s, Managed Flink's four samples a minute):
//! `numRecordsIn` (the records the job's source vertices emitted, from Flink's REST
//! `GET /jobs/<id>` vertex metrics, i.e. the records read from the stream), `uptime`
//! and `downtime` (milliseconds), `fullRestarts` (count since the start).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::model::{log_events, properties_json, JobSpec, JobState, OnState, RunnerConfig};
use super::moto::Moto;

/// A job's stop request and process id, shared with the runner.
#[derive(Clone, Default)]
pub struct Control(Arc<ControlInner>);

#[derive(Default)]
struct ControlInner {
    /// None: run; Some(force): stop.
    stop: Mutex<Option<bool>>,
    notify: tokio::sync::Notify,
    pid: AtomicU32,
}

impl Control {
    pub fn stop(&self, force: bool) {
        if let Ok(mut s) = self.0.stop.lock() {
            *s = Some(force || s.unwrap_or(false));
        }
        self.0.notify.notify_waiters();
    }
    fn stopping(&self) -> Option<bool> {
        self.0.stop.lock().ok().and_then(|s| *s)
    }
    pub fn pid(&self) -> Option<u32> {
        Some(self.0.pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }
    pub fn same(&self, other: &Control) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The lines a job printed: the last ones, and the error lines not yet logged.
#[derive(Default)]
struct Output {
    tail: VecDeque<String>,
    errors: Vec<String>,
    in_traceback: bool,
}

impl Output {
    fn push(&mut self, line: String) {
        let error = self.in_traceback
            || ["ERROR", "Exception", "Error:", "Traceback", "Caused by"]
                .iter()
                .any(|w| line.contains(w));
        if line.starts_with("Traceback") {
            self.in_traceback = true;
        }
        if error {
            self.errors.push(line.clone());
        }
        if self.tail.len() == 200 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// How the process ended.
enum Exit {
    Stopped,
    /// Ended by itself; whether its job had run.
    Died {
        ran: bool,
        status: String,
    },
}

/// Counters for the metrics.
#[derive(Default)]
struct Counters {
    full_restarts: u64,
    running_since: Option<Instant>,
    down_since: Option<Instant>,
    records_in: f64,
}

struct Job<'a> {
    cfg: &'a RunnerConfig,
    spec: &'a JobSpec,
    moto: Moto,
    log_stream: Option<String>,
    on_state: OnState,
    control: Control,
    counters: Counters,
    reported_running: bool,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Empty<Bytes>,
    >,
}

pub async fn supervise(cfg: &RunnerConfig, spec: JobSpec, on_state: OnState, control: Control) {
    let log_stream = spec
        .detail
        .get("CloudWatchLoggingOptionDescriptions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|o| o["LogStreamARN"].as_str())
        .map(str::to_string);
    let mut job = Job {
        cfg,
        spec: &spec,
        moto: Moto::new(&cfg.moto),
        log_stream,
        on_state,
        control,
        counters: Counters::default(),
        reported_running: false,
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
    };
    let work = match tempfile::Builder::new().prefix("labctl-flink-").tempdir() {
        Ok(w) => w,
        Err(e) => {
            job.fail(&[format!(
                "labctl-local: no temporary directory for the job: {e}"
            )])
            .await;
            return;
        }
    };
    if let Err(e) = job.prepare(work.path()).await {
        job.fail(&[format!("Could not prepare the application's code: {e:#}")])
            .await;
        return;
    }
    loop {
        match job.run_once(work.path()).await {
            Exit::Stopped => {
                (job.on_state)(JobState::Stopped);
                return;
            }
            Exit::Died { ran: false, status } if !job.reported_running => {
                job.fail(&[format!(
                    "The Flink job could not be submitted: python main.py exited ({status}) before the job ran"
                )])
                .await;
                return;
            }
            Exit::Died { status, .. } => {
                job.say(&[format!(
                    "The Flink job failed (python main.py exited: {status}); restarting it"
                )])
                .await;
                job.counters.full_restarts += 1;
                job.counters.running_since = None;
                job.counters.down_since.get_or_insert_with(Instant::now);
                if job.pause(job.cfg.restart_delay).await {
                    (job.on_state)(JobState::Stopped);
                    return;
                }
            }
        }
    }
}

/// Collect what the process prints on stdout and stderr, line by line.
fn collect_output(child: &mut tokio::process::Child) -> Arc<Mutex<Output>> {
    let out: Arc<Mutex<Output>> = Arc::default();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let out = out.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(mut o) = out.lock() {
                    o.push(l);
                }
            }
        });
    }
    out
}

impl Job<'_> {
    fn region(&self) -> &str {
        &self.spec.key.1
    }

    /// Write lines as ERROR events to the application's log stream.
    async fn say(&self, lines: &[String]) {
        let Some(arn) = &self.log_stream else { return };
        if lines.is_empty() {
            return;
        }
        let events = log_events(&self.spec.arn, self.spec.version, lines);
        if let Err(e) = self.moto.put_log_events(self.region(), arn, &events).await {
            tracing::warn!(error = %format!("{e:#}"), "writing the job's log events");
        }
    }

    async fn fail(&self, lines: &[String]) {
        self.say(lines).await;
        (self.on_state)(JobState::FailedToStart);
    }

    /// Fetch and unpack the code zip, write the properties.
    async fn prepare(&self, work: &Path) -> Result<()> {
        let loc = self
            .spec
            .detail
            .get("ApplicationConfigurationDescription")
            .and_then(|c| c.get("ApplicationCodeConfigurationDescription"))
            .and_then(|c| c.get("CodeContentDescription"))
            .and_then(|c| c.get("S3ApplicationCodeLocationDescription"))
            .context("the application has no S3 code location")?;
        let bucket = loc["BucketARN"]
            .as_str()
            .and_then(|b| b.strip_prefix("arn:aws:s3:::"))
            .context("the code location has no bucket ARN")?;
        let key = loc["FileKey"]
            .as_str()
            .context("the code location has no file key")?;
        let zip = self.moto.get_object(self.region(), bucket, key).await?;
        let code = work.join("code");
        unzip(&zip, &code).with_context(|| format!("unpacking s3://{bucket}/{key}"))?;
        if !code.join("main.py").is_file() {
            bail!("s3://{bucket}/{key} has no main.py at its root");
        }
        let props = properties_json(&self.spec.detail, &self.cfg.front);
        std::fs::write(
            work.join("application_properties.json"),
            serde_json::to_vec_pretty(&props)?,
        )?;
        Ok(())
    }

    /// Sleep up to `d`, publishing downtime; true when a stop came meanwhile.
    async fn pause(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.control.stopping().is_some() {
                return true;
            }
            self.publish().await;
            let left = end.saturating_duration_since(Instant::now());
            let notified = self.control.0.notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(left.min(self.cfg.metrics_every)) => {}
            }
        }
        self.publish().await;
        self.control.stopping().is_some()
    }

    /// The Python process that runs the application's main.py in `code`, logging to
    /// `log_dir`, with Flink's REST API on `rest_port` and no AWS credentials of ours.
    fn command(
        &self,
        work: &Path,
        code: &Path,
        log_dir: &Path,
        rest_port: u16,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.cfg.python);
        cmd.arg("main.py")
            .current_dir(code)
            .env(
                "LABCTL_APPLICATION_PROPERTIES",
                work.join("application_properties.json"),
            )
            .env("AWS_CBOR_DISABLE", "true")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("FLINK_LOG_DIR", log_dir)
            .env("LABCTL_FLINK_REST_PORT", rest_port.to_string())
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    /// One look at the job through Flink's REST API on port `p`: note when it first
    /// runs, and publish its metrics every `metrics_every` while it runs.
    async fn watch(&mut self, p: u16, ran: &mut bool, last_metrics: &mut Instant) {
        if let Some(state) = self.job_state(p).await {
            if state == "RUNNING" && !*ran {
                *ran = true;
                self.counters.running_since = Some(Instant::now());
                self.counters.down_since = None;
                if !self.reported_running {
                    self.reported_running = true;
                    (self.on_state)(JobState::Running);
                }
            }
        }
        if *ran && last_metrics.elapsed() >= self.cfg.metrics_every {
            *last_metrics = Instant::now();
            if let Some(n) = self.records_in(p).await {
                self.counters.records_in = n;
            }
            self.publish().await;
        }
    }

    async fn run_once(&mut self, work: &Path) -> Exit {
        let code = work.join("code");
        let log_dir = work.join(format!("log-{}", self.counters.full_restarts));
        let rest_port = free_port();
        let mut cmd = self.command(work, &code, &log_dir, rest_port);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Exit::Died {
                    ran: false,
                    status: format!("could not run {}: {e}", self.cfg.python.display()),
                }
            }
        };
        let pid = child.id().unwrap_or(0);
        self.control.0.pid.store(pid, Ordering::SeqCst);
        let out = collect_output(&mut child);
        let mut port: Option<u16> = None;
        let mut ran = false;
        let mut last_metrics = Instant::now() - self.cfg.metrics_every;
        let exit = loop {
            if let Some(force) = self.control.stopping() {
                stop_group(pid, &mut child, force).await;
                break Exit::Stopped;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Let the readers drain what the process printed last.
                tokio::time::sleep(Duration::from_millis(300)).await;
                break Exit::Died {
                    ran,
                    status: status.to_string(),
                };
            }
            if port.is_none() {
                port = rest_port_from_logs(&log_dir);
            }
            // Restarting after a failure: the outage goes on until the job runs again.
            if !ran
                && self.counters.down_since.is_some()
                && last_metrics.elapsed() >= self.cfg.metrics_every
            {
                last_metrics = Instant::now();
                self.publish().await;
            }
            if let Some(p) = port {
                self.watch(p, &mut ran, &mut last_metrics).await;
            }
            let errors = out
                .lock()
                .map(|mut o| std::mem::take(&mut o.errors))
                .unwrap_or_default();
            self.say(&errors).await;
            let notified = self.control.0.notify.notified();
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        };
        self.control.0.pid.store(0, Ordering::SeqCst);
        let (errors, tail) = out
            .lock()
            .map(|mut o| (std::mem::take(&mut o.errors), o.tail.clone()))
            .unwrap_or_default();
        if matches!(exit, Exit::Died { .. }) {
            // No error line at all: the last lines say what happened.
            let lines: Vec<String> = if errors.is_empty() {
                tail.into_iter().rev().take(20).rev().collect()
            } else {
                errors
            };
            self.say(&lines).await;
        }
        exit
    }

    async fn get(&self, port: u16, path: &str) -> Option<Value> {
        let uri: hyper::Uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
        let resp = tokio::time::timeout(Duration::from_secs(5), self.http.get(uri))
            .await
            .ok()?
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&body).ok()
    }

    /// The state of the job in the mini cluster (`GET /jobs/overview`).
    async fn job_state(&self, port: u16) -> Option<String> {
        let v = self.get(port, "/jobs/overview").await?;
        let jobs = v["jobs"].as_array()?;
        if jobs.iter().any(|j| j["state"] == "RUNNING") {
            return Some("RUNNING".into());
        }
        jobs.first()
            .and_then(|j| j["state"].as_str())
            .map(str::to_string)
    }

    /// Records the job's source operators emitted (their operator metric
    /// `numRecordsOut`, from `GET /jobs/<id>/vertices/<vid>/metrics`): the records read
    /// from the stream. Vertex-level `write-records` would not do: the source is chained
    /// with the local window aggregation, whose output only comes when a window closes.
    async fn records_in(&self, port: u16) -> Option<f64> {
        let v = self.get(port, "/jobs/overview").await?;
        let id = v["jobs"]
            .as_array()?
            .iter()
            .find(|j| j["state"] == "RUNNING")?["jid"]
            .as_str()?
            .to_string();
        let j = self.get(port, &format!("/jobs/{id}")).await?;
        let mut total = 0.0;
        for vertex in j["vertices"].as_array()? {
            let Some(vid) = vertex["id"].as_str() else {
                continue;
            };
            let path = format!("/jobs/{id}/vertices/{vid}/metrics");
            let Some(list) = self.get(port, &path).await else {
                continue;
            };
            let ids: Vec<&str> = list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["id"].as_str())
                .filter(|m| source_records_metric(m))
                .collect();
            if ids.is_empty() {
                continue;
            }
            let Some(values) = self
                .get(port, &format!("{path}?get={}", ids.join(",")))
                .await
            else {
                continue;
            };
            total += values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["value"].as_str().and_then(|x| x.parse::<f64>().ok()))
                .sum::<f64>();
        }
        Some(total)
    }

    /// Publish the job's metrics to CloudWatch.
    async fn publish(&self) {
        let c = &self.counters;
        let ms = |i: Option<Instant>| i.map(|t| t.elapsed().as_millis() as f64).unwrap_or(0.0);
        let running = c.running_since.is_some();
        let data = [
            (
                "numRecordsIn",
                "Count",
                if running { c.records_in } else { 0.0 },
            ),
            ("uptime", "Milliseconds", ms(c.running_since)),
            ("downtime", "Milliseconds", ms(c.down_since)),
            ("fullRestarts", "Count", c.full_restarts as f64),
        ];
        tracing::debug!(app = %self.spec.key.2, ?data, "publishing the job's metrics");
        if let Err(e) = self
            .moto
            .put_metric_data(
                self.region(),
                "AWS/KinesisAnalytics",
                ("Application", &self.spec.key.2),
                &data,
            )
            .await
        {
            tracing::warn!(error = %format!("{e:#}"), "publishing the job's metrics");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Whether a vertex metric id (`<subtask>.<operator>.<metric>`) is a source operator's
/// `numRecordsOut` (Flink names source operators `Source: …`, `Source__…` in metric ids).
fn source_records_metric(id: &str) -> bool {
    let mut parts = id.splitn(2, '.');
    let (_, rest) = (parts.next(), parts.next().unwrap_or(""));
    rest.starts_with("Source") && rest.ends_with(".numRecordsOut")
}

/// The REST port the mini cluster logged ("Rest endpoint listening at host:port").
fn rest_port_from_logs(dir: &Path) -> Option<u16> {
    const MARK: &str = "Rest endpoint listening at ";
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Some(i) = text.find(MARK) {
            let rest = &text[i + MARK.len()..];
            let addr = rest.split_whitespace().next().unwrap_or("");
            if let Some(p) = addr.rsplit(':').next().and_then(|p| p.parse().ok()) {
                return Some(p);
            }
        }
    }
    None
}

/// End the process group: SIGTERM (SIGKILL when forced), SIGKILL after 10 s.
async fn stop_group(pid: u32, child: &mut tokio::process::Child, force: bool) {
    if pid != 0 {
        signal_group(pid, if force { "KILL" } else { "TERM" });
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(_) => {}
        Err(_) => {
            signal_group(pid, "KILL");
            let _ = child.wait().await;
        }
    }
    // The JVM PyFlink started is in the same group; make sure it is gone too.
    if pid != 0 {
        signal_group(pid, "KILL");
    }
}

fn signal_group(pgid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{sig}"), "--".into(), format!("-{pgid}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Unpack a zip into `dir`, refusing paths that leave it.
fn unzip(bytes: &[u8], dir: &Path) -> Result<()> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("not a zip")?;
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        let Some(rel) = f.enclosed_name() else {
            bail!(
                "entry {} leaves the directory",
                f.name().map(|n| n.to_string()).unwrap_or_default()
            );
        };
        let path: PathBuf = dir.join(rel);
        if f.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(&mut f, &mut out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_tracebacks_as_errors() {
        let mut o = Output::default();
        for l in [
            "starting",
            "Traceback (most recent call last):",
            "  File x",
            "ValueError: no",
        ] {
            o.push(l.into());
        }
        assert_eq!(o.errors.len(), 3);
        assert_eq!(o.tail.len(), 4);
    }

    #[test]
    fn source_operator_records_are_recognised() {
        assert!(source_records_metric(
            "0.Source__sensor_readings[1].numRecordsOut"
        ));
        assert!(!source_records_metric("0.Calc[2].numRecordsOut"));
        assert!(!source_records_metric(
            "0.Source__sensor_readings[1].numRecordsIn"
        ));
        assert!(!source_records_metric("0.numRecordsOut"));
    }

    #[test]
    fn rest_port_is_read_from_the_flink_log() {
        let d = tempfile::tempdir().ok();
        let Some(d) = d else { return };
        std::fs::write(
            d.path().join("flink.log"),
            "x\n2026 INFO Rest endpoint listening at localhost:40123\n",
        )
        .ok();
        assert_eq!(rest_port_from_logs(d.path()), Some(40123));
    }
}
