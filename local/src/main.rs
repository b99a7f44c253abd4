//! The `labctl-local` binary: `serve` runs the local stack's front (what
//! `scripts/local-stack start` starts), `dev` runs a counting front with simulated AWS
//! transition times for benchmarks, `critical-path` prints a spec's critical path under
//! those times.

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "labctl-local",
    version,
    about = "labctl's local AWS stack: the front before moto, with the Kinesis Analytics emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The local stack's front: Kinesis Analytics emulated, the rest forwarded to moto.
    Serve(labctl_local::serve::ServeArgs),
    /// A counting front with simulated AWS transition times (benchmarks, development).
    Dev(labctl_local::dev::DevArgs),
    /// Print the simulated AWS durations and a spec's critical path under them (JSON).
    CriticalPath(labctl_local::transitions::CriticalPathArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let env = tracing_subscriber::EnvFilter::try_from_env("LABCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    let result = match &cli.command {
        Command::Serve(a) => labctl_local::serve::run(a).await,
        Command::Dev(a) => labctl_local::dev::run(a).await,
        Command::CriticalPath(a) => Ok(labctl_local::transitions::run_critical_path(a)),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
