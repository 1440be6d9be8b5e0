//! The request budget of issue 4, operation by operation, against the in-memory store.
//!
//! The filesystem sends HEAD for one thing only, `user.s3.content_type` with `--xattrs`
//! (the last test here); these tests pin the LIST and GET counts of each operation a user
//! runs.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use super::tests::read_dir;
use super::{Fs, FsConfig, Root, ROOT};
use crate::s3::memory::MemoryStore;
use crate::s3::Op;

/// A filesystem over `store` showing bucket `bk`, trusting metadata for `ttl`.
pub(super) fn fs_over(store: &Arc<MemoryStore>, ttl: Duration) -> Fs {
    let config = FsConfig {
        root: Root::Buckets(vec!["bk".into()]),
        ..FsConfig::with_ttl(ttl)
    };
    Fs::new(store.clone(), config)
}

fn minute() -> Duration {
    Duration::from_secs(60)
}

async fn walk(fs: &Fs, path: &str) -> u64 {
    let mut ino = ROOT;
    for part in path.split('/') {
        ino = fs.lookup(ino, OsStr::new(part)).await.unwrap().ino;
    }
    ino
}

fn lists(store: &MemoryStore) -> u64 {
    store.counters.get(Op::List)
}

#[tokio::test]
async fn ls_l_costs_its_list_pages_and_nothing_more() {
    let store = Arc::new(MemoryStore::new());
    for i in 0..2500 {
        store.put("bk", &format!("big/f{i:05}"), vec![1u8; i % 7]);
    }
    let fs = fs_over(&store, minute());
    let big = walk(&fs, "bk/big").await;
    assert_eq!(lists(&store), 1, "one LIST for the uncached lookup of big");
    let entries = read_dir(&fs, big, 25).await;
    assert_eq!(entries.len(), 2 + 2500);
    assert_eq!(lists(&store), 1 + 3, "three pages of 1,000");
    // `ls -l` without readdirplus: a lookup and a getattr of every entry.
    for e in &entries[2..] {
        let attr = fs.lookup(big, OsStr::new(&e.name)).await.unwrap();
        assert_eq!(attr, e.attr, "sizes and times come from the listing");
        assert_eq!(fs.getattr(attr.ino).await.unwrap(), attr);
    }
    assert_eq!(lists(&store), 4);
    read_dir(&fs, big, 25).await;
    assert_eq!(
        lists(&store),
        4,
        "a second ls -l inside the TTL costs nothing"
    );
    assert_eq!(store.counters.get(Op::Get), 0);
    assert_eq!(
        store.counters.get(Op::ListBuckets),
        0,
        "--bucket needs no ListBuckets"
    );
}

#[tokio::test]
async fn an_uncached_path_costs_one_list_per_component() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "a/b/c/file", "x");
    store.put("bk", "a/b/c/file-2", "x");
    store.put("bk", "a/b.txt", "x");
    let fs = fs_over(&store, minute());
    let file = walk(&fs, "bk/a/b/c/file").await;
    assert_eq!(lists(&store), 4, "a, b, c and file: one LIST each");
    assert!(!fs.getattr(file).await.unwrap().is_dir);
    walk(&fs, "bk/a/b/c/file").await;
    assert_eq!(
        lists(&store),
        4,
        "looked-up entries are trusted for the TTL"
    );
    let c = walk(&fs, "bk/a/b/c").await;
    for _ in 0..3 {
        let err = fs.lookup(c, OsStr::new("missing")).await.unwrap_err();
        assert_eq!(err.errno(), libc::ENOENT);
    }
    assert_eq!(
        lists(&store),
        5,
        "a missing name costs one LIST, then the negative cache"
    );
    assert_eq!(store.counters.get(Op::Get), 0);
}

#[tokio::test]
async fn find_costs_one_list_per_directory_page() {
    let store = Arc::new(MemoryStore::with_page_size(3));
    for p in 0..50 {
        for f in 0..4 {
            store.put("bk", &format!("tree/p{p:02}/f{f}"), "x");
        }
    }
    let fs = fs_over(&store, minute());
    let tree = walk(&fs, "bk/tree").await;
    let before = lists(&store);
    let dirs = read_dir(&fs, tree, 10).await;
    assert_eq!(lists(&store) - before, 50_u64.div_ceil(3));
    for d in &dirs[2..] {
        let files = read_dir(&fs, d.attr.ino, 10).await;
        assert_eq!(files.len(), 2 + 4);
    }
    assert_eq!(
        lists(&store) - before,
        17 + 50 * 2,
        "4 files at 3 per page: 2 pages each"
    );
    assert_eq!(store.counters.get(Op::Get), 0);
}

#[tokio::test]
async fn cat_of_a_listed_file_costs_gets_only() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "d/f", vec![3u8; 100_000]);
    let fs = fs_over(&store, minute());
    let d = walk(&fs, "bk/d").await;
    let entries = read_dir(&fs, d, 10).await;
    let before = lists(&store);
    let fh = fs.open(entries[2].attr.ino).await.unwrap().0;
    assert_eq!(fs.read(fh, 0, 200_000).await.unwrap().len(), 100_000);
    assert_eq!(lists(&store), before);
    assert_eq!(store.counters.get(Op::Get), 1);
}

