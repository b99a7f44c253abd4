//! The `labctl` binary: parse the command line, run, exit with the code the run chose.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = labctl::cli::args::Cli::parse();
    // An unusable LABCTL_* value is bad input (exit 2), named, before anything runs.
    if let Err(e) = labctl::cli::envcheck::check() {
        let code = labctl::cli::session::exit_code(&cli, Err(e.into()));
        std::process::exit(code);
    }
    labctl::cli::session::init_tracing(cli.verbose, cli.quiet);
    let code = labctl::cli::run(cli).await;
    std::process::exit(code);
}
