//! Pub/Sub commands. The registry and delivery are in [`crate::pubsub`].

mod publish;
mod subscribe;

use crate::command::Handler;
pub use crate::pubsub::{subscribed, unsubscribe_all, ClientSubs};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("subscribe", subscribe::subscribe),
    ("unsubscribe", subscribe::unsubscribe),
    ("psubscribe", subscribe::psubscribe),
    ("punsubscribe", subscribe::punsubscribe),
    ("publish", publish::publish),
    ("ssubscribe", subscribe::ssubscribe),
    ("sunsubscribe", subscribe::sunsubscribe),
    ("spublish", publish::spublish),
    ("pubsub|shardchannels", publish::shardchannels),
    ("pubsub|shardnumsub", publish::shardnumsub),
    ("pubsub|channels", publish::channels),
    ("pubsub|numsub", publish::numsub),
    ("pubsub|numpat", publish::numpat),
    ("pubsub|help", publish::help),
];
