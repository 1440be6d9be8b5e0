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
