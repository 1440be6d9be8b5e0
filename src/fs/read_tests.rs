//! The read path against the in-memory store: the right bytes whatever the reads and faults,
//! and what each access pattern costs in GETs and memory.

use std::ffi::OsStr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::budget_tests::fs_over;
use super::{Fs, FsConfig, ReadConfig, Root, ROOT};
use crate::s3::faulty::{Fault, FaultyStore};
use crate::s3::memory::MemoryStore;
use crate::s3::{ObjectStore, Op};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn fs_with(store: Arc<dyn ObjectStore>, read: ReadConfig, memory: u64) -> Fs {
    Fs::new(
        store,
        FsConfig {
            root: Root::Buckets(vec!["bk".into()]),
            read,
            max_cache_memory: memory,
            ..FsConfig::with_ttl(Duration::from_secs(60))
        },
    )
}

fn fs_default(store: &Arc<MemoryStore>) -> Fs {
    fs_with(store.clone(), ReadConfig::default(), 512 * MIB)
}

/// Small sizes, so that a few MiB exercise growth, parallel parts and eviction.
fn small_config() -> ReadConfig {
    ReadConfig {
        part_size: 64 * KIB,
        parallel: 4,
        first_window: 16 * KIB,
        random_readahead: 8 * KIB,
        whole_object_below: 32 * KIB,
        late_reads: 16 * KIB,
    }
}

async fn lookup_path(fs: &Fs, path: &str) -> u64 {
    let mut ino = ROOT;
    for part in path.split('/') {
        ino = fs.lookup(ino, OsStr::new(part)).await.unwrap().ino;
    }
    ino
}

async fn open(fs: &Fs, path: &str) -> u64 {
    fs.open(lookup_path(fs, path).await).await.unwrap().0
}

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

/// A store holding one object `bk/<key>` of `size` patterned bytes, and those bytes.
fn store_with(key: &str, size: u64) -> (Arc<MemoryStore>, Vec<u8>) {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(size as usize);
    store.put("bk", key, data.clone());
    (store, data)
}

async fn read_to_end(fs: &Fs, fh: u64, chunk: u32) -> u64 {
    let mut offset = 0u64;
    loop {
        let got = fs.read(fh, offset, chunk).await.unwrap();
        if got.is_empty() {
            return offset;
        }
        offset += got.len() as u64;
    }
}

/// Reads the whole file in `chunk`s, checking every answer against `data`, and after each
/// that the block cache holds at most `limit` bytes.
async fn read_all_within(fs: &Fs, fh: u64, chunk: u32, data: &[u8], limit: u64) {
    let mut offset = 0usize;
    while offset < data.len() {
        let got = fs.read(fh, offset as u64, chunk).await.unwrap();
        assert_eq!(&got[..], &data[offset..offset + got.len()]);
        let used = fs.data_cache().used();
        assert!(used <= limit, "{used} bytes held");
        offset += got.len();
    }
}

/// No two GETs of one key asked for the same byte.
fn assert_no_overlap(log: &[(String, Range<u64>)]) {
    let mut ranges: Vec<_> = log
        .iter()
        .map(|(k, r)| (k.clone(), r.start, r.end))
        .collect();
    ranges.sort();
    for w in ranges.windows(2) {
        if w[0].0 == w[1].0 {
            assert!(
                w[0].2 <= w[1].1,
                "overlapping GETs {:?} and {:?}",
                w[0],
                w[1]
            );
        }
    }
}

#[tokio::test]
async fn a_sequential_read_fetches_each_byte_once_in_growing_parts() {
    let store = Arc::new(MemoryStore::new());
    let size = 100 * MIB + 17;
    store.put("bk", "big", vec![7u8; size as usize]);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/big").await;
    assert_eq!(read_to_end(&fs, fh, 128 * KIB as u32).await, size);
    let log = store.get_log();
    assert_no_overlap(&log);
    assert_eq!(store.counters.snapshot().get_bytes, size, "each byte once");
    let sizes: Vec<u64> = log.iter().map(|(_, r)| r.end - r.start).collect();
    assert_eq!(sizes[0], 256 * KIB, "a small first request");
    let part = crate::settings::defaults::PART_SIZE;
    assert!(
        sizes.iter().all(|s| *s <= part),
        "no GET above the part size"
    );
    let full = sizes.iter().filter(|s| **s == part).count() as u64;
    assert!(full >= size / part - 2, "mostly full parts: {sizes:?}");
}

