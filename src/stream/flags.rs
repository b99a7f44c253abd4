//! What `produce` and `tail` share: the session they run in (spec file, AWS target,
//! output), which stream they talk to (a spec id or a name given directly, the shared
//! `--stream`/`--stream-name` flags), connecting to it, duration flags, and Ctrl-C
//! handling. Knows nothing of the command line's other commands.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tokio::sync::Notify;

use crate::aws::errors::sdk_message;
use crate::aws::{self, Clients, Target};
use crate::engine::report::Format;
use crate::error::UsageError;
use crate::spec::{self, vars::Vars};

/// What a stream command runs with, from the global flags.
#[derive(Debug, Clone)]
pub struct Session {
    /// The spec file (read only when no `--stream-name` is given).
    pub file: PathBuf,
    /// Where to send requests.
    pub target: Target,
    /// Result format on stdout.
    pub output: Format,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// Which stream to use.
#[derive(Debug, Clone, Args)]
pub struct StreamFlags {
    /// The stream's id under `streams:` in the spec (default: the first one).
    #[arg(long, value_name = "ID", conflicts_with = "stream_name")]
    pub stream: Option<String>,
    /// The stream's name in AWS, used as is; no spec file is read.
    #[arg(long, value_name = "NAME")]
    pub stream_name: Option<String>,
}

/// The stream name and the spec's region, without any AWS call. A name that uses
/// `${account_id}` is returned unresolved; [`connect`] resolves it.
pub fn name_offline(cli: &Session, flags: &StreamFlags) -> Result<(String, Option<String>)> {
    if let Some(n) = &flags.stream_name {
        if n.is_empty() || n.len() > 128 {
            return Err(UsageError("--stream-name must be 1 to 128 characters long".into()).into());
        }
        return Ok((n.clone(), None));
    }
    let loaded = spec::load(&cli.file)?;
    spec::validate::validate(&loaded, cli.target.region.as_deref())?;
    let (id, s) = match &flags.stream {
        Some(id) => match loaded.spec.streams.get_key_value(id) {
            Some(found) => found,
            None => {
                let known: Vec<&str> = loaded.spec.streams.keys().map(String::as_str).collect();
                return Err(UsageError(format!(
                    "no stream `{id}` under `streams:` in {}; known: {}",
                    cli.file.display(),
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
                .into());
            }
        },
        None => loaded.spec.streams.first().ok_or_else(|| {
            UsageError(format!(
                "{} declares no stream under `streams:`; add one or pass --stream-name NAME",
                cli.file.display()
            ))
        })?,
    };
    let _ = id;
    Ok((s.name.clone(), loaded.spec.region.clone()))
}

/// Check `--endpoint-url` before anything is sent.
pub fn check_endpoint(cli: &Session) -> Result<()> {
    if let Some(e) = &cli.target.endpoint_url {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(UsageError(format!(
                "--endpoint-url `{e}` must start with http:// or https://"
            ))
            .into());
        }
    }
    Ok(())
}

/// Connect and resolve the stream name (with the account id when the name uses it),
/// then check the stream exists. Returns the clients and the stream name.
pub async fn connect(
    cli: &Session,
    name: &str,
    spec_region: Option<&str>,
) -> Result<(Clients, String)> {
    let clients = aws::connect(&cli.target, spec_region).await?;
    let name = if name.contains("${") {
        let account = aws::account_id(&clients).await?;
        let vars = Vars {
            partition: aws::partition(&clients.region).to_string(),
            region: clients.region.clone(),
            account_id: account,
            pipeline: String::new(),
        };
        spec::vars::substitute(name, &vars)
    } else {
        name.to_string()
    };
    let found = clients
        .kinesis
        .describe_stream_summary()
        .stream_name(&name)
        .send()
        .await;
    match found {
        Ok(_) => Ok((clients, name)),
        Err(e) if crate::aws::errors::sdk_code(&e) == Some("ResourceNotFoundException") => {
            Err(anyhow::anyhow!(
                "stream `{name}` does not exist in {}; create it with `labctl up` (or pass the right --stream / --stream-name)",
                clients.region
            ))
        }
        Err(e) => Err(anyhow::anyhow!(sdk_message(&e)))
            .with_context(|| format!("cannot read stream `{name}` (DescribeStreamSummary); check the credentials and region")),
    }
}

/// Parse `90s`, `5m`, `1h`, `250ms` or a plain number of seconds.
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration, UsageError> {
    let bad = || {
        UsageError(format!(
            "{flag} `{s}` is not a duration; write a number with a unit, such as 30s, 5m, 1h or 500ms"
        ))
    };
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 || v * mult > 1e9 {
        return Err(UsageError(format!(
            "{flag} `{s}` must be a positive duration, such as 30s, 5m or 1h"
        )));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// Ctrl-C: the first one asks the command to stop cleanly; a second one ends the
/// process at once (exit code 130).
#[derive(Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Stop {
    /// Install the Ctrl-C handler. `what` names what the first Ctrl-C waits for.
    pub fn on_ctrl_c(what: &'static str) -> Stop {
        let stop = Stop::default();
        let s = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("stopping: waiting for {what} (Ctrl-C again to quit at once)");
            s.trigger();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("quit at once; the summary is lost");
                std::process::exit(130);
            }
        });
        stop
    }

    /// Ask to stop (also what the count and duration limits use).
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once a stop was asked for.
    pub async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.stopped() {
                return;
            }
            n.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("--duration", "90s").ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("--duration", "5m").ok(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_duration("--duration", "250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("--duration", "2").ok(),
            Some(Duration::from_secs(2))
        );
        assert!(parse_duration("--duration", "0s").is_err());
        assert!(parse_duration("--duration", "-1m").is_err());
        assert!(parse_duration("--duration", "soon").is_err());
    }
}
