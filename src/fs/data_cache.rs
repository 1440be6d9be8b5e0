//! The block cache: object bytes shared by every open file, under one memory bound.
//!
//! Its jobs each have a type of their own: where the parts are (`PartIndex`), what is
//! counted against the bound and what goes first (`MemoryBudget`), the demands waiting
//! for memory (`FreedMemory`), the GET behind a part (`fetch.rs`), and what the
//! kernel's page cache holds instead ([`KernelCopy`]). This file is the walk over a range
//! that uses them, and the readers it counts.
//!
//! Subtleties:
//! 1. A part is keyed by the object's version ([`ObjectId`]), so bytes of two versions of
//!    an object never meet, and a file opened twice (or by several readers) reuses what any
//!    of them fetched. An object listed without an ETag is each open's own object; its
//!    parts go when its reader closes.
//! 2. Parts of one object never overlap: a request for a range fetches only its gaps. A part
//!    being fetched is in the index already (pending), so a second reader of the same bytes
//!    waits for that GET instead of sending its own.
//! 3. Memory is counted when a fetch starts, not when it ends, so fetches in flight are
//!    bounded too. When the bound is reached, the least recently used finished parts go.
//!    When everything counted is still in flight, a read the caller waits for (demand)
//!    waits for memory to come free: under pressure reads get slower, never unbounded.
//!    Prefetch never waits: it is skipped.
//! 4. A failed fetch leaves no part behind: its waiters get the error, the next read tries
//!    again. A fetch task that ends without an answer fails its part the same way.
//! 5. Parts a reader has asked for are evicted before parts only prefetched (the budget's
//!    subtlety 2).
//! 6. What a reader has read past is dropped ([`DataCache::passed`]): the kernel's page
//!    cache holds those bytes now, for every open of the file (one object, one inode), and
//!    a second copy here would only push out what random readers keep, and cost fresh pages
//!    for every new part instead of recycled ones. Not while the object has an `O_DIRECT`
//!    reader open, which bypasses the page cache and may still want them. (This used to
//!    wait for a lone reader: four readers of one object then held all of it, 276 MiB.)
//! 7. While an object has open readers, the kernel's copy ([`KernelCopy`]) remembers what
//!    this cache dropped because the kernel has it, and prefetch skips those stretches:
//!    otherwise a reader whose window reaches into a stretch another reader has read
//!    fetches it again (measured: four readers of quarters of one object fetched 318 MiB
//!    for 256). A demand still fetches them: the kernel asks only for pages it no longer
//!    has.
//! 8. Locks: `inner`, then the kernel's copy, never the other way round.

use std::ops::{ControlFlow, Range};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::fetch;
use super::kernel_copy::KernelCopy;
use super::memory_budget::{FreedMemory, MemoryBudget, PartId};
use super::object::ObjectId;
use super::part::Part;
use super::part_index::{PartIndex, Piece};
use crate::s3::{ObjectStore, StoreError};

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
        // No later open asks for an unversioned object's parts (subtlety 1).
        if last && self.obj.is_unversioned() && self.cache.inner.lock().drop_finished(&self.obj) {
            self.cache.freed.wake_all();
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

/// What the cache's lock guards: the index and the budget change together.
struct Inner {
    index: PartIndex,
    budget: MemoryBudget,
}

/// How one walk over a range asks for its parts.
struct Ask<'a> {
    /// Gaps are fetched in GETs cut at multiples of this.
    unit: u64,
    need: Need,
    on_ready: Option<&'a OnReady>,
}

/// The shared cache of object bytes.
pub struct DataCache {
    inner: Mutex<Inner>,
    /// What the kernel's page cache holds, which this cache need not (subtleties 6 to 8).
    kernel: Arc<KernelCopy>,
    /// Open readers reading sequentially now, which share the read-ahead budget.
    streams: AtomicU64,
    freed: FreedMemory,
    pub stats: DataStats,
}

