//! The Cognito calls: user-pool login (with its challenges), token refresh, and the identity
//! pool exchange of an IdToken for temporary AWS credentials.
//!
//! These APIs are unauthenticated: the clients are built without any credentials provider,
//! so the SDK's default chain (and its instance-metadata probe) is never consulted here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_cognitoidentity::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, AuthenticationResultType};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::AuthError;
use super::identity::{
    explain_role_refusal, role_session_name, sts_credentials_from, IdentityChoice, IdentityFlow,
};
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
    /// Which role, through which identity-pool flow (`--role-arn`, `--identity-flow`).
    pub identity: IdentityChoice,
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
    /// For the basic flow's `AssumeRoleWithWebIdentity` (an unsigned call).
    sts: aws_sdk_sts::Client,
    sign_in: SignInSettings,
    /// The flow that worked, once one has: re-logins use it.
    worked: parking_lot::Mutex<Option<AuthFlow>>,
    /// Whether the identity pool has granted credentials (for `--role-arn`) once.
    role_accepted: AtomicBool,
}

impl CognitoClient {
    pub fn new(config: CognitoConfig, sdk: &aws_config::SdkConfig) -> Self {
        CognitoClient {
            config,
            idp: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            identity: aws_sdk_cognitoidentity::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            sign_in: SignInSettings::default(),
            worked: parking_lot::Mutex::new(None),
            role_accepted: AtomicBool::new(false),
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

/// The tokens of an answer, moved out of it (not copied) into [`Secret`]s: a string left in
/// the answer would be freed without being wiped. The access token is not used but is
/// wiped all the same.
pub(crate) fn tokens_from(
    result: &mut AuthenticationResultType,
    old_refresh: Option<&Secret>,
) -> Result<Tokens, AuthError> {
    drop(result.access_token.take().map(Secret::new));
    let refresh_token = result.refresh_token.take().map(Secret::new);
    let id_token = result
        .id_token
        .take()
        .map(Secret::new)
        .ok_or_else(|| AuthError::Protocol("Cognito answered without an IdToken".into()))?;
    let lifetime = Duration::from_secs(result.expires_in().max(60) as u64);
    Ok(Tokens {
        id_token,
        refresh_token: refresh_token.or_else(|| old_refresh.cloned()),
        expires_at: SystemTime::now() + lifetime,
    })
}

/// The keys of a GetCredentialsForIdentity answer, moved into the SDK's [`AwsCredentials`]
/// (whose secret key and session token are zeroed when the last copy is dropped).
fn credentials_from(
    creds: &mut aws_sdk_cognitoidentity::types::Credentials,
) -> Result<AwsCredentials, AuthError> {
    let session_token = creds.session_token.take().map(Zeroizing::new);
    let (Some(akid), Some(secret)) = (
        creds.access_key_id.take(),
        creds.secret_key.take().map(Zeroizing::new),
    ) else {
        return Err(AuthError::Protocol(
            "GetCredentialsForIdentity answered without keys".into(),
        ));
    };
    let expiry = creds.expiration.and_then(|d| SystemTime::try_from(d).ok());
    Ok(AwsCredentials::new(
        akid,
        take_string(secret),
        session_token.map(take_string),
        expiry,
        "cognito-identity",
    ))
}

/// Moves the string out to a holder that wipes it itself; the emptied `Zeroizing` has
/// nothing left to wipe. Until then it wipes the string on every early return.
pub(crate) fn take_string(mut held: Zeroizing<String>) -> String {
    std::mem::take(&mut *held)
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
        let mut out = call
            .send()
            .await
            .map_err(|e| classify("InitiateAuth(REFRESH_TOKEN_AUTH)", &cfg.username, e))?;
        let result = out.authentication_result.as_mut().ok_or_else(|| {
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
        let got = match self.config.identity.flow {
            IdentityFlow::Enhanced => self.enhanced_credentials(identity_id, id_token).await,
            IdentityFlow::Basic => self.basic_credentials(identity_id, id_token).await,
        };
        match got {
            Ok(creds) => {
                self.role_accepted.store(true, Ordering::Relaxed);
                Ok(creds)
            }
            // Once the role has been granted, a refusal is about the token (renewed as
            // usual), not about the role.
            Err(err) if self.role_accepted.load(Ordering::Relaxed) => Err(err),
            Err(err) => {
                let role = self.config.identity.role_arn.as_deref();
                Err(explain_role_refusal(err, role, id_token))
            }
        }
    }
}

impl CognitoClient {
    /// `GetCredentialsForIdentity`, with `CustomRoleArn` when a role is chosen.
    async fn enhanced_credentials(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, AuthError> {
        let cfg = &self.config;
        let mut out = self
            .identity
            .get_credentials_for_identity()
            .identity_id(identity_id)
            .logins(cfg.logins_key(), id_token.expose())
            .set_custom_role_arn(cfg.identity.role_arn.clone())
            .send()
            .await
            .map_err(|e| classify("GetCredentialsForIdentity", &cfg.username, e))?;
        let creds = out.credentials.as_mut().ok_or_else(|| {
            AuthError::Protocol("GetCredentialsForIdentity answered without credentials".into())
        })?;
        credentials_from(creds)
    }

    /// The basic flow: `GetOpenIdToken`, then STS `AssumeRoleWithWebIdentity`.
    async fn basic_credentials(
        &self,
        identity_id: &str,
        id_token: &Secret,
    ) -> Result<AwsCredentials, AuthError> {
        let cfg = &self.config;
        let mut out = self
            .identity
            .get_open_id_token()
            .identity_id(identity_id)
            .logins(cfg.logins_key(), id_token.expose())
            .send()
            .await
            .map_err(|e| classify("GetOpenIdToken", &cfg.username, e))?;
        let web_token =
            out.token.take().map(Secret::new).ok_or_else(|| {
                AuthError::Protocol("GetOpenIdToken answered without a token".into())
            })?;
        let duration = cfg.identity.session_duration;
        let mut assumed = self
            .sts
            .assume_role_with_web_identity()
            .set_role_arn(cfg.identity.role_arn.clone())
            .role_session_name(role_session_name(&cfg.username))
            .web_identity_token(web_token.expose())
            .set_duration_seconds(duration.map(|d| d.as_secs() as i32))
            .send()
            .await
            .map_err(|e| classify("AssumeRoleWithWebIdentity", &cfg.username, e))?;
        let creds = assumed.credentials.as_mut().ok_or_else(|| {
            AuthError::Protocol("AssumeRoleWithWebIdentity answered without credentials".into())
        })?;
        sts_credentials_from(creds)
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
            identity: IdentityChoice::default(),
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

    #[test]
    fn tokens_are_moved_out_of_the_answer_not_copied() {
        let mut answer = AuthenticationResultType::builder()
            .access_token("ACCESS-TOKEN")
            .id_token("ID-TOKEN")
            .refresh_token("REFRESH-TOKEN")
            .expires_in(3600)
            .build();
        let tokens = tokens_from(&mut answer, None).unwrap();
        assert_eq!(tokens.id_token.expose(), "ID-TOKEN");
        assert_eq!(
            tokens.refresh_token.as_ref().unwrap().expose(),
            "REFRESH-TOKEN"
        );
        assert_eq!(
            (answer.access_token, answer.id_token, answer.refresh_token),
            (None, None, None),
            "no token is left in the answer to be freed unwiped"
        );
        assert!(!format!("{tokens:?}").contains("TOKEN"));
    }

    #[test]
    fn aws_keys_are_moved_out_of_the_answer_and_redacted() {
        let mut answer = aws_sdk_cognitoidentity::types::Credentials::builder()
            .access_key_id("AKID")
            .secret_key("SECRET-KEY")
            .session_token("SESSION-TOKEN")
            .build();
        let creds = credentials_from(&mut answer).unwrap();
        assert_eq!(creds.secret_access_key(), "SECRET-KEY");
        assert_eq!(creds.session_token(), Some("SESSION-TOKEN"));
        assert_eq!((answer.secret_key, answer.session_token), (None, None));
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("SECRET-KEY") && !shown.contains("SESSION-TOKEN"),
            "{shown}"
        );
    }
}
