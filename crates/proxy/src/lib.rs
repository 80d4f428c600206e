//! Proxy mode: a twemproxy-compatible sharding gateway over existing Redis servers.

pub mod config;
