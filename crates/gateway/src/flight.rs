//! Coalescing: concurrent misses for one key make one upstream request. The first asks
//! (the leader); the others wait for what it publishes. A leader that goes away without
//! publishing (its client disconnected) closes the flight, and each waiter asks for itself.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// What a flight ends with, shared by everyone who waited for it.
pub type Landing<T> = Option<Arc<T>>;

pub struct Flights<T> {
    open: Mutex<HashMap<String, watch::Receiver<Landing<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            open: Mutex::new(HashMap::new()),
        }
    }
}

/// The leader's side of a flight: publish once; the flight closes when this is dropped.
pub struct Leader<'a, T> {
    flights: &'a Flights<T>,
    key: String,
    tx: watch::Sender<Landing<T>>,
}

impl<T> Leader<'_, T> {
    pub fn publish(&self, outcome: Arc<T>) {
        let _ = self.tx.send(Some(outcome));
    }
}

impl<T> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        self.flights.open.lock().remove(&self.key);
    }
}

pub enum Joined<'a, T> {
    Leader(Leader<'a, T>),
    /// Waits for the leader: `None` when it went away without an answer.
    Follower(watch::Receiver<Landing<T>>),
}

impl<T> Flights<T> {
    pub fn join(&self, key: &str) -> Joined<'_, T> {
        let mut open = self.open.lock();
        if let Some(rx) = open.get(key) {
            return Joined::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        open.insert(key.to_string(), rx);
        Joined::Leader(Leader {
            flights: self,
            key: key.to_string(),
            tx,
        })
    }

    /// Whether a flight for `key` is under way.
    pub fn busy(&self, key: &str) -> bool {
        self.open.lock().contains_key(key)
    }
}

/// Waits for a flight's outcome (`None`: the leader went away).
pub async fn land<T>(mut rx: watch::Receiver<Landing<T>>) -> Option<Arc<T>> {
    match rx.wait_for(|v| v.is_some()).await {
        Ok(v) => v.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_outcome_or_nothing_if_it_leaves() {
        let f: Flights<u32> = Flights::default();
        let Joined::Leader(leader) = f.join("k") else {
            panic!()
        };
        let Joined::Follower(rx) = f.join("k") else {
            panic!()
        };
        leader.publish(Arc::new(7));
        assert_eq!(land(rx).await.as_deref(), Some(&7));
        drop(leader);
        assert!(!f.busy("k"));
        let Joined::Leader(leader) = f.join("k") else {
            panic!()
        };
        let Joined::Follower(rx) = f.join("k") else {
            panic!()
        };
        drop(leader);
        assert_eq!(land(rx).await, None);
    }
}
