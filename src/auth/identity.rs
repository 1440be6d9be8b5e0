//! The identity pool's side of the chain: which IAM role the temporary credentials are for,
//! and which of the pool's two flows obtains them.
//!
//! - The enhanced flow (the default) is one call, `GetCredentialsForIdentity`; Cognito picks
//!   the role from the pool's settings, or, when the pool chooses roles from the token and the
//!   IdToken lists several (`cognito:roles`, one per user-pool group with a role), the one
//!   named by `CustomRoleArn` (`--role-arn`).
//! - The basic (classic) flow is `GetOpenIdToken`, then STS `AssumeRoleWithWebIdentity` with
//!   a role the caller names (`--role-arn`, required) and a session length of its choosing
//!   (`--session-duration`). Pools allow it only when an administrator turns it on.
//!
//! Both answer with the same credentials, so the provider refreshes them the same way.
//!
//! Semantics decision: when Cognito refuses a `--role-arn` that the IdToken does not list,
//! the error says so and names the roles it does list, since no re-login can fix that: only
//! another `--role-arn` or an administrator can.

use std::time::{Duration, SystemTime};

use base64::Engine;
use zeroize::Zeroizing;

use super::cognito::{take_string, AwsCredentials};
use super::error::AuthError;
use super::secret::Secret;

/// How long a basic-flow session may be asked to last (STS's bounds).
pub const SESSION_DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43_200;

/// Which identity-pool flow obtains the credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentityFlow {
    /// `GetCredentialsForIdentity`.
    #[default]
    Enhanced,
    /// `GetOpenIdToken` + STS `AssumeRoleWithWebIdentity`.
    Basic,
}

/// The role and flow the user asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityChoice {
    pub flow: IdentityFlow,
    /// `CustomRoleArn` (enhanced) or the role to assume (basic).
    pub role_arn: Option<String>,
    /// The basic flow's `DurationSeconds`; STS's default (one hour) without it.
    pub session_duration: Option<Duration>,
}

impl IdentityChoice {
    /// Checks the combination of options; the error is the line the user sees.
    pub fn new(
        flow: IdentityFlow,
        role_arn: Option<String>,
        session_duration: Option<Duration>,
    ) -> Result<Self, String> {
        if let Some(arn) = &role_arn {
            if !arn.starts_with("arn:") || !arn.contains(":role/") {
                return Err(format!(
                    "--role-arn {arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
                ));
            }
        }
        match (flow, &role_arn, session_duration) {
            (IdentityFlow::Basic, None, _) => {
                return Err(
                    "--identity-flow basic needs --role-arn: the basic flow assumes \
                            the role you name"
                        .into(),
                )
            }
            (IdentityFlow::Enhanced, _, Some(_)) => {
                return Err(
                    "--session-duration applies to --identity-flow basic only; the \
                            enhanced flow's credentials last as long as Cognito decides (one hour)"
                        .into(),
                )
            }
            _ => {}
        }
        if let Some(d) = session_duration {
            if !SESSION_DURATION_RANGE.contains(&d.as_secs()) {
                return Err(format!(
                    "--session-duration must be between 15m and 12h (STS's bounds; the role's \
                     maximum session duration may be lower), not {}s",
                    d.as_secs()
                ));
            }
        }
        Ok(IdentityChoice {
            flow,
            role_arn,
            session_duration,
        })
    }
}

/// The roles an IdToken lets its holder choose (`cognito:roles`), read from its payload.
/// The signature is not checked: the token comes straight from Cognito, and the list only
/// serves to explain a refusal.
pub fn token_roles(id_token: &Secret) -> Vec<String> {
    let Some(payload) = id_token.expose().split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map(Zeroizing::new)
    else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    claims
        .get("cognito:roles")
        .and_then(|r| r.as_array())
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Turns a refusal of `role` into [`AuthError::RoleNotAllowed`] when the IdToken does not
/// list that role; any other error (or a listed role) is returned as it is, so that an
/// expired token is still renewed as usual.
pub fn explain_role_refusal(err: AuthError, role: Option<&str>, id_token: &Secret) -> AuthError {
    let Some(role) = role else { return err };
    if err.is_transient() || matches!(err, AuthError::Unreachable { .. }) {
        return err;
    }
    let allowed = token_roles(id_token);
    if allowed.iter().any(|r| r == role) {
        return err;
    }
    AuthError::RoleNotAllowed {
        role: role.to_owned(),
        refusal: err.to_string(),
        allowed,
    }
}

/// A valid STS `RoleSessionName` ([\w+=,.@-]{2,64}) that tells whose session it is.
pub fn role_session_name(username: &str) -> String {
    let clean: String = username
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c,
            '_' | '+' | '=' | ',' | '.' | '@' | '-' => c,
            _ => '-',
        })
        .collect();
    let mut name = format!("cognito-s3fs-{clean}");
    name.truncate(64);
    name
}

