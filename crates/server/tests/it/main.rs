//! Integration tests over real sockets. One test binary (faster to build and link than one
//! per file); each module covers one area.

mod support;

mod acl;
mod admin_auth;
mod blocking;
mod clients;
mod cluster;
mod collection_scan;
mod config;
mod debug;
mod differential;
mod geo;
mod info;
mod latency;
mod limits;
mod memory;
mod monitoring;
mod notify;
mod protocol;
mod pubsub;
mod redis_7_2;
mod replication;
mod scripting;
mod streams;
mod tls;
mod tracking;
mod transactions;
