//! The checks' shared vocabulary: an outcome, a check with its evidence and likely
//! cause, a sensor row, and the small helpers every check uses (the look-back window,
//! ages, finding a resource's row). Must not know how any check observes AWS.

use std::time::Duration;

use serde::Serialize;

use crate::engine::executor::Row;

/// How far back the checks look.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    Pending,
    NotObservable,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Pending => "pending",
            Outcome::NotObservable => "not-observable",
        }
    }
}

/// One data-flow check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub step: u8,
    pub name: String,
    pub outcome: Outcome,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

pub(crate) fn check(step: u8, name: &str, outcome: Outcome, evidence: impl Into<String>) -> Check {
    Check {
        step,
        name: name.into(),
        outcome,
        evidence: evidence.into(),
        cause: None,
        action: None,
    }
}

impl Check {
    pub(crate) fn because(mut self, cause: impl Into<String>, action: impl Into<String>) -> Check {
        self.cause = Some(cause.into());
        self.action = Some(action.into());
        self
    }
}

/// One sensor's latest aggregate from the newest processed object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SensorRow {
    pub sensor_id: String,
    pub window_end: String,
    pub avg_temperature: f64,
    pub max_temperature: f64,
    /// True when a value is outside the lab's temperature range.
    pub flagged: bool,
}

pub(crate) fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}

pub(crate) fn row<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

pub(crate) fn exists(r: Option<&Row>) -> bool {
    r.is_some_and(|r| matches!(r.action.as_str(), "ok" | "drift"))
}
