//! The block cache: object bytes shared by every open file, under one memory bound.
//!
//! Subtleties:
//! 1. A part is keyed by the object's bucket, key, size and ETag, so bytes of two versions
//!    of an object never meet, and a file opened twice (or by several readers) reuses what
//!    any of them fetched. An object listed without an ETag has no version to tell: each open
//!    of it is its own object here ([`ObjectId::new`]), so a later open never gets bytes an
//!    earlier one fetched, maybe of an older version; its parts go when its reader closes.
//! 2. Parts of one object never overlap: a request for a range fetches only its gaps. A part
//!    being fetched is in the map already (pending), so a second reader of the same bytes
//!    waits for that GET instead of sending its own.
//! 3. Memory is counted when a fetch starts, not when it ends, so fetches in flight are
//!    bounded too. When the bound is reached, the least recently used finished parts go.
//!    When everything counted is still in flight, a read the caller waits for (demand)
//!    waits for memory to come free: under pressure reads get slower, never unbounded.
//!    Prefetch never waits: it is skipped.
//! 4. A failed fetch leaves no part behind: its waiters get the error, the next read tries
//!    again.
//! 5. Fetches run in their own tasks, so a reader that goes away (an interrupted `read`)
//!    never leaves a part pending forever; and a task that panics or is dropped before it
//!    answers fails its part through a drop guard (`FetchGuard`), which wakes the waiters
//!    with EIO and gives the memory back.
//! 6. Parts a reader has asked for are evicted before parts only prefetched: otherwise one
//!    reader's prefetch pushes out what another prefetched and has yet to read, and both
//!    fetch everything twice (measured: a 1 GiB read with 32 MiB of cache sent Garage 3.5
//!    times the work).
//! 7. What a reader has read past is dropped ([`DataCache::passed`]): the kernel's page
//!    cache holds those bytes now, for every open of the file (one object, one inode), and
//!    a second copy here would only push out what random readers keep, and cost fresh pages
//!    for every new part instead of recycled ones. Not while the object has an `O_DIRECT`
//!    reader open, which bypasses the page cache and may still want them. (This used to
//!    wait for a lone reader: four readers of one object then held all of it, 276 MiB.)
//! 8. While an object has open readers, the kernel's copy ([`KernelCopy`]) remembers what
//!    this cache dropped because the kernel has it, and prefetch skips those stretches: otherwise a reader whose window
//!    reaches into a stretch another reader has read fetches it again (measured: four
//!    readers of quarters of one object fetched 318 MiB for 256). A demand still fetches
//!    them: the kernel asks only for pages it no longer has.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use lru::LruCache;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use super::kernel_copy::KernelCopy;
use crate::s3::{ObjectStore, StoreError};

/// One version of one object.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ObjectId {
    pub bucket: Arc<str>,
    pub key: Arc<str>,
    pub size: u64,
    pub etag: Option<Arc<str>>,
    /// 0 with an ETag; without one, a number no other open has (subtlety 1).
    unversioned: u64,
}

impl ObjectId {
    pub fn new(bucket: Arc<str>, key: Arc<str>, size: u64, etag: Option<Arc<str>>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let unversioned = match etag {
            Some(_) => 0,
            None => NEXT.fetch_add(1, Ordering::Relaxed),
        };
        ObjectId {
            bucket,
            key,
            size,
            etag,
            unversioned,
        }
    }
}

/// One open file of one object, counted by the cache while it lives.
pub struct Reader {
    pub obj: Arc<ObjectId>,
    cache: Arc<DataCache>,
    /// Whether this reader counts as a sequential stream (see [`DataCache::streams`]).
    streaming: AtomicBool,
    /// An `O_DIRECT` reader: the kernel caches nothing it reads.
    direct: bool,
}

impl Reader {
    /// Counts this reader as a sequential stream, or no longer.
    pub fn set_streaming(&self, on: bool) {
        if self.streaming.swap(on, Ordering::Relaxed) != on {
            match on {
                true => self.cache.streams.fetch_add(1, Ordering::Relaxed),
                false => self.cache.streams.fetch_sub(1, Ordering::Relaxed),
            };
        }
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming.load(Ordering::Relaxed)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.set_streaming(false);
        let last = self.cache.kernel.reader_closed(&self.obj, self.direct);
        if last && self.obj.unversioned != 0 && self.cache.inner.lock().drop_finished(&self.obj) {
            self.cache.freed.notify_waiters();
        }
    }
}

