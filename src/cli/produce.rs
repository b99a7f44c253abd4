//! `labctl produce`: the global flags handed to the producer in [`crate::stream::produce`].

use anyhow::Result;

use super::args::Cli;
use crate::stream::produce::{self, ProduceArgs};

pub async fn run(cli: &Cli, a: &ProduceArgs) -> Result<i32> {
    produce::run(&cli.stream_session(), a).await
}
