//! The Redis wire protocol (RESP2 and RESP3), without I/O.
//!
//! * [`request`] parses what clients send: multibulk arrays and telnet-style inline commands,
//!   incrementally (a half-received command is the normal [`Parsed::Incomplete`] state) and
//!   without copying (arguments are ranges into the caller's buffer).
//! * [`reply`] encodes what the server sends, in the protocol version the client chose.
//! * [`frame`] parses any RESP2/RESP3 value into an owned [`frame::Frame`]; clients, the proxy
//!   and the tests use it to read replies.
//! * [`lookahead`] peeks at the keys of requests still waiting in a buffer (for prefetching).
//! * [`number`] holds Redis's exact integer parsing rules (`string2ll`), shared by everything
//!   that accepts a number from the wire.

pub mod frame;
pub mod lookahead;
pub mod number;
pub mod reply;
pub mod request;

pub use frame::Frame;
pub use reply::ReplyWriter;
pub use request::{Args, Limits, Parsed, ProtocolError, RequestParser};
