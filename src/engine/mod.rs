//! The engine: what runs a pipeline's nodes, independent of any AWS service.
//!
//! - [`graph`]: ids and edges of a spec (references, `depends_on`), order, cycles.
//! - [`executor`]: `plan`, `up`, `status` and `down` over the nodes, concurrently
//!   where the graph allows, with Ctrl-C handling.
//! - [`wait`]: bounded polling with backoff, used by the resource kinds.
//! - [`interrupt`]: how Ctrl-C reaches a running node (its waits stop at once).
//! - [`phase`]: the points inside a resource's create or delete that others wait for
//!   (delete accepted, stopped; ready to start), so `up` and `down` wait only for what AWS needs.
//! - [`journal`]: the creates in flight, the one piece of local state; [`lock`]: one
//!   run at a time per pipeline, account and region (a lock file beside the journal);
//!   [`refusals`]: creates AWS refused for a whole account and region, remembered so
//!   `plan` shows them blocked ("a step known to fail").
//! - [`prune`]: the rows and the deletion of resources tagged for the pipeline that the
//!   spec no longer declares.
//! - [`progress`] (stderr) and [`report`] (stdout, table or JSON).
//!
//! The engine knows no AWS service (it only calls the `Resource` trait) and no
//! command line; commands call it, never the reverse.

pub mod executor;
pub mod graph;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod phase;
pub mod progress;
pub mod prune;
pub mod refusals;
pub mod report;
pub mod wait;
