//! The `labctl` binary: parse the command line, run, exit with the code the run chose.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = labctl::cli::args::Cli::parse();
    labctl::cli::session::init_tracing(cli.verbose, cli.quiet);
    let code = labctl::cli::run(cli).await;
    std::process::exit(code);
}
