//! `labctl validate`: the spec checked, and everything that can fail without AWS done:
//! the connector lock read, its artifacts fetched and verified, the jar assembled, the
//! SQL's placeholders checked and each Flink application's zip built. No AWS call.

use anyhow::Result;

use super::args::Cli;
use super::session;
use crate::artifact;
use crate::engine::report::Format;
use crate::error::exit;

pub async fn run(cli: &Cli) -> Result<i32> {
    let loaded = session::load(cli)?;
    let n = loaded.spec.ids().len();
    let resolved = loaded.spec.clone().with_base_dir(&loaded.base_dir);
    let built = artifact::prepare_spec(&resolved, cli.quiet).await?;
    match cli.output {
        Format::Json => {
            let artifacts: Vec<_> = built
                .iter()
                .map(|(id, a)| {
                    serde_json::json!({"application": id, "bytes": a.bytes.len(), "sha256": a.sha256,
                        "jar": a.jar_path, "jar_bytes": a.jar_size, "jar_sha256": a.jar_sha256})
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({"ok": true, "file": loaded.file.display().to_string(), "resources": n, "artifacts": artifacts})
            )
        }
        Format::Table => {
            println!(
                "{}: valid, {n} resources in pipeline `{}`",
                loaded.file.display(),
                loaded.spec.pipeline
            );
            for (id, a) in &built {
                println!(
                    "application `{id}`: artifact {} bytes (sha256 {}), {} {} bytes (sha256 {})",
                    a.bytes.len(),
                    a.sha256,
                    a.jar_path,
                    a.jar_size,
                    a.jar_sha256
                );
            }
        }
    }
    Ok(exit::OK)
}
