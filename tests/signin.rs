//! Sign-in flows end to end through the emulator, whose USER_SRP_AUTH checks the password
//! claim for real and whose InitiateAuth refuses flows an app client does not allow
//! (tests/support/moto_env.py, patch_moto_cognito).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Emulator, Mounted};

/// The auth arguments for `user` with another app client.
fn args_with_client(emu: &Emulator, user: &str, client_field: &str) -> Vec<String> {
    let mut args = emu.auth_args(user);
    let at = args.iter().position(|a| a == "--client-id").unwrap() + 1;
    args[at] = emu.get(client_field);
    args
}

/// The auth arguments for `user` of the user pool that requires MFA.
fn args_in_mfa_pool(emu: &Emulator, user: &str) -> Vec<String> {
    let mut args = args_with_client(emu, user, "mfa_client_id");
    let at = args.iter().position(|a| a == "--user-pool-id").unwrap() + 1;
    args[at] = emu.get("mfa_pool_id");
    args
}

fn private_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn an_srp_only_client_mounts_with_no_new_flag_and_refuses_a_wrong_password() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let pw = private_file(&dir, "pw", &format!("{}\n", emu.password("alice")));
    let mut cmd = emu.command("mount", "alice");
    cmd.env_remove("COGNITO_S3FS_PASSWORD")
        .args(args_with_client(&emu, "alice", "srp_client_id"))
        .args(["--password-file", &pw]);
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );

    let out = emu
        .command("login", "alice")
        .env("COGNITO_S3FS_PASSWORD", "Not-The-Password-1")
        .args(args_with_client(&emu, "alice", "srp_client_id"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Incorrect username or password"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn a_password_only_client_falls_back_with_one_info_line() {
    let emu = Emulator::start();
    let args = args_with_client(&emu, "alice", "password_client_id");
    let out = emu.command("login", "alice").args(&args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // One info line per flow refused, in the order tried.
    let steps: Vec<&str> = err.lines().filter(|l| l.contains("trying")).collect();
    assert_eq!(steps.len(), 2, "{err}");
    assert!(
        steps[0].contains("USER_SRP_AUTH is not enabled for this app client; trying USER_AUTH"),
        "{err}"
    );
    assert!(
        steps[1]
            .contains("USER_AUTH is not enabled for this app client; trying USER_PASSWORD_AUTH"),
        "{err}"
    );

    let srp_only = emu
        .command("login", "alice")
        .args(&args)
        .args(["--auth-flow", "srp"])
        .output()
        .unwrap();
    assert!(!srp_only.status.success());
    let err = String::from_utf8_lossy(&srp_only.stderr);
    assert!(
        err.contains("USER_SRP_AUTH is not enabled for the client"),
        "{err}"
    );
}

#[test]
fn no_enabled_flow_names_the_flows_tried_and_the_fix() {
    let emu = Emulator::start();
    let out = emu
        .command("login", "alice")
        .args(args_with_client(&emu, "alice", "srp_client_id"))
        .args(["--auth-flow", "password"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("USER_PASSWORD_AUTH flow not enabled"), "{err}");

    let out = emu
        .command("login", "alice")
        .args(args_with_client(&emu, "alice", "refresh_only_client_id"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("tried USER_SRP_AUTH, USER_AUTH, USER_PASSWORD_AUTH")
            && last.contains("--explicit-auth-flows"),
        "{err}"
    );
}

#[test]
fn new_password_required_after_srp_then_the_new_password_works() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let newpw = private_file(&dir, "newpw", "Brand-New-Pass-8\n");
    let args = args_with_client(&emu, "newbie", "srp_client_id");
    let out = emu
        .command("login", "newbie")
        .args(&args)
        .args(["--new-password-file", &newpw])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let again = emu
        .command("login", "newbie")
        .env("COGNITO_S3FS_PASSWORD", "Brand-New-Pass-8")
        .args(&args)
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
}

#[test]
fn srp_with_a_client_secret_sends_the_secret_hash() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = private_file(&dir, "secret", &emu.get("srp_client_secret"));
    let args = args_with_client(&emu, "alice", "srp_secret_client_id");
    let out = emu
        .command("login", "alice")
        .args(&args)
        .args(["--client-secret-file", &secret])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let without = emu.command("login", "alice").args(&args).output().unwrap();
    assert!(
        !without.status.success(),
        "a secret client needs SECRET_HASH"
    );
}

/// Prints the current TOTP code for the emulator's fixed secret.
fn totp_command() -> String {
    format!(
        "{} -c 'import time; from moto.cognitoidp.utils import cognito_totp; \
         print(cognito_totp(\"asdfasdfasdf\").generate(int(time.time())).decode())'",
        common::repo_root().join(".venv/bin/python").display()
    )
}

/// A command detached from any terminal, as under cron or systemd.
fn without_terminal(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; it only detaches the child from the terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        })
    }
}

