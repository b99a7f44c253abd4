//! `labctl tail`: the global flags handed to the reader in [`crate::stream::tail`].

use anyhow::Result;

use super::args::Cli;
use crate::stream::tail::{self, TailArgs};

pub async fn run(cli: &Cli, a: &TailArgs) -> Result<i32> {
    tail::run(&cli.stream_session(), a).await
}
