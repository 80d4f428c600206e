//! The node's observer on the store's mutation seam: what the replication stream, keyspace
//! notifications, client tracking and slot migration need from every change. Installed only
//! while one of them is on (nothing is paid otherwise); [`refresh`] after one is turned on or off.

use std::sync::{Arc, Weak};

use store::{Mutation, MutationObserver};

use crate::Shared;

struct Observer {
    /// The replication stream, reached without upgrading `shared`: a write to a replicated
    /// node pays no shared reference count (an atomic all workers would contend on).
    log: Arc<crate::replication::log::Log>,
    /// Whether anything besides the stream was on when this observer was installed (every
    /// switch-on refreshes it; a switch-off that does not only costs the upgrade).
    others: bool,
    shared: Weak<Shared>,
}

impl MutationObserver for Observer {
    fn changed(&self, key: &[u8], what: Mutation) {
        if self.log.records_local() {
            crate::replication::log::on_mutation(&self.log, key, what);
        }
        if !self.others {
            return;
        }
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        if shared.notify.enabled() {
            crate::notify::on_mutation(&shared, key, what);
        }
        if shared.tracking.active() {
            crate::tracking::on_mutation(&shared, key, what);
        }
        if shared.migrations.tap.active() {
            shared.migrations.tap.on_mutation(key, what);
        }
    }
}

/// Installs the observer when the stream or notifications are on, removes it otherwise.
pub fn refresh(shared: &Shared) {
    // One refresh at a time: what it reads (which consumers are on) and what it installs go
    // together, so two refreshes racing (two migration batches starting and ending) cannot
    // leave the older reading installed last.
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _serialized = ONE_AT_A_TIME.lock();
    let others =
        shared.notify.enabled() || shared.tracking.active() || shared.migrations.tap.active();
    let observer: Option<Arc<dyn MutationObserver>> = if shared.repl_log.records_local() || others {
        Some(Arc::new(Observer {
            log: shared.repl_log.clone(),
            others,
            shared: Arc::downgrade(&shared.arc()),
        }))
    } else {
        None
    };
    shared.keyspace.set_observer(observer);
}
