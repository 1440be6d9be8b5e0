//! The challenge loop and the flow fallback against a fake Cognito that speaks the SDK's
//! own request and answer types.

use std::collections::VecDeque;

use aws_sdk_cognitoidentityprovider::operation::associate_software_token::AssociateSoftwareTokenOutput;
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::{
    InitiateAuthInput, InitiateAuthOutput,
};
use aws_sdk_cognitoidentityprovider::operation::respond_to_auth_challenge::{
    RespondToAuthChallengeInput, RespondToAuthChallengeOutput,
};
use aws_sdk_cognitoidentityprovider::operation::verify_software_token::VerifySoftwareTokenOutput;
use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, AuthenticationResultType, ChallengeNameType,
};
use parking_lot::Mutex;

use super::*;

#[derive(Default)]
struct FakeCognito {
    initiate: Mutex<VecDeque<Result<InitiateAuthOutput, AuthError>>>,
    respond: Mutex<VecDeque<Result<RespondToAuthChallengeOutput, AuthError>>>,
    initiated: Mutex<Vec<InitiateAuthInput>>,
    responded: Mutex<Vec<RespondToAuthChallengeInput>>,
}

#[async_trait::async_trait]
impl SignInApi for FakeCognito {
    async fn initiate_auth(&self, i: InitiateAuthInput) -> Result<InitiateAuthOutput, AuthError> {
        self.initiated.lock().push(i);
        self.initiate
            .lock()
            .pop_front()
            .expect("an InitiateAuth answer")
    }
    async fn respond_to_auth_challenge(
        &self,
        i: RespondToAuthChallengeInput,
    ) -> Result<RespondToAuthChallengeOutput, AuthError> {
        self.responded.lock().push(i);
        self.respond
            .lock()
            .pop_front()
            .expect("a RespondToAuthChallenge answer")
    }
    async fn associate_software_token(
        &self,
        _: String,
    ) -> Result<AssociateSoftwareTokenOutput, AuthError> {
        unreachable!("not scripted")
    }
    async fn verify_software_token(
        &self,
        _: String,
        _: &Secret,
    ) -> Result<VerifySoftwareTokenOutput, AuthError> {
        unreachable!("not scripted")
    }
}

fn tokens() -> AuthenticationResultType {
    AuthenticationResultType::builder()
        .id_token("id-token")
        .refresh_token("refresh-token")
        .expires_in(3600)
        .build()
}

fn not_enabled(flow: &str) -> AuthError {
    AuthError::Rejected {
        op: "InitiateAuth",
        code: "InvalidParameterException".into(),
        message: format!("{flow} is not enabled for the client."),
    }
}

fn config(secret: Option<&str>) -> CognitoConfig {
    CognitoConfig {
        region: "us-east-1".into(),
        user_pool_id: "us-east-1_Pool".into(),
        client_id: "client".into(),
        client_secret: secret.map(|s| Secret::new(s.into())),
        identity_pool_id: "us-east-1:x".into(),
        username: "carol@example.com".into(),
        identity: Default::default(),
    }
}

fn verifier_challenge(user_id: &str) -> InitiateAuthOutput {
    InitiateAuthOutput::builder()
        .challenge_name(ChallengeNameType::PasswordVerifier)
        .challenge_parameters("USER_ID_FOR_SRP", user_id)
        .challenge_parameters("USERNAME", user_id)
        .challenge_parameters("SALT", "0a1b2c3d")
        .challenge_parameters("SRP_B", "1234abcd")
        .challenge_parameters("SECRET_BLOCK", "c2VjcmV0LWJsb2Nr")
        .build()
}

fn flows_tried(fake: &FakeCognito) -> Vec<AuthFlowType> {
    let initiated = fake.initiated.lock();
    initiated
        .iter()
        .filter_map(|i| i.auth_flow().cloned())
        .collect()
}

fn quiet<'a>() -> Interaction<'a> {
    Interaction {
        new_password: None,
        prompts: false,
    }
}

async fn run(
    fake: &FakeCognito,
    cfg: &CognitoConfig,
    settings: &SignInSettings,
) -> Result<(Tokens, AuthFlow), AuthError> {
    let mut password = Secret::new("pw".into());
    sign_in(fake, cfg, settings, &mut password, quiet()).await
}

