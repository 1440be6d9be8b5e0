//! From a Cognito user-pool login to AWS credentials that stay fresh.
//!
//! [`sign_in`] runs the chain once (InitiateAuth and its challenges, GetId,
//! GetCredentialsForIdentity); [`provider::CognitoCredentialsProvider`] then keeps the
//! credentials fresh for the life of the mount.

pub mod backoff;
pub mod cognito;
pub mod error;
pub mod identity;
pub mod provider;
pub mod secret;
pub mod signin;
pub mod transport;

#[cfg(test)]
mod provider_tests;

pub use cognito::{CognitoClient, CognitoConfig, IdentityBackend, NewPasswordSource, Tokens};
pub use error::AuthError;
pub use provider::{CognitoCredentialsProvider, SignedIn};
pub use secret::Secret;

/// Runs the whole chain once: log in (answering NEW_PASSWORD_REQUIRED from `new_password`),
/// get the identity id, get the first credentials.
pub async fn sign_in(
    backend: &dyn IdentityBackend,
    mut password: Secret,
    new_password: Option<NewPasswordSource<'_>>,
) -> Result<SignedIn, AuthError> {
    let tokens = backend.login(&mut password, new_password).await?;
    let identity_id = backend.get_id(&tokens.id_token).await?;
    let credentials = backend.credentials(&identity_id, &tokens.id_token).await?;
    Ok(SignedIn {
        tokens,
        password,
        identity_id,
        credentials,
    })
}
