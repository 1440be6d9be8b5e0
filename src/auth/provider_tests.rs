//! The provider's state machine against a scripted Cognito.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::backoff::{Backoff, Standing};
use super::cognito::{AwsCredentials, IdentityBackend, NewPasswordSource, Tokens};
use super::provider::{
    freshness, margin_for, Clock, CognitoCredentialsProvider, Freshness, SignedIn,
};
use super::{AuthError, Secret};

#[derive(Default)]
struct FakeCognito {
    logins: AtomicU64,
    refreshes: AtomicU64,
    credential_calls: AtomicU64,
    down: AtomicBool,
    refuse_refresh: AtomicBool,
    /// Every call answers NotAuthorized (a disabled user).
    refuse_all: AtomicBool,
    /// Password logins tried, refused ones included.
    login_attempts: AtomicU64,
    /// Every call, whatever its answer.
    calls: AtomicU64,
    /// Calls answered "down".
    down_hits: AtomicU64,
    /// Lifetime of the credentials it hands out, in seconds.
    lifetime: AtomicU64,
    /// When non-zero, the most calls a test may make: more is a spin, and fails the test
    /// instead of hanging it (a spin on a paused clock never lets time advance).
    spin_guard: AtomicU64,
}

impl FakeCognito {
    fn check_up(&self) -> Result<(), AuthError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = self.spin_guard.load(Ordering::SeqCst);
        assert!(guard == 0 || n <= guard, "{n} Cognito calls: a spin");
        if self.refuse_all.load(Ordering::SeqCst) {
            return Err(AuthError::NotAuthorized {
                op: "fake",
                message: "User is disabled.".into(),
            });
        }
        if self.down.load(Ordering::SeqCst) {
            self.down_hits.fetch_add(1, Ordering::SeqCst);
            return Err(AuthError::Unreachable {
                op: "fake",
                detail: "down".into(),
            });
        }
        Ok(())
    }

    fn tokens(valid_for: Duration) -> Tokens {
        Tokens {
            id_token: Secret::new("id".into()),
            refresh_token: Some(Secret::new("rt".into())),
            expires_at: SystemTime::now() + valid_for,
        }
    }

    fn creds(&self) -> AwsCredentials {
        // Lifetime 0: no expiry said (an hour, to the provider), for tests on a paused clock,
        // which runs ahead of SystemTime.
        let lifetime = Duration::from_secs(self.lifetime.load(Ordering::SeqCst));
        let expiry = (!lifetime.is_zero()).then(|| SystemTime::now() + lifetime);
        AwsCredentials::new("AK", "SK", None, expiry, "fake")
    }
}

#[async_trait]
impl IdentityBackend for FakeCognito {
    async fn login(
        &self,
        password: &mut Secret,
        _new_password: Option<NewPasswordSource<'_>>,
    ) -> Result<Tokens, AuthError> {
        self.login_attempts.fetch_add(1, Ordering::SeqCst);
        self.check_up()?;
        assert_eq!(password.expose(), "pw");
        self.logins.fetch_add(1, Ordering::SeqCst);
        Ok(Self::tokens(Duration::from_secs(3600)))
    }

    async fn refresh(&self, _rt: &Secret) -> Result<Tokens, AuthError> {
        self.check_up()?;
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        if self.refuse_refresh.load(Ordering::SeqCst) {
            return Err(AuthError::NotAuthorized {
                op: "fake",
                message: "Refresh Token has been revoked".into(),
            });
        }
        Ok(Self::tokens(Duration::from_secs(3600)))
    }

    async fn get_id(&self, _id: &Secret) -> Result<String, AuthError> {
        Ok("us-east-1:id".into())
    }

    async fn credentials(&self, _iid: &str, _id: &Secret) -> Result<AwsCredentials, AuthError> {
        self.check_up()?;
        self.credential_calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.creds())
    }
}

fn provider_with(
    fake: &Arc<FakeCognito>,
    creds_left: Duration,
    tokens_left: Duration,
) -> CognitoCredentialsProvider {
    let signed_in = SignedIn {
        tokens: FakeCognito::tokens(tokens_left),
        password: Secret::new("pw".into()),
        identity_id: "us-east-1:id".into(),
        credentials: AwsCredentials::new(
            "AK0",
            "SK0",
            None,
            Some(SystemTime::now() + creds_left),
            "fake",
        ),
    };
    CognitoCredentialsProvider::new(fake.clone(), signed_in)
}

