//! `labctl-local serve`: the local stack's entry point. It listens where `labctl
//! --local` sends requests (127.0.0.1:4599), answers both Kinesis Analytics APIs from
//! the emulator, delivers Firehose as AWS does ([`crate::firehose`], its waits scaled by
//! `--time-scale`) and forwards everything else to moto. `scripts/local-stack start` runs
//! it; transition times come from flags, so the waits can be seen. Knows nothing of
//! the benchmark simulator (`dev`).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::emulator::{Config, Emulator, Timing};
use crate::firehose::TimeScale;
use crate::front;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 to listen on.
    #[arg(long, default_value_t = 4599)]
    pub port: u16,
    /// The moto server everything but Kinesis Analytics goes to.
    #[arg(long, default_value = "http://127.0.0.1:4598")]
    pub upstream: String,
    /// The id this front answers at `/__labctl_local/identity` (`scripts/local-stack`
    /// writes it to .labctl/front.id), so a start can tell its own front from anything
    /// else on the port.
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Seconds an application spends STARTING (also UPDATING, STOPPING, DELETING take
    /// this much, force stops a fifth of it).
    #[arg(long, default_value_t = 2.0)]
    pub transition_seconds: f64,
    /// Factor on every wait of the Firehose delivery: 1 is AWS's timing (a 60 s buffering
    /// interval lasts 60 s, a shard is read once a second), 0.1 is ten times faster.
    /// Timestamps (object keys, metrics) stay wall-clock.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Refuse new SQL applications as AWS does since the service was discontinued.
    #[arg(long)]
    pub sql_discontinued: bool,
    /// The PyFlink python (`.labctl/pyflink/bin/python`, from `scripts/pyflink
    /// install`): with it and Java, a started Flink application runs its own job
    /// (`labctl_local::flink`); without, the emulator stays a control plane.
    #[arg(long, env = "LABCTL_LOCAL_PYFLINK")]
    pub pyflink: Option<std::path::PathBuf>,
}

pub async fn run(a: &ServeArgs) -> Result<i32> {
    if let Some(id) = &a.instance_id {
        crate::identity::set(id);
    }
    if !a.transition_seconds.is_finite() || a.transition_seconds < 0.0 {
        anyhow::bail!("--transition-seconds must be a number of seconds >= 0");
    }
    if !a.time_scale.is_finite() || a.time_scale <= 0.0 {
        anyhow::bail!("--time-scale must be a number > 0 (1 is AWS's timing)");
    }
    let d = Duration::from_secs_f64(a.transition_seconds);
    let timing = Timing {
        force_stopping: d / 5,
        ..Timing::uniform(d)
    };
    let mut emulator = Emulator::new(Config {
        timing,
        sql_discontinued: a.sql_discontinued,
        kinesis_endpoint: Some(a.upstream.clone()),
        ..Config::default()
    });
    let front_url = format!("http://127.0.0.1:{}", a.port);
    let why_off = match &a.pyflink {
        None => Some("no --pyflink / LABCTL_LOCAL_PYFLINK given".to_string()),
        Some(p) => crate::flink::missing(p),
    };
    match (&a.pyflink, &why_off) {
        (Some(p), None) => {
            emulator = emulator.with_flink(crate::flink::Runner::new(
                crate::flink::RunnerConfig::new(p.clone(), &a.upstream, &front_url),
            ));
            eprintln!(
                "Flink runtime on: a started Flink application runs its job with {}",
                p.display()
            );
        }
        (_, why) => eprintln!(
            "Flink runtime off ({}): Flink applications are control plane only (STARTING turns RUNNING after the transition time; no job runs)",
            why.as_deref().unwrap_or("unknown")
        ),
    }
    let f = front::start_local(a.port, &a.upstream, emulator, TimeScale(a.time_scale))
        .await
        .with_context(|| format!("starting the local front on port {} (is something else listening there? `scripts/local-stack stop` stops the old one)", a.port))?;
    eprintln!(
        "local front on {} (Kinesis Analytics emulated, Firehose delivered with waits x{}, the rest forwarded to {})",
        f.url(),
        a.time_scale,
        a.upstream
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(0)
}
