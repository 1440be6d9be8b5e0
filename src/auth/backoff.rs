//! When the next credential refresh may run: one gate that every attempt passes through.
//!
//! Why one gate and not a backoff counter in the refresher loop: the refresher is not the
//! only one that needs new credentials. A read that finds none valid needs them too, and if
//! each read started its own sign-in, a Cognito outage would cost three calls per failed
//! read (issue 14: 134 failed reads, 134 three-call attempts). So the provider keeps one
//! [`Standing`], and an attempt, whoever asks for it, starts only when the standing allows;
//! otherwise the asker gets the reason at once.
//!
//! Subtleties:
//! 1. The backoff is exponential with "equal jitter": half of each step is fixed, half
//!    random. It is never near zero (full jitter would sometimes retry at once), and mounts
//!    started together spread out.
//! 2. The cap is minutes: a long outage costs one call every few minutes, and after it the
//!    mount comes back at most one step after Cognito does.
//! 3. A refusal that only a person can fix (a disabled or deleted user, a changed password)
//!    closes the gate for good: nothing calls Cognito again, so the password held in memory
//!    is refused at most once and cannot lock the account.

use std::time::Duration;

use tokio::time::Instant;

use super::error::AuthError;

/// How long to wait after the n-th failure in a row.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The step after the first failure (before jitter).
    pub base: Duration,
    /// The longest step (before jitter).
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 or more), with jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_at(failures, crate::jitter::random_unit())
    }

    /// The wait for a given draw `unit` in [0, 1): between half and all of the step.
    pub fn delay_at(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let step = self.base.saturating_mul(1 << doublings).min(self.cap);
        step / 2 + (step / 2).mul_f64(unit)
    }
}

/// Where the provider stands with Cognito.
#[derive(Clone, Debug, Default)]
pub enum Standing {
    /// The last attempt succeeded (or none has failed yet): an attempt may start any time.
    #[default]
    Healthy,
    /// Attempts are failing with errors that may pass; the next may start at `next_at`.
    Retrying {
        failures: u32,
        next_at: Instant,
        last: String,
    },
    /// Cognito refused the login itself: no attempt starts again.
    Refused { reason: String },
}

impl Standing {
    /// Whether an attempt may start at `now`; if not, the error a caller gets instead.
    pub fn admit(&self, now: Instant) -> Result<(), AuthError> {
        match self {
            Standing::Healthy => Ok(()),
            Standing::Retrying { next_at, .. } if now >= *next_at => Ok(()),
            Standing::Retrying { next_at, last, .. } => Err(AuthError::RetryLater {
                last: last.clone(),
                retry_in: next_at.saturating_duration_since(now).as_secs().max(1),
            }),
            Standing::Refused { reason } => Err(AuthError::LoginRefused(reason.clone())),
        }
    }

    /// How long until an attempt may start: `None` when never, zero when now.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        match self {
            Standing::Healthy => Some(Duration::ZERO),
            Standing::Retrying { next_at, .. } => Some(next_at.saturating_duration_since(now)),
            Standing::Refused { .. } => None,
        }
    }

    /// Records a failure that may pass; returns how many in a row and the wait before the next.
    pub fn failed(&mut self, err: &AuthError, now: Instant, backoff: &Backoff) -> (u32, Duration) {
        let failures = match self {
            Standing::Retrying { failures, .. } => *failures + 1,
            _ => 1,
        };
        let delay = backoff.delay(failures);
        *self = Standing::Retrying {
            failures,
            next_at: now + delay,
            last: err.to_string(),
        };
        (failures, delay)
    }

    /// Records a refusal that only a new login can fix.
    pub fn refused(&mut self, err: &AuthError) {
        *self = Standing::Refused {
            reason: err.to_string(),
        };
    }

    /// Records a success; returns how many failures it ended.
    pub fn succeeded(&mut self) -> u32 {
        let ended = match self {
            Standing::Retrying { failures, .. } => *failures,
            _ => 0,
        };
        *self = Standing::Healthy;
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> AuthError {
        AuthError::Unreachable {
            op: "t",
            detail: "down".into(),
        }
    }

    #[test]
    fn steps_double_up_to_minutes_and_never_come_near_zero() {
        let b = Backoff::default();
        assert_eq!(b.delay_at(1, 0.0), Duration::from_millis(500));
        let top = b.delay_at(1, 0.999_999);
        assert!(top >= Duration::from_millis(999) && top < Duration::from_secs(1));
        assert_eq!(b.delay_at(4, 0.0), Duration::from_secs(4));
        assert_eq!(b.delay_at(40, 0.0), Duration::from_secs(150));
        assert!(b.delay_at(40, 0.999_999) <= Duration::from_secs(300));
        for failures in 1..50 {
            assert!(b.delay(failures) >= b.delay_at(failures, 0.0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_close_the_gate_until_their_step_has_passed() {
        let mut s = Standing::default();
        let t0 = Instant::now();
        assert!(s.admit(t0).is_ok());
        let (n, first) = s.failed(&down(), t0, &Backoff::default());
        assert_eq!(n, 1);
        assert!(matches!(s.admit(t0), Err(AuthError::RetryLater { .. })));
        assert!(s.admit(t0 + first).is_ok());
        let (n, second) = s.failed(&down(), t0 + first, &Backoff::default());
        assert_eq!(n, 2);
        assert!(second >= Duration::from_secs(1));
        assert_eq!(s.succeeded(), 2);
        assert!(s.admit(t0).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_closes_the_gate_for_good() {
        let mut s = Standing::default();
        s.refused(&AuthError::UserNotFound("alice".into()));
        let later = Instant::now() + Duration::from_secs(1 << 30);
        assert!(matches!(s.admit(later), Err(AuthError::LoginRefused(_))));
        assert_eq!(s.wait(later), None);
    }
}
