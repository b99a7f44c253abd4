//! Talking to a Kinesis data stream directly, what `labctl produce` and `labctl tail`
//! do: [`flags`] (which stream, the shared flags, connecting, durations, Ctrl-C),
//! [`produce`] (the lab's sensors, batched and concurrent) and [`tail`] (a reader of
//! every shard across resharding). Knows nothing of the command line's global flags
//! (callers hand it a [`flags::Session`]), the engine or the resource kinds.

pub mod flags;
pub mod produce;
pub mod tail;