#[tokio::test]
async fn srp_answers_as_user_id_for_srp_with_its_secret_hash() {
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(verifier_challenge("uuid-of-carol")));
    let done = RespondToAuthChallengeOutput::builder()
        .authentication_result(tokens())
        .build();
    fake.respond.lock().push_back(Ok(done));
    let cfg = config(Some("s3cr3t"));
    let (_, flow) = run(&fake, &cfg, &SignInSettings::default()).await.unwrap();
    assert_eq!(flow, AuthFlow::Srp);

    let start = &fake.initiated.lock()[0];
    assert_eq!(start.auth_flow(), Some(&AuthFlowType::UserSrpAuth));
    let params = start.auth_parameters().unwrap();
    assert_eq!(params["USERNAME"], "carol@example.com");
    assert!(params["SRP_A"].len() > 700 && !params.contains_key("PASSWORD"));
    let answer = &fake.responded.lock()[0];
    assert_eq!(
        answer.challenge_name(),
        Some(&ChallengeNameType::PasswordVerifier)
    );
    let r = answer.challenge_responses().unwrap();
    assert_eq!(r["USERNAME"], "uuid-of-carol");
    assert_eq!(
        r["SECRET_HASH"],
        cfg.secret_hash("uuid-of-carol").unwrap().expose()
    );
    assert_eq!(r["PASSWORD_CLAIM_SECRET_BLOCK"], "c2VjcmV0LWJsb2Nr");
    assert!(r.contains_key("PASSWORD_CLAIM_SIGNATURE") && r.contains_key("TIMESTAMP"));
}

#[tokio::test]
async fn auto_falls_back_only_when_the_flow_is_not_enabled() {
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Err(not_enabled("USER_SRP_AUTH")));
    fake.initiate
        .lock()
        .push_back(Err(not_enabled("USER_AUTH")));
    let done = InitiateAuthOutput::builder()
        .authentication_result(tokens())
        .build();
    fake.initiate.lock().push_back(Ok(done));
    let (_, flow) = run(&fake, &config(None), &SignInSettings::default())
        .await
        .unwrap();
    assert_eq!(flow, AuthFlow::Password);
    assert_eq!(
        flows_tried(&fake),
        [
            AuthFlowType::UserSrpAuth,
            AuthFlowType::UserAuth,
            AuthFlowType::UserPasswordAuth
        ]
    );

    // A wrong password ends the sign-in: no second flow is tried.
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(verifier_challenge("carol")));
    fake.respond.lock().push_back(Err(AuthError::NotAuthorized {
        op: "RespondToAuthChallenge",
        message: "Incorrect username or password.".into(),
    }));
    let err = run(&fake, &config(None), &SignInSettings::default())
        .await
        .unwrap_err();
    assert!(err.is_refusal(), "{err}");
    assert_eq!(fake.initiated.lock().len(), 1);
}

#[tokio::test]
async fn no_enabled_flow_names_every_flow_tried() {
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Err(not_enabled("USER_SRP_AUTH")));
    fake.initiate
        .lock()
        .push_back(Err(not_enabled("USER_AUTH")));
    fake.initiate
        .lock()
        .push_back(Err(not_enabled("USER_PASSWORD_AUTH")));
    let err = run(&fake, &config(None), &SignInSettings::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("tried USER_SRP_AUTH, USER_AUTH, USER_PASSWORD_AUTH"),
        "{text}"
    );
    assert!(text.contains("--explicit-auth-flows"), "{text}");
}

#[tokio::test]
async fn an_mfa_code_comes_from_the_command_and_never_from_a_prompt_in_a_relogin() {
    let mfa = || {
        InitiateAuthOutput::builder()
            .challenge_name(ChallengeNameType::SoftwareTokenMfa)
            .session("s1")
            .build()
    };
    let settings = SignInSettings {
        flow: AuthFlow::Password,
        mfa_code_command: Some(Secret::new("printf '123456\\nignored\\n'".into())),
        ..SignInSettings::default()
    };
    let fake = FakeCognito::default();
    fake.initiate.lock().push_back(Ok(mfa()));
    let done = RespondToAuthChallengeOutput::builder()
        .authentication_result(tokens())
        .build();
    fake.respond.lock().push_back(Ok(done));
    run(&fake, &config(None), &settings).await.unwrap();
    {
        let answer = &fake.responded.lock()[0];
        assert_eq!(answer.session(), Some("s1"));
        assert_eq!(
            answer.challenge_responses().unwrap()["SOFTWARE_TOKEN_MFA_CODE"],
            "123456"
        );
    }

    let fake = FakeCognito::default();
    fake.initiate.lock().push_back(Ok(mfa()));
    let bare = SignInSettings {
        flow: AuthFlow::Password,
        ..SignInSettings::default()
    };
    let err = run(&fake, &config(None), &bare).await.unwrap_err();
    assert!(err.to_string().contains("--mfa-code-command"), "{err}");
    assert!(fake.responded.lock().is_empty());
}