#[test]
fn a_totp_user_mounts_with_a_code_command_and_a_wrong_code_is_refused() {
    let emu = Emulator::start();
    let mut cmd = emu.command("mount", "totp");
    cmd.args(emu.auth_args("totp"))
        .args(["--mfa-code-command", &totp_command()]);
    let mnt =
        Mounted::start_with(without_terminal(&mut cmd), &[]).unwrap_or_else(|o| panic!("{o:?}"));
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );

    let mut wrong = emu.command("login", "totp");
    wrong
        .args(emu.auth_args("totp"))
        .args(["--mfa-code-command", "echo 000000"]);
    let out = without_terminal(&mut wrong).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cognito refused the code for SOFTWARE_TOKEN_MFA"),
        "{err}"
    );
}

#[test]
fn an_mfa_user_without_a_code_source_or_terminal_fails_at_once() {
    let emu = Emulator::start();
    let mut cmd = emu.command("login", "totp");
    cmd.args(emu.auth_args("totp"));
    let started = std::time::Instant::now();
    let out = without_terminal(&mut cmd).output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SOFTWARE_TOKEN_MFA") && err.contains("--mfa-code-command"),
        "{err}"
    );
}

#[test]
fn an_sms_mfa_user_logs_in_with_a_code() {
    let emu = Emulator::start();
    let mut cmd = emu.command("login", "sms");
    cmd.args(emu.auth_args("sms"))
        .args(["--mfa-code-command", "echo 123456"]);
    let out = without_terminal(&mut cmd).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // The code was asked for: without one, the same login fails on SMS_MFA.
    let mut bare = emu.command("login", "sms");
    bare.args(emu.auth_args("sms"));
    let out = without_terminal(&mut bare).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("SMS_MFA"), "{err}");
}

