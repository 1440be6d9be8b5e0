//! Read-ahead across small files: a process that opens the files of one directory one after
//! another, in listing order, finds the next ones fetched before it opens them.
//!
//! `cat *`, `tar`, `cp -r`, `grep -r` and data loaders walking a directory open a file, read
//! it, close it, and open the next. For small files each open then waits one whole
//! first-byte latency: 1,000 files of 16 KiB cost 20 s at 20 ms, whatever the bandwidth.
//! Guessing the next files from the listing hides that latency behind the reading.
//!
//! Subtleties:
//! 1. A guess is per process (the kernel tells which pid opens; threads have pids of their
//!    own). A stream is the pid's last open: directory, listing, index in the listing. An
//!    open is in order when it is the next file of that same listing (directories between
//!    are skipped: `open` never opens them). The listing is the one `readdir` returned (a
//!    shell's glob, `tar`'s walk), found in the listing cache. `cat *` in the C locale
//!    sorts names by bytes, as S3 does. A directory that was not listed, or was listed
//!    anew since (the entries may have moved), is a wrong guess.
//! 2. The depth grows while the guess keeps being right, 1, 2, 4 ... `max_files`, and goes
//!    back to 0 the first time it is wrong: random sampling (a data loader shuffling) fetches
//!    nothing it does not open. Opening the same file again changes nothing.
//! 3. Bounds: at most `max_files` files and `max_bytes` bytes fetched ahead of one stream and
//!    not opened yet; all streams together at most a quarter of the block cache; at most
//!    [`STREAMS`] streams. Only files the read path fetches whole anyway (below
//!    `whole_object_below`) and that have an ETag; nothing past the end of the listing. The
//!    bytes live in the block cache as any prefetch does (`Need::Prefetch`): inside
//!    `--max-memory` while in flight, never evicting what another reader prefetched and has
//!    not read, skipped when there is no room (and tried again at the next open).
//! 4. ETag-pinned: a file is fetched ahead with one GET of the whole object, `If-Match` the
//!    listing's ETag, into the block cache under that ETag, which is what an open of that
//!    listing's entry pins to. Semantics decision: an open that sees that ETag (within the
//!    metadata TTL) is served those bytes, as it would be from any cached part; an open that
//!    sees another ETag is another object to the cache and never gets them. An object
//!    replaced before its GET fails the GET (`PreconditionFailed`) and leaves nothing behind.
//! 5. A file whose inode was last opened with the listing's ETag is passed over: the
//!    kernel's page cache may hold it for every open (`FOPEN_KEEP_CACHE`), and a second
//!    `cat *`, or a second reader behind the first, would fetch it for nothing. Should the
//!    kernel have dropped those pages, the open fetches the file itself, as without
//!    read-ahead.
//! 6. Nothing waits: the open that guesses only starts the fetches, whose GETs run in tasks
//!    of their own; a later open of a file fetched ahead waits for that file only.
//! 7. Counted ([`AheadStats`]): files and bytes fetched ahead, and the bytes of those a later
//!    open used; the rest is waste, or not opened yet. A file opened after the block cache
//!    evicted it still counts as used, though its open fetched it again.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use lru::LruCache;
use parking_lot::Mutex;

use super::data_cache::{Need, OnReady};
use super::dir::{DirListing, Entry};
use super::inode::{ChildKind, Kind, Node};
use super::kernel_copy::Pages;
use super::names::{child_key, ValidName};
use super::object::ObjectId;
use super::part::Part;
use super::Fs;

/// How far the small-file read-ahead may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AheadConfig {
    /// The most files fetched ahead of one process; 0 turns the read-ahead off.
    pub max_files: usize,
    /// The most bytes fetched ahead of one process and not opened yet.
    pub max_bytes: u64,
}

impl Default for AheadConfig {
    /// 32 files: at 20 ms to the first byte, enough in flight for about 1,600 files a
    /// second, more than a `cat` of small files asks for.
    fn default() -> Self {
        AheadConfig {
            max_files: crate::settings::defaults::SMALL_FILES_AHEAD as usize,
            max_bytes: 16 << 20,
        }
    }
}

/// How many processes' streams are remembered, least recently opening ones forgotten.
pub const STREAMS: usize = 64;

/// Entries looked at for one open's read-ahead at most (large files and directories are
/// passed over), so a listing of nothing but directories costs an open little.
const SCAN: usize = 256;

/// Tickets (files fetched ahead, for the counters) remembered at most.
const TICKETS: usize = 4096;

