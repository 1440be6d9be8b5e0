//! The small-file read-ahead against the in-memory store: what in-order, random and
//! interleaved opens cost in GETs, that every byte is right, that a changed ETag is never
//! served, and that it stays inside its bounds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use super::ahead::AheadConfig;
use super::tests::read_dir;
use super::{Fs, FsConfig, ROOT};
use crate::s3::memory::MemoryStore;
use crate::s3::Op;

const SIZE: usize = 16 * 1024;
const PID: u32 = 4242;

/// The bytes of file `i`, version `v`: no two files or versions alike.
fn content(i: usize, v: u8) -> Vec<u8> {
    (0..SIZE)
        .map(|j| (i * 7 + j * 13 + v as usize * 101) as u8)
        .collect()
}

fn name(i: usize) -> String {
    format!("f{i:02}")
}

/// A store with `n` files of `SIZE` bytes in each of `dirs` of bucket `bk`.
fn store_with(dirs: &[&str], n: usize) -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    for dir in dirs {
        for i in 0..n {
            store.put("bk", &format!("{dir}/{}", name(i)), content(i, 0));
        }
    }
    Arc::new(store)
}

fn fs_with(store: &Arc<MemoryStore>, ahead: AheadConfig, memory: u64) -> Fs {
    let config = FsConfig {
        root: super::Root::Buckets(vec!["bk".into()]),
        max_cache_memory: memory,
        ahead,
        ..FsConfig::with_ttl(Duration::from_secs(60))
    };
    Fs::new(store.clone(), config)
}

fn files(max_files: usize) -> AheadConfig {
    AheadConfig {
        max_files,
        max_bytes: 1 << 30,
    }
}

/// Lists `bk/<dir>` as a shell's glob does (readdir, then a lookup per entry): the files'
/// inodes in listing order.
async fn listed(fs: &Fs, dir: &str) -> Vec<u64> {
    let bk = fs.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    let dir = fs.lookup(bk, OsStr::new(dir)).await.unwrap().ino;
    let mut inos = Vec::new();
    for entry in read_dir(fs, dir, 50).await.into_iter().skip(2) {
        inos.push(fs.lookup(dir, OsStr::new(&entry.name)).await.unwrap().ino);
    }
    inos
}

/// Opens `ino` as process `pid`, reads it whole in 4 KiB reads and closes it, the way
/// `cat` does; its bytes.
async fn cat(fs: &Fs, pid: u32, ino: u64) -> Result<Vec<u8>, i32> {
    let (fh, _) = fs
        .open_for(ino, true, Some(pid))
        .await
        .map_err(|e| e.errno())?;
    let mut out = Vec::new();
    loop {
        let got = fs
            .read(fh, out.len() as u64, 4096)
            .await
            .map_err(|e| e.errno())?;
        if got.is_empty() {
            break;
        }
        out.extend_from_slice(&got);
    }
    fs.release(fh);
    Ok(out)
}

/// GETs so far by key, asserting each key was fetched once at most.
fn fetched_once(store: &MemoryStore) -> Vec<String> {
    let mut counts = BTreeMap::new();
    for (key, _) in store.get_log() {
        *counts.entry(key).or_insert(0) += 1;
    }
    for (key, n) in &counts {
        assert_eq!(*n, 1, "{key} fetched {n} times");
    }
    counts.into_keys().collect()
}

/// The keys `dir/f00` up to `dir/f<last>`.
fn keys_upto(dir: &str, last: usize) -> Vec<String> {
    (0..=last).map(|i| format!("{dir}/{}", name(i))).collect()
}

/// How far ahead the open of file `k` (0-based) of an in-order run fetches: 0 for the
/// first, then 1, 2, 4 ... up to `max`.
fn depth_at(k: usize, max: usize) -> usize {
    match k {
        0 => 0,
        _ => (1usize << (k - 1).min(20)).min(max),
    }
}

#[tokio::test]
async fn in_order_opens_are_fetched_ahead_with_a_depth_that_grows_to_its_bound() {
    let n = 40;
    let store = store_with(&["d"], n);
    let fs = fs_with(&store, files(8), 64 << 20);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate() {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0), "file {k}");
        fs.ahead.settled().await;
        let last = (n - 1).min(k + depth_at(k, 8));
        assert_eq!(fetched_once(&store), keys_upto("d", last), "after file {k}");
    }
    assert_eq!(store.counters.get(Op::Get), n as u64, "one GET per file");
    let stats = fs.ahead_stats();
    assert_eq!(stats.files(), n as u64 - 2, "all but the first two");
    assert_eq!(stats.used_bytes(), (n as u64 - 2) * SIZE as u64);
    assert!(
        stats.line().ends_with("ahead_wasted_bytes=0"),
        "{}",
        stats.line()
    );
    assert_eq!(fs.ahead.ahead_bytes(), 0, "nothing left counted ahead");
}

