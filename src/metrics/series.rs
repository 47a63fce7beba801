//! The handles of the series recorded on every request, kept by their labels.
//!
//! Recording through the facade's macros with labels known only at run time builds a key each
//! time (a vector of labels: an allocation), hashes it and looks it up in the recorder's registry.
//! On the request path (`{ viewer { userId } }` records some six values) the handle is looked up
//! once per label set and cloned afterwards (one reference count). The label sets are closed, so
//! the map stays small.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{LazyLock, RwLock};

pub struct Series<K, H>(LazyLock<RwLock<HashMap<K, H, foldhash::fast::RandomState>>>);

impl<K: Eq + Hash, H: Clone> Series<K, H> {
    pub const fn new() -> Self {
        Self(LazyLock::new(Default::default))
    }

    /// The handle of `key`'s series, made by `make` the first time.
    pub fn get(&self, key: K, make: impl FnOnce() -> H) -> H {
        let known = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        known.unwrap_or_else(|| {
            let mut series = self.0.write().unwrap_or_else(|e| e.into_inner());
            series.entry(key).or_insert_with(make).clone()
        })
    }
}
