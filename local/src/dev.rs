//! `labctl-local dev`: runs the local front as a process for benchmarks and
//! development. It forwards to the local stack, counts requests per resource (served
//! at its stats control path, cleared at its reset path), and with `--transitions
//! FACTOR` makes streams and delivery streams go through AWS-like CREATING/DELETING
//! states (see `transitions.rs`). On start it prints one JSON line: its URL, the
//! factor, and the critical path of the spec (`-f`) when it loads.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::{front, transitions};

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The pipeline spec whose critical path is printed on start.
    #[arg(short = 'f', long = "file", default_value = "pipeline.yaml")]
    pub file: PathBuf,
    /// Port on 127.0.0.1 (0: any free port; the line printed on start says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The local stack to forward to.
    #[arg(long, default_value = "http://127.0.0.1:4599")]
    pub upstream: String,
    /// Simulated AWS transition times, scaled by this factor (1 = AWS-like, 0 = off).
    #[arg(long, default_value_t = 0.0)]
    pub transitions: f64,
    /// Milliseconds added to every request before it is answered (a network round trip
    /// to AWS, for timing `status` and `plan`; 0 = none).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

pub async fn run(a: &DevArgs) -> Result<i32> {
    if !a.transitions.is_finite() || a.transitions < 0.0 {
        eprintln!("error: --transitions must be a factor >= 0");
        return Ok(2);
    }
    let sim = transitions::install(a.transitions);
    front::set_latency_ms(a.latency_ms);
    let f = front::start(a.port, &a.upstream).await?;
    let path = labctl::spec::load(&a.file)
        .ok()
        .map(|l| transitions::critical_path(&l.spec));
    let line = serde_json::json!({
        "url": f.url(),
        "upstream": a.upstream,
        "factor": a.transitions,
        "latency_ms": a.latency_ms,
        // The control paths with their token: only who reads this line can use them.
        "stats": format!("{}{}?token={}", f.url(), transitions::STATS_PATH, sim.token()),
        "reset": format!("{}{}?token={}", f.url(), transitions::RESET_PATH, sim.token()),
        // Every simulated duration (the same list `labctl-local critical-path` prints).
        "durations": transitions::simulated_json(),
        "critical_path": path,
    });
    println!("{line}");
    tokio::signal::ctrl_c().await.ok();
    Ok(0)
}
