//! One credentials provider over a token cache: the only place AWS credentials come from
//! when a mount logs in through Cognito.
//!
//! State machine, per credential set:
//! - **Fresh**: more than the refresh margin left. Requests take it without waiting.
//! - **Stale**: inside the margin but still valid. Requests still take it (so reads in flight
//!   never wait on or fail because of a refresh) and wake the background refresher.
//! - **Expired** (or nearly, or refused by S3 as expired): a request needs a refresh.
//!
//! Beside it, one [`Standing`] with Cognito (see [`super::backoff`]): *healthy*, *retrying*
//! (failures that may pass, the next attempt not before a backoff step) or *refused* (only a
//! new login can fix it). Every refresh attempt, the refresher's or a request's, starts only
//! when the standing allows it, runs under the session lock, and records its outcome there
//! before the lock is released.
//!
//! Subtleties:
//! 1. The margin adapts to the lifetime: a third of it, capped at five minutes. Real identity
//!    pools hand out one-hour credentials (refresh five minutes early); the local emulator
//!    hands out 90-second ones (refresh after 60 s). Credentials without an expiry are
//!    treated as expiring an hour after issue, so they are refreshed too.
//! 2. A failed refresh is a failure, never "the old credentials": the refresher waits one
//!    backoff step before the next attempt, however little lifetime is left, and valid
//!    credentials stay in use meanwhile.
//! 3. A request that finds no valid credentials never starts a sign-in of its own: it joins
//!    the attempt in flight (by waiting for the session lock), or, when none is due, fails
//!    at once with the standing's error, which S3 requests turn into EACCES.
//! 4. The IdToken is renewed with REFRESH_TOKEN_AUTH when it nears its own expiry or the
//!    identity pool refuses it. If the refresh token is refused it is dropped, and the
//!    provider logs in again with the password it holds in memory (a [`Secret`], wiped on
//!    drop). If the password is refused too (a disabled user, a changed password) or the
//!    user is gone, the standing becomes *refused*: one error line says what to do, no call
//!    is made again, and the mount serves until the last credentials expire.
//! 5. S3 answering `ExpiredToken` marks the credentials in use as dead (see
//!    [`CredentialsInvalidator`]), so the retry of that request fetches new ones first.
//! 6. Credentials that arrive already expired by this machine's clock, or that S3 refuses
//!    as expired within seconds of issue, count as a failed attempt: fetching again at once
//!    would get the same answer, so the next attempt waits a backoff step (no spin).
//! 7. Each attempt logs at most one line for its outcome; requests failing meanwhile log
//!    nothing here, so an outage of hours costs a few lines per backoff step.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use parking_lot::{Mutex as SyncMutex, RwLock};
use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

use super::backoff::{Backoff, Standing};
use super::cognito::{AwsCredentials, IdentityBackend, Tokens};
use super::error::AuthError;
use super::secret::Secret;
use crate::s3::retry::CredentialsInvalidator;

/// The longest refresh margin, for long-lived credentials.
const MAX_MARGIN: Duration = Duration::from_secs(300);
/// Credentials with less than this left are not handed out at all.
const MIN_VALIDITY: Duration = Duration::from_secs(5);
/// A set S3 refuses as expired within this long of its issue counts as a failed refresh.
const YOUNG: Duration = Duration::from_secs(10);
/// The lifetime assumed for credentials that come without an expiry.
const LIFETIME_IF_UNSAID: Duration = Duration::from_secs(3600);

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

/// When a set issued at `issued` expires: its own expiry, or an hour after issue.
fn effective_expiry(issued: SystemTime, expiry: Option<SystemTime>) -> SystemTime {
    expiry.unwrap_or(issued + LIFETIME_IF_UNSAID)
}

