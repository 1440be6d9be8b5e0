//! Reading one open file: which bytes to fetch for a read, and how far ahead.
//!
//! The bytes themselves live in the shared [`DataCache`]; an open file only keeps track of
//! how it is being read.
//!
//! Subtleties:
//! 1. Every GET carries `If-Match` with the ETag the file had when it was looked up, so a
//!    file that changes while open fails with ESTALE instead of mixing old and new bytes.
//! 2. A read is sequential when it starts near where the last one ended: a little behind or
//!    ahead of it (the kernel sends read-ahead requests concurrently, so they can arrive out
//!    of order: `late_reads`), or anywhere up to what is already on its way (a short forward
//!    seek keeps the data). Right after a random read, "near" is only the kernel's
//!    read-ahead reach, not a part's worth: random reads a few MiB apart stay random.
//! 3. Sequential reading grows a window geometrically from a small first request (a `head`,
//!    `file` or a footer read stays cheap) to `part_size * parallel`, fetched in parts of at
//!    most `part_size` that run in parallel. A new part starts each time the reader passes a
//!    part's worth of data, so GETs stay large and each byte is fetched once.
//! 4. Any other read is random: it fetches the `random_readahead`-aligned block around what
//!    it asks for (at least the read itself), and the window starts over.
//! 5. Objects under `whole_object_below` bytes are fetched whole, starting at open: one GET
//!    per small file, whatever the reads look like.
//! 6. Fetches are cut on a grid (part size, read-ahead): servers that store objects in
//!    blocks, like Garage with 1 MiB, read each block once instead of twice at every seam.
//!    While a sequential window grows, its fetches are cut on whole MiB, not on the window:
//!    four readers of one 256 MiB object starting mid-file had Garage read 272 MiB of
//!    blocks, as each run's first sub-MiB GETs read their MiB block once each.
//! 7. Parts more than `late_reads` behind a sequential reader are passed. Those the reader
//!    got whole are in the kernel's page cache, for every open of the file, and the cache
//!    drops them (see [`DataCache::passed`]); what a short forward seek
//!    skipped stays. The slack lets late read-ahead requests still find theirs. Not for
//!    `O_DIRECT` handles, which the kernel does not cache.
//! 8. When a file closes, what its reads covered whole is in the kernel's page cache, kept
//!    across opens while the ETag holds: the cache drops those parts too. A `cat` or
//!    `grep -r` over many files then leaves the
//!    daemon's memory as it found it. Not for `O_DIRECT` handles, which the kernel does not
//!    cache; and parts only partly read stay.
//! 9. Sequential readers share one read-ahead budget, `part_size * parallel`: with several
//!    reading at once each keeps `parallel / readers` parts in flight, at least two. The
//!    server sees as many GETs at once as for one reader, and memory stays that of one
//!    window (measured with four readers of one object: 276 MiB of RSS before). When even
//!    two parts each would not fit in half the cache, the parts get smaller, down to 1 MiB:
//!    with `--max-memory 96M` four readers of 64 MiB each fetched 403 MiB, evicting each
//!    other's read-ahead before it was read.
//! 10. A random read's block, beyond the bytes the read asked for, goes on to the kernel's
//!     page cache as soon as it arrives ([`super::push`]), and leaves the daemon: a
//!     neighbouring read (sqlite's next page, a Parquet footer's metadata) is then answered
//!     by the kernel without a round trip, by any open of the file, and thousands of random
//!     blocks cost the daemon no memory. A sequential reader's parts are not stored that
//!     way: the kernel asks for them with its read-ahead anyway, and storing them measured
//!     10% slower (459 against 511 MiB/s for 1 GiB, 1.03 against 0.95 s of daemon CPU),
//!     likely because stored pages come one by one where read-ahead uses large folios.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::data_cache::{DataCache, Need, OnReady, Reader};
use super::error::FsError;
use super::kernel_copy::{HandleCopy, KernelCopy, Pages};
use super::part::Part;
use super::push::Pushes;
use crate::s3::ObjectStore;

/// The block size of the servers that store objects in blocks (Garage: 1 MiB). Sequential
/// fetches are cut on multiples of it once a run is going (subtleties 3 and 6).
const GRID: u64 = 1 << 20;

/// How reads become GETs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadConfig {
    /// The largest single GET of a sequential reader.
    pub part_size: u64,
    /// How many parts a sequential reader keeps in flight ahead of itself.
    pub parallel: u64,
    /// The first fetch of a read at the start of a file.
    pub first_window: u64,
    /// What a random read fetches beyond the bytes it asks for.
    pub random_readahead: u64,
    /// Objects smaller than this are fetched whole.
    pub whole_object_below: u64,
    /// How far out of order the kernel's reads of one sequential stream can arrive: its
    /// read-ahead sends that much at once. A read at most this far (or a part) behind the
    /// last one is still sequential, and parts are kept that long after the reader passed.
    pub late_reads: u64,
}

