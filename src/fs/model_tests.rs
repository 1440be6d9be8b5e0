//! Property tests: what the filesystem shows over the in-memory store, with small pages,
//! against a reference model of SEMANTICS.md that knows nothing of pages, streams or caches.
//!
//! Keys are generated from components chosen to hit every rule: `//` (empty components),
//! `.`, `..`, NUL, over-long names, trailing slashes (markers), unicode, case, and names such
//! as `a-1` and `a.txt` that sort between `a` and `a/` (the file-and-prefix clash across
//! pages). Each shrunk failure is pinned below as a named regression test.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::tests::read_dir;
use super::{Fs, FsConfig, ROOT};
use crate::s3::memory::MemoryStore;

/// What the model says a directory holds: name -> `Some(size)` for a file, `None` for a
/// directory.
type Children = BTreeMap<String, Option<u64>>;

fn valid(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('\0') && name.len() <= 255
}

/// The reference model: the children of directory `prefix`, straight from the rules.
fn model_children(keys: &BTreeMap<String, u64>, prefix: &str) -> Children {
    let mut out = Children::new();
    for (key, size) in keys.range(prefix.to_owned()..) {
        let Some(rest) = key.strip_prefix(prefix) else {
            break;
        };
        match rest.split_once('/') {
            // Rule 5 and 6: a prefix is a directory, and wins over a file of the same name.
            Some((dir, _)) if valid(dir) => {
                out.insert(dir.to_owned(), None);
            }
            None if valid(rest) => {
                out.entry(rest.to_owned()).or_insert(Some(*size));
            }
            _ => {}
        }
    }
    out
}

/// Everything the model shows, by path, walking from the bucket.
fn model_tree(keys: &BTreeMap<String, u64>) -> BTreeMap<String, Option<u64>> {
    let mut tree = BTreeMap::new();
    let mut todo = vec![String::new()];
    while let Some(prefix) = todo.pop() {
        for (name, what) in model_children(keys, &prefix) {
            if what.is_none() {
                todo.push(format!("{prefix}{name}/"));
            }
            tree.insert(format!("{prefix}{name}"), what);
        }
    }
    tree
}

/// Everything the filesystem shows, by path, walking with readdir.
async fn fs_tree(fs: &Fs, batch: usize) -> BTreeMap<String, Option<u64>> {
    let bucket = fs.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    let mut tree = BTreeMap::new();
    let mut todo = vec![(bucket, String::new())];
    while let Some((ino, prefix)) = todo.pop() {
        let entries = read_dir(fs, ino, batch).await;
        let mut seen = std::collections::BTreeSet::new();
        for e in entries.into_iter().skip(2) {
            assert!(
                seen.insert(e.name.clone()),
                "{prefix}{} listed twice",
                e.name
            );
            let path = format!("{prefix}{}", e.name);
            if e.attr.is_dir {
                todo.push((e.attr.ino, format!("{path}/")));
                tree.insert(path, None);
            } else {
                tree.insert(path, Some(e.attr.size));
            }
        }
    }
    tree
}

/// Looks every model path up on a fresh filesystem (uncached lookups, one name at a time),
/// and a few names that must not exist.
async fn check_lookups(fs: &Fs, want: &BTreeMap<String, Option<u64>>) {
    let bucket = fs.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    for (path, what) in want {
        let mut ino = bucket;
        let mut attr = None;
        for part in path.split('/') {
            let a = fs.lookup(ino, OsStr::new(part)).await;
            let a = a.unwrap_or_else(|e| panic!("lookup of {path:?} at {part:?}: {e}"));
            ino = a.ino;
            attr = Some(a);
        }
        let attr = attr.unwrap();
        assert_eq!(attr.is_dir, what.is_none(), "kind of {path:?}");
        assert_eq!(attr.size, what.unwrap_or(0), "size of {path:?}");
    }
    for missing in ["zz", "a-", "."] {
        let path_missing = !want.contains_key(missing);
        let got = fs.lookup(bucket, OsStr::new(missing)).await;
        assert_eq!(got.is_err(), path_missing, "lookup of {missing:?}");
    }
}

fn run(keys: Vec<String>, page_size: usize, batch: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = MemoryStore::with_page_size(page_size);
        store.create_bucket("bk");
        let mut model = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            store.put("bk", key, vec![0u8; i % 5]);
            model.insert(key.clone(), (i % 5) as u64);
        }
        let store = Arc::new(store);
        let want = model_tree(&model);
        let config = FsConfig::with_ttl(Duration::from_secs(60));
        let listed = Fs::new(store.clone(), config.clone());
        assert_eq!(fs_tree(&listed, batch).await, want, "keys: {keys:?}");
        check_lookups(&Fs::new(store, config), &want).await;
    });
}

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "a-1", "a.txt", "A", "é", "日本"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["", ".", "..", "a\0b", " "]).prop_map(str::to_owned),
        1 => Just("n".repeat(256)),
        1 => Just("n".repeat(255)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    (prop::collection::vec(component(), 1..4), any::<bool>()).prop_map(|(parts, marker)| {
        let mut key = parts.join("/");
        if marker {
            key.push('/');
        }
        key
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_filesystem_shows_what_the_model_says(
        keys in prop::collection::vec(key(), 1..25),
        page_size in 1usize..5,
        batch in 1usize..6,
    ) {
        run(keys, page_size, batch);
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

#[test]
fn regression_a_file_and_a_prefix_with_names_between_them() {
    run(keys(&["a", "a-1", "a.txt", "a/b", "b"]), 1, 1);
}

#[test]
fn regression_a_marker_and_an_empty_component() {
    run(keys(&["a/", "a//", "/a", "a/./b", "a/../b"]), 2, 3);
}
