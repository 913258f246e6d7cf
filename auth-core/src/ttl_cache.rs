//! A bounded map whose entries expire: the shape of every in-isolate memory the edge keeps between
//! requests (verified tokens, recent revocation answers).
//!
//! Bounded twice: by `capacity` (the oldest insertion goes first) and by time (an entry is never
//! returned at or after its expiry). Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    capacity: usize,
    /// Each key's value, expiry and the insertion that put it there.
    entries: HashMap<K, (V, i64, u64)>,
    /// Insertion order, for eviction when full: each key with its insertion. A key removed (on
    /// expiry or by `remove`) and inserted again leaves a stale record behind, which eviction skips
    /// and trimming drops, so that a key re-inserted over and over neither piles up here nor is
    /// evicted as if it were old.
    order: VecDeque<(K, u64)>,
    inserted: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries; 0 keeps nothing.
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
            inserted: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The value for `key` if it has not expired at `now`; an expired entry is dropped.
    pub fn get(&mut self, key: &K, now: i64) -> Option<V> {
        let (value, expires_at, _) = self.entries.get(key)?;
        if now < *expires_at {
            return Some(value.clone());
        }
        self.entries.remove(key);
        None
    }

    /// Remembers `value` until `expires_at` (exclusive), evicting the oldest entries when full. A
    /// key already present keeps its place in the order.
    pub fn insert(&mut self, key: K, value: V, expires_at: i64) {
        if self.capacity == 0 {
            return;
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.0 = value;
            entry.1 = expires_at;
            return;
        }
        while self.entries.len() >= self.capacity {
            let Some((old, insertion)) = self.order.pop_front() else {
                break;
            };
            if self.is_current(&old, insertion) {
                self.entries.remove(&old);
            }
        }
        self.inserted += 1;
        self.entries
            .insert(key.clone(), (value, expires_at, self.inserted));
        self.order.push_back((key, self.inserted));
        // Trimmed to the live records, so at most once per `capacity` insertions.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order
                .retain(|(k, insertion)| entries.get(k).is_some_and(|e| e.2 == *insertion));
        }
    }

    /// Whether `insertion` is what put `key`'s entry there.
    fn is_current(&self, key: &K, insertion: u64) -> bool {
        self.entries.get(key).is_some_and(|e| e.2 == insertion)
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;

    #[test]
    fn entries_expire_at_their_time() {
        let mut c = TtlCache::new(4);
        c.insert("a", 1, 100);
        assert_eq!(c.get(&"a", 99), Some(1));
        assert_eq!(c.get(&"a", 100), None);
        assert!(c.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn the_oldest_insertion_goes_when_full() {
        let mut c = TtlCache::new(2);
        c.insert("a", 1, 100);
        c.insert("b", 2, 100);
        c.insert("c", 3, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&"a", 0), None);
        assert_eq!(c.get(&"b", 0), Some(2));
        assert_eq!(c.get(&"c", 0), Some(3));
    }

    #[test]
    fn replacing_a_key_does_not_evict_another() {
        let mut c = TtlCache::new(2);
        c.insert("a", 1, 100);
        c.insert("b", 2, 100);
        c.insert("b", 3, 200);
        assert_eq!(c.get(&"a", 0), Some(1));
        assert_eq!(c.get(&"b", 150), Some(3));
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut c = TtlCache::new(0);
        c.insert("a", 1, 100);
        assert_eq!(c.get(&"a", 0), None);
    }

    #[test]
    fn bookkeeping_stays_bounded_under_churn() {
        let mut c = TtlCache::new(8);
        for i in 0..10_000 {
            c.insert(i, i, 1_000_000);
            c.remove(&i);
        }
        assert!(c.order.len() <= 16, "order holds {}", c.order.len());
        for i in 0..10_000 {
            c.insert(i, i, 1_000_000);
        }
        assert_eq!(c.len(), 8);
        assert!(c.order.len() <= 16);
    }

    #[test]
    fn a_key_that_expires_and_comes_back_leaves_no_pile_of_records() {
        // A memo whose answers expire at once (REVOCATION_CACHE_SECONDS = 0) re-inserts the same
        // key on every request: its stale records must go, not make every insertion walk them.
        let mut c = TtlCache::new(8);
        for now in 0..10_000 {
            assert_eq!(c.get(&"key", now), None);
            c.insert("key", now, now);
        }
        assert!(c.order.len() <= 16, "order holds {}", c.order.len());
    }

    #[test]
    fn a_key_inserted_again_is_evicted_by_its_new_age() {
        let mut c = TtlCache::new(2);
        c.insert("a", 1, 10);
        assert_eq!(c.get(&"a", 10), None, "expired");
        c.insert("b", 2, 100);
        c.insert("a", 3, 100);
        c.insert("c", 4, 100);
        assert_eq!(c.get(&"b", 0), None, "b is the oldest live entry");
        assert_eq!(c.get(&"a", 0), Some(3));
        assert_eq!(c.get(&"c", 0), Some(4));
    }
}