/// A run that starts mid-file (one of several readers of an object, `dd skip=`) grows its
/// window from small GETs, yet a server storing the object in 1 MiB blocks reads each block
/// for one GET only. The reads are the kernel's: 1 MiB with its read-ahead raised.
#[tokio::test]
async fn a_run_starting_mid_file_has_each_mib_block_read_by_one_get() {
    let (store, data) = store_with("big", 96 * MIB);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/big").await;
    let (start, end) = (64 * MIB, 80 * MIB);
    let mut offset = start;
    while offset < end {
        let got = fs.read(fh, offset, MIB as u32).await.unwrap();
        assert_eq!(
            &got[..],
            &data[offset as usize..offset as usize + got.len()]
        );
        offset += got.len() as u64;
    }
    let log = store.get_log();
    assert_no_overlap(&log);
    for block in start / MIB..end / MIB {
        let gets: Vec<_> = log
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.start < (block + 1) * MIB && r.end > block * MIB)
            .collect();
        assert_eq!(gets.len(), 1, "block {block} read by {gets:?}");
    }
}

#[tokio::test]
async fn a_sequential_reader_keeps_parts_in_flight_ahead_of_itself() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "big", vec![1u8; (128 * MIB) as usize]);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/big").await;
    let mut offset = 0;
    while offset < 16 * MIB {
        offset += fs.read(fh, offset, MIB as u32).await.unwrap().len() as u64;
    }
    // Prefetches are tasks of their own; on this single-threaded runtime one yield lets
    // every one of them send its GET.
    tokio::task::yield_now().await;
    let config = ReadConfig::default();
    let fetched_to = store.get_log().iter().map(|(_, r)| r.end).max().unwrap();
    assert!(
        fetched_to >= offset + config.part_size * (config.parallel - 1),
        "after {offset} bytes read, only {fetched_to} asked for"
    );
}

#[tokio::test]
async fn a_lone_sequential_reader_holds_only_its_window() {
    let size = 160 * MIB;
    let (store, data) = store_with("big", size);
    let fs = fs_default(&store);
    let cache = fs.data_cache();
    // A reader that came and went does not count: the one left is alone.
    let gone = open(&fs, "bk/big").await;
    fs.release(gone);
    let fh = open(&fs, "bk/big").await;
    // The window and the slack behind it, never the 160 MiB read.
    let c = ReadConfig::default();
    let bound = c.part_size * (c.parallel + 2);
    read_all_within(&fs, fh, MIB as u32, &data, bound).await;
    assert!(cache.used() <= bound);
    assert_eq!(
        cache
            .stats
            .evicted_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "passed parts are dropped, not evicted"
    );
    assert_eq!(store.counters.snapshot().get_bytes, size, "each byte once");
}

#[tokio::test]
async fn reads_the_kernel_sends_out_of_order_stay_one_sequential_stream() {
    let size = 8 * MIB;
    let (store, data) = store_with("big", size);
    let part = 256 * KIB;
    let config = ReadConfig {
        part_size: part,
        late_reads: 2 * part,
        ..ReadConfig::default()
    };
    let fs = fs_with(store.clone(), config, 512 * MIB);
    let fh = open(&fs, "bk/big").await;
    // Read-ahead requests of one part each, every pair answered second one first.
    let chunks = size / part;
    for i in 0..chunks {
        let offset = (i ^ 1) * part;
        let got = fs.read(fh, offset, part as u32).await.unwrap();
        assert_eq!(&got[..], &data[offset as usize..(offset + part) as usize]);
        if i == chunks / 2 {
            tokio::task::yield_now().await;
            let fetched_to = store.get_log().iter().map(|(_, r)| r.end).max().unwrap();
            assert!(
                fetched_to >= offset + 4 * part,
                "read to {offset}, fetched only to {fetched_to}: the reads counted as random"
            );
        }
    }
    assert_eq!(store.counters.snapshot().get_bytes, size, "each byte once");
    assert_no_overlap(&store.get_log());
}

