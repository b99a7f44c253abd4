//! The AWS connection: where labctl talks to ([`connect`]: region, profile, endpoint,
//! timeouts, retries, one client per service) and how SDK errors read ([`errors`]).
//! Knows no resource kind, no spec and no command; everything else may use it.

pub mod connect;
pub mod diagnose;
pub mod errors;
pub mod requests;
pub mod retry;

pub use connect::{account_id, account_id_with, connect, partition, Clients, Target};
