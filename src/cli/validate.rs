//! `labctl validate`: the spec checked, no AWS call.

use anyhow::Result;

use super::args::Cli;
use super::session;
use crate::engine::report::Format;
use crate::error::exit;

pub fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    let n = loaded.spec.ids().len();
    match cli.output {
        Format::Json => println!(
            "{}",
            serde_json::json!({"ok": true, "file": loaded.file.display().to_string(), "resources": n})
        ),
        Format::Table => println!(
            "{}: valid, {n} resources in pipeline `{}`",
            loaded.file.display(),
            loaded.spec.pipeline
        ),
    }
    Ok(exit::OK)
}