#[tokio::test]
async fn at_close_what_the_kernel_got_whole_is_dropped_and_the_rest_kept() {
    let store = Arc::new(MemoryStore::new());
    let small = 200_000;
    store.put("bk", "small", pattern(small as usize));
    store.put("bk", "db", pattern((32 * MIB) as usize));
    let fs = fs_default(&store);
    let cache = fs.data_cache();

    let fh = open(&fs, "bk/small").await;
    assert_eq!(read_to_end(&fs, fh, 128 * KIB as u32).await, small);
    assert_eq!(cache.used(), small);
    fs.release(fh);
    assert_eq!(
        cache.used(),
        0,
        "read whole: the kernel's page cache has it"
    );

    let fh = open(&fs, "bk/db").await;
    for offset in [17 * MIB, 3 * MIB] {
        fs.read(fh, offset, 4096).await.unwrap();
    }
    assert_eq!(cache.used(), 2 * ReadConfig::default().random_readahead);
    // The last 4 KiB of a random read's block: that block too was read only in part.
    fs.read(fh, 25 * MIB + 60 * KIB, 4096).await.unwrap();
    let held = cache.used();
    assert_eq!(held, 3 * ReadConfig::default().random_readahead);
    fs.release(fh);
    assert_eq!(cache.used(), held, "the rest of each block is only here");

    let ino = lookup_path(&fs, "bk/small").await;
    let (direct, _) = fs.open_with(ino, false).await.unwrap();
    read_to_end(&fs, direct, 128 * KIB as u32).await;
    fs.release(direct);
    assert_eq!(
        cache.used(),
        held + small,
        "O_DIRECT: the kernel keeps nothing"
    );

    let (one, two) = (open(&fs, "bk/small").await, open(&fs, "bk/small").await);
    read_to_end(&fs, one, 128 * KIB as u32).await;
    fs.release(one);
    assert_eq!(
        cache.used(),
        held,
        "the page cache serves every open of the file: dropped with another one open"
    );
    fs.release(two);
    assert_eq!(cache.used(), held);

    let (direct, _) = fs.open_with(ino, false).await.unwrap();
    let one = open(&fs, "bk/small").await;
    read_to_end(&fs, one, 128 * KIB as u32).await;
    fs.release(one);
    assert_eq!(
        cache.used(),
        held + small,
        "an O_DIRECT reader open: it may still want what the kernel has"
    );
    fs.release(direct);
}

#[tokio::test]
async fn a_random_4k_read_costs_one_get_no_larger_than_the_random_readahead() {
    let (store, data) = store_with("db", 32 * MIB);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/db").await;
    let ra = ReadConfig::default().random_readahead;
    // The last two land a few MiB from the read before: near, but further than the
    // kernel's read-ahead reaches, so still random.
    let offsets = [
        17 * MIB,
        3 * MIB + 4096,
        29 * MIB,
        11 * MIB,
        13 * MIB + 8192,
        9 * MIB,
    ];
    for (i, offset) in offsets.into_iter().enumerate() {
        let got = fs.read(fh, offset, 4096).await.unwrap();
        assert_eq!(&got[..], &data[offset as usize..offset as usize + 4096]);
        let log = store.get_log();
        assert_eq!(log.len(), i + 1, "one GET per random read");
        let r = &log[i].1;
        assert!(r.start <= offset && r.end >= offset + 4096, "GET of {r:?}");
        assert!(r.end - r.start <= ra.max(4096), "GET of {r:?}");
    }
}

#[tokio::test]
async fn a_small_object_is_one_get_whatever_the_reads() {
    let (store, data) = store_with("small", 200_000);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/small").await;
    for offset in [150_000u64, 0, 4096, 100_000, 199_999] {
        let got = fs.read(fh, offset, 4096).await.unwrap();
        let end = (offset as usize + 4096).min(data.len());
        assert_eq!(&got[..], &data[offset as usize..end]);
    }
    assert_eq!(store.get_log(), vec![("small".to_string(), 0..200_000)]);
}