fn select_mfa_type() -> InitiateAuthOutput {
    InitiateAuthOutput::builder()
        .challenge_name(ChallengeNameType::SelectMfaType)
        .challenge_parameters("MFAS_CAN_CHOOSE", r#"["SMS_MFA","SOFTWARE_TOKEN_MFA"]"#)
        .session("s1")
        .build()
}

fn password_settings(mfa_type: Option<MfaType>) -> SignInSettings {
    SignInSettings {
        flow: AuthFlow::Password,
        mfa_code_command: Some(Secret::new("echo 654321".into())),
        mfa_type,
        first_factor: None,
    }
}

#[tokio::test]
async fn select_mfa_type_is_answered_from_mfa_type_then_the_chosen_code() {
    let fake = FakeCognito::default();
    fake.initiate.lock().push_back(Ok(select_mfa_type()));
    let code = RespondToAuthChallengeOutput::builder()
        .challenge_name(ChallengeNameType::SoftwareTokenMfa)
        .session("s2")
        .build();
    fake.respond.lock().push_back(Ok(code));
    let done = RespondToAuthChallengeOutput::builder()
        .authentication_result(tokens())
        .build();
    fake.respond.lock().push_back(Ok(done));
    let cfg = config(Some("s3cr3t"));
    run(&fake, &cfg, &password_settings(Some(MfaType::Totp)))
        .await
        .unwrap();

    let answers = fake.responded.lock();
    let (choice, code) = (&answers[0], &answers[1]);
    assert_eq!(
        choice.challenge_name(),
        Some(&ChallengeNameType::SelectMfaType)
    );
    assert_eq!(choice.session(), Some("s1"));
    let r = choice.challenge_responses().unwrap();
    assert_eq!(r["ANSWER"], "SOFTWARE_TOKEN_MFA");
    assert_eq!(r["USERNAME"], "carol@example.com");
    assert_eq!(
        r["SECRET_HASH"],
        cfg.secret_hash("carol@example.com").unwrap().expose()
    );
    assert_eq!(
        code.challenge_name(),
        Some(&ChallengeNameType::SoftwareTokenMfa)
    );
    assert_eq!(code.session(), Some("s2"));
    assert_eq!(
        code.challenge_responses().unwrap()["SOFTWARE_TOKEN_MFA_CODE"],
        "654321"
    );
}

#[tokio::test]
async fn select_mfa_type_without_a_choice_or_terminal_names_mfa_type() {
    let fake = FakeCognito::default();
    fake.initiate.lock().push_back(Ok(select_mfa_type()));
    let err = run(&fake, &config(None), &password_settings(None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("SELECT_MFA_TYPE") && text.contains("--mfa-type, one of: sms, totp"),
        "{text}"
    );
    assert!(fake.responded.lock().is_empty());

    // A factor the user does not have is refused here, naming the ones offered.
    let fake = FakeCognito::default();
    fake.initiate.lock().push_back(Ok(select_mfa_type()));
    let err = run(
        &fake,
        &config(None),
        &password_settings(Some(MfaType::Email)),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("--mfa-type email is not among the MFA factors this user has (sms, totp)"),
        "{err}"
    );
    assert!(fake.responded.lock().is_empty());
}

fn user_auth(first_factor: Option<FirstFactor>) -> SignInSettings {
    SignInSettings {
        flow: AuthFlow::UserAuth,
        mfa_code_command: Some(Secret::new("echo 246810".into())),
        first_factor,
        ..SignInSettings::default()
    }
}

fn select_challenge(available: &[ChallengeNameType]) -> InitiateAuthOutput {
    InitiateAuthOutput::builder()
        .challenge_name(ChallengeNameType::SelectChallenge)
        .set_available_challenges(Some(available.to_vec()))
        .session("sel")
        .build()
}

fn signed_in() -> RespondToAuthChallengeOutput {
    RespondToAuthChallengeOutput::builder()
        .authentication_result(tokens())
        .build()
}

fn verifier_answer(user_id: &str) -> RespondToAuthChallengeOutput {
    let c = verifier_challenge(user_id);
    RespondToAuthChallengeOutput::builder()
        .set_challenge_name(c.challenge_name)
        .set_challenge_parameters(c.challenge_parameters)
        .session("verify")
        .build()
}

#[tokio::test]
async fn user_auth_prefers_password_srp_and_answers_its_verifier() {
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(verifier_challenge("uuid-of-carol")));
    fake.respond.lock().push_back(Ok(signed_in()));
    let cfg = config(Some("s3cr3t"));
    let (_, flow) = run(&fake, &cfg, &user_auth(None)).await.unwrap();
    assert_eq!(flow, AuthFlow::UserAuth);

    let start = &fake.initiated.lock()[0];
    assert_eq!(start.auth_flow(), Some(&AuthFlowType::UserAuth));
    let p = start.auth_parameters().unwrap();
    assert_eq!(p["PREFERRED_CHALLENGE"], "PASSWORD_SRP");
    assert_eq!(p["USERNAME"], "carol@example.com");
    assert!(p["SRP_A"].len() > 700 && !p.contains_key("PASSWORD"));
    let answer = &fake.responded.lock()[0];
    assert_eq!(
        answer.challenge_name(),
        Some(&ChallengeNameType::PasswordVerifier)
    );
    let r = answer.challenge_responses().unwrap();
    assert_eq!(r["USERNAME"], "uuid-of-carol");
    assert!(r.contains_key("PASSWORD_CLAIM_SIGNATURE"));
}

#[tokio::test]
async fn select_challenge_takes_password_srp_then_password() {
    use ChallengeNameType as C;
    // PASSWORD_SRP offered: SRP starts in the answer, and its verifier follows.
    let fake = FakeCognito::default();
    let offered = [C::WebAuthn, C::Password, C::PasswordSrp, C::EmailOtp];
    fake.initiate
        .lock()
        .push_back(Ok(select_challenge(&offered)));
    fake.respond.lock().push_back(Ok(verifier_answer("carol")));
    fake.respond.lock().push_back(Ok(signed_in()));
    run(&fake, &config(None), &user_auth(None)).await.unwrap();
    {
        let answers = fake.responded.lock();
        assert_eq!(answers[0].challenge_name(), Some(&C::SelectChallenge));
        assert_eq!(answers[0].session(), Some("sel"));
        let r = answers[0].challenge_responses().unwrap();
        assert_eq!(r["ANSWER"], "PASSWORD_SRP");
        assert!(r["SRP_A"].len() > 700 && !r.contains_key("PASSWORD"));
        assert_eq!(answers[1].challenge_name(), Some(&C::PasswordVerifier));
        assert_eq!(answers[1].session(), Some("verify"));
    }

    // Only PASSWORD (and a passkey): the password goes in the answer.
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(select_challenge(&[C::WebAuthn, C::Password])));
    fake.respond.lock().push_back(Ok(signed_in()));
    run(&fake, &config(None), &user_auth(None)).await.unwrap();
    let answers = fake.responded.lock();
    let r = answers[0].challenge_responses().unwrap();
    assert_eq!(
        (r["ANSWER"].as_str(), r["PASSWORD"].as_str()),
        ("PASSWORD", "pw")
    );
    assert_eq!(answers.len(), 1);
}

