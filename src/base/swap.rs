//! [`Swap`]: a value replaced whole at config reload and read per request (the receivers'
//! routes, the memory limiters, the load-balancing exporter's member ring).

use std::sync::{Arc, RwLock};

/// A value swapped whole at config reload and read per request: a read clones an `Arc` under a
/// read lock (no allocation, no waiting on other readers).
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Swap(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the value; returns the previous one.
    pub fn store(&self, value: Arc<T>) -> Arc<T> {
        std::mem::replace(
            &mut *self.0.write().unwrap_or_else(|e| e.into_inner()),
            value,
        )
    }
}

impl<T> Swap<Vec<T>> {
    /// Whether the current list is empty.
    pub fn is_empty(&self) -> bool {
        self.load().is_empty()
    }
}