/// Counters of the small-file read-ahead, for the stats line.
#[derive(Debug, Default)]
pub struct AheadStats {
    files: AtomicU64,
    bytes: AtomicU64,
    used_bytes: AtomicU64,
}

impl AheadStats {
    /// Files fetched ahead of being opened.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Bytes fetched ahead that an open then used.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Relaxed)
    }

    /// `ahead_files=N ahead_bytes=N ahead_used_bytes=N ahead_wasted_bytes=N`; wasted is
    /// fetched ahead and not (yet) opened.
    pub fn line(&self) -> String {
        format!(
            "ahead_files={} ahead_bytes={} ahead_used_bytes={} ahead_wasted_bytes={}",
            self.files(),
            self.bytes(),
            self.used_bytes(),
            self.bytes().saturating_sub(self.used_bytes())
        )
    }
}

/// Where an opened file sits: its directory's cached listing and its index there.
pub(super) struct Place {
    dir: u64,
    listing: Arc<DirListing>,
    index: usize,
    bucket: Arc<str>,
    prefix: Box<str>,
}

/// A file to fetch ahead.
pub(super) struct Wanted {
    index: usize,
    obj: ObjectId,
}

/// What one process has been opening.
struct Stream {
    dir: u64,
    listing: Weak<DirListing>,
    /// The index of the file opened last.
    at: usize,
    depth: usize,
    /// The first entry not yet looked at for fetching ahead.
    next: usize,
    /// Files fetched ahead of `at` and not passed yet, in order: index and size.
    ahead: VecDeque<(usize, u64)>,
}

/// How an open relates to the stream of its process.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The file opened last, again.
    Again,
    /// The next file of the listing: the guess was right.
    Next,
    /// Anything else.
    Elsewhere,
}

impl Stream {
    fn at(place: &Place) -> Self {
        Stream {
            dir: place.dir,
            listing: Arc::downgrade(&place.listing),
            at: place.index,
            depth: 0,
            next: place.index + 1,
            ahead: VecDeque::new(),
        }
    }

    fn ahead_bytes(&self) -> u64 {
        self.ahead.iter().map(|(_, size)| size).sum()
    }

    fn same_listing(&self, place: &Place) -> bool {
        self.dir == place.dir && std::ptr::eq(self.listing.as_ptr(), Arc::as_ptr(&place.listing))
    }

    fn step(&self, place: &Place) -> Step {
        if !self.same_listing(place) || place.index < self.at {
            return Step::Elsewhere;
        }
        if place.index == self.at {
            return Step::Again;
        }
        let between = place.index - self.at - 1;
        if between > SCAN {
            return Step::Elsewhere;
        }
        let skipped = place.listing.slice(self.at + 1, between);
        match skipped.iter().all(|e| matches!(e.kind, ChildKind::Dir)) {
            true => Step::Next,
            false => Step::Elsewhere,
        }
    }

    /// Moves to `index`, a right guess: the files fetched ahead up to it are passed (their
    /// bytes returned), and the depth doubles.
    fn advance(&mut self, index: usize, max_files: usize) -> u64 {
        let mut passed = 0;
        while self.ahead.front().is_some_and(|(i, _)| *i <= index) {
            passed += self.ahead.pop_front().map_or(0, |(_, size)| size);
        }
        self.at = index;
        self.next = self.next.max(index + 1);
        self.depth = (self.depth * 2).clamp(1, max_files);
        passed
    }

    /// Gives up what was counted from entry `index` on: its fetch was skipped for lack of
    /// memory. Returns the bytes given back.
    fn fell_short(&mut self, index: usize) -> u64 {
        let keep = self.ahead.iter().take_while(|(i, _)| *i < index).count();
        let given_back = self.ahead.drain(keep..).map(|(_, size)| size).sum();
        self.next = self.next.min(index);
        given_back
    }
}

/// A file fetched ahead, until an open used it (for the counters).
struct Ticket {
    size: u64,
    fetched: bool,
    opened: bool,
    part: Weak<Part>,
}

struct State {
    streams: LruCache<u32, Stream>,
    /// Bytes of all streams' files fetched ahead and not passed yet.
    ahead_bytes: u64,
}

/// The small-file read-ahead of one filesystem.
pub struct SmallFiles {
    config: AheadConfig,
    /// Files at least this large are not fetched ahead: the read path does not fetch them
    /// whole.
    small_below: u64,
    /// Bytes all streams may have ahead together: a slice of the block cache.
    budget: u64,
    state: Mutex<State>,
    tickets: Mutex<LruCache<Arc<ObjectId>, Ticket>>,
    stats: Arc<AheadStats>,
}

