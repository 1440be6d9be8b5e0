//! Listings from servers that never end them, send pages out of order, or bury a file under
//! many prefixes: an error or the right entries, in bounded requests and time.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::dir::{DirListing, HiddenLog};
use super::list_guard::ListBound;
use super::{Fs, FsConfig, Root, ROOT};
use crate::s3::faulty::{Fault, FaultyStore};
use crate::s3::memory::MemoryStore;
use crate::s3::{ListPage, ObjectInfo, ObjectStore, Op, StoreError};

fn bound() -> ListBound {
    ListBound::for_entries(1000)
}

/// Fetches the whole listing of `bk/d/`.
async fn list_all(listing: &DirListing, store: &dyn ObjectStore) -> Result<(), StoreError> {
    listing
        .fill_to(store, &HiddenLog::default(), usize::MAX - 1)
        .await
}

fn names(listing: &DirListing) -> Vec<(String, bool)> {
    listing
        .slice(0, usize::MAX)
        .into_iter()
        .map(|e| {
            (
                e.name.as_str().to_owned(),
                e.kind == super::inode::ChildKind::Dir,
            )
        })
        .collect()
}

fn endless(keys: &[&str], same_token: bool) -> FaultyStore<MemoryStore> {
    let mem = MemoryStore::new();
    mem.create_bucket("bk");
    for key in keys {
        mem.put("bk", key, "z");
    }
    let store = FaultyStore::new(mem);
    store.fail_always(Op::List, Fault::EndlessListing { same_token });
    store
}

fn is_bad_answer(result: Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::BadAnswer { .. }))
}

#[tokio::test]
async fn a_token_seen_twice_ends_the_listing_at_once_and_for_good() {
    let store = endless(&["d/a", "d/b"], true);
    let listing = DirListing::new("bk".into(), "d/", bound());
    assert!(is_bad_answer(list_all(&listing, &store).await));
    assert_eq!(store.inner().counters.get(Op::List), 2);
    assert!(is_bad_answer(list_all(&listing, &store).await));
    assert_eq!(
        store.inner().counters.get(Op::List),
        2,
        "a failed listing sends nothing more"
    );
    // `a` is still served; `b` stays held back, as it might yet turn out to be `b/`.
    assert_eq!(names(&listing), [("a".to_owned(), false)]);
}

#[tokio::test]
async fn the_first_page_again_under_new_tokens_ends_the_listing_on_the_second() {
    let store = endless(&["d/a", "d/b"], false);
    let listing = DirListing::new("bk".into(), "d/", bound());
    assert!(is_bad_answer(list_all(&listing, &store).await));
    assert_eq!(store.inner().counters.get(Op::List), 2);
}

#[tokio::test]
async fn empty_truncated_pages_end_the_listing_at_the_page_bound() {
    let store = endless(&[], false);
    let listing = DirListing::new("bk".into(), "d/", bound());
    assert!(is_bad_answer(list_all(&listing, &store).await));
    assert_eq!(store.inner().counters.get(Op::List), bound().max_pages);
}

#[tokio::test]
async fn an_endless_listing_is_eio_to_ls_and_to_a_lookup() {
    let store = Arc::new(endless(&[], false));
    let config = FsConfig {
        root: Root::Buckets(vec!["bk".into()]),
        max_cached_entries: 1000,
        ..FsConfig::with_ttl(Duration::from_secs(60))
    };
    let fs = Fs::new(store.clone(), config);
    let bk = fs.lookup(ROOT, OsStr::new("bk")).await.unwrap().ino;
    assert_eq!(fs.opendir(bk).await.unwrap_err().errno(), libc::EIO);
    assert_eq!(store.inner().counters.get(Op::List), bound().max_pages);
    let err = fs.lookup(bk, OsStr::new("name")).await.unwrap_err();
    assert_eq!(err.errno(), libc::EIO);
}

/// A store answering canned pages: page `i` for token `i` (none for the first).
struct Pages(Vec<ListPage>);

#[async_trait]
impl ObjectStore for Pages {
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        Ok(vec!["bk".into()])
    }

    async fn list_page(
        &self,
        _bucket: &str,
        _prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError> {
        let i: usize = token.map_or(0, |t| t.parse().unwrap());
        Ok(self.0[i].clone())
    }

    async fn get_range(
        &self,
        _bucket: &str,
        _key: &str,
        _range: std::ops::Range<u64>,
        _if_match: Option<&str>,
    ) -> Result<Bytes, StoreError> {
        Err(StoreError::NoSuchKey)
    }
}

fn page(objects: &[&str], prefixes: &[&str], next: Option<&str>) -> ListPage {
    ListPage {
        objects: objects
            .iter()
            .map(|key| ObjectInfo {
                key: (*key).into(),
                size: 1,
                last_modified: std::time::UNIX_EPOCH,
                etag: None,
                storage_class: None,
            })
            .collect(),
        prefixes: prefixes.iter().map(|p| (*p).into()).collect(),
        next_token: next.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_prefix_sent_again_across_a_page_boundary_is_listed_once() {
    let store = Pages(vec![
        page(&["d/a"], &["d/b/"], Some("1")),
        page(&["d/c"], &["d/b/"], None),
    ]);
    let listing = DirListing::new("bk".into(), "d/", bound());
    list_all(&listing, &store).await.unwrap();
    let want = [("a", false), ("b", true), ("c", false)];
    assert_eq!(names(&listing), want.map(|(n, d)| (n.to_owned(), d)));
}

#[tokio::test]
async fn a_page_that_goes_back_ends_the_listing_and_feeds_nothing() {
    let store = Pages(vec![
        page(&["d/m", "d/n"], &[], Some("1")),
        page(&["d/a", "d/z"], &[], None),
    ]);
    let listing = DirListing::new("bk".into(), "d/", bound());
    assert!(is_bad_answer(list_all(&listing, &store).await));
    assert_eq!(names(&listing), [("m".to_owned(), false)]);
}

#[tokio::test]
async fn keys_outside_the_directory_are_hidden_not_listed() {
    let store = Pages(vec![page(&["d/a", "e/zz"], &["other/"], None)]);
    let listing = DirListing::new("bk".into(), "d/", bound());
    list_all(&listing, &store).await.unwrap();
    assert_eq!(names(&listing), [("a".to_owned(), false)]);
}

/// 50,000 prefixes held back behind one file until its own prefix settles it: a scan of
/// what is held back per prefix made this 1.25 billion comparisons.
#[tokio::test]
async fn fifty_thousand_prefixes_behind_a_file_list_in_order() {
    let store = MemoryStore::new();
    store.put("bk", "d/x", "file");
    for i in 0..50_000 {
        store.put("bk", &format!("d/x-{i:05}/f"), "z");
    }
    store.put("bk", "d/x/in", "z");
    let listing = DirListing::new("bk".into(), "d/", ListBound::for_entries(1_000_000));
    list_all(&listing, &store).await.unwrap();
    let got = names(&listing);
    assert_eq!(got.len(), 50_001);
    assert_eq!(got[0], ("x-00000".to_owned(), true));
    assert_eq!(got[49_999], ("x-49999".to_owned(), true));
    assert_eq!(
        got[50_000],
        ("x".to_owned(), true),
        "the file gave way to x/"
    );
}
