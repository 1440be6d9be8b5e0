//! The GET behind one part of the block cache, in a task of its own, settled however that
//! task ends.
//!
//! Subtleties:
//! 1. Fetches run in their own tasks, so a reader that goes away (an interrupted `read`)
//!    never leaves a part pending forever.
//! 2. A task that panics (a bug in a store) or is dropped before it answers (the runtime
//!    shutting down) would otherwise leave the part pending for good: its waiters would
//!    hang, and its bytes would stay counted against the bound. Dropped unanswered, its
//!    guard ([`FetchGuard`]) fails the part instead, as a failed GET would, which wakes the
//!    waiters with EIO and gives the memory back.
//! 3. Every GET is pinned to the object's ETag (`If-Match`), and a short body is an error,
//!    never data.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::data_cache::{DataCache, OnReady};
use super::object::ObjectId;
use super::part::Part;
use crate::s3::{ObjectStore, StoreError};

/// Starts the GET of `part` of `obj`; `on_ready` gets the bytes once the part is settled.
pub(super) fn spawn(
    cache: Arc<DataCache>,
    store: Arc<dyn ObjectStore>,
    obj: Arc<ObjectId>,
    part: Arc<Part>,
    on_ready: Option<OnReady>,
) {
    let range = part.start..part.end();
    let guard = FetchGuard {
        cache,
        obj,
        part,
        answered: false,
    };
    tokio::spawn(async move {
        let result = get(store.as_ref(), &guard.obj, range).await;
        guard.answer(result, on_ready);
    });
}

/// Settles a part's fetch however its task ends (subtlety 2).
struct FetchGuard {
    cache: Arc<DataCache>,
    obj: Arc<ObjectId>,
    part: Arc<Part>,
    answered: bool,
}

impl FetchGuard {
    /// Settles the part with the fetch's result, then hands the bytes to `on_ready`.
    fn answer(mut self, result: Result<Bytes, StoreError>, on_ready: Option<OnReady>) {
        self.answered = true;
        let ready = result.as_ref().ok().cloned();
        self.cache.finish(&self.obj, &self.part, result);
        if let (Some(bytes), Some(on_ready)) = (ready, on_ready) {
            on_ready(&self.obj, &self.part, &bytes);
        }
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if !self.answered {
            let why = "the fetch ended without an answer (it panicked or was cancelled)";
            self.cache
                .finish(&self.obj, &self.part, Err(StoreError::Other(why.into())));
        }
    }
}

/// One ranged GET pinned to the object's ETag; a short body is an error, never data.
async fn get(
    store: &dyn ObjectStore,
    obj: &ObjectId,
    range: Range<u64>,
) -> Result<Bytes, StoreError> {
    let expected = range.end - range.start;
    let data = store
        .get_range(&obj.bucket, &obj.key, range, obj.etag.as_deref())
        .await?;
    if data.len() as u64 != expected {
        return Err(StoreError::ShortBody {
            got: data.len() as u64,
            expected,
        });
    }
    Ok(data)
}
