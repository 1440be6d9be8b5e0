//! SRP known-answer tests: pycognito computes each vector (tests/support/srp_vectors.py,
//! run here so CI exercises it), and this implementation must reproduce it byte for byte.

use super::*;
use std::process::Command;
use std::time::Duration;

use crate::auth::{CognitoConfig, Secret};

fn pycognito_vectors() -> Vec<serde_json::Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let out = Command::new(python)
        .arg(root.join("tests/support/srp_vectors.py"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bytes_of_hex(text: &str) -> Vec<u8> {
    padded_hex(text).unwrap()
}

fn config_for(v: &serde_json::Value) -> CognitoConfig {
    CognitoConfig {
        region: "us-east-1".into(),
        user_pool_id: v["pool_id"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        client_secret: v["client_secret"].as_str().map(|s| Secret::new(s.into())),
        identity_pool_id: "us-east-1:x".into(),
        username: v["username"].as_str().unwrap().into(),
        identity: Default::default(),
    }
}

#[test]
fn every_pycognito_vector_is_reproduced_byte_for_byte() {
    let vectors = pycognito_vectors();
    assert!(vectors.len() >= 12, "only {} vectors", vectors.len());
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let s = |k: &str| v[k].as_str().unwrap();
        let client = SrpClient::with_private(&bytes_of_hex(s("a_hex")));
        let expect = &v["expect"];
        assert_eq!(
            client.public_hex(),
            expect["srp_a"].as_str().unwrap(),
            "{name}: SRP_A"
        );
        let challenge = Challenge {
            user_id_for_srp: s("user_id_for_srp"),
            salt_hex: s("salt_hex"),
            srp_b_hex: s("srp_b_hex"),
            secret_block_b64: s("secret_block"),
        };
        let now = UNIX_EPOCH + Duration::from_secs(v["unix_time"].as_u64().unwrap());
        let claim = client
            .claim(s("pool_id"), &challenge, s("password"), now)
            .unwrap();
        assert_eq!(
            claim.timestamp,
            expect["timestamp"].as_str().unwrap(),
            "{name}: TIMESTAMP"
        );
        assert_eq!(
            claim.signature,
            expect["signature"].as_str().unwrap(),
            "{name}: signature"
        );
        let hash = config_for(v).secret_hash(s("user_id_for_srp"));
        assert_eq!(
            hash.as_ref().map(Secret::expose),
            expect["secret_hash"].as_str(),
            "{name}: SECRET_HASH"
        );
    }
}

#[test]
fn the_vectors_cover_the_pitfalls() {
    let vectors = pycognito_vectors();
    let any = |f: &dyn Fn(&serde_json::Value) -> bool| vectors.iter().any(f);
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_owned();
    assert!(any(&|v| s(v, "srp_b_hex").len() % 2 == 1), "odd-length B");
    assert!(any(
        &|v| s(v, "srp_b_hex").len() == 768 && s(v, "srp_b_hex").as_str() > "8"
    ));
    assert!(
        any(&|v| s(v, "salt_hex").starts_with("00")),
        "salt with leading zeros"
    );
    assert!(any(&|v| s(v, "salt_hex").len() % 2 == 1), "odd-length salt");
    assert!(
        any(&|v| s(v, "user_id_for_srp") != s(v, "username")),
        "alias user id"
    );
    assert!(any(&|v| v["client_secret"].is_string()), "client secret");
    assert!(any(
        &|v| s(&v["expect"], "srp_a").len() == 768 && s(&v["expect"], "srp_a").as_str() >= "8"
    ));
    assert!(
        any(&|v| s(&v["expect"], "timestamp").contains(" 2 ")),
        "one-digit day"
    );
}

#[test]
fn the_day_of_month_has_no_leading_zero_and_the_time_is_utc() {
    // 2026-12-02T07:05:09Z, a Wednesday.
    let t = UNIX_EPOCH + Duration::from_secs(1_796_195_109);
    assert_eq!(cognito_timestamp(t), "Wed Dec 2 07:05:09 UTC 2026");
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
    assert_eq!(cognito_timestamp(t), "Tue Feb 29 00:00:00 UTC 2000");
}

#[test]
fn padding_follows_cognitos_clients() {
    assert_eq!(padded_hex("abc").unwrap(), vec![0x0a, 0xbc]);
    assert_eq!(padded_hex("80").unwrap(), vec![0x00, 0x80]);
    assert_eq!(padded_hex("0080").unwrap(), vec![0x00, 0x80]);
    assert_eq!(padded_hex("7f").unwrap(), vec![0x7f]);
    assert!(padded_hex("").is_none() && padded_hex("zz").is_none());
    assert_eq!(&padded(&U3072::from_u8(0x80))[..], &[0x00, 0x80]);
    assert_eq!(&padded(&U3072::ZERO)[..], &[0x00]);
}

fn challenge_with_b(b: &str) -> Challenge<'_> {
    Challenge {
        user_id_for_srp: "alice",
        salt_hex: "abcd",
        srp_b_hex: b,
        secret_block_b64: "c2VjcmV0",
    }
}

#[test]
fn a_b_of_zero_mod_n_is_refused() {
    let client = SrpClient::new().unwrap();
    let n_hex = N_HEX.to_ascii_lowercase();
    for b in ["0", "00", n_hex.as_str()] {
        let err = client.claim("us-east-1_x", &challenge_with_b(b), "pw", SystemTime::now());
        assert_eq!(err, Err(SrpError::ZeroB), "B = {b}");
    }
}

#[test]
fn malformed_challenges_are_refused_not_tolerated() {
    let client = SrpClient::new().unwrap();
    let now = SystemTime::now();
    let mut c = challenge_with_b("1234");
    c.secret_block_b64 = "5b0b1b2c-not-base64!";
    assert_eq!(
        client.claim("p_x", &c, "pw", now),
        Err(SrpError::BadSecretBlock)
    );
    let too_big = "1".repeat(769);
    let c = challenge_with_b(&too_big);
    assert_eq!(
        client.claim("p_x", &c, "pw", now),
        Err(SrpError::BadNumber("SRP_B"))
    );
    let c = challenge_with_b("12g4");
    assert_eq!(
        client.claim("p_x", &c, "pw", now),
        Err(SrpError::BadNumber("SRP_B"))
    );
}

#[test]
fn each_exchange_draws_a_new_private_value() {
    let (one, two) = (SrpClient::new().unwrap(), SrpClient::new().unwrap());
    assert_ne!(one.public_hex(), two.public_hex());
    assert!(
        one.public_hex().len() > 700,
        "A is a full-size group element"
    );
}