#[tokio::test]
async fn a_huge_directory_streams_from_the_first_page() {
    let store = Arc::new(MemoryStore::new());
    for i in 0..20_000 {
        store.put("bk", &format!("huge/{i:06}"), "");
    }
    let fs = fs_over(&store, minute());
    let huge = walk(&fs, "bk/huge").await;
    let before = lists(&store);
    let fh = fs.opendir(huge).await.unwrap();
    let first = fs.readdir(fh, 0, 100).await.unwrap();
    assert_eq!(first.len(), 2 + 100, ". and .. first");
    assert_eq!(
        lists(&store) - before,
        1,
        "the first entries need the first page only"
    );
    // The next page is fetched while the kernel consumes this one; on this single-threaded
    // runtime, one yield lets that task run.
    tokio::task::yield_now().await;
    assert_eq!(lists(&store) - before, 2, "one page read ahead");
    let far = fs.readdir(fh, 5_000, 10).await.unwrap();
    assert_eq!(far[0].name, "004998");
    assert_eq!(lists(&store) - before, 5, "entry 4,998 is on page 5");
    tokio::task::yield_now().await;
    assert_eq!(lists(&store) - before, 6, "and page 6 read ahead, no more");
    fs.releasedir(fh);
}

#[tokio::test]
async fn after_the_ttl_a_changed_object_is_a_new_file_to_new_readers() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "d/f", "old");
    let fs = fs_over(&store, Duration::ZERO);
    let f = walk(&fs, "bk/d/f").await;
    let fh = fs.open(f).await.unwrap().0;
    store.put("bk", "d/f", "newer");
    assert_eq!(fs.read(fh, 0, 10).await.unwrap_err().errno(), libc::ESTALE);
    let before = lists(&store);
    assert_eq!(
        fs.open(f).await.unwrap_err().errno(),
        libc::ESTALE,
        "the old number stays the old version: the kernel looks the name up again"
    );
    assert_eq!(
        lists(&store),
        before + 1,
        "a stale file is asked about once at open"
    );
    let f2 = walk(&fs, "bk/d/f").await;
    assert_ne!(f2, f, "a new version is a new file");
    let fh2 = fs.open(f2).await.unwrap().0;
    assert_eq!(&fs.read(fh2, 0, 10).await.unwrap()[..], b"newer");
    assert_eq!(fs.getattr(f2).await.unwrap().size, 5);
    assert_eq!(
        fs.getattr(f).await.unwrap().size,
        3,
        "the old number keeps its version's attributes, for handles open on it"
    );
    let d = walk(&fs, "bk/d").await;
    read_dir(&fs, d, 10).await;
    let again = lists(&store);
    read_dir(&fs, d, 10).await;
    assert_eq!(
        lists(&store),
        again + 1,
        "a listing older than the TTL is fetched again"
    );
}

#[tokio::test]
async fn forget_reclaims_inodes_and_numbers_stay_stable_while_held() {
    let store = Arc::new(MemoryStore::new());
    for i in 0..50 {
        store.put("bk", &format!("d/{i}"), "x");
    }
    let fs = fs_over(&store, minute());
    let d = walk(&fs, "bk/d").await;
    let baseline = fs.inode_count();
    let entries = read_dir(&fs, d, 10).await;
    for e in &entries[2..] {
        fs.took(e); // what the adapter does for each readdirplus entry the kernel took
    }
    assert_eq!(fs.inode_count(), baseline + 50);
    let again = read_dir(&fs, d, 10).await;
    let inos = |v: &[super::DirEntry]| v.iter().map(|e| e.attr.ino).collect::<Vec<_>>();
    assert_eq!(inos(&entries), inos(&again), "stable numbers");
    for e in &entries[2..] {
        fs.forget(e.attr.ino, 1);
    }
    assert_eq!(fs.inode_count(), baseline);
}

/// readdirplus offers a batch; the kernel's buffer takes only the first entries, and the
/// reader stops there (`ls | head`, a small buffer, an interrupted walk). The nodes of the
/// entries it did not take must go, or the table keeps nodes the kernel never heard of and
/// so never forgets (issue 16).
#[tokio::test]
async fn entries_the_kernel_had_no_room_for_leave_no_node_behind() {
    let store = Arc::new(MemoryStore::new());
    for i in 0..50 {
        store.put("bk", &format!("d/{i:02}"), "x");
    }
    let fs = fs_over(&store, minute());
    let d = walk(&fs, "bk/d").await;
    let baseline = fs.inode_count();
    for batch_size in [16, 64] {
        let fh = fs.opendir(d).await.unwrap();
        let batch = fs.readdir(fh, 0, batch_size).await.unwrap();
        // Room for `.`, `..` and one entry.
        let (took, declined) = batch.split_at(3);
        fs.took(&took[2]);
        declined.iter().for_each(|e| fs.declined(e));
        fs.releasedir(fh);
        assert_eq!(
            fs.inode_count(),
            baseline + 1,
            "only the node the kernel holds (batch {batch_size})"
        );
        fs.forget(took[2].attr.ino, 1);
        assert_eq!(fs.inode_count(), baseline, "all given back");
    }
}

