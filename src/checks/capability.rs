//! What an endpoint says it cannot show, read from its answers rather than guessed
//! from its address. An emulator that serves a resource's API but does not run the
//! resource (the local stack's Kinesis Analytics SQL applications: control plane only)
//! answers with the response header [`HEADER`]; AWS never sends it, so on AWS every
//! check runs its AWS logic. Knows nothing of the checks' outcomes or of any endpoint's
//! address.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The response header an emulator uses to say what it runs for the resource it
/// describes: comma-separated tokens, `control-plane` (create, describe, start, stop,
/// delete) and `data-plane` (the resource processes data and publishes its metrics).
/// Documented in the README ("What the local stack can show").
pub const HEADER: &str = "x-labctl-local-capabilities";

/// What one answer said about the resource's data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlane {
    /// No capability header: a real service, which runs what it describes.
    Runs,
    /// The endpoint said it serves this resource's control plane only.
    Absent { declared: String },
}

impl DataPlane {
    /// Read from the header's value, if the answer carried one.
    pub fn from_header(value: Option<&str>) -> DataPlane {
        match value {
            None => DataPlane::Runs,
            Some(v) if v.split(',').any(|t| t.trim() == "data-plane") => DataPlane::Runs,
            Some(v) => DataPlane::Absent {
                declared: v.trim().to_string(),
            },
        }
    }

    /// The evidence line for a check that cannot be observed, when absent.
    pub fn absent_because(&self) -> Option<String> {
        match self {
            DataPlane::Runs => None,
            DataPlane::Absent { declared } => Some(format!(
                "the endpoint answered `{HEADER}: {declared}`: it serves the API but runs no data plane"
            )),
        }
    }
}

/// An interceptor that keeps [`HEADER`] of the answer it sees; add it to one call
/// with `.customize().interceptor(tap.clone())`, then read [`Tap::data_plane`].
#[derive(Debug, Clone, Default)]
pub struct Tap {
    seen: Arc<Mutex<Option<String>>>,
}

impl Tap {
    pub fn data_plane(&self) -> DataPlane {
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or(None);
        DataPlane::from_header(seen.as_deref())
    }
}

impl Intercept for Tap {
    fn name(&self) -> &'static str {
        "labctl capability header"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let value = context.response().headers().get(HEADER).map(str::to_string);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = value;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_declared_control_plane_is_absent() {
        assert_eq!(DataPlane::from_header(None), DataPlane::Runs);
        assert_eq!(
            DataPlane::from_header(Some("control-plane, data-plane")),
            DataPlane::Runs
        );
        let absent = DataPlane::from_header(Some("control-plane"));
        assert!(matches!(absent, DataPlane::Absent { .. }));
        assert!(absent
            .absent_because()
            .is_some_and(|e| e.contains("control-plane")));
    }
}
