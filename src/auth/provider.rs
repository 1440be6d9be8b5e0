//! One credentials provider over a token cache: the only place AWS credentials come from
//! when a mount logs in through Cognito.
//!
//! State machine, per credential set:
//! - **Fresh**: more than the refresh margin left. Requests take it without waiting.
//! - **Stale**: inside the margin but still valid. Requests still take it (so reads in flight
//!   never wait on or fail because of a refresh) and wake the background refresher.
//! - **Expired** (or nearly): a request waits for a refresh. Refreshes are single-flight: one
//!   runs under the session lock, concurrent callers wait for it and then re-check.
//!
//! Subtleties:
//! 1. The margin adapts to the lifetime: a third of it, capped at five minutes. Real identity
//!    pools hand out one-hour credentials (refresh five minutes early); the local emulator
//!    hands out 90-second ones (refresh after 60 s).
//! 2. The IdToken is renewed with REFRESH_TOKEN_AUTH when it nears its own expiry, and if the
//!    refresh token is refused the provider logs in again with the password it holds in
//!    memory (a [`Secret`], wiped on drop).
//! 3. If a refresh fails while the current credentials are still valid, they keep being
//!    used and the refresher retries with backoff; only when nothing valid is left do
//!    requests fail, and they recover by themselves once Cognito answers again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use parking_lot::RwLock;
use tokio::sync::{Mutex, Notify};

use super::cognito::{AwsCredentials, IdentityBackend, Tokens};
use super::error::AuthError;
use super::secret::Secret;

/// The longest refresh margin, for long-lived credentials.
const MAX_MARGIN: Duration = Duration::from_secs(300);
/// Credentials with less than this left are not handed out at all.
const MIN_VALIDITY: Duration = Duration::from_secs(5);
/// The longest wait between two attempts of a failing refresh.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The refresh margin for credentials (or tokens) that live `lifetime`.
pub fn margin_for(lifetime: Duration) -> Duration {
    (lifetime / 3).min(MAX_MARGIN)
}

/// Where a credential set stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
}

/// Classifies a credential set issued at `issued` that expires at `expiry`.
pub fn freshness(issued: SystemTime, expiry: Option<SystemTime>, now: SystemTime) -> Freshness {
    let Some(expiry) = expiry else {
        return Freshness::Fresh;
    };
    let lifetime = expiry.duration_since(issued).unwrap_or_default();
    let left = expiry.duration_since(now).unwrap_or_default();
    if left > margin_for(lifetime) && left > MIN_VALIDITY {
        Freshness::Fresh
    } else if left > MIN_VALIDITY {
        Freshness::Stale
    } else {
        Freshness::Expired
    }
}

/// Everything one successful sign-in produced.
#[derive(Debug)]
pub struct SignedIn {
    pub tokens: Tokens,
    pub password: Secret,
    pub identity_id: String,
    pub credentials: AwsCredentials,
}

#[derive(Clone, Debug)]
struct Held {
    creds: AwsCredentials,
    issued: SystemTime,
}

impl Held {
    fn freshness(&self, now: SystemTime) -> Freshness {
        freshness(self.issued, self.creds.expiry(), now)
    }
}

struct Session {
    tokens: Tokens,
    tokens_issued: SystemTime,
    password: Secret,
    identity_id: String,
}

struct Inner {
    backend: Arc<dyn IdentityBackend>,
    session: Mutex<Session>,
    current: RwLock<Held>,
    wake: Notify,
    fetches: AtomicU64,
}

/// The Cognito credentials provider handed to the S3 client. Cheap to clone.
#[derive(Clone)]
pub struct CognitoCredentialsProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CognitoCredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognitoCredentialsProvider")
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

