//! MFA_SETUP: the user pool requires MFA and this user has none yet, so the sign-in enrols
//! an authenticator app in place: AssociateSoftwareToken with the challenge's session, the
//! `otpauth://` URI and its QR code on the terminal, a code typed back, VerifySoftwareToken,
//! and MFA_SETUP answered with the session that verification returned.
//!
//! Subtleties:
//! 1. Only on a terminal, in an interactive sign-in: a person must scan the code. A daemon's
//!    re-login, or a sign-in with no terminal, fails with a line that says so (and how to
//!    enrol elsewhere), never waits.
//! 2. The URI and the QR code carry the TOTP secret: they go to the terminal only (never
//!    to the log or standard error, which may be a file), and their text is wiped after.
//! 3. Only TOTP is enrolled here. SMS needs a verified phone number, which an administrator
//!    sets; when `MFAS_CAN_SETUP` lacks SOFTWARE_TOKEN_MFA the error says that.

use aws_sdk_cognitoidentityprovider::types::{ChallengeNameType, VerifySoftwareTokenResponseType};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;
use zeroize::Zeroizing;

use super::api::{Challenge, SignInApi, Step};
use super::challenge::Ctx;
use super::error::SignInError;
use super::terminal;
use crate::auth::secret::prompt_secret;
use crate::auth::{AuthError, Secret};

/// The issuer an authenticator app shows beside the account.
const ISSUER: &str = "cognito-s3fs";

pub(super) async fn enrol(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    let can_setup = c.param("MFAS_CAN_SETUP").unwrap_or_default();
    if !can_setup.is_empty() && !can_setup.contains("SOFTWARE_TOKEN_MFA") {
        return Err(SignInError::MfaSetupNoTotp(can_setup.to_owned()).into());
    }
    if !ctx.interaction.prompts {
        return Err(SignInError::MfaSetupNeedsTerminal.into());
    }
    let session = c
        .session
        .ok_or_else(|| AuthError::Protocol("MFA_SETUP without a session".into()))?;
    let mut associated = ctx.api.associate_software_token(session).await?;
    let secret = associated
        .secret_code
        .take()
        .map(Secret::new)
        .ok_or_else(|| AuthError::Protocol("AssociateSoftwareToken without a secret".into()))?;
    let session = associated
        .session
        .take()
        .ok_or_else(|| AuthError::Protocol("AssociateSoftwareToken without a session".into()))?;
    show_enrolment(&ctx.cfg.username, &secret)?;
    let code = prompt_secret("MFA code", "Code shown by the authenticator app: ")
        .map_err(|_| SignInError::MfaSetupNeedsTerminal)?;
    let session = verify(ctx.api, session, &code).await?;
    ctx.respond(ChallengeNameType::MfaSetup, Some(session), vec![])
        .await
}

/// VerifySoftwareToken; returns the session that answers MFA_SETUP.
async fn verify(api: &dyn SignInApi, session: String, code: &Secret) -> Result<String, AuthError> {
    let refused = |message: String| SignInError::CodeRefused {
        challenge: "MFA_SETUP".into(),
        message,
    };
    let out = match api.verify_software_token(session, code).await {
        Ok(out) => out,
        // Cognito answers a wrong code with EnableSoftwareTokenMFAException ("Code
        // mismatch"); the emulator with CodeMismatchException.
        Err(AuthError::Rejected { code, message, .. })
            if code == "EnableSoftwareTokenMFAException" || code == "CodeMismatchException" =>
        {
            return Err(refused(message).into())
        }
        Err(other) => return Err(other),
    };
    if out.status() != Some(&VerifySoftwareTokenResponseType::Success) {
        return Err(refused("VerifySoftwareToken did not answer SUCCESS".into()).into());
    }
    out.session
        .ok_or_else(|| AuthError::Protocol("VerifySoftwareToken without a session".into()))
}

/// Shows the URI and its QR code on the terminal.
fn show_enrolment(username: &str, secret: &Secret) -> Result<(), SignInError> {
    let uri = otpauth_uri(username, secret);
    let qr = QrCode::new(uri.as_bytes()).map_err(|e| SignInError::QrCode(e.to_string()))?;
    let picture = Zeroizing::new(
        qr.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
    );
    let text = Zeroizing::new(format!(
        "\nThis user pool requires MFA. Scan this QR code with an authenticator app,\n\
         or add this URI to it:\n\n{}\n\n{}\n\n",
        &*picture, &*uri
    ));
    terminal::show(&text).map_err(|_| SignInError::MfaSetupNeedsTerminal)
}

/// `otpauth://totp/ISSUER:USER?secret=...&issuer=ISSUER`, as authenticator apps read it.
pub(super) fn otpauth_uri(username: &str, secret: &Secret) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}",
        percent_encode(username),
        secret.expose()
    ))
}

/// Every byte but RFC 3986's unreserved characters, percent-encoded.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