/// Called with a part a fetch started by this caller has just finished, after its waiters
/// were woken (see [`super::push`]).
pub type OnReady = Arc<dyn Fn(&Arc<ObjectId>, &Arc<Part>, &Bytes) + Send + Sync>;

/// Whether a caller waits for the bytes or only wants them on their way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Demand,
    Prefetch,
}

#[derive(Debug)]
enum State {
    Pending,
    Ready(Bytes),
    Failed(StoreError),
}

/// A contiguous range of one object, fetched or being fetched.
#[derive(Debug)]
pub struct Part {
    pub start: u64,
    pub len: u64,
    /// Whether a reader has asked for this part, rather than only a prefetch.
    read: AtomicBool,
    state: watch::Sender<State>,
}

impl Part {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// The part's bytes once its fetch is done.
    pub async fn bytes(&self) -> Result<Bytes, StoreError> {
        let mut rx = self.state.subscribe();
        let state = rx
            .wait_for(|s| !matches!(s, State::Pending))
            .await
            .map_err(|_| StoreError::Other("a fetch task ended without an answer".into()))?;
        match &*state {
            State::Ready(b) => Ok(b.clone()),
            State::Failed(e) => Err(e.clone()),
            State::Pending => unreachable!("wait_for returned a pending part"),
        }
    }
}

/// Counters of the block cache.
#[derive(Debug, Default)]
pub struct DataStats {
    pub hits: AtomicU64,
    pub fetches: AtomicU64,
    pub evicted_bytes: AtomicU64,
    pub skipped_prefetches: AtomicU64,
    pub released_bytes: AtomicU64,
    pub handed_over_bytes: AtomicU64,
    /// Bytes copied into the kernel's page cache, and stores skipped or refused.
    pub stored_bytes: AtomicU64,
    pub store_skipped: AtomicU64,
    pub store_failed: AtomicU64,
}

type PartKey = (Arc<ObjectId>, u64);

struct Inner {
    objects: HashMap<Arc<ObjectId>, BTreeMap<u64, Arc<Part>>>,
    /// Finished parts a reader has asked for, least recently used first; the value is the
    /// part's length. Evicted first.
    lru: LruCache<PartKey, u64>,
    /// Finished parts only a prefetch has asked for so far. Evicted only for a demand:
    /// prefetch never pushes out what another reader prefetched and has yet to read.
    unread: LruCache<PartKey, u64>,
    /// Bytes of all parts, pending or finished.
    used: u64,
}

/// The shared cache of object bytes.
pub struct DataCache {
    inner: Mutex<Inner>,
    /// What the kernel's page cache holds, which this cache need not (subtleties 7 and 8).
    /// Locked only under `inner`, or alone, never the other way round.
    kernel: Arc<KernelCopy>,
    /// Open readers reading sequentially now, which share the read-ahead budget.
    streams: AtomicU64,
    freed: Notify,
    limit: u64,
    pub stats: DataStats,
}

/// What a look at the map found for a range: parts to wait for, gaps to fetch.
enum Piece {
    Have(Arc<Part>),
    Gap(Range<u64>),
}

impl DataCache {
    /// A cache holding at most `limit` bytes, fetched or in flight, beside the kernel's
    /// page cache as `kernel` knows it.
    pub fn new(limit: u64, kernel: Arc<KernelCopy>) -> Arc<Self> {
        Arc::new(DataCache {
            inner: Mutex::new(Inner {
                objects: HashMap::new(),
                lru: LruCache::unbounded(),
                unread: LruCache::unbounded(),
                used: 0,
            }),
            kernel,
            streams: AtomicU64::new(0),
            freed: Notify::new(),
            limit: limit.max(1),
            stats: DataStats::default(),
        })
    }

