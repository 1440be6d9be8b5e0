//! The Cognito calls: user-pool login (with its challenges), token refresh, and the identity
//! pool exchange of an IdToken for temporary AWS credentials.
//!
//! These APIs are unauthenticated: the clients are built without any credentials provider,
//! so the SDK's default chain (and its instance-metadata probe) is never consulted here.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, AuthenticationResultType};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::AuthError;
use super::secret::{Secret, SecretInputError};
use super::signin::{sign_in, AuthFlow, Interaction, SdkSignIn, SignInSettings};

/// Where a user pool, its app client and its identity pool are.
#[derive(Clone, Debug)]
pub struct CognitoConfig {
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub identity_pool_id: String,
    pub username: String,
}

impl CognitoConfig {
    /// The key of the identity pool's `Logins` map for this user pool.
    pub fn logins_key(&self) -> String {
        format!(
            "cognito-idp.{}.amazonaws.com/{}",
            self.region, self.user_pool_id
        )
    }

    /// `SECRET_HASH` = Base64(HMAC-SHA256(client secret, username + client id)).
    pub fn secret_hash(&self, username: &str) -> Option<Secret> {
        let secret = self.client_secret.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(username.as_bytes());
        mac.update(self.client_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(Secret::new(
            base64::engine::general_purpose::STANDARD.encode(digest),
        ))
    }
}

/// The user-pool tokens of one login.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub id_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_at: SystemTime,
}

/// Temporary AWS credentials from the identity pool.
pub type AwsCredentials = aws_credential_types::Credentials;

/// How to answer `NEW_PASSWORD_REQUIRED`.
pub type NewPasswordSource<'a> = &'a mut (dyn FnMut() -> Result<Secret, SecretInputError> + Send);

/// What the credentials provider needs from Cognito. The real implementation is
/// [`CognitoClient`]; tests use a scripted fake.
#[async_trait]
pub trait IdentityBackend: Send + Sync + 'static {
    /// USER_PASSWORD_AUTH, answering NEW_PASSWORD_REQUIRED from `new_password` (and then
    /// updating `password` to the new one, so a later re-login uses it).
    async fn login(
        &self,
        password: &mut Secret,
        new_password: Option<NewPasswordSource<'_>>,
    ) -> Result<Tokens, AuthError>;

    /// REFRESH_TOKEN_AUTH.
    async fn refresh(&self, refresh_token: &Secret) -> Result<Tokens, AuthError>;

    /// `GetId`.
    async fn get_id(&self, id_token: &Secret) -> Result<String, AuthError>;

    /// `GetCredentialsForIdentity`.
    async fn credentials(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, AuthError>;
}

/// The real Cognito clients.
#[derive(Debug)]
pub struct CognitoClient {
    config: CognitoConfig,
    idp: aws_sdk_cognitoidentityprovider::Client,
    identity: aws_sdk_cognitoidentity::Client,
    sign_in: SignInSettings,
    /// The flow that worked, once one has: re-logins use it.
    worked: parking_lot::Mutex<Option<AuthFlow>>,
}

impl CognitoClient {
    pub fn new(config: CognitoConfig, sdk: &aws_config::SdkConfig) -> Self {
        CognitoClient {
            config,
            idp: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            identity: aws_sdk_cognitoidentity::Client::new(sdk),
            sign_in: SignInSettings::default(),
            worked: parking_lot::Mutex::new(None),
        }
    }

    /// How to sign in (`--auth-flow`, MFA options); the default is `auto`.
    pub fn with_sign_in(mut self, settings: SignInSettings) -> Self {
        self.sign_in = settings;
        self
    }

    /// The flow the last sign-in used.
    pub fn flow_used(&self) -> Option<AuthFlow> {
        *self.worked.lock()
    }

    pub fn config(&self) -> &CognitoConfig {
        &self.config
    }
}

pub(crate) fn tokens_from(
    result: &AuthenticationResultType,
    old_refresh: Option<&Secret>,
) -> Result<Tokens, AuthError> {
    let id_token = result
        .id_token()
        .ok_or_else(|| AuthError::Protocol("Cognito answered without an IdToken".into()))?;
    let refresh_token = result
        .refresh_token()
        .map(|t| Secret::new(t.to_owned()))
        .or_else(|| old_refresh.cloned());
    let lifetime = Duration::from_secs(result.expires_in().max(60) as u64);
    Ok(Tokens {
        id_token: Secret::new(id_token.to_owned()),
        refresh_token,
        expires_at: SystemTime::now() + lifetime,
    })
}

