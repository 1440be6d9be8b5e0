//! The metadata caches: directory listings (bounded by their total number of entries) and
//! negative lookups (bounded by count), each with its own TTL, plus their hit counters.
//!
//! Subtleties:
//! 1. Listings are evicted whole, least recently used first, when the entries of all cached
//!    listings pass the bound. An evicted listing lives on for the directory streams still
//!    reading it; it is only no longer found by new readers and lookups.
//! 2. A listing counts against the bound as it grows, page by page, so one huge directory
//!    streaming in cannot hold more than the bound.
//! 3. A listing older than the TTL is replaced by a new, empty one on the next read: the old
//!    one is never refreshed in place, so an open directory stream keeps a consistent view.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;

use super::dir::DirListing;
use super::names::ValidName;

/// Cache hits and misses, for the stats line.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    negative_hits: AtomicU64,
}

impl CacheStats {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn negative_hit(&self) {
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// `cache_hits=N cache_misses=N negative_hits=N`.
    pub fn line(&self) -> String {
        format!(
            "cache_hits={} cache_misses={} negative_hits={}",
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.negative_hits.load(Ordering::Relaxed)
        )
    }
}

struct Listings {
    lru: LruCache<u64, Arc<DirListing>>,
    /// Entries of the listings in `lru`.
    total: usize,
}

/// Cached directory listings by inode, bounded by their total entries.
pub struct DirCache {
    inner: Mutex<Listings>,
    max_entries: usize,
}

impl DirCache {
    pub fn new(max_entries: usize) -> Self {
        DirCache {
            inner: Mutex::new(Listings {
                lru: LruCache::unbounded(),
                total: 0,
            }),
            max_entries,
        }
    }

    /// The cached listing of `ino`, if younger than `ttl`.
    pub fn fresh(&self, ino: u64, ttl: Duration) -> Option<Arc<DirListing>> {
        let mut inner = self.inner.lock();
        inner
            .lru
            .get(&ino)
            .filter(|l| l.started.elapsed() < ttl)
            .cloned()
    }

    /// The fresh listing of `ino`, or a new one from `make` put in its place. The flag says
    /// whether it was a cache hit.
    pub fn fresh_or_insert(
        &self,
        ino: u64,
        ttl: Duration,
        make: impl FnOnce() -> DirListing,
    ) -> (Arc<DirListing>, bool) {
        let mut inner = self.inner.lock();
        if let Some(l) = inner.lru.get(&ino).filter(|l| l.started.elapsed() < ttl) {
            return (l.clone(), true);
        }
        let listing = Arc::new(make());
        listing.cached.store(true, Ordering::Relaxed);
        inner.total += listing.take_growth();
        if let Some(old) = inner.lru.put(ino, listing.clone()) {
            Self::uncount(&mut inner, &old);
        }
        self.trim(&mut inner);
        (listing, false)
    }

    /// `listing` gained `added` entries: account for them and evict past the bound.
    pub fn grew(&self, listing: &DirListing, added: usize) {
        if added == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        if listing.cached.load(Ordering::Relaxed) {
            inner.total += added;
            self.trim(&mut inner);
        }
    }

    /// Forgets the listing of `ino` (the directory itself is gone).
    pub fn remove(&self, ino: u64) {
        let mut inner = self.inner.lock();
        if let Some(old) = inner.lru.pop(&ino) {
            Self::uncount(&mut inner, &old);
        }
    }

    /// Entries held by cached listings.
    pub fn total_entries(&self) -> usize {
        self.inner.lock().total
    }

    fn uncount(inner: &mut Listings, old: &DirListing) {
        old.cached.store(false, Ordering::Relaxed);
        inner.total = inner.total.saturating_sub(old.accounted());
    }

    fn trim(&self, inner: &mut Listings) {
        while inner.total > self.max_entries {
            let Some((_, old)) = inner.lru.pop_lru() else {
                return;
            };
            Self::uncount(inner, &old);
        }
    }
}

/// Names known not to exist, by (parent inode, name), with their own TTL.
pub struct NegativeCache {
    lru: Mutex<LruCache<(u64, ValidName), Instant>>,
}

impl NegativeCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("at least 1");
        NegativeCache {
            lru: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn insert(&self, parent: u64, name: &ValidName) {
        self.lru.lock().put((parent, name.clone()), Instant::now());
    }

    /// Whether `name` under `parent` was found missing less than `ttl` ago.
    pub fn contains(&self, parent: u64, name: &ValidName, ttl: Duration) -> bool {
        let mut lru = self.lru.lock();
        let key = (parent, name.clone());
        match lru.get(&key) {
            Some(at) if at.elapsed() < ttl => true,
            Some(_) => {
                lru.pop(&key);
                false
            }
            None => false,
        }
    }

    /// The name exists after all (seen in a listing or a lookup).
    pub fn remove(&self, parent: u64, name: &ValidName) {
        self.lru.lock().pop(&(parent, name.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(n: usize) -> DirListing {
        let names = (0..n)
            .map(|i| ValidName::parse(&format!("d{i}")).unwrap())
            .collect();
        DirListing::complete_dirs(names)
    }

    #[test]
    fn listings_are_evicted_least_recently_used_past_the_entry_bound() {
        let cache = DirCache::new(10);
        let ttl = Duration::from_secs(60);
        cache.fresh_or_insert(1, ttl, || dirs(4));
        cache.fresh_or_insert(2, ttl, || dirs(4));
        assert!(cache.fresh(1, ttl).is_some(), "touch 1");
        cache.fresh_or_insert(3, ttl, || dirs(4));
        assert!(cache.fresh(2, ttl).is_none(), "2 was least recently used");
        assert!(cache.fresh(1, ttl).is_some() && cache.fresh(3, ttl).is_some());
        assert_eq!(cache.total_entries(), 8);
        let (_, hit) = cache.fresh_or_insert(4, ttl, || dirs(11));
        assert!(!hit);
        assert_eq!(
            cache.total_entries(),
            0,
            "a listing over the bound is not kept"
        );
    }

    #[test]
    fn stale_listings_are_replaced_and_negative_entries_expire() {
        let cache = DirCache::new(100);
        let (a, _) = cache.fresh_or_insert(1, Duration::from_secs(60), || dirs(1));
        let (b, hit) = cache.fresh_or_insert(1, Duration::ZERO, || dirs(2));
        assert!(!hit && !Arc::ptr_eq(&a, &b));
        assert_eq!(cache.total_entries(), 2);
        let neg = NegativeCache::new(2);
        let n = ValidName::parse("n").unwrap();
        neg.insert(1, &n);
        assert!(neg.contains(1, &n, Duration::from_secs(60)));
        assert!(!neg.contains(1, &n, Duration::ZERO));
        assert!(
            !neg.contains(1, &n, Duration::from_secs(60)),
            "expired entries go"
        );
    }
}
