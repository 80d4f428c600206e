//! Pub/Sub commands. The registry and delivery are in [`crate::pubsub`].

mod publish;
mod subscribe;

use std::sync::Arc;

use indexmap::IndexSet;
use tokio::sync::mpsc;

use crate::command::Handler;
use crate::pubsub::{Message, Subscriber};
use crate::{ClientState, Shared};

pub const HANDLERS: &[(&str, Handler)] = &[
    ("subscribe", subscribe::subscribe),
    ("unsubscribe", subscribe::unsubscribe),
    ("psubscribe", subscribe::psubscribe),
    ("punsubscribe", subscribe::punsubscribe),
    ("publish", publish::publish),
    ("pubsub|channels", publish::channels),
    ("pubsub|numsub", publish::numsub),
    ("pubsub|numpat", publish::numpat),
    ("pubsub|help", publish::help),
];

/// A connection's subscriptions and its message queue.
#[derive(Debug)]
pub struct ClientSubs {
    pub subscriber: Arc<Subscriber>,
    pub rx: mpsc::UnboundedReceiver<Message>,
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
}

impl ClientSubs {
    /// Subscriptions in total: the count in (un)subscribe replies.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Whether the client is in subscribed mode (RESP2 then limits what it may run).
pub fn subscribed(client: &ClientState) -> bool {
    client.pubsub.as_ref().is_some_and(|p| p.count() > 0)
}

/// Drops every subscription (RESET, disconnect).
pub fn unsubscribe_all(shared: &Shared, client: &mut ClientState) {
    client
        .info
        .sub
        .store(0, std::sync::atomic::Ordering::Relaxed);
    client
        .info
        .psub
        .store(0, std::sync::atomic::Ordering::Relaxed);
    if let Some(subs) = client.pubsub.take() {
        for c in &subs.channels {
            shared.pubsub.unsubscribe(c, &subs.subscriber);
        }
        for p in &subs.patterns {
            shared.pubsub.punsubscribe(p, &subs.subscriber);
        }
    }
}
