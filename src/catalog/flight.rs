//! Per-key exclusion for async lookups: the first caller does the work, concurrent callers of the
//! same key wait and then find the result in the cache. A cancelled caller releases the key, so
//! the next waiter takes over instead of hanging.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(super) struct Flights {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while doing the work for one key.
pub(super) struct FlightGuard<'a> {
    flights: &'a Flights,
    key: String,
    lock: Arc<AsyncMutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Flights {
    pub(super) async fn enter(&self, key: &str) -> FlightGuard<'_> {
        let lock = self
            .locks
            .lock()
            .entry(key.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        FlightGuard {
            flights: self,
            key: key.to_string(),
            lock,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.locks.lock().len()
    }
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.flights.locks.lock();
        // Clones are only made under `locks`: two references left (the map's and ours) means
        // nobody else waits for this key.
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}
