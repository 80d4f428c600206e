//! The node's observer on the store's mutation seam: what the replication stream, keyspace
//! notifications, client tracking and slot migration need from every change. Installed only
//! while one of them is on (nothing is paid otherwise); [`refresh`] after one is turned on or off.

use std::sync::{Arc, Weak};

use store::{Mutation, MutationObserver};

use crate::Shared;

struct Observer(Weak<Shared>);

impl MutationObserver for Observer {
    fn changed(&self, key: &[u8], what: Mutation) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        if shared.repl_log.records_local() {
            crate::replication::log::on_mutation(&shared.repl_log, key, what);
        }
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
    let wanted = shared.repl_log.records_local()
        || shared.notify.enabled()
        || shared.tracking.active()
        || shared.migrations.tap.active();
    let observer: Option<Arc<dyn MutationObserver>> = if wanted {
        Some(Arc::new(Observer(Arc::downgrade(&shared.arc()))))
    } else {
        None
    };
    shared.keyspace.set_observer(observer);
}