/// Readers the kernel does not cache for (`O_DIRECT`) share the daemon's copy; readers it
/// caches for share the kernel's, which this test has none of.
#[tokio::test]
async fn readers_of_one_object_share_what_is_fetched() {
    let store = Arc::new(MemoryStore::new());
    let size = 24 * MIB;
    store.put("bk", "shared", pattern(size as usize));
    let fs = Arc::new(fs_default(&store));
    let ino = lookup_path(&fs, "bk/shared").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let fs = fs.clone();
        tasks.push(tokio::spawn(async move {
            let (fh, _) = fs.open_with(ino, false).await.unwrap();
            read_to_end(&fs, fh, 128 * KIB as u32).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), size);
    }
    assert_no_overlap(&store.get_log());
    assert_eq!(
        store.counters.snapshot().get_bytes,
        size,
        "fetched once for all"
    );
    let (again, _) = fs.open_with(ino, false).await.unwrap();
    let before = store.counters.get(Op::Get);
    read_to_end(&fs, again, MIB as u32).await;
    assert_eq!(
        store.counters.get(Op::Get),
        before,
        "a re-read is served from memory"
    );
}

/// Four readers of quarters of one object, as the benchmark's: each drops what it read
/// past, and a window reaching into a quarter another reader has read past fetches none of
/// it again (the kernel has it).
#[tokio::test]
async fn readers_of_quarters_fetch_each_byte_once_and_hold_only_their_windows() {
    let c = small_config();
    let peak = read_quarters(c, 64 * c.part_size, 512 * MIB).await;
    // Four windows sharing one reader's budget, each at least two parts, plus the parts
    // each reader has just passed.
    let bound = 4 * (2 + 2) * c.part_size;
    assert!(peak <= bound, "held {peak} bytes at most, bound {bound}");
}

/// The same with a cache too small for two parts per reader: the parts get smaller, and
/// the readers still fetch each byte once instead of evicting each other's read-ahead.
#[tokio::test]
async fn readers_of_quarters_in_a_small_cache_fetch_each_byte_once() {
    let c = ReadConfig {
        part_size: 4 * MIB,
        first_window: 256 * KIB,
        ..small_config()
    };
    let limit = 16 * MIB;
    let peak = read_quarters(c.within(limit), 16 * c.part_size, limit).await;
    assert!(peak <= limit, "held {peak} bytes, bound {limit}");
}

/// Reads quarters of a `size` object with four handles, in turns and then one after another
/// from the last quarter, so that each window reaches into a quarter read already. Asserts
/// the bytes and that each was fetched once; returns the most the cache held.
async fn read_quarters(c: ReadConfig, size: u64, memory: u64) -> u64 {
    let (store, data) = store_with("big", size);
    let fs = fs_with(store.clone(), c, memory);
    let cache = fs.data_cache();
    let quarter = size / 4;
    let mut handles = Vec::new();
    for q in 0..4 {
        handles.push((open(&fs, "bk/big").await, q * quarter));
    }
    let chunk = 16 * KIB;
    let mut peak = 0;
    let turns = quarter / chunk / 2;
    let read = |fh: u64, offset: u64| {
        let fs = &fs;
        let data = &data;
        async move {
            let got = fs.read(fh, offset, chunk as u32).await.unwrap();
            assert_eq!(&got[..], &data[offset as usize..(offset + chunk) as usize]);
        }
    };
    for step in 0..turns {
        for &(fh, start) in handles.iter().rev() {
            read(fh, start + step * chunk).await;
        }
        peak = peak.max(cache.used());
    }
    for &(fh, start) in handles.iter().rev() {
        for step in turns..quarter / chunk {
            read(fh, start + step * chunk).await;
            peak = peak.max(cache.used());
        }
    }
    assert_eq!(
        store.counters.snapshot().get_bytes,
        size,
        "each byte fetched once"
    );
    peak
}