    /// A reader of `obj`; `direct` for an `O_DIRECT` one, counted until it is dropped.
    pub fn reader(self: &Arc<Self>, obj: ObjectId, direct: bool) -> Reader {
        let obj = Arc::new(obj);
        self.kernel.reader_opened(&obj, direct);
        Reader {
            obj,
            cache: self.clone(),
            streaming: AtomicBool::new(false),
            direct,
        }
    }

    /// How many open readers read sequentially now.
    pub fn streams(&self) -> u64 {
        self.streams.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The counters as `key=value` pairs for the stats line.
    pub fn line(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "data_hits={} data_fetches={} data_bytes={} data_evicted_bytes={} prefetch_skipped={} data_released_bytes={} data_pushed_bytes={} page_cache_stored_bytes={} page_cache_stores_skipped={} page_cache_stores_failed={}",
            get(&self.stats.hits),
            get(&self.stats.fetches),
            self.used(),
            get(&self.stats.evicted_bytes),
            get(&self.stats.skipped_prefetches),
            get(&self.stats.released_bytes),
            get(&self.stats.handed_over_bytes),
            get(&self.stats.stored_bytes),
            get(&self.stats.store_skipped),
            get(&self.stats.store_failed),
        )
    }

    /// Bytes held now, fetched or in flight.
    pub fn used(&self) -> u64 {
        self.inner.lock().used
    }

    /// The parts covering `range` in order, starting a fetch for each gap, cut at multiples
    /// of `unit`. With [`Need::Prefetch`] it stops at the first gap that would need
    /// memory still in flight, and returns what it has, with how far it got; it leaves out
    /// what the kernel holds (subtlety 8). Each fetch it starts calls `on_ready` when it
    /// succeeds.
    pub async fn parts(
        self: &Arc<Self>,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        range: Range<u64>,
        unit: u64,
        need: Need,
        on_ready: Option<&OnReady>,
    ) -> (Vec<Arc<Part>>, u64) {
        let unit = unit.clamp(1, self.limit);
        let mut out = Vec::new();
        let mut from = range.start;
        while from < range.end {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let progress = self.take(
                store,
                reader,
                from..range.end,
                (unit, need, on_ready),
                &mut out,
            );
            from = progress;
            if from >= range.end {
                break;
            }
            if need == Need::Prefetch {
                self.stats
                    .skipped_prefetches
                    .fetch_add(1, Ordering::Relaxed);
                break;
            }
            freed.await;
        }
        (out, from)
    }

