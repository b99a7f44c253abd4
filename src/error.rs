//! Typed errors that callers branch on: spec errors (exit code 2, no AWS call) and
//! the process exit codes labctl uses.

use std::fmt;

/// Exit codes, documented in the README.
pub mod exit {
    /// Everything asked for was done; `status`: everything matches.
    pub const OK: i32 = 0;
    /// An AWS or runtime failure; the report says what was done and what was not.
    pub const FAILED: i32 = 1;
    /// Bad input (spec, flags): nothing was sent to AWS.
    pub const BAD_INPUT: i32 = 2;
    /// `status`: something declared is missing, drifted or not ours.
    pub const DRIFT: i32 = 3;
    /// `status`: nothing is missing or failing, but the lab is not yet validated: a
    /// check is pending or not observable.
    pub const NOT_VALIDATED: i32 = 4;
}

/// One problem in a spec file, located as precisely as the YAML allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpecError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Field path such as `streams.sensor.retention_hours`; empty for the whole file.
    pub path: String,
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  fix: {}", self.hint)?;
        }
        Ok(())
    }
}

/// All problems found in a spec (validation reports every one, not just the first).
#[derive(Debug, Clone, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        if self.0.len() > 1 {
            write!(
                f,
                "\n{} problems in the spec; nothing was sent to AWS",
                self.0.len()
            )?;
        } else {
            write!(f, "\nnothing was sent to AWS")?;
        }
        Ok(())
    }
}

/// A command-line usage problem found before any AWS call (exit code 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
