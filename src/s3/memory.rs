//! The in-memory reference store: what S3 would answer, computed from a sorted map.
//!
//! It is the fake every filesystem unit test runs against, so it follows S3's listing rules
//! closely (keys in byte order, delimiter `/`, common prefixes, pages of `page_size` entries
//! with continuation tokens) and counts every request.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::RwLock;

use super::{Counters, ListPage, ObjectHead, ObjectInfo, ObjectStore, Op, StoreError};

#[derive(Clone, Debug)]
struct Object {
    data: Bytes,
    /// `None` for a server that lists objects without an ETag.
    etag: Option<String>,
    last_modified: SystemTime,
}

/// An in-memory S3 with request counters.
#[derive(Debug)]
pub struct MemoryStore {
    buckets: RwLock<BTreeMap<String, BTreeMap<String, Object>>>,
    page_size: usize,
    version: std::sync::atomic::AtomicU64,
    pub counters: Counters,
    gets: parking_lot::Mutex<Vec<(String, Range<u64>)>>,
    lists: parking_lot::Mutex<Vec<(String, String)>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with S3's page size of 1,000 entries.
    pub fn new() -> Self {
        Self::with_page_size(1000)
    }

    pub fn with_page_size(page_size: usize) -> Self {
        MemoryStore {
            buckets: RwLock::new(BTreeMap::new()),
            page_size: page_size.max(1),
            version: Default::default(),
            counters: Counters::default(),
            gets: Default::default(),
            lists: Default::default(),
        }
    }

    /// Every GET so far: key and range asked for, in order.
    pub fn get_log(&self) -> Vec<(String, Range<u64>)> {
        self.gets.lock().clone()
    }

    /// Every LIST so far: bucket and prefix asked for, in order.
    pub fn list_log(&self) -> Vec<(String, String)> {
        self.lists.lock().clone()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.buckets.write().entry(bucket.to_string()).or_default();
    }

    /// Puts an object; every put gets a new ETag, as an overwrite in S3 would.
    pub fn put(&self, bucket: &str, key: &str, data: impl Into<Bytes>) {
        let n = self
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // As long as a real single-part ETag: 32 hex digits in quotes.
        self.insert(bucket, key, data.into(), Some(format!("\"{n:032x}\"")));
    }

    /// Puts an object that is listed, and read, without an ETag, as some S3-compatible
    /// servers answer.
    pub fn put_without_etag(&self, bucket: &str, key: &str, data: impl Into<Bytes>) {
        self.insert(bucket, key, data.into(), None);
    }

    fn insert(&self, bucket: &str, key: &str, data: Bytes, etag: Option<String>) {
        let object = Object {
            data,
            etag,
            last_modified: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        };
        self.buckets
            .write()
            .entry(bucket.to_string())
            .or_default()
            .insert(key.to_string(), object);
    }

    fn page_of(&self, bucket: &str, prefix: &str, start_after: Option<&str>) -> Option<ListPage> {
        let buckets = self.buckets.read();
        let objects = buckets.get(bucket)?;
        let mut page = ListPage::default();
        let mut count = 0;
        let mut last: Option<String> = None;
        for (key, obj) in objects.range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            let rest = &key[prefix.len()..];
            let (entry, is_prefix) = match rest.find('/') {
                Some(i) => (format!("{prefix}{}", &rest[..=i]), true),
                None => (key.clone(), false),
            };
            if start_after.is_some_and(|s| entry.as_str() <= s) {
                continue;
            }
            if last.as_deref() == Some(entry.as_str()) {
                continue;
            }
            if count == self.page_size {
                page.next_token = last.clone();
                break;
            }
            count += 1;
            if !is_prefix {
                page.objects.push(ObjectInfo {
                    key: key.clone(),
                    size: obj.data.len() as u64,
                    last_modified: obj.last_modified,
                    etag: obj.etag.clone(),
                    storage_class: Some("STANDARD".into()),
                });
            } else {
                page.prefixes.push(entry.clone());
            }
            last = Some(entry);
        }
        Some(page)
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        self.counters.record(Op::ListBuckets);
        Ok(self.buckets.read().keys().cloned().collect())
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.counters.record(Op::List);
        self.lists
            .lock()
            .push((bucket.to_owned(), prefix.to_owned()));
        self.page_of(bucket, prefix, token.as_deref())
            .ok_or(StoreError::NoSuchBucket)
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Bytes, StoreError> {
        self.counters.record(Op::Get);
        self.gets.lock().push((key.to_string(), range.clone()));
        let buckets = self.buckets.read();
        let objects = buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        let obj = objects.get(key).ok_or(StoreError::NoSuchKey)?;
        if if_match.is_some_and(|etag| Some(etag) != obj.etag.as_deref()) {
            return Err(StoreError::PreconditionFailed);
        }
        let len = obj.data.len() as u64;
        let start = range.start.min(len) as usize;
        let end = range.end.min(len) as usize;
        self.counters.record_bytes((end - start) as u64);
        Ok(obj.data.slice(start..end))
    }

    async fn head(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectHead, StoreError> {
        self.counters.record(Op::Head);
        let buckets = self.buckets.read();
        let objects = buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        let obj = objects.get(key).ok_or(StoreError::NoSuchKey)?;
        if if_match.is_some_and(|etag| Some(etag) != obj.etag.as_deref()) {
            return Err(StoreError::PreconditionFailed);
        }
        Ok(ObjectHead {
            content_type: Some("application/octet-stream".into()),
            etag: obj.etag.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_like_s3_with_pages_and_prefixes() {
        let store = MemoryStore::with_page_size(2);
        for key in ["a", "b/1", "b/2", "c", "d/", "d/x"] {
            store.put("bk", key, "x");
        }
        let p1 = store.list_page("bk", "", None).await.unwrap();
        assert_eq!(p1.objects.iter().map(|o| &o.key).collect::<Vec<_>>(), ["a"]);
        assert_eq!(p1.prefixes, ["b/"]);
        let p2 = store.list_page("bk", "", p1.next_token).await.unwrap();
        assert_eq!(p2.objects[0].key, "c");
        assert_eq!(p2.prefixes, ["d/"]);
        assert!(p2.next_token.is_none());
        let inner = store.list_page("bk", "d/", None).await.unwrap();
        let keys: Vec<_> = inner.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["d/", "d/x"]);
        assert_eq!(store.counters.get(Op::List), 3);
    }

    #[tokio::test]
    async fn ranged_get_honours_if_match() {
        let store = MemoryStore::new();
        store.put("bk", "k", "0123456789");
        let etag = store.list_page("bk", "", None).await.unwrap().objects[0]
            .etag
            .clone();
        let got = store
            .get_range("bk", "k", 2..5, etag.as_deref())
            .await
            .unwrap();
        assert_eq!(&got[..], b"234");
        store.put("bk", "k", "changed");
        let err = store.get_range("bk", "k", 0..3, etag.as_deref()).await;
        assert!(matches!(err, Err(StoreError::PreconditionFailed)));
    }
}
