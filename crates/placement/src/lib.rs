//! Where keys live. Pure functions and data, no I/O.
//!
//! * [`slot`]: Redis Cluster's 16384 slots (CRC16-XMODEM of the key or its `{hash tag}`).
//! * [`planner`]: which shard owns each slot — balanced, minimal moves on membership changes,
//!   rendezvous-hashed (for cluster mode).
//! * [`hash`]: the twelve key hash functions of twemproxy 0.5, bit for bit (including its
//!   quirks: the 32-bit "fnv1a_64", sign-extended `char`s, an unmasked "crc16").
//! * [`ring`]: twemproxy's server selection (`ketama`, `modula`, `random`) over weighted,
//!   optionally named servers, with its hash tags, so a twemproxy user's keys land on the same
//!   backend with us.

pub mod hash;
pub mod planner;
pub mod ring;
pub mod slot;
pub mod topology;

pub use hash::HashKind;
pub use ring::{Distribution, Ring, ServerSpec};