/// The keys of an `AssumeRoleWithWebIdentity` answer, moved into [`AwsCredentials`].
pub fn sts_credentials_from(
    creds: &mut aws_sdk_sts::types::Credentials,
) -> Result<AwsCredentials, AuthError> {
    let secret = Zeroizing::new(std::mem::take(&mut creds.secret_access_key));
    let token = Zeroizing::new(std::mem::take(&mut creds.session_token));
    let akid = std::mem::take(&mut creds.access_key_id);
    if akid.is_empty() || secret.is_empty() {
        return Err(AuthError::Protocol(
            "AssumeRoleWithWebIdentity answered without keys".into(),
        ));
    }
    let expiry = SystemTime::try_from(creds.expiration).ok();
    Ok(AwsCredentials::new(
        akid,
        take_string(secret),
        Some(take_string(token)).filter(|t| !t.is_empty()),
        expiry,
        "cognito-identity-basic",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with(claims: serde_json::Value) -> Secret {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        Secret::new(format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256"}"#),
            enc(claims.to_string().as_bytes())
        ))
    }

    const READ: &str = "arn:aws:iam::123456789012:role/s3-read";
    const AUDIT: &str = "arn:aws:iam::123456789012:role/s3-audit";

    #[test]
    fn the_roles_of_a_token_are_read_from_its_payload() {
        let token = token_with(serde_json::json!({"cognito:roles": [READ, AUDIT], "sub": "x"}));
        assert_eq!(token_roles(&token), vec![READ, AUDIT]);
        assert!(token_roles(&token_with(serde_json::json!({"sub": "x"}))).is_empty());
        assert!(token_roles(&Secret::new("not-a-jwt".into())).is_empty());
        assert!(token_roles(&Secret::new("a.%%%.c".into())).is_empty());
    }

    #[test]
    fn a_refused_role_the_token_does_not_list_names_the_roles_it_does() {
        let token = token_with(serde_json::json!({"cognito:roles": [READ, AUDIT]}));
        let refusal = || AuthError::Rejected {
            op: "GetCredentialsForIdentity",
            code: "InvalidParameterException".into(),
            message: "role not allowed".into(),
        };
        let other = "arn:aws:iam::123456789012:role/admin";
        let err = explain_role_refusal(refusal(), Some(other), &token);
        let line = err.to_string();
        assert!(matches!(err, AuthError::RoleNotAllowed { .. }));
        assert!(err.needs_a_person(), "no re-login can fix a role choice");
        assert!(
            line.contains(other) && line.contains("role not allowed"),
            "{line}"
        );
        assert!(line.contains(READ) && line.contains(AUDIT), "{line}");

        // A listed role, no role, or a network error: the error stays what it was.
        assert!(matches!(
            explain_role_refusal(refusal(), Some(READ), &token),
            AuthError::Rejected { .. }
        ));
        assert!(matches!(
            explain_role_refusal(refusal(), None, &token),
            AuthError::Rejected { .. }
        ));
        let down = AuthError::Unreachable {
            op: "GetCredentialsForIdentity",
            detail: "timeout".into(),
        };
        assert!(matches!(
            explain_role_refusal(down, Some(other), &token),
            AuthError::Unreachable { .. }
        ));
    }

    #[test]
    fn a_token_without_roles_says_the_pool_does_not_choose_from_the_token() {
        let token = token_with(serde_json::json!({"sub": "x"}));
        let refusal = AuthError::NotAuthorized {
            op: "GetCredentialsForIdentity",
            message: "nope".into(),
        };
        let line = explain_role_refusal(refusal, Some(READ), &token).to_string();
        assert!(line.contains("lists no roles"), "{line}");
    }

    #[test]
    fn option_combinations_are_checked_with_a_line_that_says_what_to_do() {
        let basic = IdentityFlow::Basic;
        let enhanced = IdentityFlow::Enhanced;
        let role = || Some(READ.to_owned());
        let hour = Some(Duration::from_secs(3600));
        assert!(IdentityChoice::new(basic, role(), hour).is_ok());
        assert!(IdentityChoice::new(enhanced, role(), None).is_ok());
        assert!(IdentityChoice::new(enhanced, None, None).is_ok());
        let err = IdentityChoice::new(basic, None, None).unwrap_err();
        assert!(err.contains("needs --role-arn"), "{err}");
        let err = IdentityChoice::new(enhanced, role(), hour).unwrap_err();
        assert!(err.contains("basic only"), "{err}");
        let err = IdentityChoice::new(basic, role(), Some(Duration::from_secs(60))).unwrap_err();
        assert!(err.contains("between 15m and 12h"), "{err}");
        let err = IdentityChoice::new(enhanced, Some("s3-read".into()), None).unwrap_err();
        assert!(err.contains("not an IAM role ARN"), "{err}");
    }

    #[test]
    fn session_names_are_valid_for_sts_whatever_the_user_name() {
        assert_eq!(role_session_name("alice"), "cognito-s3fs-alice");
        assert_eq!(
            role_session_name("ali ce/é@x.org"),
            "cognito-s3fs-ali-ce--@x.org"
        );
        assert_eq!(role_session_name(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn sts_keys_are_moved_out_of_the_answer() {
        let mut answer = aws_sdk_sts::types::Credentials::builder()
            .access_key_id("ASIAEXAMPLE")
            .secret_access_key("STS-SECRET")
            .session_token("STS-TOKEN")
            .expiration(aws_smithy_types::DateTime::from_secs(2_000_000_000))
            .build()
            .unwrap();
        let creds = sts_credentials_from(&mut answer).unwrap();
        assert_eq!(creds.secret_access_key(), "STS-SECRET");
        assert_eq!(creds.session_token(), Some("STS-TOKEN"));
        assert!(creds.expiry().is_some());
        assert_eq!(
            (
                answer.secret_access_key.as_str(),
                answer.session_token.as_str()
            ),
            ("", "")
        );
        assert!(!format!("{creds:?}").contains("STS-SECRET"));
    }
}
