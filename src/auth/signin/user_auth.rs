//! USER_AUTH, choice-based sign-in: InitiateAuth names a preferred first factor, and
//! Cognito either starts it or answers SELECT_CHALLENGE with the factors this user has.
//!
//! Subtleties:
//! 1. With a password, the preferred factor is `PASSWORD_SRP` (the password never leaves
//!    the machine), then `PASSWORD`; with `--first-factor`, the one-time code it names.
//!    A preference Cognito cannot honour comes back as SELECT_CHALLENGE with
//!    `AvailableChallenges`, and is answered from the same order.
//! 2. `PASSWORD_SRP` starts SRP here (SRP_A in the request), so the PASSWORD_VERIFIER that
//!    follows is the one `srp_flow.rs` answers for `USER_SRP_AUTH`.
//! 3. `WEB_AUTHN` (passkeys) needs a browser or an authenticator; when it is all Cognito
//!    offers, the sign-in fails saying so rather than with a bare "unsupported".
//! 4. The emulator has no USER_AUTH: these shapes are tested against the documented API
//!    with the fake client (tests.rs).

use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthInput;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};

use super::api::{Challenge, Step};
use super::challenge::Ctx;
use super::error::SignInError;
use super::srp::SrpClient;
use crate::auth::AuthError;

pub(super) async fn initiate(ctx: &mut Ctx<'_>) -> Result<Step, AuthError> {
    let cfg = ctx.cfg;
    let mut input = InitiateAuthInput::builder()
        .auth_flow(AuthFlowType::UserAuth)
        .client_id(&cfg.client_id)
        .auth_parameters("USERNAME", &cfg.username);
    if let Some(hash) = cfg.secret_hash(&cfg.username) {
        input = input.auth_parameters("SECRET_HASH", hash.expose());
    }
    input = match ctx.settings.first_factor {
        Some(otp) => input.auth_parameters("PREFERRED_CHALLENGE", otp.challenge().as_str()),
        None => input
            .auth_parameters("PREFERRED_CHALLENGE", "PASSWORD_SRP")
            .auth_parameters("SRP_A", start_srp(ctx)?),
    };
    let input = input
        .build()
        .map_err(|e| AuthError::Protocol(format!("cannot build the request: {e}")))?;
    ctx.api.initiate_auth(input).await?.try_into()
}

/// SELECT_CHALLENGE: the first factor from `AvailableChallenges`, in the order above.
pub(super) async fn select(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    use ChallengeNameType as C;
    let has = |name: &C| c.available.contains(name);
    let mut responses = Vec::new();
    if let Some(otp) = ctx.settings.first_factor.filter(|f| has(&f.challenge())) {
        responses.push(("ANSWER", otp.challenge().as_str().to_owned()));
    } else if ctx.password.is_empty() {
        return Err(no_factor(&c.available, "no password was given").into());
    } else if has(&C::PasswordSrp) {
        responses.push(("ANSWER", "PASSWORD_SRP".to_owned()));
        responses.push(("SRP_A", start_srp(ctx)?));
    } else if has(&C::Password) {
        responses.push(("ANSWER", "PASSWORD".to_owned()));
        responses.push(("PASSWORD", ctx.password.expose().to_owned()));
    } else {
        return Err(no_factor(&c.available, "a password is not one of them").into());
    }
    ctx.respond(C::SelectChallenge, c.session, responses).await
}

/// A fresh SRP exchange for this attempt; returns SRP_A.
fn start_srp(ctx: &mut Ctx<'_>) -> Result<String, SignInError> {
    let client = SrpClient::new()?;
    let a = client.public_hex();
    ctx.srp = Some(client);
    Ok(a)
}

fn no_factor(available: &[ChallengeNameType], why: &'static str) -> SignInError {
    if available == [ChallengeNameType::WebAuthn] {
        return SignInError::WebAuthnOnly;
    }
    let offered: Vec<&str> = available.iter().map(ChallengeNameType::as_str).collect();
    SignInError::NoFirstFactor {
        offered: offered.join(", "),
        why,
    }
}
