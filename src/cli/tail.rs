//! `labctl tail`: the global flags handed to the reader in [`crate::stream::tail`].
//! `--output json` prints records as JSON lines (`--format json`) unless `--format`
//! says otherwise.

use anyhow::Result;

use super::args::Cli;
use crate::engine::report::Format;
use crate::stream::tail::{self, RecordFormat, TailArgs};

pub async fn run(cli: &Cli, a: &TailArgs) -> Result<i32> {
    tail::run(&cli.stream_session(), &effective(a, cli.output)).await
}

/// The reader's arguments with `--output json` honoured: records as JSON lines when the
/// record format is the default table.
pub fn effective(a: &TailArgs, output: Format) -> TailArgs {
    let mut a = a.clone();
    if output == Format::Json && a.format == RecordFormat::Table {
        a.format = RecordFormat::Json;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        tail: TailArgs,
    }

    #[test]
    fn output_json_prints_json_lines_unless_raw_is_asked() {
        let t = T::parse_from(["t", "--stream", "s"]);
        assert_eq!(effective(&t.tail, Format::Json).format, RecordFormat::Json);
        assert_eq!(
            effective(&t.tail, Format::Table).format,
            RecordFormat::Table
        );
        let raw = T::parse_from(["t", "--stream", "s", "--format", "raw"]);
        assert_eq!(effective(&raw.tail, Format::Json).format, RecordFormat::Raw);
    }
}
