//! The one challenge loop every flow feeds: answers what Cognito asks until it hands out
//! tokens.

use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::RespondToAuthChallengeInput;
use aws_sdk_cognitoidentityprovider::types::ChallengeNameType;

use super::api::{Challenge, SignInApi, Step};
use super::error::SignInError;
use super::srp::SrpClient;
use super::{mfa, mfa_choice, mfa_setup, srp_flow, user_auth, SignInSettings};
use crate::auth::secret::SecretInputError;
use crate::auth::{AuthError, CognitoConfig, NewPasswordSource, Secret, Tokens};

/// More challenges in a row than any real sign-in asks (SRP, new password, MFA setup, code).
const MAX_ROUNDS: usize = 8;

/// What a sign-in may ask the person: a new password, codes on the terminal.
pub struct Interaction<'a> {
    pub new_password: Option<NewPasswordSource<'a>>,
    /// Whether prompts on the terminal are allowed (the first sign-in, not a re-login).
    pub prompts: bool,
}

/// The state of one sign-in attempt.
pub(super) struct Ctx<'a> {
    pub api: &'a dyn SignInApi,
    pub cfg: &'a CognitoConfig,
    pub settings: &'a SignInSettings,
    pub password: &'a mut Secret,
    pub interaction: Interaction<'a>,
    pub srp: Option<SrpClient>,
    /// The user as Cognito names it in challenges (`USER_ID_FOR_SRP`), else the typed name.
    pub user_id: String,
}

impl<'a> Ctx<'a> {
    pub fn new(
        api: &'a dyn SignInApi,
        cfg: &'a CognitoConfig,
        settings: &'a SignInSettings,
        password: &'a mut Secret,
        interaction: Interaction<'a>,
    ) -> Self {
        Ctx {
            api,
            cfg,
            settings,
            password,
            interaction,
            srp: None,
            user_id: cfg.username.clone(),
        }
    }

    /// Forgets what an earlier flow learned.
    pub fn reset(&mut self) {
        self.srp = None;
        self.user_id = self.cfg.username.clone();
    }

    /// RespondToAuthChallenge with USERNAME and SECRET_HASH (over the user id) added.
    pub async fn respond(
        &mut self,
        name: ChallengeNameType,
        session: Option<String>,
        responses: Vec<(&'static str, String)>,
    ) -> Result<Step, AuthError> {
        let mut input = RespondToAuthChallengeInput::builder()
            .client_id(&self.cfg.client_id)
            .challenge_name(name)
            .set_session(session)
            .challenge_responses("USERNAME", &self.user_id);
        if let Some(hash) = self.cfg.secret_hash(&self.user_id) {
            input = input.challenge_responses("SECRET_HASH", hash.expose());
        }
        for (key, value) in responses {
            input = input.challenge_responses(key, value);
        }
        let input = input
            .build()
            .map_err(|e| AuthError::Protocol(format!("cannot build the request: {e}")))?;
        self.api.respond_to_auth_challenge(input).await?.try_into()
    }
}

/// Answers challenges from `first` on until Cognito hands out tokens.
pub(super) async fn finish(ctx: &mut Ctx<'_>, first: Step) -> Result<Tokens, AuthError> {
    let mut step = first;
    for _ in 0..MAX_ROUNDS {
        let challenge = match step {
            Step::Tokens(tokens) => return Ok(tokens),
            Step::Challenge(c) => c,
        };
        if let Some(id) = challenge.param("USER_ID_FOR_SRP") {
            ctx.user_id = id.to_owned();
        }
        tracing::debug!(
            challenge = challenge.name.as_str(),
            "answering a Cognito challenge"
        );
        step = answer(ctx, challenge).await?;
    }
    Err(AuthError::Protocol(format!(
        "Cognito asked more than {MAX_ROUNDS} challenges in a row"
    )))
}

async fn answer(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    use ChallengeNameType as C;
    match &c.name {
        C::PasswordVerifier => srp_flow::verify(ctx, c).await,
        C::NewPasswordRequired => new_password(ctx, c).await,
        C::SoftwareTokenMfa | C::SmsMfa | C::EmailOtp | C::SmsOtp => mfa::answer_code(ctx, c).await,
        C::SelectMfaType => mfa_choice::answer(ctx, c).await,
        C::MfaSetup => mfa_setup::enrol(ctx, c).await,
        C::SelectChallenge => user_auth::select(ctx, c).await,
        C::WebAuthn => Err(SignInError::WebAuthnOnly.into()),
        other => Err(AuthError::UnsupportedChallenge(other.as_str().to_owned())),
    }
}

/// NEW_PASSWORD_REQUIRED: the new password replaces the held one once Cognito takes it.
async fn new_password(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    let source = ctx
        .interaction
        .new_password
        .as_mut()
        .ok_or(AuthError::NewPasswordRequired)?;
    let fresh = source().map_err(|e| match e {
        SecretInputError::NoTerminal { .. } => AuthError::NewPasswordRequired,
        other => AuthError::Input(other),
    })?;
    let step = ctx
        .respond(
            ChallengeNameType::NewPasswordRequired,
            c.session,
            vec![("NEW_PASSWORD", fresh.expose().to_owned())],
        )
        .await?;
    *ctx.password = fresh;
    Ok(step)
}
