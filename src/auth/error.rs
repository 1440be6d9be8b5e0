//! Login and credential errors, each with the one line a user needs to act on it.

use super::secret::SecretInputError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong password, or (with user-existence errors prevented) an unknown user; also a
    /// refused or expired token.
    #[error("{op}: not authorized: {message}")]
    NotAuthorized { op: &'static str, message: String },
    #[error("user '{0}' does not exist in this user pool")]
    UserNotFound(String),
    #[error("user '{0}' is not confirmed; confirm the account first")]
    UserNotConfirmed(String),
    #[error("Cognito requires a password reset for this user; reset it, then try again")]
    PasswordResetRequired,
    #[error("Cognito requires a new password (NEW_PASSWORD_REQUIRED); run on a terminal to be asked for one, or pass --new-password-file")]
    NewPasswordRequired,
    #[error("Cognito refused the new password: {0}")]
    InvalidNewPassword(String),
    #[error("Cognito asked for the {0} challenge, which cognito-s3fs does not support")]
    UnsupportedChallenge(String),
    /// Unknown app client, user pool or identity pool.
    #[error("{op}: not found: {message} (check --user-pool-id, --client-id, --identity-pool-id and --region)")]
    NotFound { op: &'static str, message: String },
    #[error("{op} was refused: {code}: {message}")]
    Rejected {
        op: &'static str,
        code: String,
        message: String,
    },
    #[error("Cognito {op} failed: {detail}")]
    Unreachable { op: &'static str, detail: String },
    #[error("unexpected answer from Cognito: {0}")]
    Protocol(String),
    #[error(transparent)]
    Input(#[from] SecretInputError),
    /// Cognito refused this login for good; the provider calls it no more.
    #[error("Cognito refused this login ({0}); unmount and mount again to log in")]
    LoginRefused(String),
    /// No valid credentials are left, and the next refresh attempt is not due yet.
    #[error("no valid AWS credentials: the last refresh failed ({last}); the next attempt is in {retry_in}s")]
    RetryLater { last: String, retry_in: u64 },
    /// Credentials from the identity pool that are expired on arrival, or that S3 refuses
    /// as expired right after issue: this machine's clock (or the server's) is off.
    #[error("the identity pool's new credentials are already expired ({0}); check this machine's clock (timedatectl status)")]
    ExpiredOnArrival(String),
    #[error(transparent)]
    SignIn(#[from] super::signin::SignInError),
    /// The identity pool refused `--role-arn`, and the IdToken does not list that role.
    #[error("{}", role_not_allowed(role, refusal, allowed))]
    RoleNotAllowed {
        role: String,
        refusal: String,
        allowed: Vec<String>,
    },
}

fn role_not_allowed(role: &str, refusal: &str, allowed: &[String]) -> String {
    let listed = match allowed {
        [] => "the IdToken lists no roles (cognito:roles): put the user in a user-pool group \
               that has an IAM role, and set the identity pool's authenticated role selection \
               to \"Choose role from token\""
            .to_owned(),
        roles => format!(
            "the IdToken allows {}; pass one of them to --role-arn",
            roles.join(", ")
        ),
    };
    format!("the identity pool refused --role-arn {role} ({refusal}); {listed}")
}

impl AuthError {
    /// Whether the error says the token or password was refused (so a re-login may help),
    /// as opposed to Cognito being unreachable or misconfigured.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AuthError::NotAuthorized { .. })
    }

    /// Whether retrying later may succeed on its own (network trouble, throttling, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Unreachable { .. }
            | AuthError::RetryLater { .. }
            | AuthError::ExpiredOnArrival(_) => true,
            AuthError::Rejected { code, .. } => {
                code.contains("TooManyRequests")
                    || code.contains("InternalError")
                    || code.contains("Throttl")
                    || code.contains("ServiceUnavailable")
                    || code.contains("LimitExceeded")
            }
            _ => false,
        }
    }

    /// Whether only a person can fix it, whatever call answered it: the account is gone,
    /// unconfirmed, disabled or needs a new password. (A bare `NotAuthorized` is final only
    /// from the password login; from other calls it means "renew the token".)
    pub fn needs_a_person(&self) -> bool {
        matches!(
            self,
            AuthError::UserNotFound(_)
                | AuthError::UserNotConfirmed(_)
                | AuthError::PasswordResetRequired
                | AuthError::NewPasswordRequired
                | AuthError::InvalidNewPassword(_)
                | AuthError::UnsupportedChallenge(_)
                | AuthError::LoginRefused(_)
                | AuthError::RoleNotAllowed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: &str) -> AuthError {
        AuthError::Rejected {
            op: "t",
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn server_trouble_is_transient_and_account_trouble_needs_a_person() {
        for code in [
            "InternalErrorException",
            "TooManyRequestsException",
            "ServiceUnavailable",
            "LimitExceededException",
        ] {
            assert!(rejected(code).is_transient(), "{code}");
            assert!(!rejected(code).needs_a_person(), "{code}");
        }
        let refused = AuthError::NotAuthorized {
            op: "InitiateAuth",
            message: "User is disabled.".into(),
        };
        assert!(refused.is_refusal() && !refused.is_transient());
        assert!(AuthError::UserNotFound("alice".into()).needs_a_person());
        assert!(AuthError::PasswordResetRequired.needs_a_person());
        assert!(!AuthError::Protocol("odd".into()).is_transient());
    }
}