#[tokio::test]
async fn a_first_factor_asks_for_a_code_without_a_password() {
    let fake = FakeCognito::default();
    let otp = InitiateAuthOutput::builder()
        .challenge_name(ChallengeNameType::EmailOtp)
        .challenge_parameters("CODE_DELIVERY_DESTINATION", "c***@e***")
        .challenge_parameters("CODE_DELIVERY_DELIVERY_MEDIUM", "EMAIL")
        .session("otp")
        .build();
    fake.initiate.lock().push_back(Ok(otp));
    fake.respond.lock().push_back(Ok(signed_in()));
    let settings = SignInSettings {
        flow: AuthFlow::Auto,
        ..user_auth(Some(FirstFactor::EmailOtp))
    };
    let mut none = Secret::new(String::new());
    let (_, flow) = sign_in(&fake, &config(None), &settings, &mut none, quiet())
        .await
        .unwrap();
    // `auto` with a first factor goes straight to USER_AUTH.
    assert_eq!(flow, AuthFlow::UserAuth);
    assert_eq!(flows_tried(&fake), [AuthFlowType::UserAuth]);
    let start = &fake.initiated.lock()[0];
    let p = start.auth_parameters().unwrap();
    assert_eq!(p["PREFERRED_CHALLENGE"], "EMAIL_OTP");
    assert!(!p.contains_key("SRP_A") && !p.contains_key("PASSWORD"));
    let answer = &fake.responded.lock()[0];
    assert_eq!(answer.challenge_name(), Some(&ChallengeNameType::EmailOtp));
    assert_eq!(answer.session(), Some("otp"));
    assert_eq!(
        answer.challenge_responses().unwrap()["EMAIL_OTP_CODE"],
        "246810"
    );
}

