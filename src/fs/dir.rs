//! Directory listings: one directory's children, fetched with all their pages and cached for
//! the metadata TTL.
//!
//! Subtleties:
//! 1. Listings are single-flight per directory: when `ls -l` makes the kernel send many
//!    lookups at once for an uncached directory, one LIST runs and the rest wait for it.
//! 2. A name that is both an object and a prefix is the directory (see [`super::names`]).
//!    S3 returns objects and prefixes in two lists, so the merge keeps the directory whichever
//!    comes first.
//! 3. A hidden key is logged once per mount, not on every listing, and never fails the listing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::inode::{ChildKind, FileMeta};
use super::names::{object_child, prefix_child, Child, ValidName};
use crate::s3::{ObjectStore, StoreError};

/// The children of one directory at one point in time.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: BTreeMap<ValidName, ChildKind>,
}

/// Lists every page of `prefix` in `bucket` with delimiter `/`.
pub async fn list_dir(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    hidden: &HiddenLog,
) -> Result<Listing, StoreError> {
    let mut listing = Listing::default();
    let mut token = None;
    loop {
        let page = store.list_page(bucket, prefix, token).await?;
        for p in &page.prefixes {
            match prefix_child(prefix, p) {
                Child::Dir(name) => {
                    let key = super::names::child_key(prefix, &name);
                    if let Some(ChildKind::File(_)) = listing.entries.insert(name, ChildKind::Dir) {
                        hidden.note_clash(bucket, &key);
                    }
                }
                Child::Hidden(why) => hidden.note(bucket, p, why),
                Child::File(_) | Child::SelfMarker => {}
            }
        }
        for o in &page.objects {
            match object_child(prefix, o) {
                Child::File(name) => {
                    let meta = FileMeta {
                        size: o.size,
                        mtime: o.last_modified,
                        etag: o.etag.clone(),
                    };
                    match listing.entries.get(&name) {
                        // Semantics decision: a name that is a prefix too is the directory.
                        Some(ChildKind::Dir) => hidden.note_clash(bucket, &o.key),
                        _ => {
                            listing.entries.insert(name, ChildKind::File(meta));
                        }
                    }
                }
                Child::Hidden(why) => hidden.note(bucket, &o.key, why),
                Child::Dir(_) | Child::SelfMarker => {}
            }
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(listing);
        }
    }
}

/// Builds the root listing from bucket names.
pub fn root_listing(buckets: &[String], hidden: &HiddenLog) -> Listing {
    let mut listing = Listing::default();
    for b in buckets {
        match ValidName::parse(b) {
            Ok(name) => {
                listing.entries.insert(name, ChildKind::Dir);
            }
            Err(why) => hidden.note(b, "", why),
        }
    }
    listing
}

/// Remembers which hidden keys were logged so each is logged once.
#[derive(Default)]
pub struct HiddenLog {
    seen: Mutex<HashSet<String>>,
}

/// How many distinct hidden keys are remembered; past that, they are no longer logged.
const HIDDEN_LOG_MAX: usize = 10_000;

impl HiddenLog {
    fn first_time(&self, bucket: &str, key: &str) -> bool {
        let mut seen = self.seen.lock();
        seen.len() < HIDDEN_LOG_MAX && seen.insert(format!("{bucket}/{key}"))
    }

    pub fn note(&self, bucket: &str, key: &str, why: impl std::fmt::Display) {
        if self.first_time(bucket, key) {
            tracing::warn!(bucket, key = %key.escape_debug(), reason = %why, "hiding a key that cannot be a file name");
        }
    }

    fn note_clash(&self, bucket: &str, key: &str) {
        if self.first_time(bucket, key) {
            tracing::warn!(bucket, key = %key.escape_debug(), "hiding an object whose name is also a directory");
        }
    }
}

/// A cached listing and when it was fetched.
struct Cached {
    listing: Arc<Listing>,
    fetched: Instant,
}

/// Per-directory slots, each with an async lock that makes listing single-flight.
#[derive(Default)]
pub struct DirCache {
    slots: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

impl DirCache {
    /// The listing of directory `ino`, from the cache if younger than `ttl`, else from `fetch`.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        ino: u64,
        ttl: Duration,
        fetch: F,
    ) -> Result<Arc<Listing>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Listing, StoreError>>,
    {
        let slot = self.slots.lock().entry(ino).or_default().clone();
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.fetched.elapsed() < ttl {
                return Ok(c.listing.clone());
            }
        }
        let listing = Arc::new(fetch().await?);
        *cached = Some(Cached {
            listing: listing.clone(),
            fetched: Instant::now(),
        });
        Ok(listing)
    }
}
