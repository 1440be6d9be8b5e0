//! Reading one open file: ranged GETs pinned to the ETag seen at lookup, with a read window
//! that grows while the reader is sequential.
//!
//! Subtleties:
//! 1. Every GET carries `If-Match` with the ETag the file had when it was looked up, so a
//!    file that changes while open fails with ESTALE instead of mixing old and new bytes.
//! 2. The window starts small (a `head` or a footer read stays cheap) and doubles while reads
//!    continue where the last one ended, up to a maximum; a jump resets it.
//! 3. When a read starts inside the buffered window and runs past it, only the missing tail is
//!    fetched: a sequential reader fetches each byte once.
//! 4. A body shorter than asked is an error, never data: the object cannot be shorter than
//!    its pinned size unless something is wrong.
//! 5. Reads of one handle take its lock; reads of different files never wait for each other.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::Mutex;

use super::error::FsError;
use crate::s3::{ObjectStore, StoreError};

/// The first read window.
pub const INITIAL_WINDOW: u64 = 256 * 1024;
/// The largest read window.
pub const MAX_WINDOW: u64 = 8 * 1024 * 1024;

/// An open file.
pub struct OpenFile {
    pub bucket: Arc<str>,
    pub key: String,
    pub size: u64,
    pub etag: Option<Arc<str>>,
    state: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start: u64,
    data: Bytes,
    next_offset: u64,
    size: u64,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }

    fn covers(&self, offset: u64) -> bool {
        offset >= self.start && offset < self.end()
    }
}

impl OpenFile {
    pub fn new(bucket: Arc<str>, key: String, size: u64, etag: Option<Arc<str>>) -> Self {
        OpenFile {
            bucket,
            key,
            size,
            etag,
            state: Mutex::new(Window::default()),
        }
    }

    /// Up to `len` bytes at `offset`; fewer only at the end of the file.
    pub async fn read(
        &self,
        store: &dyn ObjectStore,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, FsError> {
        if offset >= self.size || len == 0 {
            return Ok(Bytes::new());
        }
        let end = self.size.min(offset + len as u64);
        let mut w = self.state.lock().await;
        let sequential = offset == w.next_offset || w.covers(offset);
        w.next_offset = end;
        if w.covers(offset) && end <= w.end() {
            let from = (offset - w.start) as usize;
            return Ok(w.data.slice(from..from + (end - offset) as usize));
        }
        w.size = if sequential && w.size > 0 {
            (w.size * 2).min(MAX_WINDOW)
        } else {
            INITIAL_WINDOW
        };
        // Keep the buffered head of this read and fetch only what is missing.
        let fetch_from = if w.covers(offset) { w.end() } else { offset };
        let fetch_to = self.size.min(end.max(fetch_from + w.size));
        let fetched = self.fetch(store, fetch_from, fetch_to).await?;
        let answer = if fetch_from > offset {
            let mut joined = BytesMut::with_capacity((end - offset) as usize);
            joined.extend_from_slice(&w.data[(offset - w.start) as usize..]);
            joined.extend_from_slice(&fetched[..(end - fetch_from) as usize]);
            joined.freeze()
        } else {
            fetched.slice(..(end - offset) as usize)
        };
        w.start = fetch_from;
        w.data = fetched;
        Ok(answer)
    }

    async fn fetch(&self, store: &dyn ObjectStore, from: u64, to: u64) -> Result<Bytes, FsError> {
        let context = || {
            format!(
                "reading s3://{}/{} bytes {from}..{to}",
                self.bucket, self.key
            )
        };
        let data = store
            .get_range(&self.bucket, &self.key, from..to, self.etag.as_deref())
            .await
            .map_err(|e| FsError::store(context(), e))?;
        if (data.len() as u64) != to - from {
            return Err(FsError::store(
                context(),
                StoreError::ShortBody {
                    got: data.len() as u64,
                    expected: to - from,
                },
            ));
        }
        Ok(data)
    }
}
