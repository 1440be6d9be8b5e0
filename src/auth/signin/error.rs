//! What can stop a sign-in beyond Cognito's own refusals, each with the line a user acts on.

use super::srp::SrpError;
use super::AuthFlow;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no sign-in flow is enabled for this app client: tried {}; Cognito answered: {last}. An administrator enables one with `aws cognito-idp update-user-pool-client --explicit-auth-flows ALLOW_USER_SRP_AUTH ALLOW_REFRESH_TOKEN_AUTH ...` (or, in the console: App client > Authentication flows)", names(.tried))]
    NoFlowEnabled { tried: Vec<AuthFlow>, last: String },
    #[error("Cognito asks for {challenge} ({what}) and there is no way to read it: give --mfa-code-command CMD (the first line it prints is the code) or run on a terminal")]
    NoCodeSource {
        challenge: String,
        what: &'static str,
    },
    #[error("--mfa-code-command failed: {0}")]
    CodeCommand(String),
    #[error("Cognito refused the code for {challenge}: {message}")]
    CodeRefused { challenge: String, message: String },
    #[error("Cognito requires this user to set up MFA (MFA_SETUP): run `cognito-s3fs login` on a terminal once to enrol an authenticator app")]
    MfaSetupNeedsTerminal,
    #[error("Cognito requires this user to set up MFA with {offered}, which cognito-s3fs cannot enrol; set it up in the hosted UI or an app, then try again")]
    MfaSetupUnsupported { offered: String },
    #[error("Cognito asks which MFA to use (SELECT_MFA_TYPE, offering {offered}): give --mfa-type totp|sms|email or run on a terminal")]
    NoMfaType { offered: String },
    #[error(
        "--mfa-type {wanted} is not among the MFA types Cognito offers for this user: {offered}"
    )]
    MfaTypeNotOffered { wanted: String, offered: String },
    #[error("Cognito offers only {offered} as a first sign-in factor; WEB_AUTHN (passkeys) is not supported by cognito-s3fs")]
    OnlyWebAuthn { offered: String },
    #[error("Cognito offers {offered} as first factors, none of which cognito-s3fs can use with what was given (a password, or --first-factor email-otp|sms-otp)")]
    NoUsableFactor { offered: String },
    #[error("cannot answer Cognito's SRP challenge: {0}")]
    Srp(#[from] SrpError),
}

fn names(flows: &[AuthFlow]) -> String {
    let names: Vec<&str> = flows.iter().map(|f| f.cognito_name()).collect();
    names.join(", ")
}
