//! labctl: provision, check and remove the Kinesis streaming lab from one spec file.
//!
//! The flow: [`spec`] loads and validates `pipeline.yaml`; [`graph`] turns it into a
//! dependency graph; [`resource`] holds one module per AWS resource kind; [`engine`]
//! runs `plan`, `up`, `status` and `down` over the graph; [`report`] prints results.
//! [`produce`] and [`tail`] send sensor records to the stream and read them back.
//! [`aws`] builds the service clients; [`wait`] and [`progress`] are shared helpers.

pub mod artifact;
pub mod aws;
pub mod checks;
pub mod cli;
pub mod cost;
pub mod diagram;
pub mod engine;
pub mod error;
pub mod graph;
pub mod journal;
pub mod leftovers;
pub mod produce;
pub mod progress;
pub mod report;
pub mod resource;
pub mod spec;
pub mod streamcli;
pub mod tail;
pub mod wait;
pub mod watch;
