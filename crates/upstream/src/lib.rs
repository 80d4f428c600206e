//! Connections to Redis-protocol servers, shared by every front door that is itself a
//! client of Redis or of a Shard-Cache cluster: the twemproxy-compatible proxy (its pools'
//! backends), the cluster-aware proxy, the gRPC service and the HTTP gateway.
//!
//! - [`backend`]: a few long-lived, pipelined connections to one server, shared by every
//!   caller, replies handed back as raw bytes;
//! - [`slots`]: the slot map as CLUSTER SLOTS describes it (pure);
//! - [`keys`]: where a command's keys are, learnt from the server's COMMAND table (pure);
//! - [`cluster`]: a client of a whole cluster: routes by slot, follows MOVED and ASK,
//!   waits out TRYAGAIN, and refreshes its map when the topology changes.

pub mod backend;
pub mod cluster;
pub mod keys;
pub mod slots;

pub use backend::{Backend, BackendError, ConnSettings};
pub use cluster::{ClusterClient, ClusterError, Options};