/// What a random read fetches beyond itself goes to the kernel's page cache and leaves
/// the daemon; an `O_DIRECT` reader's and a sequential reader's parts do not.
#[tokio::test]
async fn a_random_reads_block_goes_to_the_page_cache_and_leaves_the_daemon() {
    let (store, _) = store_with("db", 32 * MIB);
    let fs = fs_default(&store);
    let sink = Arc::new(RecordingSink::default());
    fs.attach_page_cache(sink.clone()).unwrap();
    let cache = fs.data_cache();
    let ino = lookup_path(&fs, "bk/db").await;
    let ra = ReadConfig::default().random_readahead;

    let (fh, _) = fs.open(ino).await.unwrap();
    let offset = 17 * MIB + 8 * KIB;
    fs.read(fh, offset, 4096).await.unwrap();
    fs.pushes().settled();
    let block = 17 * MIB..17 * MIB + ra;
    assert_eq!(
        sink.stores(),
        vec![(ino, block.start..offset), (ino, offset + 4096..block.end)],
        "the block without the bytes the reply carries"
    );
    assert_eq!(cache.used(), 0, "the kernel holds it now");
    assert_eq!(sink.bytes_match(&pattern((32 * MIB) as usize)), Ok(()));

    let (direct, _) = fs.open_with(ino, false).await.unwrap();
    fs.read(direct, 3 * MIB, 4096).await.unwrap();
    fs.pushes().settled();
    assert_eq!(sink.stores().len(), 2, "O_DIRECT: no page cache");
    assert_eq!(cache.used(), ra);

    let (seq, _) = fs.open(ino).await.unwrap();
    for offset in (0..4 * MIB).step_by(MIB as usize) {
        fs.read(seq, offset, MIB as u32).await.unwrap();
    }
    fs.pushes().settled();
    assert_eq!(sink.stores().len(), 2, "sequential: the kernel asks for it");
}

/// A store must not land after an open with a new ETag had the kernel drop the file's
/// pages: it is skipped, and the part stays.
#[tokio::test]
async fn a_store_of_an_old_version_is_skipped() {
    let (store, _) = store_with("db", 32 * MIB);
    let fs = fs_with(store.clone(), ReadConfig::default(), 512 * MIB);
    let sink = Arc::new(RecordingSink::default());
    fs.attach_page_cache(sink.clone()).unwrap();
    let ino = lookup_path(&fs, "bk/db").await;
    let (fh, _) = fs.open(ino).await.unwrap();

    let (hold, release) = std::sync::mpsc::channel::<()>();
    fs.pushes().call(move || {
        let _ = release.recv();
    });
    fs.read(fh, 5 * MIB, 4096).await.unwrap();
    assert!(!fs.pushes().opened(ino, Some(&"another".into())).await);
    hold.send(()).unwrap();
    fs.pushes().settled();
    assert_eq!(sink.stores(), vec![], "stored nothing of the old version");
    assert_eq!(sink.invalidated(), vec![ino], "the old pages were dropped");
    assert_eq!(
        fs.data_cache().used(),
        ReadConfig::default().random_readahead
    );
}

/// A new version of an object is a new inode: the kernel's page cache of the old one, which
/// handles still open on it read, never holds the new version's pages. Those handles keep
/// the bytes they hold and get ESTALE for the rest; the old number keeps its attributes.
#[tokio::test]
async fn a_new_version_is_a_new_inode_and_old_handles_keep_theirs() {
    let (store, data) = store_with("f", 4 * MIB);
    let fs = fs_over(&store, Duration::ZERO);
    // No page cache attached: the daemon keeps what it fetched, standing in for the
    // kernel's cache of the old inode.
    let ino = lookup_path(&fs, "bk/f").await;
    let (old, _) = fs.open(ino).await.unwrap();
    assert_eq!(fs.read(old, 0, 4096).await.unwrap(), &data[..4096]);

    store.put("bk", "f", vec![9u8; data.len() / 2]);
    assert_eq!(fs.open(ino).await.unwrap_err().errno(), libc::ESTALE);
    let new_ino = lookup_path(&fs, "bk/f").await;
    assert_ne!(new_ino, ino);
    let (new, keep) = fs.open(new_ino).await.unwrap();
    assert!(!keep);
    assert_eq!(fs.read(new, 0, 4096).await.unwrap(), &[9u8; 4096][..]);

    assert_eq!(
        fs.read(old, 0, 4096).await.unwrap(),
        &data[..4096],
        "held bytes of the pinned version"
    );
    let err = fs.read(old, 3 * MIB, 4096).await.unwrap_err();
    assert_eq!(err.errno(), libc::ESTALE, "the rest is gone from S3");
    assert_eq!(fs.getattr(ino).await.unwrap().size, data.len() as u64);
    assert_eq!(
        fs.getattr(new_ino).await.unwrap().size,
        data.len() as u64 / 2
    );
}

