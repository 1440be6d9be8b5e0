//! Signing in to a Cognito user pool: every flow a person can finish in a browser with a
//! password and a code.
//!
//! Why it is shaped this way: user pools differ in which flows their app clients allow
//! (`USER_SRP_AUTH` by default, `USER_PASSWORD_AUTH` when enabled by hand, `USER_AUTH` on
//! newer pools) and in what they ask after the password (`NEW_PASSWORD_REQUIRED`, MFA
//! codes, a choice of factor, MFA enrolment). Each flow only *starts* a sign-in (its own
//! file: `password.rs`, `srp_flow.rs`, `user_auth.rs`); every challenge Cognito asks
//! afterwards is answered by
//! the one loop in `challenge.rs`, whatever flow led to it. The Cognito calls are behind
//! [`api::SignInApi`], so the loop is tested with a fake that speaks the SDK's types.
//!
//! Subtleties:
//! 1. `auto` tries SRP first (the password never leaves the machine), then `USER_AUTH`,
//!    then `USER_PASSWORD_AUTH`, moving on only when Cognito says the flow is not enabled
//!    for the app client. Any other refusal (a wrong password) ends the sign-in at once.
//!    With `--first-factor` (a one-time code, no password), `auto` is `USER_AUTH` alone.
//! 2. The flow that worked is what a later re-login uses (see `CognitoClient`).
//! 3. Challenge responses name the user as Cognito does (`USER_ID_FOR_SRP` once a challenge
//!    gave it), and `SECRET_HASH` is computed over that name, not the typed one.
//! 4. Prompts happen only in an interactive sign-in (the first one, started by `login` or
//!    `mount`); the daemon's re-logins use `--mfa-code-command` or fail.

pub mod api;
mod challenge;
pub mod error;
mod mfa;
mod mfa_choice;
mod mfa_setup;
mod password;
pub mod srp;
mod srp_flow;
mod terminal;
mod user_auth;

#[cfg(test)]
mod tests;

use aws_sdk_cognitoidentityprovider::types::ChallengeNameType;

use crate::auth::{AuthError, CognitoConfig, Secret, Tokens};

pub use api::{SdkSignIn, SignInApi};
pub use challenge::Interaction;
pub use error::SignInError;

/// `--auth-flow`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthFlow {
    /// SRP, then USER_AUTH, then USER_PASSWORD_AUTH, as the app client allows.
    #[default]
    Auto,
    Srp,
    /// USER_AUTH, choice-based sign-in (`PASSWORD_SRP`, `PASSWORD`, one-time codes).
    UserAuth,
    Password,
}

impl AuthFlow {
    /// The flow's name in Cognito's API.
    pub fn cognito_name(self) -> &'static str {
        match self {
            AuthFlow::Auto => "auto",
            AuthFlow::Srp => "USER_SRP_AUTH",
            AuthFlow::UserAuth => "USER_AUTH",
            AuthFlow::Password => "USER_PASSWORD_AUTH",
        }
    }
}

/// `--mfa-type`: the answer to `SELECT_MFA_TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaType {
    Totp,
    Sms,
    Email,
}

impl MfaType {
    pub const ALL: [MfaType; 3] = [MfaType::Totp, MfaType::Sms, MfaType::Email];

    /// The challenge (and `SELECT_MFA_TYPE` answer) that names this factor in Cognito's API.
    pub fn challenge(self) -> &'static str {
        match self {
            MfaType::Totp => "SOFTWARE_TOKEN_MFA",
            MfaType::Sms => "SMS_MFA",
            MfaType::Email => "EMAIL_OTP",
        }
    }

    /// The name `--mfa-type` takes.
    pub fn flag(self) -> &'static str {
        match self {
            MfaType::Totp => "totp",
            MfaType::Sms => "sms",
            MfaType::Email => "email",
        }
    }
}

/// `--first-factor`: a one-time code instead of the password, in USER_AUTH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstFactor {
    EmailOtp,
    SmsOtp,
}

impl FirstFactor {
    pub fn challenge(self) -> ChallengeNameType {
        match self {
            FirstFactor::EmailOtp => ChallengeNameType::EmailOtp,
            FirstFactor::SmsOtp => ChallengeNameType::SmsOtp,
        }
    }
}

/// How to sign in, from the command line.
#[derive(Clone, Debug, Default)]
pub struct SignInSettings {
    pub flow: AuthFlow,
    /// Run with `sh -c`; the first line of its output is the code. A [`Secret`]: it may
    /// hold a TOTP seed (`oathtool --totp -b SEED`).
    pub mfa_code_command: Option<Secret>,
    /// The answer to `SELECT_MFA_TYPE`; without it, asked on the terminal.
    pub mfa_type: Option<MfaType>,
    /// Sign in with a one-time code instead of the password (USER_AUTH only).
    pub first_factor: Option<FirstFactor>,
}

/// Signs in with `settings.flow` (for `auto`, the first flow the app client allows).
/// Returns the tokens and the concrete flow that worked. A new password set on the way
/// replaces `password`.
pub async fn sign_in<'a>(
    api: &'a dyn SignInApi,
    cfg: &'a CognitoConfig,
    settings: &'a SignInSettings,
    password: &'a mut Secret,
    interaction: Interaction<'a>,
) -> Result<(Tokens, AuthFlow), AuthError> {
    let order = flow_order(settings);
    let mut ctx = challenge::Ctx::new(api, cfg, settings, password, interaction);
    let mut tried = Vec::new();
    for (i, flow) in order.iter().copied().enumerate() {
        match run_flow(&mut ctx, flow).await {
            Err(err) if order.len() > 1 && flow_not_enabled(&err) => {
                if let Some(next) = order.get(i + 1) {
                    tracing::info!(
                        "{} is not enabled for this app client; trying {}",
                        flow.cognito_name(),
                        next.cognito_name()
                    );
                }
                tried.push((flow, err));
            }
            other => return other.map(|tokens| (tokens, flow)),
        }
    }
    let last = tried.last().map(|(_, e)| e.to_string()).unwrap_or_default();
    let tried = tried.into_iter().map(|(f, _)| f).collect();
    Err(SignInError::NoFlowEnabled { tried, last }.into())
}

/// The flows to try, in order. A one-time first factor exists only in USER_AUTH.
fn flow_order(settings: &SignInSettings) -> &'static [AuthFlow] {
    use AuthFlow::*;
    match settings.flow {
        Auto if settings.first_factor.is_some() => &[UserAuth],
        Auto => &[Srp, UserAuth, Password],
        Srp => &[Srp],
        UserAuth => &[UserAuth],
        Password => &[Password],
    }
}

async fn run_flow(ctx: &mut challenge::Ctx<'_>, flow: AuthFlow) -> Result<Tokens, AuthError> {
    ctx.reset();
    let first = match flow {
        AuthFlow::Srp => srp_flow::initiate(ctx).await?,
        AuthFlow::UserAuth => user_auth::initiate(ctx).await?,
        AuthFlow::Password | AuthFlow::Auto => password::initiate(ctx).await?,
    };
    challenge::finish(ctx, first).await
}

/// Whether Cognito refused the flow itself for this app client, e.g.
/// `InvalidParameterException: USER_SRP_AUTH is not enabled for the client.` or
/// `InvalidParameterException: USER_PASSWORD_AUTH flow not enabled for this client`.
pub fn flow_not_enabled(err: &AuthError) -> bool {
    let AuthError::Rejected { code, message, .. } = err else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    (code == "InvalidParameterException"
        && (message.contains("not enabled") || message.contains("auth method not supported")))
        || code == "UnsupportedOperationException"
}