impl Default for ReadConfig {
    /// What a mount gets with no option given (see [`crate::settings::defaults`]).
    fn default() -> Self {
        use crate::settings::defaults as d;
        ReadConfig {
            part_size: d::PART_SIZE,
            parallel: d::READ_PARALLEL,
            first_window: d::FIRST_WINDOW.min(d::PART_SIZE),
            random_readahead: d::RANDOM_READAHEAD,
            whole_object_below: d::WHOLE_OBJECT_BELOW,
            late_reads: d::KERNEL_READAHEAD.max(d::KERNEL_OWN_READAHEAD),
        }
    }
}

impl ReadConfig {
    /// This configuration for a cache of `limit` bytes: a window larger than half the cache
    /// would evict its own parts before they are read.
    pub fn within(self, limit: u64) -> Self {
        ReadConfig {
            parallel: self.parallel.min(limit / 2 / self.part_size).max(1),
            ..self
        }
    }

    /// This configuration for one of `streams` sequential readers sharing a cache of
    /// `limit` bytes: they share the read-ahead of one, each keeping at least two parts in
    /// flight, and when that would not fit in half the cache the parts get smaller (not
    /// below 1 MiB).
    fn shared_by(self, streams: u64, limit: u64) -> Self {
        let streams = streams.max(1);
        let parallel = (self.parallel / streams).max(2).min(self.parallel);
        // Whole grid blocks keep the cuts on a server's blocks, and no smaller: a GET costs
        // a round trip (and, on S3, a request charge) whatever its size, so below that the
        // readers wait for memory instead.
        let fits = limit / 2 / (streams * parallel);
        let part_size = self.part_size.min((fits / GRID * GRID).max(GRID));
        ReadConfig {
            parallel,
            part_size,
            first_window: self.first_window.min(part_size),
            ..self
        }
    }

    fn max_window(&self) -> u64 {
        self.part_size * self.parallel.max(1)
    }

    /// How far from where the last read ended a read may start and still continue its
    /// run: a part's worth once a run is going (late read-ahead requests, short seeks), only
    /// the kernel's read-ahead reach right after a random read (`streaming` false), or one
    /// random read in about 60 of a 1 GiB file would start a window nobody reads.
    fn slack(&self, streaming: bool) -> u64 {
        if streaming {
            self.part_size.max(self.late_reads)
        } else {
            self.late_reads
        }
    }
}

/// What every open file reads through.
pub struct ReadPath<'a> {
    pub cache: &'a Arc<DataCache>,
    pub store: &'a Arc<dyn ObjectStore>,
    pub pushes: &'a Pushes,
    pub kernel: &'a KernelCopy,
}

/// An open file.
pub struct OpenFile {
    ino: u64,
    reader: Reader,
    /// What the kernel got from this handle's replies and keeps.
    copy: HandleCopy,
    config: ReadConfig,
    pattern: Mutex<Pattern>,
}

/// How the file has been read so far.
#[derive(Default)]
struct Pattern {
    reads: u64,
    /// Where the last read ended.
    next: u64,
    /// The end of what this reader has asked the cache for.
    ahead_to: u64,
    window: u64,
    /// What this reader has told the cache it has passed.
    released_to: u64,
}

/// The fetches one read needs.
struct Plan {
    /// Bytes to wait for (the read itself, maybe with read-ahead), in GETs of `unit`.
    demand: Range<u64>,
    unit: u64,
    /// Bytes to start fetching without waiting.
    prefetch: Option<Range<u64>>,
    /// Bytes the reader has left behind since the last read.
    passed: Option<Range<u64>>,
    kind: ReadKind,
}

/// What [`Pattern::plan`] made of a read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadKind {
    /// Of a small object, fetched whole.
    Whole,
    /// Random: what it fetches beyond itself goes to the kernel's page cache.
    Random,
    /// Sequential: the reader shares the read-ahead budget.
    Sequential,
}

impl Pattern {
    /// What the read of `offset..end` of an object of `size` bytes fetches (subtleties 2-5).
    fn plan(&mut self, offset: u64, end: u64, size: u64, c: &ReadConfig) -> Plan {
        let first = self.reads == 0;
        self.reads += 1;
        if size < c.whole_object_below {
            return Plan {
                demand: 0..size,
                unit: size,
                prefetch: None,
                passed: None,
                kind: ReadKind::Whole,
            };
        }
        if !first && self.continues(offset, c) {
            self.sequential(offset, end, size, c)
        } else {
            self.random(offset, end, size, c)
        }
    }

