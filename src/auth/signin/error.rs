//! What can stop a sign-in beyond Cognito's own refusals, each with the line a user acts on.

use super::srp::SrpError;
use super::AuthFlow;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("no sign-in flow is enabled for this app client: tried {}; Cognito answered: {last}. An administrator enables one with `aws cognito-idp update-user-pool-client --explicit-auth-flows ALLOW_USER_SRP_AUTH ALLOW_REFRESH_TOKEN_AUTH` (or ALLOW_USER_AUTH, ALLOW_USER_PASSWORD_AUTH; the list replaces the client's, so name every flow to keep), or in the console under App clients > the client > Authentication flows", names(.tried))]
    NoFlowEnabled { tried: Vec<AuthFlow>, last: String },
    #[error("Cognito asks for {challenge} ({what}) and there is no way to read it: give --mfa-code-command CMD (the first line it prints is the code) or run on a terminal")]
    NoCodeSource {
        challenge: String,
        what: &'static str,
    },
    #[error("Cognito asks which MFA factor to use (SELECT_MFA_TYPE) and none was chosen: give --mfa-type, one of: {offered} (or run on a terminal to be asked)")]
    NoMfaType { offered: String },
    #[error("--mfa-type {wanted} is not among the MFA factors this user has ({offered})")]
    MfaTypeNotOffered {
        wanted: &'static str,
        offered: String,
    },
    #[error("Cognito offers this user only WEB_AUTHN (a passkey) to sign in, which cognito-s3fs cannot use: give the user a password, or let the app client offer EMAIL_OTP or SMS_OTP and pass --first-factor")]
    WebAuthnOnly,
    #[error("Cognito offers this user {offered} to sign in (USER_AUTH) and {why}: give the password, or --first-factor email-otp|sms-otp for a one-time code")]
    NoFirstFactor { offered: String, why: &'static str },
    #[error("Cognito asks to set up MFA for this user (MFA_SETUP: the user pool requires MFA and the user has none); that needs a person at a terminal to scan a QR code: run `cognito-s3fs login` on a terminal once, or enrol the user elsewhere (e.g. the hosted sign-in page)")]
    MfaSetupNeedsTerminal,
    #[error("Cognito asks to set up MFA for this user (MFA_SETUP) and offers only {0}; cognito-s3fs enrols authenticator apps (SOFTWARE_TOKEN_MFA) only: an administrator enables TOTP MFA on the user pool, or sets the user's phone number and SMS MFA")]
    MfaSetupNoTotp(String),
    #[error("cannot draw the QR code: {0}")]
    QrCode(String),
    #[error("--mfa-code-command failed: {0}")]
    CodeCommand(String),
    #[error("Cognito refused the code for {challenge}: {message}")]
    CodeRefused { challenge: String, message: String },
    #[error("cannot answer Cognito's SRP challenge: {0}")]
    Srp(#[from] SrpError),
}

fn names(flows: &[AuthFlow]) -> String {
    let names: Vec<&str> = flows.iter().map(|f| f.cognito_name()).collect();
    names.join(", ")
}
