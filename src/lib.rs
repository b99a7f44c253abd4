//! labctl: provision, check and remove the Kinesis streaming lab from one spec file.
//!
//! A request travels [`cli`] → [`spec`] (load, validate, resolve variables) →
//! [`engine::graph`] (the dependency graph) → [`engine::executor`] (plan, up, status,
//! down) → [`resource`] (one module per AWS resource kind) → [`aws`] (clients, errors).
//! [`checks`] are the lab's data-flow checks for `status`; [`stream`] is what `produce`
//! and `tail` do; [`artifact`] builds the Flink code zip; [`cost`] prices resources;
//! [`error`] holds the typed errors and exit codes; [`fsafe`] creates labctl's local
//! state files safely. Commands depend on the engine and
//! the resources, never the reverse. The local AWS stack (front, emulator, fault
//! injection) is the separate `labctl-local` crate; nothing here depends on it.

pub mod artifact;
pub mod aws;
pub mod checks;
pub mod cli;
pub mod cost;
pub mod engine;
pub mod error;
pub mod fsafe;
pub mod resource;
pub mod spec;
pub mod stream;
