//! USER_SRP_AUTH: InitiateAuth sends A, the PASSWORD_VERIFIER challenge is answered with
//! the password claim (`srp.rs` holds the math). The password never leaves the machine.

use std::time::SystemTime;

use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthInput;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};

use super::api::{Challenge, Step};
use super::challenge::Ctx;
use super::error::SignInError;
use super::srp::{self, SrpClient};
use crate::auth::AuthError;

pub(super) async fn initiate(ctx: &mut Ctx<'_>) -> Result<Step, AuthError> {
    let client = SrpClient::new().map_err(SignInError::from)?;
    let cfg = ctx.cfg;
    let mut input = InitiateAuthInput::builder()
        .auth_flow(AuthFlowType::UserSrpAuth)
        .client_id(&cfg.client_id)
        .auth_parameters("USERNAME", &cfg.username)
        .auth_parameters("SRP_A", client.public_hex());
    if let Some(hash) = cfg.secret_hash(&cfg.username) {
        input = input.auth_parameters("SECRET_HASH", hash.expose());
    }
    let input = input
        .build()
        .map_err(|e| AuthError::Protocol(format!("cannot build the request: {e}")))?;
    ctx.srp = Some(client);
    ctx.api.initiate_auth(input).await?.try_into()
}

/// PASSWORD_VERIFIER: the claim is signed for `USER_ID_FOR_SRP`, which is also the
/// USERNAME of the answer (and of its SECRET_HASH).
pub(super) async fn verify(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    let missing = |k: &str| AuthError::Protocol(format!("PASSWORD_VERIFIER without {k}"));
    let client = ctx
        .srp
        .as_ref()
        .ok_or_else(|| AuthError::Protocol("PASSWORD_VERIFIER without an SRP start".into()))?;
    let challenge = srp::Challenge {
        user_id_for_srp: c
            .param("USER_ID_FOR_SRP")
            .ok_or_else(|| missing("USER_ID_FOR_SRP"))?,
        salt_hex: c.param("SALT").ok_or_else(|| missing("SALT"))?,
        srp_b_hex: c.param("SRP_B").ok_or_else(|| missing("SRP_B"))?,
        secret_block_b64: c
            .param("SECRET_BLOCK")
            .ok_or_else(|| missing("SECRET_BLOCK"))?,
    };
    let claim = client
        .claim(
            &ctx.cfg.user_pool_id,
            &challenge,
            ctx.password.expose(),
            SystemTime::now(),
        )
        .map_err(SignInError::from)?;
    let secret_block = challenge.secret_block_b64.to_owned();
    ctx.user_id = challenge.user_id_for_srp.to_owned();
    ctx.respond(
        ChallengeNameType::PasswordVerifier,
        c.session,
        vec![
            ("PASSWORD_CLAIM_SECRET_BLOCK", secret_block),
            ("PASSWORD_CLAIM_SIGNATURE", claim.signature),
            ("TIMESTAMP", claim.timestamp),
        ],
    )
    .await
}
