//! The identity of one version of one object, which the block cache keys its parts by.
//!
//! Bucket, key, size and ETag together, so bytes of two versions never meet and a file
//! opened twice (or by several readers) reuses what any of them fetched. An object listed
//! without an ETag has no version to tell: each open of it is its own object
//! ([`ObjectId::new`]), so a later open never gets bytes an earlier one fetched, maybe of
//! an older version.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One version of one object.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct ObjectId {
    pub bucket: Arc<str>,
    pub key: Arc<str>,
    pub size: u64,
    pub etag: Option<Arc<str>>,
    /// 0 with an ETag; without one, a number no other open has.
    unversioned: u64,
}

impl ObjectId {
    pub fn new(bucket: Arc<str>, key: Arc<str>, size: u64, etag: Option<Arc<str>>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let unversioned = match etag {
            Some(_) => 0,
            None => NEXT.fetch_add(1, Ordering::Relaxed),
        };
        ObjectId {
            bucket,
            key,
            size,
            etag,
            unversioned,
        }
    }

    /// Whether this is one open's own object, listed without an ETag: no later open will
    /// ask for its bytes.
    pub fn is_unversioned(&self) -> bool {
        self.unversioned != 0
    }
}