fn fake(lifetime_secs: u64) -> Arc<FakeCognito> {
    let f = FakeCognito::default();
    f.lifetime.store(lifetime_secs, Ordering::SeqCst);
    Arc::new(f)
}

#[test]
fn margin_adapts_to_short_lifetimes() {
    assert_eq!(margin_for(Duration::from_secs(90)), Duration::from_secs(30));
    assert_eq!(
        margin_for(Duration::from_secs(3600)),
        Duration::from_secs(300)
    );
    let t0 = SystemTime::UNIX_EPOCH;
    let exp = Some(t0 + Duration::from_secs(90));
    assert_eq!(
        freshness(t0, exp, t0 + Duration::from_secs(59)),
        Freshness::Fresh
    );
    assert_eq!(
        freshness(t0, exp, t0 + Duration::from_secs(61)),
        Freshness::Stale
    );
    assert_eq!(
        freshness(t0, exp, t0 + Duration::from_secs(86)),
        Freshness::Expired
    );
    // No expiry said: treated as an hour's lifetime, so it is refreshed too.
    assert_eq!(
        freshness(t0, None, t0 + Duration::from_secs(600)),
        Freshness::Fresh
    );
    assert_eq!(
        freshness(t0, None, t0 + Duration::from_secs(3600)),
        Freshness::Expired
    );
}

#[tokio::test]
async fn fresh_and_stale_credentials_cost_no_call() {
    let fake = fake(90);
    let p = provider_with(&fake, Duration::from_secs(80), Duration::from_secs(3600));
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK0");
    let p = provider_with(&fake, Duration::from_secs(20), Duration::from_secs(3600));
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK0");
    assert_eq!(fake.credential_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn expired_credentials_refresh_once_for_many_callers() {
    let fake = fake(90);
    let p = provider_with(&fake, Duration::from_secs(1), Duration::from_secs(3600));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.credentials().await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().access_key_id(), "AK");
    }
    assert_eq!(fake.credential_calls.load(Ordering::SeqCst), 1);
    assert_eq!(p.fetch_count(), 1);
}

