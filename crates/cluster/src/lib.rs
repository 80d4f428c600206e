//! Cluster mode. The topology (nodes, shards, the slot table, the epoch) is a state machine:
//! every change is a [`Change`] that every node applies in the same order (the Raft log will
//! carry them), so every node computes the same table — slots are placed by the pure
//! [`placement::planner`], never chosen by whoever applies the change.

pub mod bus;
pub mod raft;
pub mod state;

pub use state::{Change, ChangeError, ClusterState, NodeSpec};
