//! Exchanged tokens per (subject token, audience), until shortly before
//! they expire; bounded, the oldest entry evicted first.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long a token without `expires_in` is reused.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Entries kept at most.
pub(crate) const CAPACITY: usize = 10_000;

type Key = (String, String);

struct Entry {
    token: String,
    expires: Instant,
    /// Insertion order: the key of `order`.
    seq: u64,
}

pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    /// Insertion sequence → key, oldest first.
    order: BTreeMap<u64, Key>,
    next: u64,
    capacity: usize,
}

/// How long an exchanged token is reused: `expires_in` less 10 %, or
/// [`DEFAULT_TTL`] when the STS gave none.
pub(crate) fn ttl(expires_in: Option<u64>) -> Duration {
    match expires_in {
        None => DEFAULT_TTL,
        Some(seconds) => Duration::from_millis(seconds.saturating_mul(900)),
    }
}

impl Cache {
    pub fn new(capacity: usize) -> Self {
        Cache { entries: HashMap::new(), order: BTreeMap::new(), next: 0, capacity: capacity.max(1) }
    }

    /// The live token for (`subject`, `audience`); an expired one is dropped.
    pub fn get(&mut self, subject: &str, audience: &str, now: Instant) -> Option<String> {
        let key = (subject.to_string(), audience.to_string());
        let entry = self.entries.get(&key)?;
        if now < entry.expires {
            return Some(entry.token.clone());
        }
        let seq = entry.seq;
        self.entries.remove(&key);
        self.order.remove(&seq);
        None
    }

    /// Keeps `token` for `ttl` from `now` (nothing when `ttl` is zero),
    /// replacing an older entry for the same key; over capacity, expired
    /// entries go first, then the oldest.
    pub fn insert(&mut self, subject: &str, audience: &str, token: String, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        let key = (subject.to_string(), audience.to_string());
        if let Some(old) = self.entries.remove(&key) {
            self.order.remove(&old.seq);
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, entry| now < entry.expires);
            let entries = &self.entries;
            self.order.retain(|_, key| entries.contains_key(key));
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, key.clone());
        self.entries.insert(key, Entry { token, expires: now + ttl, seq });
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_their_ttl() {
        let now = Instant::now();
        let mut cache = Cache::new(10);
        cache.insert("s", "a", "t".into(), ttl(Some(100)), now);
        assert_eq!(ttl(Some(100)), Duration::from_secs(90));
        assert_eq!(ttl(None), Duration::from_secs(300));
        assert_eq!(cache.get("s", "a", now + Duration::from_secs(89)).as_deref(), Some("t"));
        assert_eq!(cache.get("s", "b", now), None);
        assert_eq!(cache.get("t", "a", now), None);
        assert_eq!(cache.get("s", "a", now + Duration::from_secs(90)), None);
        assert_eq!(cache.len(), 0);
        cache.insert("s", "a", "t".into(), ttl(Some(0)), now);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_oldest_entry_is_evicted_first() {
        let now = Instant::now();
        let mut cache = Cache::new(2);
        cache.insert("1", "a", "t1".into(), DEFAULT_TTL, now);
        cache.insert("2", "a", "t2".into(), DEFAULT_TTL, now);
        cache.insert("1", "a", "t1'".into(), DEFAULT_TTL, now);
        cache.insert("3", "a", "t3".into(), DEFAULT_TTL, now);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("2", "a", now), None);
        assert_eq!(cache.get("1", "a", now).as_deref(), Some("t1'"));
        assert_eq!(cache.get("3", "a", now).as_deref(), Some("t3"));
        // Expired entries make room before live ones are evicted.
        cache.insert("4", "a", "t4".into(), Duration::from_secs(1), now);
        cache.insert("5", "a", "t5".into(), DEFAULT_TTL, now + Duration::from_secs(2));
        assert_eq!(cache.get("3", "a", now).as_deref(), Some("t3"));
        assert_eq!(cache.get("5", "a", now).as_deref(), Some("t5"));
    }
}
