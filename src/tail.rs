//! `labctl tail`: read a stream's records as they arrive, from every shard.

use anyhow::Result;
use clap::Args;

use crate::cli::Cli;
use crate::error::UsageError;
use crate::streamcli::StreamFlags;

#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub stream: StreamFlags,
}

/// Run `labctl tail`. Returns the exit code.
pub async fn run(_cli: &Cli, _args: &TailArgs) -> Result<i32> {
    Err(UsageError("`tail` is not built yet".into()).into())
}