/// An open that finds a new ETag answers only after the kernel dropped the old pages, and
/// an open beside it that finds the same new ETag waits for that too, so neither is shown
/// old pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_of_a_new_version_wait_for_the_old_pages_to_go() {
    let (store, _) = store_with("f", MIB);
    let fs = Arc::new(fs_default(&store));
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let sink = Arc::new(GatedSink {
        started: std::sync::Mutex::new(started_tx),
        gate: std::sync::Mutex::new(gate),
    });
    fs.attach_page_cache(sink).unwrap();
    let (old, new): (Arc<str>, Arc<str>) = ("old".into(), "new".into());
    assert!(!fs.pushes().opened(7, Some(&old)).await);

    let first = tokio::spawn({
        let (fs, new) = (fs.clone(), new.clone());
        async move { fs.pushes().opened(7, Some(&new)).await }
    });
    started.recv().unwrap();
    assert_eq!(
        fs.kernel_copy().pages(7, Some(&old)),
        super::kernel_copy::Pages::Another,
        "reads of the old one stop at once"
    );
    use std::future::Future;
    let mut beside = std::pin::pin!(fs.pushes().opened(7, Some(&new)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        beside.as_mut().poll(&mut cx).is_pending(),
        "an open beside it waits while the old pages are dropped"
    );
    release.send(()).unwrap();
    assert!(!first.await.unwrap());
    assert!(
        beside.await,
        "then it may keep the pages: they are of the new version"
    );
}

