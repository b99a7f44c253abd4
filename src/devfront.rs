//! `labctl dev-front` (hidden): runs the local front as a process, for benchmarks and
//! development. It forwards to the local stack, counts requests per resource, and with
//! `--transitions FACTOR` makes streams and delivery streams go through AWS-like
//! CREATING/DELETING states (see `transitions.rs`). On start it prints one JSON line:
//! its URL, the factor, and the critical path of the spec (`-f`) when it loads.

use anyhow::Result;
use clap::Args;

use crate::cli::Cli;
use crate::error::exit;
use crate::{front, spec, transitions};

#[derive(Debug, Args)]
pub struct DevFrontArgs {
    /// Port on 127.0.0.1 (0: any free port; the line printed on start says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The local stack to forward to.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    pub upstream: String,
    /// Simulated AWS transition times, scaled by this factor (1 = AWS-like, 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub transitions: f64,
}

pub async fn run(cli: &Cli, a: &DevFrontArgs) -> Result<i32> {
    if !a.transitions.is_finite() || a.transitions < 0.0 {
        eprintln!("error: --transitions must be a factor >= 0");
        return Ok(exit::BAD_INPUT);
    }
    transitions::install(a.transitions);
    let f = front::start(a.port, &a.upstream).await?;
    let path = spec::load(&cli.file)
        .ok()
        .map(|l| transitions::critical_path(&l.spec));
    let line = serde_json::json!({
        "url": f.url(),
        "upstream": a.upstream,
        "factor": a.transitions,
        "durations": {
            "stream_create": transitions::STREAM_CREATE_SECS,
            "stream_delete": transitions::STREAM_DELETE_SECS,
            "delivery_create": transitions::DELIVERY_CREATE_SECS,
            "delivery_delete": transitions::DELIVERY_DELETE_SECS,
        },
        "critical_path": path,
    });
    println!("{line}");
    tokio::signal::ctrl_c().await.ok();
    Ok(exit::OK)
}