#[tokio::test]
async fn the_bytes_bound_caps_the_depth() {
    let n = 20;
    let store = store_with(&["d"], n);
    let ahead = AheadConfig {
        max_files: 32,
        max_bytes: 3 * SIZE as u64,
    };
    let fs = fs_with(&store, ahead, 64 << 20);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate() {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
        fs.ahead.settled().await;
        let last = (n - 1).min(k + depth_at(k, 3));
        assert_eq!(fetched_once(&store), keys_upto("d", last), "after file {k}");
    }
}

#[tokio::test]
async fn opens_in_another_order_fetch_nothing_extra() {
    let n = 40;
    let store = store_with(&["d"], n);
    let fs = fs_with(&store, files(32), 64 << 20);
    let inos = listed(&fs, "d").await;
    // Every file once, 7 apart (7 and 40 are coprime): never the next one in the listing.
    for k in (0..n).map(|i| i * 7 % n) {
        assert_eq!(cat(&fs, PID, inos[k]).await.unwrap(), content(k, 0));
        fs.ahead.settled().await;
    }
    assert_eq!(
        store.counters.get(Op::Get),
        n as u64,
        "GETs == files opened"
    );
    assert_eq!(fs.ahead_stats().files(), 0);
}

#[tokio::test]
async fn a_wrong_guess_stops_the_read_ahead_and_the_waste_is_counted() {
    let store = store_with(&["d"], 40);
    let fs = fs_with(&store, files(8), 64 << 20);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate().take(6) {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
    }
    fs.ahead.settled().await;
    assert_eq!(fetched_once(&store), keys_upto("d", 5 + 8));
    // A jump: the depth goes back to 0, and only the next right guess starts it again.
    assert_eq!(cat(&fs, PID, inos[20]).await.unwrap(), content(20, 0));
    fs.ahead.settled().await;
    assert_eq!(
        store.counters.get(Op::Get),
        14 + 1,
        "the jump fetched itself only"
    );
    assert_eq!(cat(&fs, PID, inos[21]).await.unwrap(), content(21, 0));
    fs.ahead.settled().await;
    assert_eq!(store.counters.get(Op::Get), 15 + 2, "itself, and one ahead");
    let stats = fs.ahead_stats();
    // Fetched ahead: f02..f13 and f22; of those, f02..f05 were opened.
    assert_eq!(stats.files(), 13);
    assert_eq!(stats.used_bytes(), 4 * SIZE as u64);
    let wasted = format!("ahead_wasted_bytes={}", 9 * SIZE);
    assert!(stats.line().ends_with(&wasted), "{}", stats.line());
}

#[tokio::test]
async fn a_changed_etag_is_never_served_the_old_bytes() {
    let store = store_with(&["d"], 20);
    let fs = fs_with(&store, files(4), 64 << 20);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate().take(4) {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
    }
    fs.ahead.settled().await;
    assert_eq!(fetched_once(&store), keys_upto("d", 7));
    // f05 was fetched ahead under the listing's ETag; f09 is not fetched yet.
    store.put("bk", "d/f05", content(5, 1));
    store.put("bk", "d/f09", content(9, 1));
    assert_eq!(cat(&fs, PID, inos[4]).await.unwrap(), content(4, 0));
    assert_eq!(
        cat(&fs, PID, inos[5]).await.unwrap(),
        content(5, 0),
        "pinned to the listing's ETag: that version, whole, as from any cached part"
    );
    fs.ahead.settled().await;
    for (k, &ino) in inos.iter().enumerate().take(9).skip(6) {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
    }
    assert_eq!(
        cat(&fs, PID, inos[9]).await,
        Err(libc::ESTALE),
        "its GET ahead, pinned to the old ETag, failed and left nothing behind"
    );
    // Listed again (the TTL ran out): the new ETags are new files, read anew.
    let dir = fs.node(inos[0]).unwrap().parent;
    fs.dirs.remove(dir);
    let fresh = listed(&fs, "d").await;
    assert_ne!(fresh[5], inos[5], "a new ETag is a new inode");
    let gets_of_f05 = |s: &MemoryStore| s.get_log().iter().filter(|(k, _)| k == "d/f05").count();
    assert_eq!(gets_of_f05(&store), 1);
    for (k, &ino) in fresh.iter().enumerate().take(12).skip(5) {
        let v = u8::from(k == 5 || k == 9);
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, v), "{k}");
    }
    assert_eq!(gets_of_f05(&store), 2, "the new version cost its own GET");
}

#[tokio::test]
async fn two_processes_reading_two_directories_do_not_confuse_each_other() {
    let n = 20;
    let store = store_with(&["a", "b"], n);
    let fs = fs_with(&store, files(8), 64 << 20);
    let (a, b) = (listed(&fs, "a").await, listed(&fs, "b").await);
    for k in 0..n {
        assert_eq!(cat(&fs, 1, a[k]).await.unwrap(), content(k, 0));
        assert_eq!(cat(&fs, 2, b[k]).await.unwrap(), content(k, 0));
        fs.ahead.settled().await;
    }
    assert_eq!(fetched_once(&store).len(), 2 * n);
    let stats = fs.ahead_stats();
    assert_eq!(stats.files(), 2 * (n as u64 - 2), "both ramped up");
    assert_eq!(stats.used_bytes(), stats.bytes(), "no waste");
}