    /// Whether a read at `offset` continues the run so far (subtlety 2).
    fn continues(&self, offset: u64, c: &ReadConfig) -> bool {
        let slack = c.slack(self.window > 0);
        offset + slack >= self.next && offset <= self.ahead_to.max(self.next + slack)
    }

    /// A random read: its block, and the window starts over (subtlety 4).
    fn random(&mut self, offset: u64, end: u64, size: u64, c: &ReadConfig) -> Plan {
        let demand = random_block(offset, end, size, c);
        (self.next, self.ahead_to, self.window) = (end, demand.end, 0);
        self.released_to = demand.start;
        Plan {
            demand,
            unit: c.part_size,
            prefetch: None,
            passed: None,
            kind: ReadKind::Random,
        }
    }

    /// A sequential read: the window grows, the parts ahead of it start, and what the
    /// reader left behind is passed (subtleties 3 and 7).
    fn sequential(&mut self, offset: u64, end: u64, size: u64, c: &ReadConfig) -> Plan {
        self.next = self.next.max(end);
        self.window = (self.window * 2).clamp(c.first_window, c.max_window());
        // Not below the grid while the window grows: a run that starts with reads smaller
        // than a server's block would otherwise have it read that block for each of them.
        let unit = c.part_size.min(self.window.max(GRID));
        let prefetch = self.extend_ahead(offset, end, size, unit);
        // Late reads come at most `late_reads` behind; the page cache serves any seek back.
        let passed = self.release_to(offset.saturating_sub(c.late_reads));
        Plan {
            demand: offset..end,
            unit,
            prefetch,
            passed,
            kind: ReadKind::Sequential,
        }
    }

    /// Moves what is asked for ahead to the window past `offset`, in whole `unit`s; the
    /// stretch newly asked for, if any.
    fn extend_ahead(&mut self, offset: u64, end: u64, size: u64, unit: u64) -> Option<Range<u64>> {
        let from = self.ahead_to.max(end);
        let mut to = from;
        while to < size && to < offset + self.window {
            to = size.min((to / unit + 1) * unit);
        }
        self.ahead_to = to;
        (to > from).then_some(from..to)
    }

    /// The reader is done with everything before `behind`; the stretch newly passed, if any.
    fn release_to(&mut self, behind: u64) -> Option<Range<u64>> {
        let passed = (behind > self.released_to).then_some(self.released_to..behind);
        self.released_to = self.released_to.max(behind);
        passed
    }

    /// A prefetch stopped short for lack of memory: ask again on a later read.
    fn fell_short(&mut self, reached: u64) {
        self.ahead_to = self.ahead_to.min(reached);
    }
}

/// The block a random read of `offset..end` fetches: aligned to the random read-ahead (the
/// first window at the start of the file), at least the read itself, within `size`.
fn random_block(offset: u64, end: u64, size: u64, c: &ReadConfig) -> Range<u64> {
    let extra = if offset == 0 {
        c.first_window
    } else {
        c.random_readahead
    };
    // Aligned to the read-ahead, so that a 4 KiB read never spans two of a server's
    // blocks that the read itself does not.
    let extra = extra.max(1);
    let start = offset / extra * extra;
    start..size.min(end.max(start + extra).next_multiple_of(extra))
}

impl OpenFile {
    /// `kernel_caches`: false for an `O_DIRECT` handle.
    pub fn new(ino: u64, reader: Reader, config: ReadConfig, kernel_caches: bool) -> Self {
        OpenFile {
            ino,
            reader,
            copy: HandleCopy::new(kernel_caches),
            config,
            pattern: Mutex::new(Pattern::default()),
        }
    }

    pub fn size(&self) -> u64 {
        self.reader.obj.size
    }

    /// Starts fetching a small object whole as soon as it is opened: its first read will
    /// want all of it, and the GET then overlaps the kernel's round trip to ask.
    pub async fn opened(&self, cache: &Arc<DataCache>, store: &Arc<dyn ObjectStore>) {
        let size = self.reader.obj.size;
        if size > 0 && size < self.config.whole_object_below {
            cache
                .parts(store, &self.reader, 0..size, size, Need::Prefetch, None)
                .await;
        }
    }

    /// Up to `len` bytes at `offset`; fewer only at the end of the file. What it fetches
    /// goes on to the kernel's page cache through `path.pushes` (unless `O_DIRECT`).
    pub async fn read(&self, path: &ReadPath<'_>, offset: u64, len: u32) -> Result<Bytes, FsError> {
        let size = self.reader.obj.size;
        if offset >= size || len == 0 {
            return Ok(Bytes::new());
        }
        self.check_version(path.kernel)?;
        let end = size.min(offset + len as u64);
        let plan = self.plan(path.cache, offset, end);
        if let Some(passed) = &plan.passed {
            self.release_passed(path.cache, passed);
        }
        let parts = self.fetch(path, plan, offset..end).await;
        let bytes = self.assemble(&parts, offset..end).await?;
        self.copy.replied(offset..end);
        Ok(bytes)
    }