    /// Walks `range` under the lock: finished and pending parts are taken as they are, gaps
    /// are fetched while memory allows. Returns how far it got.
    fn take(
        self: &Arc<Self>,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        range: Range<u64>,
        (unit, need, on_ready): (u64, Need, Option<&OnReady>),
        out: &mut Vec<Arc<Part>>,
    ) -> u64 {
        let obj = &reader.obj;
        let mut inner = self.inner.lock();
        let pieces = inner.pieces(obj, range.clone());
        for piece in &pieces {
            if let Piece::Have(part) = piece {
                // Touched first so that making room below evicts other parts before these.
                let key = (obj.clone(), part.start);
                if need == Need::Demand && !part.read.swap(true, Ordering::Relaxed) {
                    if let Some(len) = inner.unread.pop(&key) {
                        inner.lru.put(key.clone(), len);
                    }
                }
                inner.lru.get(&key);
            }
        }
        for piece in pieces {
            match piece {
                Piece::Have(part) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    out.push(part);
                }
                Piece::Gap(gap) => {
                    let gaps = match need {
                        Need::Prefetch => self.kernel.not_held(obj, gap),
                        Need::Demand => vec![gap],
                    };
                    for gap in gaps {
                        let mut at = gap.start;
                        while at < gap.end {
                            // On a grid of `unit`: a server that stores objects in blocks
                            // (Garage: 1 MiB) then reads each block for one GET only.
                            let len = gap.end.min((at / unit + 1) * unit) - at;
                            if !self.make_room(&mut inner, len, need) {
                                return at;
                            }
                            let fetch = (at..at + len, need, on_ready.cloned());
                            out.push(self.start_fetch(&mut inner, store, reader, fetch));
                            at += len;
                        }
                    }
                }
            }
        }
        range.end
    }

    /// Evicts finished parts until `len` more bytes fit: parts already read first, then, for
    /// a demand only, parts prefetched and not read yet. False when they cannot fit yet.
    fn make_room(&self, inner: &mut Inner, len: u64, need: Need) -> bool {
        while inner.used + len > self.limit {
            let victim = match inner.lru.pop_lru() {
                Some(v) => Some(v),
                None if need == Need::Demand => inner.unread.pop_lru(),
                None => None,
            };
            let Some(((obj, start), part_len)) = victim else {
                return false;
            };
            inner.remove(&obj, start);
            inner.used -= part_len;
            self.stats
                .evicted_bytes
                .fetch_add(part_len, Ordering::Relaxed);
        }
        true
    }

    fn start_fetch(
        self: &Arc<Self>,
        inner: &mut Inner,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        (range, need, on_ready): (Range<u64>, Need, Option<OnReady>),
    ) -> Arc<Part> {
        let (obj, start, len) = (&reader.obj, range.start, range.end - range.start);
        let part = Arc::new(Part {
            start,
            len,
            read: AtomicBool::new(need == Need::Demand),
            state: watch::Sender::new(State::Pending),
        });
        inner
            .objects
            .entry(obj.clone())
            .or_default()
            .insert(start, part.clone());
        inner.used += len;
        self.stats.fetches.fetch_add(1, Ordering::Relaxed);
        let store = store.clone();
        let guard = FetchGuard {
            cache: self.clone(),
            obj: obj.clone(),
            part: part.clone(),
            answered: false,
        };
        tokio::spawn(async move {
            let result = fetch(store.as_ref(), &guard.obj, range).await;
            guard.answer(result, on_ready);
        });
        part
    }

    /// `reader` has read past `range` for good, and the kernel caches it: unless the object
    /// has an `O_DIRECT` reader open, drops the finished parts in that range (subtlety 7).
    pub fn passed(&self, reader: &Reader, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        if reader.direct || !self.kernel.caches_for_all(&reader.obj) {
            return;
        }
        let Some(parts) = inner.objects.get(&reader.obj) else {
            return;
        };
        // Only parts wholly inside: one read only in part stays for the rest of it.
        let done: Vec<(u64, u64)> = parts
            .range(range.start..range.end)
            .map(|(_, p)| p)
            .filter(|p| p.end() <= range.end && !matches!(*p.state.borrow(), State::Pending))
            .map(|p| (p.start, p.len))
            .collect();
        if done.is_empty() {
            return;
        }
        for (start, len) in done {
            if self.drop_held_by_kernel(&mut inner, &reader.obj, start..start + len) {
                self.stats.released_bytes.fetch_add(len, Ordering::Relaxed);
            }
        }
        drop(inner);
        self.freed.notify_waiters();
    }

    /// `part` of `obj` has gone to the kernel's page cache: drops it, if it is still here
    /// and finished.
    pub fn handed_over(&self, obj: &Arc<ObjectId>, part: &Arc<Part>) {
        let mut inner = self.inner.lock();
        let here = inner
            .objects
            .get(obj)
            .and_then(|parts| parts.get(&part.start))
            .is_some_and(|p| Arc::ptr_eq(p, part));
        if !here || !self.drop_held_by_kernel(&mut inner, obj, part.start..part.end()) {
            return;
        }
        self.stats
            .handed_over_bytes
            .fetch_add(part.len, Ordering::Relaxed);
        drop(inner);
        self.freed.notify_waiters();
    }

    /// Drops the finished part of `obj` that is `range`, which the kernel's page cache
    /// holds now, and tells the kernel's copy (subtlety 8). False when it is not a finished
    /// part here (pending, or gone already).
    fn drop_held_by_kernel(
        &self,
        inner: &mut Inner,
        obj: &Arc<ObjectId>,
        range: Range<u64>,
    ) -> bool {
        let key = (obj.clone(), range.start);
        if inner
            .lru
            .pop(&key)
            .or_else(|| inner.unread.pop(&key))
            .is_none()
        {
            return false;
        }
        inner.remove(obj, range.start);
        inner.used -= range.end - range.start;
        self.kernel.handed(obj, range);
        true
    }

    fn finish(&self, obj: &Arc<ObjectId>, part: &Arc<Part>, result: Result<Bytes, StoreError>) {
        let mut inner = self.inner.lock();
        let state = match result {
            Ok(bytes) => {
                let key = (obj.clone(), part.start);
                if part.read.load(Ordering::Relaxed) {
                    inner.lru.put(key, part.len);
                } else {
                    inner.unread.put(key, part.len);
                }
                State::Ready(bytes)
            }
            Err(e) => {
                inner.remove(obj, part.start);
                inner.used -= part.len;
                State::Failed(e)
            }
        };
        part.state.send_replace(state);
        drop(inner);
        self.freed.notify_waiters();
    }
}