/// Classifies a credential set issued at `issued` that expires at `expiry`.
pub fn freshness(issued: SystemTime, expiry: Option<SystemTime>, now: SystemTime) -> Freshness {
    let expiry = effective_expiry(issued, expiry);
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

/// The wall clock the provider reads. A mount reads the system clock; tests read one that
/// follows tokio's paused time, so expiry and backoff are tested without waiting.
#[derive(Clone, Copy, Debug)]
pub struct Clock(Option<(SystemTime, Instant)>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that starts at the system time and moves with tokio's (possibly paused) time.
    pub fn following_tokio() -> Clock {
        Clock(Some((SystemTime::now(), Instant::now())))
    }

    pub fn now(&self) -> SystemTime {
        match self.0 {
            None => SystemTime::now(),
            Some((wall, start)) => wall + start.elapsed(),
        }
    }
}

/// A snapshot of the session, without any secret.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub credentials_expire: SystemTime,
    pub id_token_expires: Option<SystemTime>,
    pub refresh_token_held: Option<bool>,
    pub standing: Standing,
    pub fetches: u64,
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
    /// When the set was installed, to tell which requests may have used it.
    installed: Instant,
    /// S3 refused the set as expired.
    dead: bool,
}

impl Held {
    fn new(creds: AwsCredentials, issued: SystemTime) -> Held {
        Held {
            creds,
            issued,
            installed: Instant::now(),
            dead: false,
        }
    }

    fn freshness(&self, now: SystemTime) -> Freshness {
        match self.dead {
            true => Freshness::Expired,
            false => freshness(self.issued, self.creds.expiry(), now),
        }
    }

    fn expires(&self) -> SystemTime {
        effective_expiry(self.issued, self.creds.expiry())
    }

    /// When the set enters the refresh margin.
    fn stale_at(&self) -> SystemTime {
        let expires = self.expires();
        let lifetime = expires.duration_since(self.issued).unwrap_or_default();
        expires - margin_for(lifetime)
    }
}

struct Session {
    tokens: Tokens,
    tokens_issued: SystemTime,
    password: Secret,
    identity_id: String,
}

/// Why an attempt failed, as the provider must act on it.
enum Failure {
    /// May pass by itself (5xx, throttling, network, an odd answer): back off, try again.
    Retry(AuthError),
    /// Only a new login can fix it: make no Cognito call again.
    Refused(AuthError),
}

impl Failure {
    /// A failure of a token refresh or a credentials exchange.
    fn of_call(err: AuthError) -> Failure {
        match err.needs_a_person() {
            true => Failure::Refused(err),
            false => Failure::Retry(err),
        }
    }

    /// A failure of the password login: a refusal there is final.
    fn of_login(err: AuthError) -> Failure {
        match err.is_refusal() || err.needs_a_person() {
            true => Failure::Refused(err),
            false => Failure::Retry(err),
        }
    }
}

