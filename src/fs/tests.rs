//! The filesystem core against the in-memory store: shapes, request budgets and reads.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use super::{Fs, FsConfig, Root, ROOT};
use crate::s3::faulty::{Fault, FaultyStore};
use crate::s3::memory::MemoryStore;
use crate::s3::{Op, StoreError};

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
            root: Root::Buckets(vec!["bk".into()]),
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
    let fh = fs.open(ino).await.unwrap().0;
    assert!(fs.read(fh, 0, 4096).await.unwrap().is_empty());
    assert_eq!(store.counters.get(Op::Get), 0);
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