impl CognitoCredentialsProvider {
    pub fn new(backend: Arc<dyn IdentityBackend>, signed_in: SignedIn) -> Self {
        let now = SystemTime::now();
        let SignedIn {
            tokens,
            password,
            identity_id,
            credentials,
        } = signed_in;
        CognitoCredentialsProvider {
            inner: Arc::new(Inner {
                backend,
                session: Mutex::new(Session {
                    tokens,
                    tokens_issued: now,
                    password,
                    identity_id,
                }),
                current: RwLock::new(Held {
                    creds: credentials,
                    issued: now,
                }),
                wake: Notify::new(),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// How many credential sets have been fetched since the provider started.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Credentials for one request: the current ones unless they are (nearly) expired.
    pub async fn credentials(&self) -> Result<AwsCredentials, AuthError> {
        let held = self.inner.current.read().clone();
        match held.freshness(SystemTime::now()) {
            Freshness::Fresh => Ok(held.creds),
            Freshness::Stale => {
                self.inner.wake.notify_one();
                Ok(held.creds)
            }
            Freshness::Expired => self.refresh(false).await,
        }
    }

    /// Refreshes unless another caller already did; with `early`, a stale set is refreshed
    /// too (the background refresher's case).
    async fn refresh(&self, early: bool) -> Result<AwsCredentials, AuthError> {
        let mut session = self.inner.session.lock().await;
        let held = self.inner.current.read().clone();
        let now = SystemTime::now();
        match held.freshness(now) {
            Freshness::Fresh => return Ok(held.creds),
            Freshness::Stale if !early => return Ok(held.creds),
            _ => {}
        }
        match self.fetch(&mut session).await {
            Ok(creds) => {
                let n = self.inner.fetches.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(
                    refresh = n,
                    expires = %expiry_text(creds.expiry()),
                    "refreshed AWS credentials from the identity pool"
                );
                *self.inner.current.write() = Held {
                    creds: creds.clone(),
                    issued: SystemTime::now(),
                };
                Ok(creds)
            }
            Err(err) if held.freshness(now) != Freshness::Expired => {
                tracing::warn!(error = %err, "credential refresh failed; the current credentials are still valid and stay in use");
                Ok(held.creds)
            }
            Err(err) => Err(err),
        }
    }

    async fn fetch(&self, s: &mut Session) -> Result<AwsCredentials, AuthError> {
        let token_state = freshness(
            s.tokens_issued,
            Some(s.tokens.expires_at),
            SystemTime::now(),
        );
        if token_state != Freshness::Fresh {
            self.renew_tokens(s).await?;
        }
        let backend = &self.inner.backend;
        match backend
            .credentials(&s.identity_id, &s.tokens.id_token)
            .await
        {
            Err(err) if err.is_refusal() => {
                tracing::info!(error = %err, "the identity pool refused the IdToken; renewing it");
                self.renew_tokens(s).await?;
                backend
                    .credentials(&s.identity_id, &s.tokens.id_token)
                    .await
            }
            other => other,
        }
    }

    async fn renew_tokens(&self, s: &mut Session) -> Result<(), AuthError> {
        let backend = &self.inner.backend;
        let renewed = match &s.tokens.refresh_token {
            Some(rt) => match backend.refresh(rt).await {
                Err(err) if err.is_refusal() => {
                    tracing::warn!(error = %err, "refresh token refused; logging in again with the password held in memory");
                    backend.login(&mut s.password, None).await
                }
                other => other,
            },
            None => backend.login(&mut s.password, None).await,
        }?;
        tracing::info!("renewed the Cognito IdToken");
        s.tokens = renewed;
        s.tokens_issued = SystemTime::now();
        Ok(())
    }

    /// Runs until the provider is dropped elsewhere and `stop` fires: refreshes ahead of
    /// expiry, retrying failures with exponential backoff.
    pub async fn run_refresher(self, stop: Arc<Notify>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = self.time_until_stale();
            tokio::select! {
                _ = stop.notified() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.wake.notified() => {}
            }
            match self.refresh(true).await {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?backoff, "credential refresh failed");
                    tokio::select! {
                        _ = stop.notified() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn time_until_stale(&self) -> Duration {
        let held = self.inner.current.read().clone();
        let Some(expiry) = held.creds.expiry() else {
            return Duration::from_secs(3600);
        };
        let lifetime = expiry.duration_since(held.issued).unwrap_or_default();
        let refresh_at = expiry - margin_for(lifetime);
        refresh_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    }
}

/// An expiry time as text for logs and `login` output.
pub fn expiry_text(expiry: Option<SystemTime>) -> String {
    match expiry {
        None => "never".into(),
        Some(t) => {
            let left = t.duration_since(SystemTime::now()).unwrap_or_default();
            format!("{} (in {}s)", humantime_utc(t), left.as_secs())
        }
    }
}

/// Formats a time as RFC 3339 UTC without pulling in a date crate.
pub fn humantime_utc(t: SystemTime) -> String {
    let dt = aws_smithy_types::DateTime::from(t);
    dt.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| format!("{dt:?}"))
}

impl ProvideCredentials for CognitoCredentialsProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials().await.map_err(|err| {
                tracing::error!(error = %err, "no valid AWS credentials: requests fail with EACCES until Cognito answers again");
                CredentialsError::provider_error(err)
            })
        })
    }
}