struct Inner {
    backend: Arc<dyn IdentityBackend>,
    session: Mutex<Session>,
    current: RwLock<Held>,
    standing: SyncMutex<Standing>,
    backoff: Backoff,
    clock: Clock,
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
        Self::with_clock(backend, signed_in, Clock::system(), Backoff::default())
    }

    /// A provider reading `clock` and backing off by `backoff`.
    pub fn with_clock(
        backend: Arc<dyn IdentityBackend>,
        signed_in: SignedIn,
        clock: Clock,
        backoff: Backoff,
    ) -> Self {
        let now = clock.now();
        let SignedIn {
            tokens,
            password,
            identity_id,
            credentials,
        } = signed_in;
        let session = Session {
            tokens,
            tokens_issued: now,
            password,
            identity_id,
        };
        CognitoCredentialsProvider {
            inner: Arc::new(Inner {
                backend,
                session: Mutex::new(session),
                current: RwLock::new(Held::new(credentials, now)),
                standing: SyncMutex::new(Standing::Healthy),
                backoff,
                clock,
                wake: Notify::new(),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// How many credential sets have been fetched since the provider started.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Where the provider stands with Cognito.
    pub fn standing(&self) -> Standing {
        self.inner.standing.lock().clone()
    }

    /// What `cognito-s3fs status` shows of the session. The token fields are `None` while
    /// a refresh holds the session (it is never waited for).
    pub fn view(&self) -> SessionView {
        let session = self.inner.session.try_lock().ok();
        SessionView {
            credentials_expire: self.held().expires(),
            id_token_expires: session.as_ref().map(|s| s.tokens.expires_at),
            refresh_token_held: session.as_ref().map(|s| s.tokens.refresh_token.is_some()),
            standing: self.standing(),
            fetches: self.fetch_count(),
        }
    }

    fn held(&self) -> Held {
        self.inner.current.read().clone()
    }

    fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Credentials for one request: the current ones unless they are (nearly) expired.
    pub async fn credentials(&self) -> Result<AwsCredentials, AuthError> {
        let held = self.held();
        match held.freshness(self.now()) {
            Freshness::Fresh => Ok(held.creds),
            Freshness::Stale => {
                self.inner.wake.notify_one();
                Ok(held.creds)
            }
            Freshness::Expired => self.refresh(false).await,
        }
    }

    /// Whether an attempt may start now; if not, the error to answer instead.
    fn admit(&self) -> Result<(), AuthError> {
        self.inner.standing.lock().admit(Instant::now())
    }

    /// One refresh attempt, if one is due and still needed; with `early`, a stale set is
    /// refreshed too (the background refresher's case). See subtlety 3.
    async fn refresh(&self, early: bool) -> Result<AwsCredentials, AuthError> {
        self.admit()?;
        let mut session = self.inner.session.lock().await;
        let held = self.held();
        match held.freshness(self.now()) {
            Freshness::Fresh => return Ok(held.creds),
            Freshness::Stale if !early => return Ok(held.creds),
            _ => {}
        }
        // The attempt this caller waited for may have failed and closed the gate.
        self.admit()?;
        let outcome = self.fetch(&mut session).await;
        self.settle(outcome)
    }

    /// Records an attempt's outcome in the standing and logs it, once.
    fn settle(
        &self,
        outcome: Result<AwsCredentials, Failure>,
    ) -> Result<AwsCredentials, AuthError> {
        match outcome {
            Ok(creds) if self.expired_on_arrival(&creds) => {
                let err = AuthError::ExpiredOnArrival(format!(
                    "they expire {}",
                    expiry_text(creds.expiry())
                ));
                self.back_off(&err);
                Err(err)
            }
            Ok(creds) => {
                self.install(creds.clone());
                Ok(creds)
            }
            Err(Failure::Retry(err)) => {
                self.back_off(&err);
                Err(err)
            }
            Err(Failure::Refused(err)) => {
                self.give_up(&err);
                Err(AuthError::LoginRefused(err.to_string()))
            }
        }
    }

    fn expired_on_arrival(&self, creds: &AwsCredentials) -> bool {
        let now = self.now();
        freshness(now, creds.expiry(), now) == Freshness::Expired
    }

    fn install(&self, creds: AwsCredentials) {
        let n = self.inner.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        let ended = self.inner.standing.lock().succeeded();
        tracing::info!(
            refresh = n,
            expires = %expiry_text(creds.expiry()),
            failures_before = ended,
            "refreshed AWS credentials from the identity pool"
        );
        *self.inner.current.write() = Held::new(creds, self.now());
    }

    fn back_off(&self, err: &AuthError) {
        let (failures, delay) =
            self.inner
                .standing
                .lock()
                .failed(err, Instant::now(), &self.inner.backoff);
        let held = self.held();
        let current = match held.freshness(self.now()) {
            Freshness::Expired => "none valid: requests fail with EACCES meanwhile".to_owned(),
            _ => format!("still valid until {}", expiry_text(Some(held.expires()))),
        };
        tracing::warn!(
            error = %err,
            failures,
            retry_in = %format!("{}s", delay.as_secs_f32().round()),
            credentials = %current,
            "credential refresh failed; retrying after a backoff"
        );
        // The refresher may be asleep until the set's stale time: it must wait on the step.
        self.inner.wake.notify_one();
    }

    fn give_up(&self, err: &AuthError) {
        self.inner.standing.lock().refused(err);
        let held = self.held();
        tracing::error!(
            error = %err,
            credentials_expire = %expiry_text(Some(held.expires())),
            "Cognito refused this login, so cognito-s3fs makes no more sign-in attempts; \
             files stay readable until the current AWS credentials expire, then reads fail \
             with EACCES. Check the user in the user pool (enabled, password unchanged), \
             then unmount and mount again to log in"
        );
    }

    async fn fetch(&self, s: &mut Session) -> Result<AwsCredentials, Failure> {
        let token_state = freshness(s.tokens_issued, Some(s.tokens.expires_at), self.now());
        if token_state != Freshness::Fresh {
            self.renew_tokens(s).await?;
        }
        let backend = &self.inner.backend;
        match backend
            .credentials(&s.identity_id, &s.tokens.id_token)
            .await
        {
            Ok(creds) => Ok(creds),
            Err(err) if err.is_refusal() => {
                tracing::info!(error = %err, "the identity pool refused the IdToken; renewing it");
                self.renew_tokens(s).await?;
                backend
                    .credentials(&s.identity_id, &s.tokens.id_token)
                    .await
                    .map_err(Failure::of_call)
            }
            Err(err) => Err(Failure::of_call(err)),
        }
    }

    async fn renew_tokens(&self, s: &mut Session) -> Result<(), Failure> {
        let renewed = match s.tokens.refresh_token.clone() {
            Some(rt) => match self.inner.backend.refresh(&rt).await {
                Err(err) if err.is_refusal() => {
                    tracing::warn!(error = %err, "refresh token refused; logging in again with the password held in memory");
                    s.tokens.refresh_token = None;
                    self.log_in(s).await
                }
                other => other.map_err(Failure::of_call),
            },
            None => self.log_in(s).await,
        }?;
        tracing::info!("renewed the Cognito IdToken");
        s.tokens = renewed;
        s.tokens_issued = self.now();
        Ok(())
    }

    async fn log_in(&self, s: &mut Session) -> Result<Tokens, Failure> {
        self.inner
            .backend
            .login(&mut s.password, None)
            .await
            .map_err(Failure::of_login)
    }

    /// Runs until `stop` fires: refreshes ahead of expiry, and after a failure once per
    /// backoff step; after a refusal it only waits for `stop`.
    pub async fn run_refresher(self, stop: Arc<Notify>) {
        loop {
            let wait = self.next_attempt_in();
            tokio::select! {
                _ = stop.notified() => return,
                _ = sleep_for(wait) => {}
                _ = self.inner.wake.notified() => {}
            }
            // The outcome is recorded and logged in the standing; nothing is left to do here.
            let _ = self.refresh(true).await;
        }
    }

    /// How long until the refresher should try: `None` when never again.
    fn next_attempt_in(&self) -> Option<Duration> {
        let standing = self.inner.standing.lock().wait(Instant::now())?;
        Some(standing.max(self.time_until_stale()))
    }

    fn time_until_stale(&self) -> Duration {
        let held = self.held();
        if held.dead {
            return Duration::ZERO;
        }
        held.stale_at()
            .duration_since(self.now())
            .unwrap_or_default()
    }
}

/// Sleeps for `wait`, or forever when there is none.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

impl CredentialsInvalidator for CognitoCredentialsProvider {
    fn invalidate(&self, used_since: Instant) {
        let age = {
            let mut held = self.inner.current.write();
            // A set installed after the refused request started is new: the refusal was not
            // of it.
            if held.dead || held.installed > used_since {
                return;
            }
            held.dead = true;
            held.installed.elapsed()
        };
        if age < YOUNG {
            // Fetching again at once would get the same answer, once per request: a spin.
            self.back_off(&AuthError::ExpiredOnArrival(format!(
                "S3 refused them as expired {}s after issue",
                age.as_secs()
            )));
            return;
        }
        tracing::info!(
            "S3 refused the AWS credentials as expired; fetching new ones before the retry"
        );
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
        // No log line here: the attempt behind the error logged it once (subtlety 6).
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}
