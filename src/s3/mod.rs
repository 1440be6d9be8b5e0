//! The object store the filesystem reads through.
//!
//! The filesystem needs four things from S3 and nothing else, so the trait is exactly that
//! narrow: list the buckets, list one page of one "directory" (delimiter `/`), and read a byte
//! range of an object pinned to an ETag (plus, with `--xattrs` only, a HEAD for the content
//! type). Keeping it narrow is what lets the same filesystem
//! code run against the AWS SDK client ([`sdk::SdkStore`]), the in-memory reference fake
//! ([`memory::MemoryStore`], which counts requests so tests can assert request budgets) and
//! the fault-injecting wrapper ([`faulty::FaultyStore`]).

pub mod answer;
pub mod buffers;
pub mod counters;
pub mod faulty;
pub mod https;
pub mod memory;
pub mod retry;
pub mod sdk;

use std::fmt;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

pub use counters::{Counters, Op};

/// One object as a listing describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
    /// The ETag exactly as S3 sent it (quotes included), used verbatim for `If-Match`.
    pub etag: Option<String>,
    /// `STANDARD`, `GLACIER`, ... as the listing says (S3 sends it for every object).
    pub storage_class: Option<String>,
}

/// What `HeadObject` says that a listing does not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectHead {
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

/// One page of `ListObjectsV2` with delimiter `/`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    /// Common prefixes, each ending in `/`.
    pub prefixes: Vec<String>,
    /// Present when there are more pages.
    pub next_token: Option<String>,
}

/// Errors a store can answer with, typed by what the filesystem must do about them.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such key")]
    NoSuchKey,
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("access denied")]
    AccessDenied,
    /// The object changed since it was looked up (`If-Match` failed).
    #[error("object changed since it was opened (precondition failed)")]
    PreconditionFailed,
    /// The credentials were refused as expired or invalid.
    #[error("credentials expired or invalid")]
    ExpiredToken,
    /// No credentials could be obtained at all.
    #[error("no credentials: {0}")]
    NoCredentials(String),
    #[error("throttled by S3")]
    Throttled,
    /// The object is archived (Glacier classes) and cannot be read until restored.
    #[error("object is archived and must be restored first")]
    Archived,
    /// The body ended before the requested range was complete.
    #[error("response body cut short: got {got} of {expected} bytes")]
    ShortBody { got: u64, expected: u64 },
    /// Worth retrying: a server error, a reset or refused connection, a timeout.
    #[error("S3 unavailable: {0}")]
    Unavailable(String),
    /// The server answered something other than what was asked: another range, the whole
    /// object for a part, another version. Never data; retried when `transient`, when
    /// another attempt can get the right answer (see [`answer`]).
    #[error("the server's answer does not match the request: {detail}")]
    BadAnswer { detail: String, transient: bool },
    /// Anything else: an unexpected answer that retrying will not change.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// What went wrong, without the details: failures of one kind are logged together.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::NoSuchKey => "no such key",
            StoreError::NoSuchBucket => "no such bucket",
            StoreError::AccessDenied => "access denied",
            StoreError::PreconditionFailed => "precondition failed",
            StoreError::ExpiredToken => "expired token",
            StoreError::NoCredentials(_) => "no credentials",
            StoreError::Throttled => "throttled",
            StoreError::Archived => "archived",
            StoreError::ShortBody { .. } => "short body",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::BadAnswer { .. } => "bad answer",
            StoreError::Other(_) => "other",
        }
    }

    /// Whether the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled
                | StoreError::Unavailable(_)
                | StoreError::ShortBody { .. }
                | StoreError::ExpiredToken
                | StoreError::BadAnswer {
                    transient: true,
                    ..
                }
        )
    }
}

/// The store trait. Every method is one S3 request (plus the SDK's own retries).
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// `ListBuckets`.
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError>;

    /// One page of `ListObjectsV2` for `prefix` with delimiter `/`.
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError>;

    /// A ranged `GetObject`, with `If-Match` when an ETag is given. The range is clamped by
    /// the server to the object's size; callers never ask past the size they know.
    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Bytes, StoreError>;

    /// `HeadObject`, with `If-Match` when an ETag is given. Only `--xattrs` uses it (for
    /// the content type, which no listing carries); a store without it says so.
    async fn head(
        &self,
        _bucket: &str,
        _key: &str,
        _if_match: Option<&str>,
    ) -> Result<ObjectHead, StoreError> {
        Err(StoreError::Other(
            "this store cannot send HeadObject".into(),
        ))
    }
}

/// A short description of a range for log lines.
pub struct RangeFmt<'a>(pub &'a Range<u64>);

impl fmt::Display for RangeFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}..{}", self.0.start, self.0.end)
    }
}