/// Settles a part's fetch however its task ends. A task that panics (a bug in a store) or
/// is dropped before it answers (the runtime shutting down) would otherwise leave the part
/// pending for good: its waiters would hang, and its bytes would stay counted against the
/// bound. Dropped unanswered, the guard fails the part instead, as a failed GET would.
struct FetchGuard {
    cache: Arc<DataCache>,
    obj: Arc<ObjectId>,
    part: Arc<Part>,
    answered: bool,
}

impl FetchGuard {
    /// Settles the part with the fetch's result, then hands the bytes to `on_ready`.
    fn answer(mut self, result: Result<Bytes, StoreError>, on_ready: Option<OnReady>) {
        self.answered = true;
        let ready = result.as_ref().ok().cloned();
        self.cache.finish(&self.obj, &self.part, result);
        if let (Some(bytes), Some(on_ready)) = (ready, on_ready) {
            on_ready(&self.obj, &self.part, &bytes);
        }
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if !self.answered {
            let why = "the fetch ended without an answer (it panicked or was cancelled)";
            self.cache
                .finish(&self.obj, &self.part, Err(StoreError::Other(why.into())));
        }
    }
}

impl Inner {
    /// The parts and gaps that make up `range`, in order.
    fn pieces(&self, obj: &ObjectId, range: Range<u64>) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut at = range.start;
        if let Some(parts) = self.objects.get(obj) {
            // The part that may cover `at` starts at or before it.
            let first = parts
                .range(..=at)
                .next_back()
                .map(|(s, _)| *s)
                .unwrap_or(at);
            for part in parts.range(first..range.end).map(|(_, p)| p) {
                if part.end() <= at {
                    continue;
                }
                if part.start > at {
                    pieces.push(Piece::Gap(at..part.start));
                }
                pieces.push(Piece::Have(part.clone()));
                at = part.end();
            }
        }
        if at < range.end {
            pieces.push(Piece::Gap(at..range.end));
        }
        pieces
    }

    /// Drops the finished parts of `obj`, which no reader will ask for again. Parts still
    /// in flight are evicted like any other once they finish.
    /// Whether any went.
    fn drop_finished(&mut self, obj: &Arc<ObjectId>) -> bool {
        let Some(parts) = self.objects.get(obj) else {
            return false;
        };
        let starts: Vec<u64> = parts.keys().copied().collect();
        let mut dropped = false;
        for start in starts {
            let key = (obj.clone(), start);
            if let Some(len) = self.lru.pop(&key).or_else(|| self.unread.pop(&key)) {
                self.remove(obj, start);
                self.used -= len;
                dropped = true;
            }
        }
        dropped
    }

    fn remove(&mut self, obj: &Arc<ObjectId>, start: u64) {
        if let Some(parts) = self.objects.get_mut(obj) {
            parts.remove(&start);
            if parts.is_empty() {
                self.objects.remove(obj);
            }
        }
    }
}

/// One ranged GET pinned to the object's ETag; a short body is an error, never data.
async fn fetch(
    store: &dyn ObjectStore,
    obj: &ObjectId,
    range: Range<u64>,
) -> Result<Bytes, StoreError> {
    let expected = range.end - range.start;
    let data = store
        .get_range(&obj.bucket, &obj.key, range, obj.etag.as_deref())
        .await?;
    if data.len() as u64 != expected {
        return Err(StoreError::ShortBody {
            got: data.len() as u64,
            expected,
        });
    }
    Ok(data)
}
