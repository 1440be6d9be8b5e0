//! The filesystem core against the in-memory store: shapes, request budgets and reads.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::{Fs, FsConfig, ROOT};
use crate::s3::faulty::{Fault, FaultyStore};
use crate::s3::memory::MemoryStore;
use crate::s3::{ObjectStore, Op, StoreError};

fn config() -> FsConfig {
    FsConfig::with_ttl(Duration::from_secs(60))
}

fn seeded() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.put("bk", "top.txt", "top");
    store.put("bk", "empty", "");
    store.put("bk", "dir/a.txt", "aaa");
    store.put("bk", "dir/sub/b.txt", "bbb");
    store.put("bk", "marker/", "");
    store.put("bk", "clash", "file");
    store.put("bk", "clash/inner", "inner");
    store.put("bk", "x//y", "hidden");
    store.put("bk", "weird/..", "hidden");
    store.put("bk", &"n".repeat(300), "hidden");
    store.create_bucket("other");
    Arc::new(store)
}

/// Reads a whole directory stream the way the kernel does: batches from the last offset.
pub(super) async fn read_dir(fs: &Fs, ino: u64, batch: usize) -> Vec<super::DirEntry> {
    let fh = fs.opendir(ino).await.unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let got = fs.readdir(fh, offset, batch).await.unwrap();
        let Some(last) = got.last() else { break };
        offset = last.next_offset;
        out.extend(got);
    }
    fs.releasedir(fh);
    out
}

async fn names_in(fs: &Fs, ino: u64) -> Vec<(String, bool)> {
    read_dir(fs, ino, 7)
        .await
        .into_iter()
        .skip(2)
        .map(|e| (e.name, e.attr.is_dir))
        .collect()
}

async fn walk(fs: &Fs, path: &str) -> u64 {
    let mut ino = ROOT;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        ino = fs.lookup(ino, OsStr::new(part)).await.unwrap().ino;
    }
    ino
}