#[tokio::test]
async fn xattrs_cost_nothing_but_one_head_per_version_for_the_content_type() {
    let store = Arc::new(MemoryStore::new());
    store.put("bk", "d/f", vec![7u8; 10]);
    let fs = fs_over(&store, minute());
    let f = walk(&fs, "bk/d/f").await;
    let before = (lists(&store), store.counters.get(Op::Get));
    let names = fs.xattr_names(f).unwrap();
    assert!(names.contains(&"user.s3.etag") && names.contains(&"user.s3.storage_class"));
    let size = fs.xattr(f, OsStr::new("user.s3.size")).await.unwrap();
    assert_eq!(size, b"10");
    let class = fs.xattr(f, OsStr::new("user.s3.storage_class")).await;
    assert_eq!(class.unwrap(), b"STANDARD");
    assert_eq!(
        store.counters.get(Op::Head),
        0,
        "listing attributes cost no request"
    );
    for _ in 0..3 {
        let ct = fs.xattr(f, OsStr::new("user.s3.content_type")).await;
        assert_eq!(ct.unwrap(), b"application/octet-stream");
    }
    assert_eq!(store.counters.get(Op::Head), 1, "one HEAD, then remembered");
    assert_eq!((lists(&store), store.counters.get(Op::Get)), before);
    let missing = fs.xattr(f, OsStr::new("user.other")).await.unwrap_err();
    assert_eq!(missing.errno(), libc::ENODATA);
    let dir = walk(&fs, "bk/d").await;
    assert!(fs.xattr_names(dir).unwrap().is_empty());
}

/// A store where the prefix mounted sits among keys that must never be asked about.
fn store_around_a_prefix() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    for key in [
        "outside.txt",
        "tree",
        "tree-sibling/x",
        "treehouse/y",
        "tree/a.txt",
        "tree/sub/b.txt",
        "tree/sub/deeper/c.txt",
    ] {
        store.put("bk", key, key.as_bytes().to_vec());
    }
    store.put("other", "tree/a.txt", "another bucket");
    store
}

#[tokio::test]
async fn a_prefix_mount_sends_no_request_outside_its_prefix() {
    let store = store_around_a_prefix();
    let config = FsConfig {
        root: Root::Prefix {
            bucket: "bk".into(),
            prefix: "tree/".into(),
        },
        ..FsConfig::with_ttl(minute())
    };
    let fs = Fs::new(store.clone(), config);
    let names: Vec<String> = read_dir(&fs, ROOT, 10)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [".", "..", "a.txt", "sub"]);
    // `find`, a miss, a name that exists only outside, and a read.
    let sub = walk(&fs, "sub").await;
    read_dir(&fs, sub, 10).await;
    let deeper = walk(&fs, "sub/deeper").await;
    read_dir(&fs, deeper, 10).await;
    for missing in ["nothing", "outside.txt", "tree", "treehouse"] {
        assert!(
            fs.lookup(ROOT, OsStr::new(missing)).await.is_err(),
            "{missing}"
        );
    }
    let file = walk(&fs, "sub/deeper/c.txt").await;
    let (fh, _) = fs.open(file).await.unwrap();
    let data = fs.read(fh, 0, 100).await.unwrap();
    assert_eq!(&data[..], b"tree/sub/deeper/c.txt");
    fs.release(fh);

    assert_eq!(store.counters.get(Op::ListBuckets), 0);
    let lists = store.list_log();
    assert!(!lists.is_empty());
    for (bucket, prefix) in &lists {
        assert_eq!(bucket, "bk");
        assert!(
            prefix.starts_with("tree/"),
            "LIST of {prefix:?} leaves the prefix"
        );
    }
    let gets = store.get_log();
    assert!(
        gets.iter().all(|(key, _)| key.starts_with("tree/")),
        "{gets:?}"
    );
}

#[tokio::test]
async fn a_bucket_mount_lists_the_bucket_at_its_root_and_never_the_buckets() {
    let store = store_around_a_prefix();
    let config = FsConfig {
        root: Root::Prefix {
            bucket: "other".into(),
            prefix: String::new(),
        },
        ..FsConfig::with_ttl(minute())
    };
    let fs = Fs::new(store.clone(), config);
    let names: Vec<String> = read_dir(&fs, ROOT, 10)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [".", "..", "tree"]);
    assert_eq!(store.counters.get(Op::ListBuckets), 0);
    assert_eq!(store.list_log(), [("other".to_owned(), String::new())]);
}
