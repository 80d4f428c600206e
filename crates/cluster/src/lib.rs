//! Cluster mode. The topology (nodes, shards, the slot table, the epoch) is a state machine:
//! every change is a [`Change`] that every node applies in the same order (the Raft log
//! carries them), so every node computes the same table — slots are placed by the pure
//! [`placement::planner`], never chosen by whoever applies the change.
//!
//! [`node::ClusterNode`] is one member: its Raft, its persisted store, its serving
//! [`lease`], and the membership operations; [`bus`] carries its messages over TCP.

pub mod auth;
pub mod bus;
pub mod lease;
pub mod mem;
pub mod node;
pub mod raft;
pub mod replica_migration;
pub mod state;

pub use node::ClusterNode;
pub use state::{Change, ChangeError, ClusterState, NodeSpec};
