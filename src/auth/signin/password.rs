//! USER_PASSWORD_AUTH: the password goes to Cognito (over TLS); for app clients that allow
//! nothing else.

use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthInput;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;

use super::api::Step;
use super::challenge::Ctx;
use crate::auth::AuthError;

pub(super) async fn initiate(ctx: &mut Ctx<'_>) -> Result<Step, AuthError> {
    let cfg = ctx.cfg;
    let mut input = InitiateAuthInput::builder()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(&cfg.client_id)
        .auth_parameters("USERNAME", &cfg.username)
        .auth_parameters("PASSWORD", ctx.password.expose());
    if let Some(hash) = cfg.secret_hash(&cfg.username) {
        input = input.auth_parameters("SECRET_HASH", hash.expose());
    }
    let input = input
        .build()
        .map_err(|e| AuthError::Protocol(format!("cannot build the request: {e}")))?;
    ctx.api.initiate_auth(input).await?.try_into()
}
