//! A store wrapper that injects faults, for tests of what the filesystem does when S3
//! misbehaves: fail the Nth request of a kind, answer a given error, cut a body short, stall,
//! panic (a bug in a store), or answer listings that never end.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use super::{ListPage, ObjectHead, ObjectStore, Op, StoreError};

/// What an injected fault does to the request it hits.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this error instead of sending the request.
    Fail(fn() -> StoreError),
    /// Send the request, then return only the first `n` bytes of the body.
    CutBodyAt(u64),
    /// Wait this long before sending the request.
    Stall(Duration),
    /// Panic inside the request, as a bug in a store would.
    Panic,
    /// Answer a listing with the inner store's first page, always truncated: with the same
    /// continuation token every time (`same_token`, a cycle), or a new one each time.
    EndlessListing { same_token: bool },
}

#[derive(Debug)]
struct Rule {
    op: Op,
    /// The 1-based request numbers (per op) the rule hits; `None` hits every request.
    nth: Option<u64>,
    fault: Fault,
}

/// Wraps a store and applies [`Fault`]s by request kind and number.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    rules: Mutex<Vec<Rule>>,
    seen: [AtomicU64; 4],
}

impl<S: ObjectStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            rules: Mutex::new(Vec::new()),
            seen: Default::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Apply `fault` to the `nth` request (1-based, counted from the store's creation) of `op`.
    pub fn fail_nth(&self, op: Op, nth: u64, fault: Fault) {
        self.rules.lock().push(Rule {
            op,
            nth: Some(nth),
            fault,
        });
    }

    /// Apply `fault` to every request of `op` until [`FaultyStore::clear`].
    pub fn fail_always(&self, op: Op, fault: Fault) {
        self.rules.lock().push(Rule {
            op,
            nth: None,
            fault,
        });
    }

    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    fn fault_for(&self, op: Op) -> Option<Fault> {
        let n = self.seen[op as usize].fetch_add(1, Ordering::SeqCst) + 1;
        let rules = self.rules.lock();
        rules
            .iter()
            .find(|r| r.op == op && r.nth.is_none_or(|nth| nth == n))
            .map(|r| r.fault.clone())
    }

    /// Applies the fault for this request that acts before it is sent; returns the one
    /// that changes its answer, if any.
    async fn before(&self, op: Op) -> Result<Option<Fault>, StoreError> {
        match self.fault_for(op) {
            None => Ok(None),
            Some(Fault::Fail(make)) => Err(make()),
            Some(Fault::Stall(d)) => {
                tokio::time::sleep(d).await;
                Ok(None)
            }
            Some(Fault::Panic) => panic!("injected panic in a {op:?} request"),
            Some(answer) => Ok(Some(answer)),
        }
    }

    fn listing_token(&self) -> String {
        format!(
            "endless-{}",
            self.seen[Op::List as usize].load(Ordering::SeqCst)
        )
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        self.before(Op::ListBuckets).await?;
        self.inner.list_buckets().await
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError> {
        match self.before(Op::List).await? {
            Some(Fault::EndlessListing { same_token }) => {
                let mut page = self.inner.list_page(bucket, prefix, None).await?;
                page.next_token = Some(match same_token {
                    true => "cycle".to_owned(),
                    false => self.listing_token(),
                });
                Ok(page)
            }
            _ => self.inner.list_page(bucket, prefix, token).await,
        }
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Bytes, StoreError> {
        let fault = self.before(Op::Get).await?;
        let body = self.inner.get_range(bucket, key, range, if_match).await?;
        Ok(match fault {
            Some(Fault::CutBodyAt(n)) if (n as usize) < body.len() => body.slice(..n as usize),
            _ => body,
        })
    }

    async fn head(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectHead, StoreError> {
        self.before(Op::Head).await?;
        self.inner.head(bucket, key, if_match).await
    }
}