    /// ESTALE once the file was opened with another ETag: the reply would land in the page
    /// cache the newer version's readers share (push subtlety 7).
    fn check_version(&self, kernel: &KernelCopy) -> Result<(), FsError> {
        let etag = self.reader.obj.etag.as_ref();
        if self.copy.kernel_caches() && kernel.pages(self.ino, etag) == Pages::Another {
            return Err(FsError::Superseded);
        }
        Ok(())
    }

    /// Plans the read of `offset..end` with the read-ahead it would share were it
    /// sequential, and counts this reader among the sequential ones if it is (subtlety 9).
    fn plan(&self, cache: &DataCache, offset: u64, end: u64) -> Plan {
        let streams = cache.streams() + u64::from(!self.reader.is_streaming());
        let config = self.config.shared_by(streams, cache.limit());
        let mut pattern = self.pattern.lock();
        let plan = pattern.plan(offset, end, self.reader.obj.size, &config);
        self.reader.set_streaming(plan.kind == ReadKind::Sequential);
        plan
    }

    /// Drops from `cache` what the kernel got whole from this handle of `passed` (subtlety 7).
    fn release_passed(&self, cache: &DataCache, passed: &Range<u64>) {
        for range in self.copy.within(passed) {
            cache.passed(&self.reader, range);
        }
    }

    /// Waits for the parts of `plan`'s demand and starts its prefetch.
    async fn fetch(&self, path: &ReadPath<'_>, plan: Plan, read: Range<u64>) -> Vec<Arc<Part>> {
        let target = self.push_target(path.pushes, plan.kind, read);
        let (parts, _) = path
            .cache
            .parts(
                path.store,
                &self.reader,
                plan.demand,
                plan.unit,
                Need::Demand,
                target.as_ref(),
            )
            .await;
        if let Some(ahead) = plan.prefetch {
            self.prefetch(path, ahead, plan.unit).await;
        }
        parts
    }

    /// Where a read's block goes once fetched. Only a random read's goes on to the page
    /// cache: the kernel's own read-ahead asks for a sequential reader's parts anyway, and
    /// stores there cost more CPU than they save (subtlety 10).
    fn push_target(&self, pushes: &Pushes, kind: ReadKind, read: Range<u64>) -> Option<OnReady> {
        (self.copy.kernel_caches() && kind == ReadKind::Random)
            .then(|| pushes.target(self.ino, read))
            .flatten()
    }

    /// Starts fetching `ahead`; what lack of memory left out is asked for again later.
    async fn prefetch(&self, path: &ReadPath<'_>, ahead: Range<u64>, unit: u64) {
        let want = ahead.end;
        let (_, reached) = path
            .cache
            .parts(path.store, &self.reader, ahead, unit, Need::Prefetch, None)
            .await;
        if reached < want {
            self.pattern.lock().fell_short(reached);
        }
    }

    /// Drops from `cache` what the kernel got whole from this handle (subtlety 8). Called
    /// when the file is closed.
    pub fn closed(&self, cache: &DataCache) {
        for range in self.copy.closed() {
            cache.passed(&self.reader, range);
        }
    }

    /// The bytes of `range` out of the parts that cover it. Parts arrive in order but may
    /// overlap: while a demand waited for memory, a part it had taken can be evicted and
    /// fetched again by another reader with other bounds.
    async fn assemble(&self, parts: &[Arc<Part>], range: Range<u64>) -> Result<Bytes, FsError> {
        let wanted: Vec<_> = parts.iter().filter(|p| p.start < range.end).collect();
        if let [only] = wanted[..] {
            let bytes = self.bytes_of(only).await?;
            let from = (range.start - only.start) as usize;
            return Ok(bytes.slice(from..from + (range.end - range.start) as usize));
        }
        let mut out = BytesMut::with_capacity((range.end - range.start) as usize);
        let mut at = range.start;
        for part in wanted {
            if part.end() <= at {
                continue;
            }
            debug_assert!(part.start <= at, "parts leave a gap at {at}");
            let bytes = self.bytes_of(part).await?;
            let to = range.end.min(part.end());
            out.extend_from_slice(&bytes[(at - part.start) as usize..(to - part.start) as usize]);
            at = to;
        }
        Ok(out.freeze())
    }

    async fn bytes_of(&self, part: &Part) -> Result<Bytes, FsError> {
        part.bytes().await.map_err(|e| {
            let context = format!(
                "reading s3://{}/{} bytes {}..{}",
                self.reader.obj.bucket,
                self.reader.obj.key,
                part.start,
                part.end()
            );
            FsError::store(context, e)
        })
    }
}