#[tokio::test]
async fn two_processes_reading_halves_of_one_directory_share_what_is_fetched_ahead() {
    let n = 40;
    let store = store_with(&["d"], n);
    let fs = fs_with(&store, files(8), 64 << 20);
    let inos = listed(&fs, "d").await;
    for k in 0..n / 2 {
        let j = k + n / 2;
        assert_eq!(cat(&fs, 1, inos[k]).await.unwrap(), content(k, 0));
        assert_eq!(cat(&fs, 2, inos[j]).await.unwrap(), content(j, 0));
        fs.ahead.settled().await;
    }
    assert_eq!(fetched_once(&store).len(), n, "one GET per file");
}

#[tokio::test]
async fn files_the_kernel_may_hold_are_not_fetched_ahead_again() {
    let n = 20;
    let store = store_with(&["d"], n);
    let fs = fs_with(&store, files(8), 64 << 20);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate() {
        assert_eq!(cat(&fs, 1, ino).await.unwrap(), content(k, 0));
    }
    fs.ahead.settled().await;
    let before = fs.ahead_stats().files();
    // A second `cat *`: the kernel answers it from its page cache (FOPEN_KEEP_CACHE); the
    // opens still reach the daemon, and must not send the read-ahead after every file.
    for ino in inos {
        let (fh, keep) = fs.open_for(ino, true, Some(2)).await.unwrap();
        assert!(keep, "same ETag: the kernel keeps its pages");
        fs.release(fh);
    }
    fs.ahead.settled().await;
    assert_eq!(fs.ahead_stats().files(), before);
    assert_eq!(store.counters.get(Op::Get), n as u64);
}

#[tokio::test]
async fn read_ahead_stays_inside_its_slice_of_the_block_cache() {
    let n = 40;
    let store = store_with(&["d"], n);
    let limit = 8 * SIZE as u64;
    let fs = fs_with(&store, files(32), limit);
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate() {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
        assert!(fs.ahead.ahead_bytes() <= limit / 4);
        fs.ahead.settled().await;
        assert!(fs.data_cache().used() <= limit);
        // A quarter of the cache is two files.
        let last = (n - 1).min(k + depth_at(k, 2));
        assert_eq!(fetched_once(&store), keys_upto("d", last), "after file {k}");
    }
}

#[tokio::test]
async fn a_full_block_cache_skips_the_read_ahead_and_the_reads_stay_right() {
    let n = 20;
    let store = store_with(&["d", "other"], n);
    let limit = 8 * SIZE as u64;
    let fs = fs_with(&store, files(32), limit);
    // Eight files opened and never read fill the cache with prefetched bytes that only a
    // read may evict, and the read-ahead never does.
    let mut held = Vec::new();
    for ino in listed(&fs, "other").await.into_iter().take(8) {
        held.push(fs.open(ino).await.unwrap().0);
    }
    let inos = listed(&fs, "d").await;
    for (k, &ino) in inos.iter().enumerate() {
        assert_eq!(cat(&fs, PID, ino).await.unwrap(), content(k, 0));
        fs.ahead.settled().await;
        assert!(fs.data_cache().used() <= limit);
        assert_eq!(fs.ahead.ahead_bytes(), 0, "a skipped fetch is not counted");
    }
    let skipped = &fs.data_cache().stats.skipped_prefetches;
    assert!(skipped.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let d_gets = fetched_once(&store)
        .iter()
        .filter(|k| k.starts_with("d/"))
        .count();
    assert_eq!(
        d_gets, n,
        "each file fetched once, by its open or ahead of it"
    );
    for fh in held {
        fs.release(fh);
    }
}

#[tokio::test]
async fn opens_without_a_process_or_turned_off_fetch_nothing_ahead() {
    let store = store_with(&["d"], 10);
    let off = fs_with(&store, files(0), 64 << 20);
    for (k, ino) in listed(&off, "d").await.into_iter().enumerate() {
        assert_eq!(cat(&off, PID, ino).await.unwrap(), content(k, 0));
    }
    let on = fs_with(&store, files(8), 64 << 20);
    for (k, ino) in listed(&on, "d").await.into_iter().enumerate() {
        let (fh, _) = on.open(ino).await.unwrap();
        assert_eq!(on.read(fh, 0, SIZE as u32).await.unwrap(), content(k, 0));
        on.release(fh);
    }
    on.ahead.settled().await;
    assert_eq!(store.counters.get(Op::Get), 20, "one GET per open, no more");
    assert_eq!(off.ahead_stats().files() + on.ahead_stats().files(), 0);
}