#[tokio::test]
async fn near_expiry_id_token_is_refreshed_then_relogin_when_refused() {
    let fake = fake(90);
    let p = provider_with(&fake, Duration::from_secs(1), Duration::from_secs(3));
    p.credentials().await.unwrap();
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(fake.logins.load(Ordering::SeqCst), 0);

    fake.refuse_refresh.store(true, Ordering::SeqCst);
    let p = provider_with(&fake, Duration::from_secs(1), Duration::from_secs(3));
    p.credentials().await.unwrap();
    assert_eq!(fake.refreshes.load(Ordering::SeqCst), 2);
    assert_eq!(fake.logins.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cognito_down_keeps_valid_credentials_and_recovers() {
    let fake = fake(90);
    fake.down.store(true, Ordering::SeqCst);
    let p = provider_with(&fake, Duration::from_secs(20), Duration::from_secs(3600));
    // Stale but valid: still served while Cognito is down.
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK0");

    let p = provider_with(&fake, Duration::from_secs(1), Duration::from_secs(3600));
    assert!(matches!(
        p.credentials().await,
        Err(AuthError::Unreachable { .. })
    ));
    fake.down.store(false, Ordering::SeqCst);
    // A request meanwhile does not start an attempt of its own: it fails at once.
    assert!(matches!(
        p.credentials().await,
        Err(AuthError::RetryLater { .. })
    ));
    assert_eq!(fake.credential_calls.load(Ordering::SeqCst), 0);
    // Once the backoff step (at most a second after one failure) has passed, it recovers.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK");
}

/// A provider whose clock follows tokio's paused time, so expiry and backoff run instantly.
fn paused_provider(fake: &Arc<FakeCognito>, creds_left: Duration) -> CognitoCredentialsProvider {
    let signed_in = SignedIn {
        tokens: FakeCognito::tokens(Duration::from_secs(3600)),
        password: Secret::new("pw".into()),
        identity_id: "us-east-1:id".into(),
        credentials: AwsCredentials::new(
            "AK0",
            "SK0",
            None,
            Some(SystemTime::now() + creds_left),
            "fake",
        ),
    };
    CognitoCredentialsProvider::with_clock(
        fake.clone(),
        signed_in,
        Clock::following_tokio(),
        Backoff::default(),
    )
}

/// The background refresher of a provider, running.
struct Refresher {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Refresher {
    async fn end(self) {
        self.stop.notify_waiters();
        self.task.await.unwrap();
    }
}

/// Starts the refresher, then asks for credentials once a second for 150 s (well past the
/// expiry of the first set), as reads of a busy mount would.
async fn reads_for_150_seconds(p: &CognitoCredentialsProvider) -> Refresher {
    let stop = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn(p.clone().run_refresher(stop.clone()));
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = p.credentials().await;
    }
    Refresher { stop, task }
}

fn calls(fake: &FakeCognito) -> u64 {
    fake.calls.load(Ordering::SeqCst)
}

/// Issue 14: a refused session used to cost ~340 three-call cycles a second, the password
/// among them. Now the password is tried at most once, and then nothing is called again.
#[tokio::test(start_paused = true)]
async fn a_refused_login_costs_one_password_attempt_and_then_no_call() {
    let fake = fake(0);
    fake.refuse_all.store(true, Ordering::SeqCst);
    let p = paused_provider(&fake, Duration::from_secs(60));
    let refresher = reads_for_150_seconds(&p).await;
    assert_eq!(
        fake.login_attempts.load(Ordering::SeqCst),
        1,
        "password tries"
    );
    assert!(calls(&fake) <= 4, "{} Cognito calls", calls(&fake));
    assert!(matches!(p.standing(), Standing::Refused { .. }));
    assert!(matches!(
        p.credentials().await,
        Err(AuthError::LoginRefused(_))
    ));
    refresher.end().await;
}

/// Transient failures are retried with a backoff that grows, and the provider recovers by
/// itself when Cognito answers again.
#[tokio::test(start_paused = true)]
async fn an_outage_costs_a_call_per_backoff_step_and_ends_by_itself() {
    let fake = fake(0);
    fake.down.store(true, Ordering::SeqCst);
    let p = paused_provider(&fake, Duration::from_secs(60));
    let refresher = reads_for_150_seconds(&p).await;
    let attempts = fake.down_hits.load(Ordering::SeqCst);
    // 40 s fresh, then steps of 0.5-1, 1-2, 2-4, ... s: at most 8 attempts in 110 s.
    assert!((3..=8).contains(&attempts), "{attempts} attempts");
    fake.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK");
    assert!(matches!(p.standing(), Standing::Healthy));
    assert_eq!(fake.login_attempts.load(Ordering::SeqCst), 0);
    refresher.end().await;
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let fake = fake(90);
    let p = provider_with(&fake, Duration::from_secs(80), Duration::from_secs(3600));
    let text = format!("{p:?}");
    assert!(!text.contains("SK0") && !text.contains("pw"), "{text}");
}

/// Credentials that are expired by this machine's clock when they arrive (a skewed clock)
/// used to be fetched again at once, forever. Now each such answer is a failed attempt.
#[tokio::test(start_paused = true)]
async fn credentials_expired_on_arrival_cost_a_call_per_backoff_step_not_a_spin() {
    // Ten real seconds of lifetime: on the paused clock, which runs ahead, they are expired.
    let fake = fake(10);
    fake.spin_guard.store(200, Ordering::SeqCst);
    let p = paused_provider(&fake, Duration::from_secs(60));
    let refresher = reads_for_150_seconds(&p).await;
    let fetched = fake.credential_calls.load(Ordering::SeqCst);
    assert!((2..=10).contains(&fetched), "{fetched} credential calls");
    assert!(matches!(p.standing(), Standing::Retrying { .. }));
    assert!(matches!(
        p.credentials().await,
        Err(AuthError::RetryLater { .. })
    ));
    refresher.end().await;
}

/// S3 refusing credentials as expired right after issue (the server's clock is off) must
/// not make every request fetch a new set.
#[tokio::test(start_paused = true)]
async fn s3_refusing_new_credentials_waits_a_backoff_step() {
    use crate::s3::retry::CredentialsInvalidator;
    let fake = fake(0);
    let p = paused_provider(&fake, Duration::from_secs(1));
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK");
    for _ in 0..100 {
        p.invalidate(tokio::time::Instant::now());
        let _ = p.credentials().await;
    }
    assert_eq!(fake.credential_calls.load(Ordering::SeqCst), 1);
    assert!(matches!(
        p.credentials().await,
        Err(AuthError::RetryLater { .. })
    ));
    // After the step, one new set, used again.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(p.credentials().await.unwrap().access_key_id(), "AK");
    assert_eq!(fake.credential_calls.load(Ordering::SeqCst), 2);
}
