//! Credentials refresh for as long as the mount lives: 90-second credentials from moto, a
//! mount read without pause for 200 seconds, refreshes counted at a recording proxy.

mod common;

use std::time::{Duration, Instant};

use common::{Emulator, Mounted};

#[test]
fn credentials_refresh_while_reading_for_200_seconds() {
    let emu = Emulator::start();
    // Cognito identity calls go through the counting proxy; everything else straight to moto.
    let mut cmd = emu.command("mount", "alice");
    cmd.env(
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY",
        emu.get("proxy_endpoint"),
    )
    .args(emu.auth_args("alice"));
    // A short metadata TTL so listings are refetched too, not just object bodies.
    let mnt =
        Mounted::start_with(&mut cmd, &["--metadata-ttl", "5"]).unwrap_or_else(|o| panic!("{o:?}"));
    let at_start = emu.proxy_count("AWSCognitoIdentityService.GetCredentialsForIdentity");

    let started = Instant::now();
    let mut reads = 0u64;
    while started.elapsed() < Duration::from_secs(200) {
        for path in [
            "alpha/hello.txt",
            "beta/data/numbers.csv",
            "alpha/big/one.bin",
        ] {
            let data = std::fs::read(mnt.path.join(path))
                .unwrap_or_else(|e| panic!("read {path} after {:?}: {e}", started.elapsed()));
            assert!(!data.is_empty());
            reads += 1;
        }
    }
    let fetched = emu.proxy_count("AWSCognitoIdentityService.GetCredentialsForIdentity");
    assert!(
        fetched - at_start >= 2,
        "credentials fetched {} times in 200 s",
        fetched - at_start
    );
    assert!(reads > 100, "only {reads} reads");
    assert!(mnt.log_text().contains("refreshed AWS credentials"));
}

/// An MFA user's mount keeps its credentials fresh without a second code: the identity pool
/// refuses the IdToken once, the daemon renews it with the refresh token (REFRESH_TOKEN_AUTH
/// takes no code), and reads go on. The code command counts its runs: one, at sign-in.
#[test]
fn an_mfa_users_credentials_refresh_with_the_refresh_token_and_no_new_code() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("code-runs");
    let code_command = format!(
        "echo run >> '{}'; {} -c 'import time; from moto.cognitoidp.utils import cognito_totp; \
         print(cognito_totp(\"asdfasdfasdf\").generate(int(time.time())).decode())'",
        runs.display(),
        common::repo_root().join(".venv/bin/python").display()
    );
    let proxy = emu.get("proxy_endpoint");
    let mut cmd = emu.command("mount", "totp");
    cmd.env("AWS_ENDPOINT_URL_COGNITO_IDENTITY", &proxy)
        .env("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", &proxy)
        .args(emu.auth_args("totp"))
        .args(["--mfa-code-command", &code_command]);
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));
    emu.reset_proxy_counts();
    emu.inject(
        r#"{"match": "GetCredentialsForIdentity", "status": 400, "count": 1,
            "code": "NotAuthorizedException", "message": "Invalid login token. Token expired."}"#,
    );

    // 90-second credentials: the refresher's attempt comes after about 60 s.
    let log_shows = |line: &str| mnt.log_text().contains(line);
    assert!(
        common::wait_until(Duration::from_secs(120), || {
            log_shows("renewed the Cognito IdToken") && log_shows("refreshed AWS credentials")
        }),
        "no refresh in 120 s:\n{}",
        mnt.log_text()
    );
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
    let initiated = emu.proxy_count("AWSCognitoIdentityProviderService.InitiateAuth");
    let answered = emu.proxy_count("AWSCognitoIdentityProviderService.RespondToAuthChallenge");
    assert_eq!(
        (initiated, answered),
        (1, 0),
        "one REFRESH_TOKEN_AUTH, no sign-in"
    );
    let ran = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(
        ran.lines().count(),
        1,
        "the code command ran at sign-in only"
    );
}
