//! SELECT_MFA_TYPE: the user has more than one MFA factor and no preferred one, so Cognito
//! asks which to use; the answer's code challenge follows (answered in `mfa.rs`).
//!
//! Subtleties:
//! 1. The factors offered come in `MFAS_CAN_CHOOSE`, a JSON list in a string
//!    (`["SMS_MFA","SOFTWARE_TOKEN_MFA"]`). A `--mfa-type` that is not offered fails
//!    here, naming what is, rather than with Cognito's less telling refusal.
//! 2. Without `--mfa-type`, the choice is asked on the terminal, only in an interactive
//!    sign-in; a re-login of the daemon fails with a line that names `--mfa-type`.

use aws_sdk_cognitoidentityprovider::types::ChallengeNameType;

use super::api::{Challenge, Step};
use super::challenge::Ctx;
use super::error::SignInError;
use super::{terminal, MfaType};
use crate::auth::AuthError;

pub(super) async fn answer(ctx: &mut Ctx<'_>, c: Challenge) -> Result<Step, AuthError> {
    let offered = offered(c.param("MFAS_CAN_CHOOSE").unwrap_or_default());
    let chosen = match ctx.settings.mfa_type {
        Some(t) if offered.is_empty() || offered.contains(&t) => t,
        Some(t) => {
            return Err(SignInError::MfaTypeNotOffered {
                wanted: t.flag(),
                offered: flags(&offered),
            }
            .into())
        }
        None => choose(ctx, &offered)?,
    };
    ctx.respond(
        ChallengeNameType::SelectMfaType,
        c.session,
        vec![("ANSWER", chosen.challenge().to_owned())],
    )
    .await
}

/// The factors of `MFAS_CAN_CHOOSE` this program can answer, in Cognito's order.
pub(super) fn offered(list: &str) -> Vec<MfaType> {
    list.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|name| name.trim().trim_matches('"'))
        .filter_map(|name| MfaType::ALL.into_iter().find(|t| t.challenge() == name))
        .collect()
}

fn flags(types: &[MfaType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.flag()).collect();
    names.join(", ")
}

/// Asks on the terminal (when prompts are allowed) until a factor offered is typed.
fn choose(ctx: &Ctx<'_>, offered: &[MfaType]) -> Result<MfaType, SignInError> {
    let offered = if offered.is_empty() {
        &MfaType::ALL[..]
    } else {
        offered
    };
    let no_choice = || SignInError::NoMfaType {
        offered: flags(offered),
    };
    if !ctx.interaction.prompts {
        return Err(no_choice());
    }
    let prompt = format!(
        "Cognito asks which MFA factor {} uses ({}): ",
        ctx.cfg.username,
        flags(offered)
    );
    for _ in 0..3 {
        let typed = terminal::ask(&prompt).map_err(|_| no_choice())?;
        if let Some(t) = offered
            .iter()
            .find(|t| t.flag() == typed.to_ascii_lowercase())
        {
            return Ok(*t);
        }
    }
    Err(no_choice())
}