impl SmallFiles {
    /// Read-ahead within `config`, of files below `small_below`, in a block cache of
    /// `cache_limit` bytes.
    pub fn new(config: AheadConfig, small_below: u64, cache_limit: u64) -> Arc<Self> {
        let cap = |n: usize| NonZeroUsize::new(n).expect("a constant above zero");
        Arc::new(SmallFiles {
            config,
            small_below,
            budget: cache_limit / 4,
            state: Mutex::new(State {
                streams: LruCache::new(cap(STREAMS)),
                ahead_bytes: 0,
            }),
            tickets: Mutex::new(LruCache::new(cap(TICKETS))),
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> Arc<AheadStats> {
        self.stats.clone()
    }

    /// Bytes fetched ahead of all streams and not passed yet.
    pub fn ahead_bytes(&self) -> u64 {
        self.state.lock().ahead_bytes
    }

    /// `pid` opened the file at `place`: what to fetch ahead of it now, counted against
    /// the bounds already.
    /// `kernel_holds` says which entries to pass over (subtlety 5).
    pub(super) fn plan(
        &self,
        pid: u32,
        place: &Place,
        kernel_holds: &dyn Fn(&Entry) -> bool,
    ) -> Vec<Wanted> {
        if self.config.max_files == 0 {
            return Vec::new();
        }
        let mut state = self.state.lock();
        let State {
            streams,
            ahead_bytes,
        } = &mut *state;
        let Some(stream) = streams.get_mut(&pid) else {
            if let Some((old, gone)) = streams.push(pid, Stream::at(place)) {
                if old != pid {
                    *ahead_bytes -= gone.ahead_bytes();
                }
            }
            return Vec::new();
        };
        match stream.step(place) {
            Step::Again => Vec::new(),
            Step::Elsewhere => {
                *ahead_bytes -= stream.ahead_bytes();
                *stream = Stream::at(place);
                Vec::new()
            }
            Step::Next => {
                *ahead_bytes -= stream.advance(place.index, self.config.max_files);
                self.choose(stream, ahead_bytes, place, kernel_holds)
            }
        }
    }

    /// The next small files after `stream.next`, while the depth and bounds allow.
    fn choose(
        &self,
        stream: &mut Stream,
        ahead_bytes: &mut u64,
        place: &Place,
        kernel_holds: &dyn Fn(&Entry) -> bool,
    ) -> Vec<Wanted> {
        let mut wanted = Vec::new();
        let mut held = stream.ahead_bytes();
        for entry in place.listing.slice(stream.next, SCAN) {
            if stream.ahead.len() >= stream.depth {
                break;
            }
            let obj = self.worth_fetching(&entry, place);
            if let Some(obj) = obj.filter(|_| !kernel_holds(&entry)) {
                let size = obj.size;
                if held + size > self.config.max_bytes || *ahead_bytes + size > self.budget {
                    break;
                }
                held += size;
                *ahead_bytes += size;
                stream.ahead.push_back((stream.next, size));
                wanted.push(Wanted {
                    index: stream.next,
                    obj,
                });
            }
            stream.next += 1;
        }
        wanted
    }

    /// The object of `entry` if it is a small file with an ETag.
    fn worth_fetching(&self, entry: &Entry, place: &Place) -> Option<ObjectId> {
        let ChildKind::File(meta) = &entry.kind else {
            return None;
        };
        let etag = meta.etag.clone()?;
        if meta.size == 0 || meta.size >= self.small_below {
            return None;
        }
        let key = child_key(&place.prefix, &entry.name);
        Some(ObjectId::new(
            place.bucket.clone(),
            key.into(),
            meta.size,
            Some(etag),
        ))
    }

    /// `pid` opened something that is not in a cached listing: its guess is over.
    pub(super) fn lost(&self, pid: u32) {
        let mut state = self.state.lock();
        if let Some(stream) = state.streams.pop(&pid) {
            state.ahead_bytes -= stream.ahead_bytes();
        }
    }

    /// The fetch of the file at `index` of `place` was skipped for lack of memory: it and
    /// those after it are no longer counted, and are tried again at the next open.
    pub(super) fn fell_short(&self, pid: u32, place: &Place, index: usize) {
        let mut state = self.state.lock();
        let State {
            streams,
            ahead_bytes,
        } = &mut *state;
        if let Some(stream) = streams.peek_mut(&pid).filter(|s| s.same_listing(place)) {
            *ahead_bytes -= stream.fell_short(index);
        }
    }

    /// Remembers that `obj` is being fetched ahead, before its fetch starts.
    fn ticket(&self, obj: &Arc<ObjectId>) {
        let ticket = Ticket {
            size: obj.size,
            fetched: false,
            opened: false,
            part: Weak::new(),
        };
        self.tickets.lock().put(obj.clone(), ticket);
    }

    /// The fetch of `obj` started as `part`, or (`None`) was skipped.
    fn started(&self, obj: &ObjectId, part: Option<&Arc<Part>>) {
        let mut tickets = self.tickets.lock();
        match part {
            Some(part) => {
                if let Some(t) = tickets.peek_mut(obj) {
                    t.part = Arc::downgrade(part);
                }
            }
            None => {
                tickets.pop(obj);
            }
        }
    }

    /// Counts the fetches it is given as fetched ahead.
    fn on_ready(self: &Arc<Self>) -> OnReady {
        let me = self.clone();
        Arc::new(move |obj, _part, bytes| me.fetched(obj, bytes.len() as u64))
    }

    fn fetched(&self, obj: &ObjectId, len: u64) {
        self.stats.files.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(len, Ordering::Relaxed);
        let mut tickets = self.tickets.lock();
        match tickets.peek_mut(obj) {
            Some(t) if t.opened => {
                self.stats.used_bytes.fetch_add(len, Ordering::Relaxed);
                tickets.pop(obj);
            }
            Some(t) => t.fetched = true,
            None => {}
        }
    }

    /// An open pinned to `obj` is about to read it: if it was fetched ahead, that counts
    /// as used (once the fetch is done).
    pub(super) fn claimed(&self, obj: &ObjectId) {
        let mut tickets = self.tickets.lock();
        match tickets.peek_mut(obj) {
            Some(t) if t.fetched => {
                self.stats.used_bytes.fetch_add(t.size, Ordering::Relaxed);
                tickets.pop(obj);
            }
            Some(t) => t.opened = true,
            None => {}
        }
    }

    /// Waits until every fetch started ahead so far is done.
    #[cfg(test)]
    pub async fn settled(&self) {
        let parts: Vec<Arc<Part>> = {
            let tickets = self.tickets.lock();
            tickets
                .iter()
                .filter_map(|(_, t)| t.part.upgrade())
                .collect()
        };
        for part in parts {
            let _ = part.bytes().await;
        }
    }
}

impl Fs {
    /// After `pid` opened `node`: fetches the next small files of its directory if `pid`
    /// reads it in listing order. Only starts fetches, never waits for one.
    pub(super) async fn fetch_ahead_of(&self, pid: u32, node: &Node) {
        let Some(place) = self.place_of(node) else {
            self.ahead.lost(pid);
            return;
        };
        let kernel_holds = |entry: &Entry| self.kernel_may_hold(place.dir, entry);
        for wanted in self.ahead.plan(pid, &place, &kernel_holds) {
            if !self.start_ahead(wanted.obj).await {
                self.ahead.fell_short(pid, &place, wanted.index);
                return;
            }
        }
    }

    /// Starts the whole-object GET of `obj` into the block cache, as a prefetch; false when
    /// there was no room for it.
    async fn start_ahead(&self, obj: ObjectId) -> bool {
        let size = obj.size;
        let reader = self.data.reader(obj, false);
        self.ahead.ticket(&reader.obj);
        let on_ready = self.ahead.on_ready();
        let (parts, reached) = self
            .data
            .parts(
                &self.store,
                &reader,
                0..size,
                size,
                Need::Prefetch,
                Some(&on_ready),
            )
            .await;
        let started = reached >= size;
        self.ahead
            .started(&reader.obj, parts.first().filter(|_| started));
        started
    }

    /// Whether the kernel may hold the pages of `entry` of directory `dir` (subtlety 5).
    fn kernel_may_hold(&self, dir: u64, entry: &Entry) -> bool {
        let ChildKind::File(meta) = &entry.kind else {
            return false;
        };
        let (Some(etag), Some(node)) = (&meta.etag, self.inodes.find(dir, &entry.name)) else {
            return false;
        };
        self.kernel.pages(node.ino, Some(etag)) == Pages::This
    }

    /// Where `node` sits in its directory's cached listing, if that is fresh.
    fn place_of(&self, node: &Node) -> Option<Place> {
        let parent = self.inodes.get(node.parent)?;
        let Kind::Dir { bucket, prefix } = &parent.kind else {
            return None;
        };
        let listing = self.dirs.fresh(parent.ino, self.config.metadata_ttl)?;
        let name = ValidName::parse(node.name()).ok()?;
        let index = listing.position_of_file(&name)?;
        Some(Place {
            dir: parent.ino,
            listing,
            index,
            bucket: bucket.clone(),
            prefix: prefix.clone(),
        })
    }
}