#[tokio::test]
async fn root_lists_buckets_and_directories_follow_the_semantics() {
    let store = seeded();
    let fs = Fs::new(store.clone(), config());
    assert_eq!(
        names_in(&fs, ROOT).await,
        [("bk".to_string(), true), ("other".to_string(), true)]
    );
    let bk = walk(&fs, "bk").await;
    let got = names_in(&fs, bk).await;
    let want: Vec<(String, bool)> = [
        ("clash", true),
        ("dir", true),
        ("empty", false),
        ("marker", true),
        ("top.txt", false),
        ("weird", true),
        ("x", true),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(got, want);
    // `x//y`: S3 reports the prefix `x/`, but under it only an empty name: hidden.
    // `weird/..` is hidden.
    let x = walk(&fs, "bk/x").await;
    assert!(names_in(&fs, x).await.is_empty());
    let weird = walk(&fs, "bk/weird").await;
    assert!(names_in(&fs, weird).await.is_empty());
    let marker = walk(&fs, "bk/marker").await;
    assert!(names_in(&fs, marker).await.is_empty());
}

#[tokio::test]
async fn ls_l_costs_one_list_and_a_second_costs_nothing() {
    let store = seeded();
    let fs = Fs::new(store.clone(), config());
    let bk = walk(&fs, "bk").await;
    let lists_before = store.counters.get(Op::List);
    let names = names_in(&fs, bk).await;
    for (name, _) in &names {
        fs.lookup(bk, OsStr::new(name)).await.unwrap();
    }
    assert_eq!(store.counters.get(Op::List), lists_before + 1);
    let _ = names_in(&fs, bk).await;
    assert_eq!(
        store.counters.get(Op::List),
        lists_before + 1,
        "inside the TTL"
    );
    assert_eq!(store.counters.get(Op::Get), 0);
    assert_eq!(store.counters.get(Op::ListBuckets), 1);
}

#[tokio::test]
async fn configured_buckets_need_no_list_buckets() {
    let store = seeded();
    let fs = Fs::new(
        store.clone(),
        FsConfig {
            buckets: Some(vec!["bk".into()]),
            ..config()
        },
    );
    assert_eq!(names_in(&fs, ROOT).await, [("bk".to_string(), true)]);
    assert_eq!(store.counters.get(Op::ListBuckets), 0);
}

#[tokio::test]
async fn lookups_of_missing_names_and_bad_names_are_enoent() {
    let fs = Fs::new(seeded(), config());
    let bk = walk(&fs, "bk").await;
    for name in ["nope", ".", "..", ""] {
        let err = fs.lookup(bk, OsStr::new(name)).await.unwrap_err();
        assert_eq!(err.errno(), libc::ENOENT, "{name}");
    }
}

#[tokio::test]
async fn empty_object_reads_without_a_get() {
    let store = seeded();
    let fs = Fs::new(store.clone(), config());
    let ino = walk(&fs, "bk/empty").await;
    let fh = fs.open(ino).await.unwrap();
    assert!(fs.read(fh, 0, 4096).await.unwrap().is_empty());
    assert_eq!(store.counters.get(Op::Get), 0);
}

#[tokio::test]
async fn a_changed_object_gives_estale_not_mixed_bytes() {
    let store = MemoryStore::new();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
    store.put("bk", "f", data.clone());
    let store = Arc::new(store);
    let fs = Fs::new(store.clone(), config());
    let ino = walk(&fs, "bk/f").await;
    let fh = fs.open(ino).await.unwrap();
    let first = fs.read(fh, 0, 4096).await.unwrap();
    assert_eq!(&first[..], &data[..4096]);
    store.put("bk", "f", vec![9u8; 2_000_000]);
    let err = fs.read(fh, 1_500_000, 4096).await.unwrap_err();
    assert_eq!(err.errno(), libc::ESTALE);
}

#[tokio::test]
async fn sequential_read_fetches_each_byte_once() {
    let store = MemoryStore::new();
    let size = 20 * 1024 * 1024 + 17;
    store.put("bk", "big", vec![7u8; size]);
    let store = Arc::new(store);
    let fs = Fs::new(store.clone(), config());
    let fh = fs.open(walk(&fs, "bk/big").await).await.unwrap();
    let mut offset = 0u64;
    loop {
        let got = fs.read(fh, offset, 128 * 1024).await.unwrap();
        if got.is_empty() {
            break;
        }
        offset += got.len() as u64;
    }
    assert_eq!(offset, size as u64);
    let snap = store.counters.snapshot();
    assert_eq!(snap.get_bytes, size as u64, "each byte fetched once");
    assert!(snap.get <= 10, "window grows: {} GETs", snap.get);
}

#[tokio::test]
async fn a_short_body_is_an_error_never_data() {
    let inner = MemoryStore::new();
    inner.put("bk", "f", vec![1u8; 100_000]);
    let store = Arc::new(FaultyStore::new(inner));
    store.fail_nth(Op::Get, 1, Fault::CutBodyAt(10));
    let fs = Fs::new(store.clone(), config());
    let fh = fs.open(walk(&fs, "bk/f").await).await.unwrap();
    assert_eq!(fs.read(fh, 0, 4096).await.unwrap_err().errno(), libc::EIO);
    assert_eq!(fs.read(fh, 0, 4096).await.unwrap().len(), 4096);
}

#[tokio::test]
async fn store_errors_reach_the_caller_as_errno() {
    let inner = MemoryStore::new();
    inner.put("bk", "f", "x");
    let store = Arc::new(FaultyStore::new(inner));
    store.fail_always(Op::List, Fault::Fail(|| StoreError::AccessDenied));
    let fs = Fs::new(store.clone(), config());
    let err = fs.lookup(ROOT, OsStr::new("bk")).await;
    assert!(err.is_ok(), "the root comes from ListBuckets");
    let bk = err.unwrap().ino;
    assert_eq!(fs.opendir(bk).await.unwrap_err().errno(), libc::EACCES);
    store.clear();
    assert_eq!(names_in(&fs, bk).await.len(), 1);
}

fn read_all_ranges(data: Vec<u8>, reads: Vec<(u64, u32)>, faults: Vec<u64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let inner = MemoryStore::new();
        inner.put("bk", "f", data.clone());
        let store = Arc::new(FaultyStore::new(inner));
        for n in faults {
            store.fail_nth(Op::Get, n, Fault::CutBodyAt(n % 7));
        }
        let fs = Fs::new(store.clone() as Arc<dyn ObjectStore>, config());
        let fh = fs.open(walk(&fs, "bk/f").await).await.unwrap();
        for (offset, len) in reads {
            let offset = offset % (data.len() as u64 + 10);
            // A failed read is tried again, as a caller seeing EIO might; what must never
            // happen is wrong bytes. There are at most 4 injected faults.
            let mut attempt = 0;
            let got = loop {
                match fs.read(fh, offset, len).await {
                    Ok(b) => break b,
                    Err(e) => assert_eq!(e.errno(), libc::EIO),
                }
                attempt += 1;
                assert!(attempt < 5, "more failures than injected faults");
            };
            let start = (offset as usize).min(data.len());
            let end = (offset as usize + len as usize).min(data.len());
            assert_eq!(&got[..], &data[start..end], "read {offset}+{len}");
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reads_return_the_right_bytes(
        size in 0usize..3_000_000,
        reads in prop::collection::vec((0u64..3_000_100, 1u32..300_000), 1..40),
        faults in prop::collection::vec(1u64..30, 0..4),
    ) {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        read_all_ranges(data, reads, faults);
    }

    #[test]
    fn sequential_runs_with_seeks_return_the_right_bytes(
        starts in prop::collection::vec(0u64..2_000_000, 1..6),
        chunk in 1u32..200_000,
    ) {
        let data: Vec<u8> = (0..2_000_000usize).map(|i| (i * 7 % 253) as u8).collect();
        let reads = starts
            .iter()
            .flat_map(|s| (0..8).map(move |i| (s + i * chunk as u64, chunk)))
            .collect();
        read_all_ranges(data, reads, vec![]);
    }
}
