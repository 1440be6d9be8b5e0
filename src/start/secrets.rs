//! The secrets a login needs, read from where the settings say they are: the password, the
//! app client's secret, a new password. Read here, after the settings are decided and
//! before the daemon forks, and never before [`crate::harden::before_secrets`] has run.

use crate::auth::secret::{
    prompt_secret, read_secret_file, read_secret_stdin, secret_from_bytes, SecretInputError,
};
use crate::auth::signin::SignInSettings;
use crate::auth::{CognitoConfig, Secret};
use crate::harden::{EnvPassword, PASSWORD_ENV};
use crate::settings::{CognitoSettings, PasswordSource};

/// Everything needed to log in through Cognito, secrets included.
pub struct Login {
    pub config: CognitoConfig,
    pub sign_in: SignInSettings,
    pub password: Secret,
    pub new_password: Option<Secret>,
}

/// Reads the secrets `settings` name.
pub fn read(settings: CognitoSettings, env_password: EnvPassword) -> Result<Login, String> {
    let client_secret = settings
        .client_secret_file
        .as_deref()
        .map(|p| read_secret_file("client secret", p))
        .transpose()
        .map_err(|e| e.to_string())?;
    let new_password = settings
        .new_password_file
        .as_deref()
        .map(|p| read_secret_file("new password", p))
        .transpose()
        .map_err(|e| e.to_string())?;
    let password = password(&settings.password, &settings.username, env_password)
        .map_err(|e| e.to_string())?;
    Ok(Login {
        config: CognitoConfig {
            region: settings.region,
            user_pool_id: settings.user_pool_id,
            client_id: settings.client_id,
            client_secret,
            identity_pool_id: settings.identity_pool_id,
            username: settings.username,
            identity: settings.identity,
        },
        sign_in: settings.sign_in,
        password,
        new_password,
    })
}

/// The password from its source; the environment's value was taken out of the environment
/// at start (see [`crate::harden`]) and is wiped whether used or not.
fn password(
    source: &PasswordSource,
    username: &str,
    env_password: EnvPassword,
) -> Result<Secret, SecretInputError> {
    match (source, env_password.0) {
        (PasswordSource::File(path), _) => read_secret_file("password", path),
        (PasswordSource::Stdin, _) => read_secret_stdin("password"),
        (PasswordSource::Environment, Some(bytes)) => secret_from_bytes(PASSWORD_ENV, bytes),
        (PasswordSource::NotNeeded, _) => Ok(Secret::new(String::new())),
        (PasswordSource::Prompt | PasswordSource::Environment, _) => {
            prompt_secret("password", &format!("Password for {username}: "))
        }
    }
}