#[test]
fn mfa_setup_enrols_totp_on_a_terminal_then_mounts_and_the_code_is_asked_after() {
    let emu = Emulator::start();
    let args = args_in_mfa_pool(&emu, "enrol");
    // Without a terminal, enrolment is refused at once, saying why.
    let mut bare = emu.command("login", "enrol");
    bare.args(&args);
    let out = without_terminal(&mut bare).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("MFA_SETUP") && err.contains("terminal"),
        "{err}"
    );

    let guard = Mounted::prepare();
    let mut argv: Vec<String> = vec![common::BIN.into(), "mount".into()];
    argv.extend(args.iter().cloned());
    argv.extend([
        guard.path.to_string_lossy().into(),
        "--log-file".into(),
        guard.log.to_string_lossy().into(),
    ]);
    let env = emu.command("mount", "enrol");
    let out = std::process::Command::new(common::repo_root().join(".venv/bin/python"))
        .arg(common::repo_root().join("tests/support/pty_drive.py"))
        .args(["--expect", "Code shown by the authenticator app:"])
        .args(["--send-output", &totp_command()])
        .arg("--")
        .args(&argv)
        .envs(env.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        transcript
            .contains("otpauth://totp/cognito-s3fs:enrol?secret=asdfasdfasdf&issuer=cognito-s3fs"),
        "{transcript}"
    );
    assert!(transcript.contains('\u{2580}'), "a QR code: {transcript}");
    assert!(common::is_mounted(&guard.path));
    assert_eq!(
        std::fs::read(guard.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
    assert!(
        !guard.log_text().contains("asdfasdfasdf"),
        "the TOTP secret is never logged"
    );

    // Enrolled: the next sign-in asks for a code, and the app's code answers it.
    let mut again = emu.command("login", "enrol");
    again.args(&args);
    let out = without_terminal(&mut again).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("SOFTWARE_TOKEN_MFA"),
        "{err}"
    );
    let mut with_code = emu.command("login", "enrol");
    with_code
        .args(&args)
        .args(["--mfa-code-command", &totp_command()]);
    let out = without_terminal(&mut with_code).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// `login` for bob (in two groups with IAM roles) through the counting proxy.
fn login_as_bob_via_proxy(emu: &Emulator, extra: &[&str]) -> std::process::Output {
    emu.command("login", "bob")
        .env("AWS_ENDPOINT_URL", emu.get("proxy_endpoint"))
        .args(emu.auth_args("bob"))
        .args(extra)
        .output()
        .unwrap()
}

fn bob_roles(emu: &Emulator) -> Vec<String> {
    emu.state["roles"]["bob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_role_the_token_lists_is_asked_for_and_one_it_does_not_fails_naming_the_listed_ones() {
    let emu = Emulator::start();
    let roles = bob_roles(&emu);
    let audit = &roles[1];
    let out = login_as_bob_via_proxy(&emu, &["--role-arn", audit]);
    assert!(out.status.success(), "{out:?}");
    let flows = emu.proxy_flows();
    assert_eq!(
        flows[format!("GetCredentialsForIdentity/{audit}")].as_u64(),
        Some(1),
        "CustomRoleArn is sent: {flows}"
    );

    let admin = "arn:aws:iam::123456789012:role/admin";
    let out = login_as_bob_via_proxy(&emu, &["--role-arn", admin]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("refused --role-arn {admin}")),
        "{err}"
    );
    assert!(
        err.contains("Invalid CustomRoleArn"),
        "Cognito's message: {err}"
    );
    assert!(
        err.contains(&format!("the IdToken allows {}, {}", roles[0], roles[1])),
        "{err}"
    );
}

#[test]
fn the_basic_flow_mounts_through_sts_with_the_session_length_asked_for() {
    let emu = Emulator::start();
    let read = bob_roles(&emu)[0].clone();
    let mut cmd = emu.command("mount", "bob");
    cmd.env("AWS_ENDPOINT_URL", emu.get("proxy_endpoint"))
        .args(emu.auth_args("bob"))
        .args(["--identity-flow", "basic", "--role-arn", &read])
        .args(["--session-duration", "15m"]);
    let mnt = Mounted::start_with(&mut cmd, &[]).unwrap_or_else(|o| panic!("{o:?}"));
    assert_eq!(
        std::fs::read(mnt.path.join("alpha/hello.txt")).unwrap(),
        b"hello, world\n"
    );
    let flows = emu.proxy_flows();
    assert_eq!(
        flows[format!("AssumeRoleWithWebIdentity/{read}/900")].as_u64(),
        Some(1),
        "{flows}"
    );
    assert!(
        emu.proxy_count("AWSCognitoIdentityService.GetOpenIdToken") >= 1,
        "{}",
        emu.proxy_counts()
    );
    assert_eq!(
        emu.proxy_count("AWSCognitoIdentityService.GetCredentialsForIdentity"),
        0,
        "the basic flow never asks for enhanced-flow credentials"
    );
}

#[test]
fn identity_options_that_do_not_fit_together_fail_before_any_call() {
    let emu = Emulator::start();
    for (extra, want) in [
        (&["--identity-flow", "basic"][..], "needs --role-arn"),
        (&["--session-duration", "1h"][..], "basic only"),
        (&["--role-arn", "s3-read"][..], "not an IAM role ARN"),
    ] {
        let out = login_as_bob_via_proxy(&emu, extra);
        assert!(!out.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    assert_eq!(
        emu.proxy_flows().as_object().map(|m| m.len()),
        Some(0),
        "no Cognito call was made"
    );
}
