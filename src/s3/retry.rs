//! Retries: a store wrapper that sends a failed request again when it may succeed, with
//! exponential backoff and full jitter, inside a deadline.
//!
//! Subtleties:
//! 1. Only errors that another attempt can change are retried (throttling, 5xx, resets,
//!    timeouts, short bodies, an answer for another range); a missing key, a denial, a
//!    changed ETag or a server that ignores `Range` answers at once.
//! 2. Every attempt has its own timeout, so a stalled connection becomes a retry instead of a
//!    hang, and the whole call has a deadline: a read that keeps failing returns EIO within
//!    the deadline and never hangs its caller.
//! 3. The AWS SDK's own retries are turned off for S3 (see `run.rs`): its retry quota drains
//!    under a sustained fault rate and then stops retrying at all, which this layer must not.
//! 4. `ExpiredToken` is retried only after telling the credentials' source that the set in
//!    use is dead (a [`CredentialsInvalidator`]), so the retry signs with a new set. This
//!    layer knows nothing of where credentials come from.

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ListPage, ObjectHead, ObjectStore, StoreError};

/// How hard to try.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles each time (before jitter).
    pub base_backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// How long a whole call may take, retries included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The policy with a deadline of `deadline`, attempts shortened to fit it.
    pub fn with_deadline(deadline: Duration) -> Self {
        let default = RetryPolicy::default();
        RetryPolicy {
            deadline,
            attempt_timeout: default.attempt_timeout.min(deadline),
            ..default
        }
    }

    /// The backoff before attempt `next` (2, 3, ...): uniformly random up to the capped
    /// exponential ("full jitter"), so retries of many readers do not arrive together.
    fn backoff(&self, next: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1 << (next - 2).min(20))
            .min(self.max_backoff);
        exp.mul_f64(crate::jitter::random_unit())
    }
}

/// Told when S3 refuses the credentials of a request as expired.
pub trait CredentialsInvalidator: Send + Sync + std::fmt::Debug + 'static {
    /// The set that was current when a request started at `used_since` is dead: the next
    /// request must get a new one. (A set installed after `used_since` is left alone.)
    fn invalidate(&self, used_since: Instant);
}

/// Wraps a store with retries.
#[derive(Debug)]
pub struct RetryingStore<S> {
    inner: S,
    policy: RetryPolicy,
    retries: AtomicU64,
    credentials: Option<std::sync::Arc<dyn CredentialsInvalidator>>,
}

impl<S: ObjectStore> RetryingStore<S> {
    pub fn new(inner: S, policy: RetryPolicy) -> Self {
        RetryingStore {
            inner,
            policy,
            retries: AtomicU64::new(0),
            credentials: None,
        }
    }

