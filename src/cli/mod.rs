//! The command line: [`args`] parses it, [`run`] sends the command to its module (one
//! per command: validate, graph, plan, up, status, down, leftovers, produce, tail) and
//! returns the process exit code. [`session`] is what the pipeline commands share
//! (loading the spec, connecting, the report). Commands use the engine, the resources,
//! the checks and the stream code; nothing outside `cli` uses a command.

pub mod args;
pub mod down;
pub mod envcheck;
pub mod graph;
pub mod iam_policy;
pub mod install;
pub mod leftovers;
pub mod plan;
pub mod produce;
pub mod session;
pub mod status;
pub mod tail;
pub mod up;
pub mod validate;
pub mod watch;

use anyhow::Result;

use args::{Cli, Command};

/// Run the parsed command line; the result is the exit code.
pub async fn run(cli: Cli) -> i32 {
    if let Command::Status {
        watch: true,
        interval,
    } = cli.command
    {
        return status::watch(&cli, interval).await;
    }
    run_once(&cli).await
}

/// One run of the command: errors become messages and exit codes.
pub async fn run_once(cli: &Cli) -> i32 {
    session::exit_code(cli, dispatch(cli).await)
}

async fn dispatch(cli: &Cli) -> Result<i32> {
    match &cli.command {
        Command::Validate => validate::run(cli).await,
        Command::Graph { dot } => graph::run(cli, *dot),
        Command::Plan {
            all,
            detailed_exitcode,
            ..
        } => plan::run(cli, *all, *detailed_exitcode).await,
        Command::Up {
            partial,
            yes,
            allow_data_loss,
            ..
        } => up::run(cli, *partial, *yes, *allow_data_loss).await,
        Command::Status { .. } => status::run(cli).await,
        Command::Down { yes } => down::run(cli, *yes).await,
        Command::Leftovers {
            all_regions,
            pipeline,
            delete,
            yes,
            delete_data,
        } => {
            let flags = leftovers::Flags {
                all_regions: *all_regions,
                pipeline: pipeline.as_deref(),
                delete: *delete,
                yes: *yes,
                delete_data: *delete_data,
            };
            leftovers::run(cli, &flags).await
        }
        Command::IamPolicy { account_id } => iam_policy::run(cli, account_id),
        Command::Produce(a) => produce::run(cli, a).await,
        Command::Tail(a) => tail::run(cli, a).await,
        Command::Completions { shell } => install::completions(*shell),
        Command::Man => install::man(),
    }
}
