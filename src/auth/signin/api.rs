//! The four Cognito user-pool calls a sign-in makes, behind a trait narrow enough to fake.
//!
//! The trait speaks the SDK's own input and output types, so the fake in the tests builds
//! exactly the shapes the documented API has (`AvailableChallenges`, `ChallengeParameters`,
//! `Session`) and sees exactly the requests the product sends.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::operation::associate_software_token::AssociateSoftwareTokenOutput;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{
    InitiateAuthInput, InitiateAuthOutput,
};
use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::{
    RespondToAuthChallengeInput, RespondToAuthChallengeOutput,
};
use aws_sdk_cognitoidentityprovider::operation::verify_software_token::VerifySoftwareTokenOutput;
use aws_sdk_cognitoidentityprovider::types::{AuthenticationResultType, ChallengeNameType};

use crate::auth::cognito::{classify, tokens_from};
use crate::auth::{AuthError, Secret, Tokens};

#[async_trait]
pub trait SignInApi: Send + Sync {
    async fn initiate_auth(
        &self,
        input: InitiateAuthInput,
    ) -> Result<InitiateAuthOutput, AuthError>;

    async fn respond_to_auth_challenge(
        &self,
        input: RespondToAuthChallengeInput,
    ) -> Result<RespondToAuthChallengeOutput, AuthError>;

    /// `AssociateSoftwareToken` with the session of an `MFA_SETUP` challenge.
    async fn associate_software_token(
        &self,
        session: String,
    ) -> Result<AssociateSoftwareTokenOutput, AuthError>;

    /// `VerifySoftwareToken` with the session `AssociateSoftwareToken` returned.
    async fn verify_software_token(
        &self,
        session: String,
        code: &Secret,
    ) -> Result<VerifySoftwareTokenOutput, AuthError>;
}

/// The real calls, through the SDK client.
pub struct SdkSignIn<'a> {
    pub idp: &'a aws_sdk_cognitoidentityprovider::Client,
    /// For the error that names an unknown user.
    pub username: &'a str,
}

#[async_trait]
impl SignInApi for SdkSignIn<'_> {
    async fn initiate_auth(
        &self,
        input: InitiateAuthInput,
    ) -> Result<InitiateAuthOutput, AuthError> {
        self.idp
            .initiate_auth()
            .set_auth_flow(input.auth_flow)
            .set_client_id(input.client_id)
            .set_auth_parameters(input.auth_parameters)
            .send()
            .await
            .map_err(|e| classify("InitiateAuth", self.username, e))
    }

    async fn respond_to_auth_challenge(
        &self,
        input: RespondToAuthChallengeInput,
    ) -> Result<RespondToAuthChallengeOutput, AuthError> {
        self.idp
            .respond_to_auth_challenge()
            .set_client_id(input.client_id)
            .set_challenge_name(input.challenge_name)
            .set_session(input.session)
            .set_challenge_responses(input.challenge_responses)
            .send()
            .await
            .map_err(|e| classify("RespondToAuthChallenge", self.username, e))
    }

    async fn associate_software_token(
        &self,
        session: String,
    ) -> Result<AssociateSoftwareTokenOutput, AuthError> {
        self.idp
            .associate_software_token()
            .session(session)
            .send()
            .await
            .map_err(|e| classify("AssociateSoftwareToken", self.username, e))
    }

    async fn verify_software_token(
        &self,
        session: String,
        code: &Secret,
    ) -> Result<VerifySoftwareTokenOutput, AuthError> {
        self.idp
            .verify_software_token()
            .session(session)
            .user_code(code.expose())
            .friendly_device_name("cognito-s3fs")
            .send()
            .await
            .map_err(|e| classify("VerifySoftwareToken", self.username, e))
    }
}

/// One answer of Cognito during a sign-in: tokens, or the next challenge.
#[derive(Debug)]
pub enum Step {
    Tokens(Tokens),
    Challenge(Challenge),
}

/// A challenge as InitiateAuth or RespondToAuthChallenge names it.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub name: ChallengeNameType,
    pub params: HashMap<String, String>,
    pub session: Option<String>,
    /// USER_AUTH's first factors (`SELECT_CHALLENGE`).
    pub available: Vec<ChallengeNameType>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

fn step(
    result: Option<&mut AuthenticationResultType>,
    name: Option<&ChallengeNameType>,
    params: Option<&HashMap<String, String>>,
    session: Option<&str>,
    available: &[ChallengeNameType],
) -> Result<Step, AuthError> {
    if let Some(result) = result {
        return tokens_from(result, None).map(Step::Tokens);
    }
    let name = name.cloned().ok_or_else(|| {
        AuthError::Protocol("Cognito answered with neither tokens nor a challenge".into())
    })?;
    Ok(Step::Challenge(Challenge {
        name,
        params: params.cloned().unwrap_or_default(),
        session: session.map(str::to_owned),
        available: available.to_vec(),
    }))
}

impl TryFrom<InitiateAuthOutput> for Step {
    type Error = AuthError;
    fn try_from(mut out: InitiateAuthOutput) -> Result<Step, AuthError> {
        // The tokens are moved out of the answer (see `tokens_from`), so it is taken mutably.
        step(
            out.authentication_result.as_mut(),
            out.challenge_name.as_ref(),
            out.challenge_parameters.as_ref(),
            out.session.as_deref(),
            out.available_challenges.as_deref().unwrap_or_default(),
        )
    }
}

impl TryFrom<RespondToAuthChallengeOutput> for Step {
    type Error = AuthError;
    fn try_from(mut out: RespondToAuthChallengeOutput) -> Result<Step, AuthError> {
        // The tokens are moved out of the answer (see `tokens_from`), so it is taken mutably.
        step(
            out.authentication_result.as_mut(),
            out.challenge_name.as_ref(),
            out.challenge_parameters.as_ref(),
            out.session.as_deref(),
            out.available_challenges.as_deref().unwrap_or_default(),
        )
    }
}
