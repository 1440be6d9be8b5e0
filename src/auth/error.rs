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
    #[error(transparent)]
    SignIn(#[from] super::signin::SignInError),
}

impl AuthError {
    /// Whether the error says the token or password was refused (so a re-login may help),
    /// as opposed to Cognito being unreachable or misconfigured.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AuthError::NotAuthorized { .. })
    }

    /// Whether retrying later may succeed on its own (network trouble, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Unreachable { .. } => true,
            AuthError::Rejected { code, .. } => {
                code.contains("TooManyRequests")
                    || code.contains("InternalError")
                    || code.contains("Throttl")
                    || code.contains("ServiceUnavailable")
            }
            _ => false,
        }
    }
}
