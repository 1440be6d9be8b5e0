//! Extended attributes, opt-in with `--xattrs`: what S3 knows of an object, for scripts
//! that would otherwise need the AWS CLI (`getfattr -n user.s3.etag FILE`).
//!
//! All but one come from the listing the file was seen in, so they cost no request:
//! `user.s3.etag` (without the quotes S3 puts around it), `user.s3.size`,
//! `user.s3.last_modified` (RFC 3339, UTC) and `user.s3.storage_class`. The content type is
//! in no listing: `user.s3.content_type` costs one HEAD (pinned to the ETag) the first time
//! it is read, and is remembered per object version.
//!
//! Semantics decision: without `--xattrs` the adapter answers ENOSYS as before, so the
//! kernel stops asking and `ls -l` (which asks for ACLs of every entry) costs nothing.
//! Directories have no attributes.

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;

use super::error::FsError;
use super::inode::FileMeta;
use crate::s3::{ObjectStore, StoreError};

pub const ETAG: &str = "user.s3.etag";
pub const SIZE: &str = "user.s3.size";
pub const LAST_MODIFIED: &str = "user.s3.last_modified";
pub const STORAGE_CLASS: &str = "user.s3.storage_class";
pub const CONTENT_TYPE: &str = "user.s3.content_type";

/// How many object versions' content types are remembered.
const CONTENT_TYPES_KEPT: usize = 4096;

/// One object version: bucket, key, ETag.
type Version = (Arc<str>, Box<str>, Option<Arc<str>>);

/// The content types HEAD has answered, per object version.
pub struct ContentTypes {
    known: Mutex<LruCache<Version, Arc<str>>>,
}

impl Default for ContentTypes {
    fn default() -> Self {
        ContentTypes {
            known: Mutex::new(LruCache::new(
                NonZeroUsize::new(CONTENT_TYPES_KEPT).expect("non-zero"),
            )),
        }
    }
}

impl ContentTypes {
    /// The content type of one version: remembered, else asked with one HEAD.
    pub async fn of(
        &self,
        store: &dyn ObjectStore,
        bucket: &Arc<str>,
        key: &str,
        etag: Option<&Arc<str>>,
    ) -> Result<Arc<str>, StoreError> {
        let version: Version = (bucket.clone(), key.into(), etag.cloned());
        if let Some(known) = self.known.lock().get(&version) {
            return Ok(known.clone());
        }
        let head = store.head(bucket, key, etag.map(|e| &**e)).await?;
        let content_type: Arc<str> = head
            .content_type
            .unwrap_or_else(|| "binary/octet-stream".into())
            .into();
        self.known.lock().put(version, content_type.clone());
        Ok(content_type)
    }
}

/// S3's storage classes, each allocated once: every listed object names one, and a
/// string of its own per cached entry would cost tens of bytes each (tests/memory.rs).
const STORAGE_CLASSES: [&str; 12] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
];

/// The shared name of a storage class (a new one for a class this list does not know).
pub fn storage_class(name: &str) -> Arc<str> {
    static SHARED: std::sync::OnceLock<Vec<Arc<str>>> = std::sync::OnceLock::new();
    let shared = SHARED.get_or_init(|| STORAGE_CLASSES.iter().map(|c| Arc::from(*c)).collect());
    shared
        .iter()
        .find(|c| &***c == name)
        .cloned()
        .unwrap_or_else(|| Arc::from(name))
}

/// The attribute names a file with `meta` has, in the order `listxattr` gives them.
pub fn names(meta: &FileMeta) -> Vec<&'static str> {
    let mut names = vec![SIZE, LAST_MODIFIED];
    if meta.etag.is_some() {
        names.insert(0, ETAG);
    }
    if meta.storage_class.is_some() {
        names.push(STORAGE_CLASS);
    }
    names.push(CONTENT_TYPE);
    names
}

/// The value of a listing attribute; `None` for the content type (which needs a HEAD) and
/// for names the file does not have.
pub fn from_listing(meta: &FileMeta, name: &str) -> Option<Result<String, FsError>> {
    let value = match name {
        ETAG => meta.etag.as_deref()?.trim_matches('"').to_owned(),
        SIZE => meta.size.to_string(),
        LAST_MODIFIED => crate::auth::provider::humantime_utc(meta.mtime),
        STORAGE_CLASS => meta.storage_class.as_deref()?.to_owned(),
        CONTENT_TYPE => return None,
        _ => return Some(Err(FsError::NoAttribute)),
    };
    Some(Ok(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn meta() -> FileMeta {
        FileMeta {
            size: 1234,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            etag: Some("\"0123abcd\"".into()),
            storage_class: Some("STANDARD_IA".into()),
        }
    }

    #[test]
    fn listing_attributes_read_as_s3_reports_them() {
        let m = meta();
        let get = |n| from_listing(&m, n).unwrap().unwrap();
        assert_eq!(get(ETAG), "0123abcd");
        assert_eq!(get(SIZE), "1234");
        assert_eq!(get(LAST_MODIFIED), "2023-11-14T22:13:20Z");
        assert_eq!(get(STORAGE_CLASS), "STANDARD_IA");
        assert!(from_listing(&m, CONTENT_TYPE).is_none(), "needs a HEAD");
        assert!(matches!(
            from_listing(&m, "user.other"),
            Some(Err(FsError::NoAttribute))
        ));
        assert_eq!(
            names(&m),
            [ETAG, SIZE, LAST_MODIFIED, STORAGE_CLASS, CONTENT_TYPE]
        );
        let bare = FileMeta {
            etag: None,
            storage_class: None,
            ..meta()
        };
        assert_eq!(names(&bare), [SIZE, LAST_MODIFIED, CONTENT_TYPE]);
        assert!(from_listing(&bare, ETAG).is_none());
    }

    #[test]
    fn storage_classes_are_shared_not_copied_per_entry() {
        let a = storage_class("STANDARD");
        let b = storage_class("STANDARD");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*storage_class("NEW_CLASS"), "NEW_CLASS");
    }

    #[tokio::test]
    async fn content_types_are_remembered_per_version_and_pinned_to_its_etag() {
        use crate::s3::memory::MemoryStore;
        use crate::s3::Op;
        let store = MemoryStore::new();
        store.put("bk", "k", "one");
        async fn etag(s: &MemoryStore) -> Arc<str> {
            let page = s.list_page("bk", "", None).await.unwrap();
            page.objects[0].etag.as_deref().unwrap().into()
        }
        let bucket: Arc<str> = "bk".into();
        let types = ContentTypes::default();
        let v1 = etag(&store).await;
        types.of(&store, &bucket, "k", Some(&v1)).await.unwrap();
        types.of(&store, &bucket, "k", Some(&v1)).await.unwrap();
        assert_eq!(store.counters.get(Op::Head), 1);
        store.put("bk", "k", "two");
        let v2 = etag(&store).await;
        types.of(&store, &bucket, "k", Some(&v2)).await.unwrap();
        assert_eq!(
            store.counters.get(Op::Head),
            2,
            "a new version is asked anew"
        );
        let forgotten = ContentTypes::default();
        let stale = forgotten.of(&store, &bucket, "k", Some(&v1)).await;
        assert!(
            matches!(stale, Err(StoreError::PreconditionFailed)),
            "the HEAD is pinned to the listed ETag: {stale:?}"
        );
    }
}
