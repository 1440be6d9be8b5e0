//! MFA codes (and USER_AUTH's one-time codes, read the same way): from `--mfa-code-command`, else a prompt on the terminal, else a refusal that
//! says how to give one (never a wait on a terminal that is not there).

use std::process::{Command, Stdio};

use aws_sdk_cognitoidentityprovider::types::ChallengeNameType;

use super::api::{Challenge, Step};
use super::challenge::Ctx;
use super::error::SignInError;
use crate::auth::secret::{prompt_secret, SecretInputError};
use crate::auth::{AuthError, Secret};

/// SOFTWARE_TOKEN_MFA, SMS_MFA, EMAIL_OTP, SMS_OTP: one code, in the response key Cognito
/// names.
pub(super) async fn answer_code(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    let (key, what) = match &c.name {
        ChallengeNameType::SoftwareTokenMfa => {
            ("SOFTWARE_TOKEN_MFA_CODE", "authenticator app code")
        }
        ChallengeNameType::SmsMfa => ("SMS_MFA_CODE", "code sent by SMS"),
        ChallengeNameType::SmsOtp => ("SMS_OTP_CODE", "one-time code sent by SMS"),
        _ => ("EMAIL_OTP_CODE", "code sent by email"),
    };
    let challenge = c.name.as_str().to_owned();
    let code = read_code(ctx, &challenge, what)?;
    ctx.respond(c.name, c.session, vec![(key, code.expose().to_owned())])
        .await
        .map_err(|e| refused_code(e, &challenge))
}

/// A code from the command, else the terminal (when prompts are allowed).
pub(super) fn read_code(
    ctx: &Ctx<'_>,
    challenge: &str,
    what: &'static str,
) -> Result<Secret, SignInError> {
    if let Some(command) = &ctx.settings.mfa_code_command {
        return run_code_command(command);
    }
    let no_source = || SignInError::NoCodeSource {
        challenge: challenge.to_owned(),
        what,
    };
    if !ctx.interaction.prompts {
        return Err(no_source());
    }
    prompt_secret("MFA code", &format!("{what} for {}: ", ctx.cfg.username)).map_err(|e| match e {
        SecretInputError::NoTerminal { .. } => no_source(),
        other => SignInError::CodeCommand(other.to_string()),
    })
}

/// Runs `sh -c CMD`; the first line of its standard output is the code.
fn run_code_command(command: &Secret) -> Result<Secret, SignInError> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command.expose())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| SignInError::CodeCommand(format!("cannot run sh: {e}")))?;
    if !out.status.success() {
        return Err(SignInError::CodeCommand(format!(
            "it exited with {}",
            out.status
        )));
    }
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(SignInError::CodeCommand("it printed no code".into()));
    }
    Ok(Secret::new(line.to_owned()))
}

/// Cognito's CodeMismatchException / ExpiredCodeException as one clear line.
fn refused_code(err: AuthError, challenge: &str) -> AuthError {
    match err {
        AuthError::Rejected { code, message, .. }
            if code == "CodeMismatchException" || code == "ExpiredCodeException" =>
        {
            SignInError::CodeRefused {
                challenge: challenge.to_owned(),
                message,
            }
            .into()
        }
        other => other,
    }
}