/// Turns a Cognito SDK error into one clear [`AuthError`].
pub(crate) fn classify<E, R>(
    op: &'static str,
    username: &str,
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AuthError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + crate::sdk_error::HasStatus,
{
    let message = err.message().unwrap_or_default().to_owned();
    let Some(code) = err.code().map(str::to_owned) else {
        return AuthError::Unreachable {
            op,
            detail: crate::sdk_error::summary(&err),
        };
    };
    match code.as_str() {
        "NotAuthorizedException" => AuthError::NotAuthorized { op, message },
        "UserNotFoundException" => AuthError::UserNotFound(username.to_owned()),
        "UserNotConfirmedException" => AuthError::UserNotConfirmed(username.to_owned()),
        "PasswordResetRequiredException" => AuthError::PasswordResetRequired,
        "ResourceNotFoundException" => AuthError::NotFound { op, message },
        "InvalidPasswordException" => AuthError::InvalidNewPassword(message),
        _ => AuthError::Rejected { op, code, message },
    }
}

#[async_trait]
impl IdentityBackend for CognitoClient {
    /// Signs in with the configured flow (after a first success, the flow that worked).
    /// Only the first sign-in, which gets a new-password source, may prompt.
    async fn login(
        &self,
        password: &mut Secret,
        new_password: Option<NewPasswordSource<'_>>,
    ) -> Result<Tokens, AuthError> {
        let mut settings = self.sign_in.clone();
        if let Some(flow) = self.flow_used() {
            settings.flow = flow;
        }
        let api = SdkSignIn {
            idp: &self.idp,
            username: &self.config.username,
        };
        let prompts = new_password.is_some();
        // Shortens the source's lifetime to the borrows of this call (a coercion that
        // `Option` does not do by itself).
        #[allow(clippy::manual_map, clippy::needless_match)]
        let new_password: Option<NewPasswordSource<'_>> = match new_password {
            Some(source) => Some(source),
            None => None,
        };
        let interaction = Interaction {
            prompts,
            new_password,
        };
        let (tokens, flow) = sign_in(&api, &self.config, &settings, password, interaction).await?;
        *self.worked.lock() = Some(flow);
        Ok(tokens)
    }

    async fn refresh(&self, refresh_token: &Secret) -> Result<Tokens, AuthError> {
        let cfg = &self.config;
        let mut call = self
            .idp
            .initiate_auth()
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .client_id(&cfg.client_id)
            .auth_parameters("REFRESH_TOKEN", refresh_token.expose());
        if let Some(hash) = cfg.secret_hash(&cfg.username) {
            call = call.auth_parameters("SECRET_HASH", hash.expose());
        }
        let out = call
            .send()
            .await
            .map_err(|e| classify("InitiateAuth(REFRESH_TOKEN_AUTH)", &cfg.username, e))?;
        let result = out.authentication_result().ok_or_else(|| {
            AuthError::Protocol("Cognito answered a token refresh without tokens".into())
        })?;
        tokens_from(result, Some(refresh_token))
    }

    async fn get_id(&self, id_token: &Secret) -> Result<String, AuthError> {
        let cfg = &self.config;
        let out = self
            .identity
            .get_id()
            .identity_pool_id(&cfg.identity_pool_id)
            .logins(cfg.logins_key(), id_token.expose())
            .send()
            .await
            .map_err(|e| classify("GetId", &cfg.username, e))?;
        out.identity_id()
            .map(str::to_owned)
            .ok_or_else(|| AuthError::Protocol("GetId answered without an identity id".into()))
    }

    async fn credentials(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, AuthError> {
        let cfg = &self.config;
        let out = self
            .identity
            .get_credentials_for_identity()
            .identity_id(identity_id)
            .logins(cfg.logins_key(), id_token.expose())
            .send()
            .await
            .map_err(|e| classify("GetCredentialsForIdentity", &cfg.username, e))?;
        let creds = out.credentials().ok_or_else(|| {
            AuthError::Protocol("GetCredentialsForIdentity answered without credentials".into())
        })?;
        let (Some(akid), Some(secret)) = (creds.access_key_id(), creds.secret_key()) else {
            return Err(AuthError::Protocol(
                "GetCredentialsForIdentity answered without keys".into(),
            ));
        };
        let expiry = creds
            .expiration()
            .and_then(|d| SystemTime::try_from(*d).ok());
        Ok(AwsCredentials::new(
            akid,
            secret,
            creds.session_token().map(str::to_owned),
            expiry,
            "cognito-identity",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_matches_the_documented_formula() {
        // Reference value computed with Python:
        // base64(hmac.new(b"s3cr3t", b"alice" + b"client123", sha256).digest())
        let cfg = CognitoConfig {
            region: "us-east-1".into(),
            user_pool_id: "us-east-1_abc".into(),
            client_id: "client123".into(),
            client_secret: Some(Secret::new("s3cr3t".into())),
            identity_pool_id: "us-east-1:pool".into(),
            username: "alice".into(),
        };
        assert_eq!(
            cfg.secret_hash("alice").unwrap().expose(),
            "kOPeHzvKtscBvBM4zlIffwOT074cplXWBq9MCfoDa4k="
        );
        assert_eq!(
            cfg.logins_key(),
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
        );
    }
}