/// A sink whose invalidation says it started and then waits to be let go.
struct GatedSink {
    started: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    gate: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl super::push::PageSink for GatedSink {
    fn store(&self, _: u64, _: u64, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn invalidate(&self, _: u64) -> std::io::Result<()> {
        self.started.lock().unwrap().send(()).unwrap();
        self.gate.lock().unwrap().recv().unwrap();
        Ok(())
    }
}

/// Records the stores it gets, with their bytes, and the inodes it was told to drop.
#[derive(Default)]
struct RecordingSink(
    std::sync::Mutex<Vec<(u64, u64, Vec<u8>)>>,
    std::sync::Mutex<Vec<u64>>,
);

impl RecordingSink {
    fn invalidated(&self) -> Vec<u64> {
        self.1.lock().unwrap().clone()
    }

    fn stores(&self) -> Vec<(u64, Range<u64>)> {
        let stores = self.0.lock().unwrap();
        let mut out: Vec<_> = stores
            .iter()
            .map(|(ino, at, b)| (*ino, *at..*at + b.len() as u64))
            .collect();
        out.sort_by_key(|(_, r)| r.start);
        out
    }

    fn bytes_match(&self, data: &[u8]) -> Result<(), u64> {
        for (_, at, b) in self.0.lock().unwrap().iter() {
            if data[*at as usize..*at as usize + b.len()] != b[..] {
                return Err(*at);
            }
        }
        Ok(())
    }
}

impl super::push::PageSink for RecordingSink {
    fn store(&self, ino: u64, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().push((ino, offset, data.to_vec()));
        Ok(())
    }

    fn invalidate(&self, ino: u64) -> std::io::Result<()> {
        self.1.lock().unwrap().push(ino);
        Ok(())
    }
}

#[tokio::test]
async fn memory_never_passes_its_bound_and_old_data_is_evicted() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern((40 * MIB) as usize);
    store.put("bk", "a", data.clone());
    store.put("bk", "b", data.clone());
    let limit = 20 * MIB;
    let fs = fs_with(store.clone(), ReadConfig::default(), limit);
    let cache = fs.data_cache();
    for name in ["bk/a", "bk/b"] {
        // O_DIRECT: what the reader has read stays until evicted (the kernel has none of it).
        let (fh, _) = fs
            .open_with(lookup_path(&fs, name).await, false)
            .await
            .unwrap();
        read_all_within(&fs, fh, MIB as u32, &data, limit).await;
    }
    assert!(
        cache
            .stats
            .evicted_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_eq!(
        store.counters.snapshot().get_bytes,
        2 * data.len() as u64,
        "a window kept within the cache never evicts its own parts before they are read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_memory_pressure_many_readers_slow_down_but_all_finish() {
    let inner = MemoryStore::new();
    let data = pattern((3 * MIB) as usize);
    for i in 0..8 {
        inner.put("bk", &format!("f{i}"), data.clone());
    }
    let store = Arc::new(FaultyStore::new(inner));
    store.fail_always(Op::Get, Fault::Stall(Duration::from_millis(2)));
    let limit = 4 * 64 * KIB;
    let fs = Arc::new(fs_with(store.clone(), small_config(), limit));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (fs, data) = (fs.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let fh = open(&fs, &format!("bk/f{i}")).await;
            read_all_within(&fs, fh, 48 * KIB as u32, &data, limit).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_changed_object_gives_estale_not_mixed_bytes() {
    let (store, data) = store_with("f", 4 * MIB);
    let fs = fs_default(&store);
    let fh = open(&fs, "bk/f").await;
    let first = fs.read(fh, 0, 4096).await.unwrap();
    assert_eq!(&first[..], &data[..4096]);
    store.put("bk", "f", vec![9u8; data.len()]);
    let err = fs.read(fh, 3 * MIB, 4096).await.unwrap_err();
    assert_eq!(err.errno(), libc::ESTALE);
    let again = fs.read(fh, 0, 4096).await.unwrap();
    assert_eq!(
        &again[..],
        &data[..4096],
        "bytes already held are of the pinned version"
    );
}

#[tokio::test]
async fn the_kernel_keeps_its_page_cache_only_while_the_etag_is_unchanged() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "f", "one");
    let fs = fs_with(store.clone(), ReadConfig::default(), 64 * MIB);
    let ino = fs.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    let ino = fs.lookup(ino, OsStr::new("f")).await.unwrap().ino;
    assert!(
        !fs.open(ino).await.unwrap().1,
        "first open: nothing to keep"
    );
    assert!(fs.open(ino).await.unwrap().1, "same ETag: keep");
    let short_ttl = fs_over(&store, Duration::ZERO);
    let bk = short_ttl.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    let f = short_ttl.lookup(bk, OsStr::new("f")).await.unwrap().ino;
    assert!(!short_ttl.open(f).await.unwrap().1);
    assert!(short_ttl.open(f).await.unwrap().1);
    store.put("bk", "f", "two");
    assert_eq!(
        short_ttl.open(f).await.unwrap_err().errno(),
        libc::ESTALE,
        "a new ETag is a new number"
    );
    let f2 = short_ttl.lookup(bk, OsStr::new("f")).await.unwrap().ino;
    assert_ne!(f2, f);
    assert!(
        !short_ttl.open(f2).await.unwrap().1,
        "new number: nothing cached"
    );
}

#[tokio::test]
async fn a_short_body_is_an_error_never_data() {
    let inner = MemoryStore::new();
    inner.put("bk", "f", vec![1u8; 100_000]);
    let store = Arc::new(FaultyStore::new(inner));
    store.fail_nth(Op::Get, 1, Fault::CutBodyAt(10));
    let fs = fs_with(store.clone(), ReadConfig::default(), 64 * MIB);
    let fh = open(&fs, "bk/f").await;
    assert_eq!(fs.read(fh, 0, 4096).await.unwrap_err().errno(), libc::EIO);
    assert_eq!(fs.read(fh, 0, 4096).await.unwrap().len(), 4096);
}

/// Reads of `data` by `handles` concurrent readers, each a list of (offset, len), under
/// injected faults and a small memory bound; every answer must be the right bytes.
fn read_all_ranges(data: Vec<u8>, handles: Vec<Vec<(u64, u32)>>, faults: Vec<u64>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let inner = MemoryStore::new();
        inner.put("bk", "f", data.clone());
        let store = Arc::new(FaultyStore::new(inner));
        for n in &faults {
            store.fail_nth(Op::Get, *n, Fault::CutBodyAt(n % 7));
        }
        let fs = Arc::new(fs_with(store.clone(), small_config(), 6 * 64 * KIB));
        let data = Arc::new(data);
        let mut tasks = Vec::new();
        for reads in handles {
            let (fs, data, allowed) = (fs.clone(), data.clone(), faults.len() + 1);
            tasks.push(tokio::spawn(async move {
                let fh = open(&fs, "bk/f").await;
                for (offset, len) in reads {
                    let offset = offset % (data.len() as u64 + 10);
                    // A failed read is tried again, as a caller seeing EIO might; what
                    // must never happen is wrong bytes.
                    let mut attempt = 0;
                    let got = loop {
                        match fs.read(fh, offset, len).await {
                            Ok(b) => break b,
                            Err(e) => assert_eq!(e.errno(), libc::EIO),
                        }
                        attempt += 1;
                        assert!(attempt < allowed, "more failures than injected faults");
                    };
                    let start = (offset as usize).min(data.len());
                    let end = (offset as usize + len as usize).min(data.len());
                    assert_eq!(&got[..], &data[start..end], "read {offset}+{len}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn sequential_runs(starts: &[u64], chunk: u32) -> Vec<(u64, u32)> {
    starts
        .iter()
        .flat_map(|s| (0..8).map(move |i| (s + i * chunk as u64, chunk)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_reads_return_the_right_bytes(
        size in 0usize..1_500_000,
        handles in prop::collection::vec(
            prop::collection::vec((0u64..1_500_100, 1u32..200_000), 1..30), 1..4),
        faults in prop::collection::vec(1u64..40, 0..4),
    ) {
        read_all_ranges(pattern(size), handles, faults);
    }

    #[test]
    fn sequential_runs_with_seeks_return_the_right_bytes(
        runs in prop::collection::vec(
            (prop::collection::vec(0u64..1_500_000, 1..5), 1u32..150_000), 1..4),
        faults in prop::collection::vec(1u64..40, 0..3),
    ) {
        let handles = runs.iter().map(|(starts, chunk)| sequential_runs(starts, *chunk)).collect();
        read_all_ranges(pattern(1_500_000), handles, faults);
    }
}

#[tokio::test(start_paused = true)]
async fn a_fetch_that_panics_fails_its_waiters_and_frees_its_memory() {
    let inner = MemoryStore::new();
    let data = pattern(2 * MIB as usize);
    inner.put("bk", "f", data.clone());
    let store = Arc::new(FaultyStore::new(inner));
    store.fail_nth(Op::Get, 1, Fault::Panic);
    let fs = fs_with(store.clone(), ReadConfig::default(), 64 * MIB);
    let (a, b) = (open(&fs, "bk/f").await, open(&fs, "bk/f").await);
    // Virtual time: without the guard both readers wait forever, and the clock runs out.
    let both = tokio::time::timeout(Duration::from_secs(600), async {
        tokio::join!(fs.read(a, 0, 4096), fs.read(b, 0, 4096))
    });
    let (first, second) = both
        .await
        .expect("the readers of a panicked fetch must not hang");
    assert_eq!(first.unwrap_err().errno(), libc::EIO);
    assert_eq!(second.unwrap_err().errno(), libc::EIO);
    assert_eq!(
        fs.data_cache().used(),
        0,
        "the failed part's memory is given back"
    );
    assert_eq!(fs.read(a, 0, 4096).await.unwrap(), data[..4096]);
    assert_eq!(
        store.inner().counters.get(Op::Get),
        1,
        "the panicked GET was shared by both readers; the next read tried again"
    );
}

#[tokio::test]
async fn an_object_listed_without_an_etag_is_read_anew_by_every_open() {
    let store = Arc::new(MemoryStore::new());
    store.put_without_etag("bk", "k", vec![b'a'; 100]);
    let config = FsConfig {
        root: Root::Buckets(vec!["bk".into()]),
        // Every open asks S3 again, and finds the same size and no ETag either time.
        ..FsConfig::with_ttl(Duration::ZERO)
    };
    let fs = Fs::new(store.clone(), config);
    let ino = lookup_path(&fs, "bk/k").await;
    let (fh, keep) = fs.open(ino).await.unwrap();
    assert!(!keep);
    // Only part of what the open fetched is read: the rest stays after the close.
    assert_eq!(fs.read(fh, 0, 10).await.unwrap(), vec![b'a'; 10]);
    fs.release(fh);
    store.put_without_etag("bk", "k", vec![b'b'; 100]);
    let (fh, keep) = fs.open(lookup_path(&fs, "bk/k").await).await.unwrap();
    assert!(
        !keep,
        "no ETag, no telling the kernel's pages are still good"
    );
    assert_eq!(fs.read(fh, 0, 100).await.unwrap(), vec![b'b'; 100]);
    fs.release(fh);
    assert_eq!(
        fs.data_cache().used(),
        0,
        "nobody can use those bytes again"
    );
}