    /// Tells `credentials` about every `ExpiredToken` answer before it is retried.
    pub fn with_invalidator(
        mut self,
        credentials: std::sync::Arc<dyn CredentialsInvalidator>,
    ) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many attempts after a first one have been made.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let p = &self.policy;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let left = p.deadline.saturating_sub(started.elapsed());
            let limit = p.attempt_timeout.min(left);
            let attempt_started = Instant::now();
            let err = match tokio::time::timeout(limit, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(err)) => err,
                Err(_) => StoreError::Unavailable(format!("no answer within {limit:?}")),
            };
            if let (StoreError::ExpiredToken, Some(c)) = (&err, &self.credentials) {
                c.invalidate(attempt_started);
            }
            let backoff = p.backoff(attempt + 1);
            let out_of_time = started.elapsed() + backoff >= p.deadline;
            if !err.is_retryable() || attempt >= p.max_attempts || out_of_time {
                if attempt > 1 {
                    tracing::debug!(what, attempt, error = %err, "giving up");
                }
                return Err(err);
            }
            tracing::debug!(what, attempt, error = %err, ?backoff, "retrying");
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for RetryingStore<S> {
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        self.retry("ListBuckets", || self.inner.list_buckets())
            .await
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.retry("ListObjectsV2", || {
            self.inner.list_page(bucket, prefix, token.clone())
        })
        .await
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Bytes, StoreError> {
        let want = range.end - range.start;
        self.retry("GetObject", || async {
            let body = self
                .inner
                .get_range(bucket, key, range.clone(), if_match)
                .await?;
            // A body shorter than the range is retried, never returned as data. (The range
            // never passes the size the caller knows, so short means cut.)
            if (body.len() as u64) < want {
                return Err(StoreError::ShortBody {
                    got: body.len() as u64,
                    expected: want,
                });
            }
            Ok(body)
        })
        .await
    }

    async fn head(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectHead, StoreError> {
        self.retry("HeadObject", || self.inner.head(bucket, key, if_match))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::faulty::{Fault, FaultyStore};
    use crate::s3::memory::MemoryStore;
    use crate::s3::Op;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            attempt_timeout: Duration::from_millis(200),
            deadline: Duration::from_secs(5),
        }
    }

    fn store() -> RetryingStore<FaultyStore<MemoryStore>> {
        let mem = MemoryStore::new();
        mem.put("bk", "k", vec![5u8; 1000]);
        RetryingStore::new(FaultyStore::new(mem), quick())
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let s = store();
        s.inner()
            .fail_nth(Op::Get, 1, Fault::Fail(|| StoreError::Throttled));
        s.inner().fail_nth(Op::Get, 2, Fault::CutBodyAt(10));
        s.inner()
            .fail_nth(Op::Get, 3, Fault::Stall(Duration::from_secs(60)));
        let got = s.get_range("bk", "k", 0..1000, None).await.unwrap();
        assert_eq!(got.len(), 1000);
        assert_eq!(s.retries(), 3);
    }

    #[tokio::test]
    async fn permanent_errors_answer_at_once() {
        let s = store();
        s.inner()
            .fail_always(Op::Get, Fault::Fail(|| StoreError::AccessDenied));
        let err = s.get_range("bk", "k", 0..10, None).await.unwrap_err();
        assert!(matches!(err, StoreError::AccessDenied));
        assert_eq!(s.retries(), 0);
    }

    #[tokio::test]
    async fn endless_failures_stop_at_the_attempt_limit() {
        let s = store();
        s.inner().fail_always(
            Op::List,
            Fault::Fail(|| StoreError::Unavailable("503".into())),
        );
        let err = s.list_page("bk", "", None).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)));
        assert_eq!(s.retries(), 4);
    }

    #[tokio::test]
    async fn a_bad_answer_is_retried_only_when_another_attempt_can_help() {
        fn answer(transient: bool) -> StoreError {
            let detail = "another range".into();
            StoreError::BadAnswer { detail, transient }
        }
        let s = store();
        s.inner()
            .fail_always(Op::Get, Fault::Fail(|| answer(false)));
        assert!(s.get_range("bk", "k", 0..10, None).await.is_err());
        assert_eq!(
            s.retries(),
            0,
            "the whole object, another version: not retried"
        );
        s.inner().clear();
        s.inner().fail_always(Op::Get, Fault::Fail(|| answer(true)));
        let err = s.get_range("bk", "k", 0..10, None).await.unwrap_err();
        assert!(matches!(err, StoreError::BadAnswer { .. }));
        assert_eq!(
            s.retries(),
            4,
            "another range: retried up to the attempt limit"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn endless_stalls_stop_at_the_deadline() {
        let mem = MemoryStore::new();
        mem.put("bk", "k", "x");
        let policy = RetryPolicy {
            deadline: Duration::from_millis(500),
            attempt_timeout: Duration::from_millis(100),
            max_attempts: 100,
            ..quick()
        };
        let s = RetryingStore::new(FaultyStore::new(mem), policy);
        s.inner()
            .fail_always(Op::Get, Fault::Stall(Duration::from_secs(60)));
        // Virtual time: the assertion is about the deadline logic, not about this machine.
        let started = tokio::time::Instant::now();
        assert!(s.get_range("bk", "k", 0..1, None).await.is_err());
        assert!(started.elapsed() <= Duration::from_millis(500));
    }

    #[derive(Debug, Default)]
    struct Invalidations(parking_lot::Mutex<Vec<Instant>>);

    impl CredentialsInvalidator for Invalidations {
        fn invalidate(&self, used_since: Instant) {
            self.0.lock().push(used_since);
        }
    }

    #[tokio::test]
    async fn expired_token_invalidates_the_credentials_before_the_retry() {
        let before = Instant::now();
        let seen = std::sync::Arc::new(Invalidations::default());
        let s = store().with_invalidator(seen.clone());
        s.inner()
            .fail_nth(Op::Get, 1, Fault::Fail(|| StoreError::ExpiredToken));
        s.inner()
            .fail_nth(Op::Get, 2, Fault::Fail(|| StoreError::Throttled));
        assert_eq!(s.get_range("bk", "k", 0..10, None).await.unwrap().len(), 10);
        assert_eq!(s.retries(), 2);
        let seen = seen.0.lock();
        assert_eq!(seen.len(), 1, "only the ExpiredToken answer invalidates");
        assert!(seen[0] >= before);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            assert!(p.backoff(2) <= Duration::from_millis(50));
            assert!(p.backoff(30) <= Duration::from_secs(2));
        }
    }
}
