//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//!
//! Queueing and EXEC itself live in the dispatcher (`command::execute`), which sees every
//! command first; these handlers are what the commands do when they are not intercepted
//! there, plus WATCH's bookkeeping.

mod multi;
mod watch;

use crate::command::Handler;

pub use crate::transaction::{unwatch_all, watch_broken, Multi, Watching};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("multi", multi::multi),
    ("exec", multi::exec),
    ("discard", multi::discard),
    ("watch", watch::watch),
    ("unwatch", watch::unwatch),
];
