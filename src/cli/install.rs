//! `labctl completions <shell>` and `labctl man`: the shell completion script and the
//! man page, both generated from the command line's definition ([`super::args`]) so they
//! never fall behind it. Knows nothing of what a command does.

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::args::Cli;
use crate::error::exit;

/// The completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "labctl", &mut out);
    write(&out, "the completion script")
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn write(bytes: &[u8], what: &str) -> Result<i32> {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        r => r
            .with_context(|| format!("writing {what}"))
            .map(|_| exit::OK),
    }
}

/// The man page (roff) on stdout: `labctl man > labctl.1`.
pub fn man() -> Result<i32> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    write(&out, "the man page")
}
