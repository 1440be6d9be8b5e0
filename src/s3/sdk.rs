//! The real store: the AWS SDK's S3 client behind [`ObjectStore`].
//!
//! Error classification lives here, once: every SDK error becomes a [`StoreError`] by its S3
//! error code or HTTP status, so the filesystem never looks at SDK types.

use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::sdk_error::{summary, HasStatus};

use super::answer::check_range_answer;
use super::buffers::BufferPool;
use super::{Counters, ListPage, ObjectHead, ObjectInfo, ObjectStore, Op, StoreError};

/// [`ObjectStore`] over `aws_sdk_s3::Client`.
#[derive(Debug, Clone)]
pub struct SdkStore {
    client: aws_sdk_s3::Client,
    counters: std::sync::Arc<Counters>,
    buffers: std::sync::Arc<BufferPool>,
}

/// Idle body buffers kept for reuse, out of the daemon's memory reserve: four parts of the
/// default size, so a part that arrives before the kernel has taken an older one still finds
/// a buffer (a fresh one costs a page fault and a zeroed page per 4 KiB).
const IDLE_BUFFERS_MAX: usize = 16 << 20;

impl SdkStore {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        SdkStore {
            client,
            counters: Default::default(),
            buffers: BufferPool::new(IDLE_BUFFERS_MAX),
        }
    }

    pub fn counters(&self) -> std::sync::Arc<Counters> {
        self.counters.clone()
    }
}

/// Whether the request failed because no credentials could be had.
fn is_credentials_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.is::<CredentialsError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Classifies an SDK error by S3 error code first, then HTTP status.
fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus + 'static,
{
    let status = err.raw_response().map(HasStatus::http_status);
    let code = err.code().map(str::to_owned);
    match (code.as_deref(), status) {
        (Some("NoSuchKey"), _) => StoreError::NoSuchKey,
        (Some("NoSuchBucket"), _) => StoreError::NoSuchBucket,
        (Some("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId"), _) => {
            StoreError::AccessDenied
        }
        (Some("PreconditionFailed"), _) | (_, Some(412)) => StoreError::PreconditionFailed,
        (Some("ExpiredToken" | "TokenRefreshRequired" | "InvalidToken"), _) => {
            StoreError::ExpiredToken
        }
        (Some("InvalidObjectState"), _) => StoreError::Archived,
        (Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"), _)
        | (_, Some(429 | 503)) => StoreError::Throttled,
        (_, Some(403)) => StoreError::AccessDenied,
        (_, Some(404)) => StoreError::NoSuchKey,
        (_, Some(500..=599)) => StoreError::Unavailable(summary(&err)),
        _ if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
        ) && !is_credentials_failure(&err) =>
        {
            StoreError::Unavailable(summary(&err))
        }
        _ => {
            if is_credentials_failure(&err) {
                StoreError::NoCredentials(summary(&err))
            } else {
                StoreError::Other(summary(&err))
            }
        }
    }
}

impl SdkStore {
    /// The body of a checked answer: exactly `expected` bytes, straight into one buffer of
    /// that size, recycled when one is idle. No second copy, and the chunks the connection
    /// hands over are freed as they arrive.
    async fn read_body(&self, mut stream: ByteStream, expected: u64) -> Result<Bytes, StoreError> {
        let mut body = self.buffers.take(expected as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                StoreError::Unavailable(format!("reading body: {}", crate::sdk_error::chain(&e)))
            })?;
            if body.len() + chunk.len() > expected as usize {
                return Err(StoreError::BadAnswer {
                    detail: format!("the headers said {expected} bytes, the body is longer"),
                    transient: true,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = self.buffers.freeze(body);
        if body.len() as u64 != expected {
            return Err(StoreError::ShortBody {
                got: body.len() as u64,
                expected,
            });
        }
        Ok(body)
    }
}

fn to_system_time(dt: Option<&aws_smithy_types::DateTime>) -> SystemTime {
    dt.and_then(|d| SystemTime::try_from(*d).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The objects of one listing page; one without a key is left out.
fn objects_of(out: &ListObjectsV2Output) -> Vec<ObjectInfo> {
    out.contents()
        .iter()
        .filter_map(|o| {
            Some(ObjectInfo {
                key: o.key()?.to_owned(),
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified: to_system_time(o.last_modified()),
                etag: o.e_tag().map(str::to_owned),
                storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
            })
        })
        .collect()
}

/// The common prefixes of one listing page.
fn prefixes_of(out: &ListObjectsV2Output) -> Vec<String> {
    out.common_prefixes()
        .iter()
        .filter_map(|p| p.prefix().map(str::to_owned))
        .collect()
}

/// The token of the next listing page, `None` after the last.
fn next_token_of(out: &ListObjectsV2Output) -> Result<Option<String>, StoreError> {
    match (out.is_truncated(), out.next_continuation_token()) {
        (Some(true), Some(token)) => Ok(Some(token.to_owned())),
        // Taken as the end, it would show part of a directory as all of it.
        (Some(true), None) => Err(StoreError::BadAnswer {
            detail: "a listing page says it is truncated but has no continuation token".into(),
            transient: false,
        }),
        _ => Ok(None),
    }
}

#[async_trait]
impl ObjectStore for SdkStore {
    async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        self.counters.record(Op::ListBuckets);
        let out = self.client.list_buckets().send().await.map_err(classify)?;
        Ok(out
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect())
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.counters.record(Op::List);
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token)
            .send()
            .await
            .map_err(classify)?;
        Ok(ListPage {
            objects: objects_of(&out),
            prefixes: prefixes_of(&out),
            next_token: next_token_of(&out)?,
        })
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
        if_match: Option<&str>,
    ) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.counters.record(Op::Get);
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .set_if_match(if_match.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        let expected = check_range_answer(
            &range,
            out.content_range(),
            out.e_tag(),
            if_match,
            out.content_length(),
        )?;
        let body = self.read_body(out.body, expected).await?;
        self.counters.record_bytes(body.len() as u64);
        Ok(body)
    }

    async fn head(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectHead, StoreError> {
        self.counters.record(Op::Head);
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        Ok(ObjectHead {
            content_type: out.content_type().map(str::to_owned),
            etag: out.e_tag().map(str::to_owned),
        })
    }
}