impl DataCache {
    /// A cache holding at most `limit` bytes, fetched or in flight, beside the kernel's
    /// page cache as `kernel` knows it.
    pub fn new(limit: u64, kernel: Arc<KernelCopy>) -> Arc<Self> {
        Arc::new(DataCache {
            inner: Mutex::new(Inner {
                index: PartIndex::default(),
                budget: MemoryBudget::new(limit),
            }),
            kernel,
            streams: AtomicU64::new(0),
            freed: FreedMemory::default(),
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

    /// The bound, in bytes.
    pub fn limit(&self) -> u64 {
        self.inner.lock().budget.limit()
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
        self.inner.lock().budget.used()
    }

    /// The parts covering `range` in order, starting a fetch for each gap, cut at multiples
    /// of `unit`. With [`Need::Prefetch`] it stops at the first gap that would need
    /// memory still in flight, and returns what it has, with how far it got; it leaves out
    /// what the kernel holds (subtlety 7). Each fetch it starts calls `on_ready` when it
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
        let mut out = Vec::new();
        if range.is_empty() {
            return (out, range.start);
        }
        let ask = Ask {
            unit: unit.clamp(1, self.limit()),
            need,
            on_ready,
        };
        let mut from = range.start;
        self.freed
            .retry(|| {
                from = self.take(store, reader, from..range.end, &ask, &mut out);
                if from >= range.end {
                    return ControlFlow::Break(());
                }
                if need == Need::Prefetch {
                    self.stats
                        .skipped_prefetches
                        .fetch_add(1, Ordering::Relaxed);
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            })
            .await;
        (out, from)
    }

    /// Walks `range` under the lock: finished and pending parts are taken as they are, gaps
    /// are fetched while memory allows. Returns how far it got.
    fn take(
        self: &Arc<Self>,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        range: Range<u64>,
        ask: &Ask,
        out: &mut Vec<Arc<Part>>,
    ) -> u64 {
        let obj = &reader.obj;
        let mut inner = self.inner.lock();
        let pieces = inner.index.pieces(obj, range.clone());
        // Touched first so that making room below evicts other parts before these.
        inner.touch(obj, &pieces, ask.need);
        for piece in pieces {
            match piece {
                Piece::Have(part) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    out.push(part);
                }
                Piece::Gap(gap) => {
                    for gap in self.to_fetch(obj, gap, ask.need) {
                        if let Some(at) = self.fetch_gap(&mut inner, store, reader, gap, ask, out) {
                            return at;
                        }
                    }
                }
            }
        }
        range.end
    }

    /// The pieces of `gap` of `obj` to fetch: all of it for a demand, only what the kernel
    /// does not hold for a prefetch (subtlety 7).
    fn to_fetch(&self, obj: &ObjectId, gap: Range<u64>, need: Need) -> Vec<Range<u64>> {
        match need {
            Need::Prefetch => self.kernel.not_held(obj, gap),
            Need::Demand => vec![gap],
        }
    }

    /// Starts the GETs of `gap`, cut on a grid of `ask.unit`, while memory allows, adding
    /// their parts to `out`. Where it stopped for lack of memory, if it did.
    fn fetch_gap(
        self: &Arc<Self>,
        inner: &mut Inner,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        gap: Range<u64>,
        ask: &Ask,
        out: &mut Vec<Arc<Part>>,
    ) -> Option<u64> {
        let mut at = gap.start;
        while at < gap.end {
            // On a grid of `unit`: a server that stores objects in blocks (Garage: 1 MiB)
            // then reads each block for one GET only.
            let len = gap.end.min((at / ask.unit + 1) * ask.unit) - at;
            if !self.make_room(inner, len, ask.need) {
                return Some(at);
            }
            out.push(self.start_fetch(inner, store, reader, at..at + len, ask));
            at += len;
        }
        None
    }

    /// Evicts finished parts until `len` more bytes fit: parts already read first, then, for
    /// a demand only, parts prefetched and not read yet. False when they cannot fit yet.
    fn make_room(&self, inner: &mut Inner, len: u64, need: Need) -> bool {
        let Inner { index, budget } = inner;
        budget.make_room(len, need, |id, part_len| {
            index.remove(&id.obj, id.start);
            self.stats
                .evicted_bytes
                .fetch_add(part_len, Ordering::Relaxed);
        })
    }

    /// Puts a pending part for `range` in the index, counts it, and starts its GET.
    fn start_fetch(
        self: &Arc<Self>,
        inner: &mut Inner,
        store: &Arc<dyn ObjectStore>,
        reader: &Reader,
        range: Range<u64>,
        ask: &Ask,
    ) -> Arc<Part> {
        let len = range.end - range.start;
        let part = Arc::new(Part::pending(range.start, len, ask.need == Need::Demand));
        inner.index.insert(&reader.obj, part.clone());
        inner.budget.charge(len);
        self.stats.fetches.fetch_add(1, Ordering::Relaxed);
        let on_ready = ask.on_ready.cloned();
        fetch::spawn(
            self.clone(),
            store.clone(),
            reader.obj.clone(),
            part.clone(),
            on_ready,
        );
        part
    }

    /// `reader` has read past `range` for good, and the kernel caches it: unless the object
    /// has an `O_DIRECT` reader open, drops the finished parts in that range (subtlety 6).
    pub fn passed(&self, reader: &Reader, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        if reader.direct || !self.kernel.caches_for_all(&reader.obj) {
            return;
        }
        // Only parts wholly inside: one read only in part stays for the rest of it.
        let done = inner.index.finished_within(&reader.obj, range);
        if done.is_empty() {
            return;
        }
        for part in done {
            if self.drop_held_by_kernel(&mut inner, &reader.obj, part.start..part.end()) {
                self.stats
                    .released_bytes
                    .fetch_add(part.len, Ordering::Relaxed);
            }
        }
        drop(inner);
        self.freed.wake_all();
    }

    /// `part` of `obj` has gone to the kernel's page cache: drops it, if it is still here
    /// and finished.
    pub fn handed_over(&self, obj: &Arc<ObjectId>, part: &Arc<Part>) {
        let mut inner = self.inner.lock();
        let here = inner.index.holds(obj, part);
        if !here || !self.drop_held_by_kernel(&mut inner, obj, part.start..part.end()) {
            return;
        }
        self.stats
            .handed_over_bytes
            .fetch_add(part.len, Ordering::Relaxed);
        drop(inner);
        self.freed.wake_all();
    }

    /// Drops the finished part of `obj` that is `range`, which the kernel's page cache
    /// holds now, and tells the kernel's copy (subtlety 7). False when it is not a finished
    /// part here (pending, or gone already).
    fn drop_held_by_kernel(
        &self,
        inner: &mut Inner,
        obj: &Arc<ObjectId>,
        range: Range<u64>,
    ) -> bool {
        let id = PartId {
            obj: obj.clone(),
            start: range.start,
        };
        if inner.budget.release(&id).is_none() {
            return false;
        }
        inner.index.remove(obj, range.start);
        self.kernel.handed(obj, range);
        true
    }

    /// Settles `part` of `obj` with its fetch's result (subtleties 3 and 4).
    pub(super) fn finish(
        &self,
        obj: &Arc<ObjectId>,
        part: &Arc<Part>,
        result: Result<Bytes, StoreError>,
    ) {
        let mut inner = self.inner.lock();
        if result.is_ok() {
            let id = PartId {
                obj: obj.clone(),
                start: part.start,
            };
            inner.budget.finished(id, part.len, part.was_read());
        } else {
            inner.index.remove(obj, part.start);
            inner.budget.refund(part.len);
        }
        part.settle(result);
        drop(inner);
        self.freed.wake_all();
    }
}

impl Inner {
    /// A reader asks for the parts among `pieces`: they go to the front of the eviction
    /// order, and a demand marks them read.
    fn touch(&mut self, obj: &Arc<ObjectId>, pieces: &[Piece], need: Need) {
        for piece in pieces {
            if let Piece::Have(part) = piece {
                let id = PartId {
                    obj: obj.clone(),
                    start: part.start,
                };
                let first = need == Need::Demand && part.mark_read();
                self.budget.asked(&id, first);
            }
        }
    }

    /// Drops the finished parts of `obj`, which no reader will ask for again. Parts still
    /// in flight are evicted like any other once they finish. Whether any went.
    fn drop_finished(&mut self, obj: &Arc<ObjectId>) -> bool {
        let mut dropped = false;
        for start in self.index.starts(obj) {
            let id = PartId {
                obj: obj.clone(),
                start,
            };
            if self.budget.release(&id).is_some() {
                self.index.remove(obj, start);
                dropped = true;
            }
        }
        dropped
    }
}