#[tokio::test]
async fn a_first_factor_is_chosen_from_select_challenge_and_its_code_read() {
    use ChallengeNameType as C;
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(select_challenge(&[C::Password, C::SmsOtp])));
    let otp = RespondToAuthChallengeOutput::builder()
        .challenge_name(C::SmsOtp)
        .session("otp")
        .build();
    fake.respond.lock().push_back(Ok(otp));
    fake.respond.lock().push_back(Ok(signed_in()));
    let mut none = Secret::new(String::new());
    let settings = user_auth(Some(FirstFactor::SmsOtp));
    sign_in(&fake, &config(None), &settings, &mut none, quiet())
        .await
        .unwrap();
    let answers = fake.responded.lock();
    let r = answers[0].challenge_responses().unwrap();
    assert_eq!(r["ANSWER"], "SMS_OTP");
    assert!(!r.contains_key("PASSWORD"));
    assert_eq!(answers[1].challenge_name(), Some(&C::SmsOtp));
    assert_eq!(
        answers[1].challenge_responses().unwrap()["SMS_OTP_CODE"],
        "246810"
    );
}

#[tokio::test]
async fn only_a_passkey_offered_fails_saying_so() {
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(select_challenge(&[ChallengeNameType::WebAuthn])));
    let err = run(&fake, &config(None), &user_auth(None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only WEB_AUTHN (a passkey)"),
        "{err}"
    );
    assert!(fake.responded.lock().is_empty());

    // No password and no first factor on offer: the error names what Cognito offers.
    let fake = FakeCognito::default();
    let offered = [ChallengeNameType::WebAuthn, ChallengeNameType::Password];
    fake.initiate
        .lock()
        .push_back(Ok(select_challenge(&offered)));
    let mut none = Secret::new(String::new());
    let settings = user_auth(Some(FirstFactor::EmailOtp));
    let err = sign_in(&fake, &config(None), &settings, &mut none, quiet())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("offers this user WEB_AUTHN, PASSWORD") && text.contains("no password"),
        "{text}"
    );
    assert!(fake.responded.lock().is_empty());
}

fn mfa_setup(can_setup: &str) -> InitiateAuthOutput {
    InitiateAuthOutput::builder()
        .challenge_name(ChallengeNameType::MfaSetup)
        .challenge_parameters("MFAS_CAN_SETUP", can_setup)
        .session("setup")
        .build()
}

#[tokio::test]
async fn mfa_setup_without_a_terminal_fails_saying_so_before_any_call() {
    // The fake panics on AssociateSoftwareToken: the refusal comes first.
    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(mfa_setup(r#"["SOFTWARE_TOKEN_MFA"]"#)));
    let err = run(&fake, &config(None), &password_settings(None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("MFA_SETUP") && text.contains("terminal"),
        "{text}"
    );

    let fake = FakeCognito::default();
    fake.initiate
        .lock()
        .push_back(Ok(mfa_setup(r#"["SMS_MFA"]"#)));
    let err = run(&fake, &config(None), &password_settings(None))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("offers only [\"SMS_MFA\"]"),
        "{err}"
    );
    assert!(fake.responded.lock().is_empty());
}

#[test]
fn the_enrolment_uri_names_the_user_and_carries_the_secret() {
    let uri = mfa_setup::otpauth_uri("carol@example.com", &Secret::new("ABCDEF234567".into()));
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/cognito-s3fs:carol%40example.com?secret=ABCDEF234567&issuer=cognito-s3fs"
    );
}
