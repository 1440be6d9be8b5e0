//! One contiguous range of one object in the block cache, fetched or being fetched.
//!
//! A part is in the cache from the moment its fetch starts (pending), so a second reader
//! of the same bytes waits for that GET instead of sending its own; it is settled once,
//! with the bytes or the error, and every waiter gets that answer.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::watch;

use crate::s3::StoreError;

#[derive(Debug)]
enum State {
    Pending,
    Ready(Bytes),
    Failed(StoreError),
}

/// A contiguous range of one object, fetched or being fetched.
#[derive(Debug)]
pub struct Part {
    pub start: u64,
    pub len: u64,
    /// Whether a reader has asked for this part, rather than only a prefetch.
    read: AtomicBool,
    state: watch::Sender<State>,
}

impl Part {
    /// A part whose fetch starts now; `read` when a reader asked for it.
    pub(super) fn pending(start: u64, len: u64, read: bool) -> Self {
        Part {
            start,
            len,
            read: AtomicBool::new(read),
            state: watch::Sender::new(State::Pending),
        }
    }

    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// The part's bytes once its fetch is done.
    pub async fn bytes(&self) -> Result<Bytes, StoreError> {
        let mut rx = self.state.subscribe();
        let state = rx
            .wait_for(|s| !matches!(s, State::Pending))
            .await
            .map_err(|_| StoreError::Other("a fetch task ended without an answer".into()))?;
        match &*state {
            State::Ready(b) => Ok(b.clone()),
            State::Failed(e) => Err(e.clone()),
            State::Pending => unreachable!("wait_for returned a pending part"),
        }
    }

    pub(super) fn is_pending(&self) -> bool {
        matches!(*self.state.borrow(), State::Pending)
    }

    /// Whether a reader has asked for this part.
    pub(super) fn was_read(&self) -> bool {
        self.read.load(Ordering::Relaxed)
    }

    /// A reader asks for this part; true when it is the first to.
    pub(super) fn mark_read(&self) -> bool {
        !self.read.swap(true, Ordering::Relaxed)
    }

    /// Settles the fetch, waking every waiter.
    pub(super) fn settle(&self, result: Result<Bytes, StoreError>) {
        let state = match result {
            Ok(bytes) => State::Ready(bytes),
            Err(e) => State::Failed(e),
        };
        self.state.send_replace(state);
    }
}
