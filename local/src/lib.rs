//! labctl's local AWS stack, apart from the product: what tests, benchmarks and
//! `scripts/local-stack` run in front of moto. Nothing here ships in `labctl`; `labctl`
//! never depends on this crate (its integration tests do, as a dev-dependency).
//!
//! - [`front`]: the HTTP proxy before moto that records every request ([`record`]),
//!   answers scripted errors, holds mutating requests (the kill harness) and hands the
//!   Kinesis Analytics APIs to [`emulator`].
//! - [`guard`]: what S3 checks that moto does not (expected bucket owner, SHA-256 of a
//!   PutObject), moto's control API kept out of reach, bounded request bodies.
//! - [`emulator`]: the control plane of Kinesis Analytics v1 (SQL) and v2 (Flink).
//! - [`cwcbor`]: CloudWatch's rpc-v2-cbor translated to the awsQuery moto parses, and
//!   moto's answers back, so labctl uses the current CloudWatch SDK.
//! - [`contract`]: holds requests to AWS's API models (botocore's service JSON, pinned);
//!   the front checks each request it receives against it when a test registered a check.
//! - [`firehose`]: Firehose delivery as AWS does it for S3 destinations (Kinesis source
//!   read from LATEST, Direct PUT, buffering, AWS's object keys, CloudWatch metrics).
//! - [`flink`]: the local Flink runtime: a started Flink application's own job in
//!   PyFlink, its status, log events and metrics (when PyFlink and Java are there).
//! - [`faults`]: a seeded fault-injecting proxy (throttling, 5xx, resets, cut answers).
//! - [`transitions`]: AWS-like CREATING/DELETING times and request counts for benchmarks.
//! - [`serve`] and [`dev`]: the `labctl-local serve` and `labctl-local dev` commands.

pub mod contract;
pub mod cwcbor;
pub mod dev;
pub mod emulator;
pub mod faults;
pub mod firehose;
pub mod flink;
pub mod front;
pub mod guard;
pub mod identity;
pub mod record;
pub mod serve;
pub mod transitions;
