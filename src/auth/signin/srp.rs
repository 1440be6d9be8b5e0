//! Cognito's SRP-6a (`USER_SRP_AUTH`): the client side of the `PASSWORD_VERIFIER` step.
//!
//! Why it is written here rather than taken from a crate: the math is small, and
//! `crypto-bigint` (already in the tree through `aws-sigv4`) gives fixed-size,
//! constant-time Montgomery arithmetic whose integers implement `Zeroize`, so the
//! password-derived values can be wiped. (`aws-cognito-srp` was not audited for this.)
//!
//! The protocol, as Cognito's own clients (amazon-cognito-identity-js, pycognito) run it:
//! - the 3072-bit group of RFC 5054, g = 2, k = H(pad(N) | pad(g));
//! - A = g^a, u = H(pad(A) | pad(B)), x = H(pad(salt) | H(pool name | user id | ":" | password));
//! - S = (B - k·g^x)^(a + u·x) mod N, key = HKDF(salt = pad(u), ikm = pad(S),
//!   info = "Caldera Derived Key"), 16 bytes;
//! - `PASSWORD_CLAIM_SIGNATURE` = Base64(HMAC-SHA256(key, pool name | user id | secret block
//!   | timestamp)).
//!
//! Subtleties, each pinned by a test against pycognito's vectors (`srp_tests.rs`):
//! 1. `pad` is Cognito's, not a fixed width: the shortest big-endian bytes, with a leading
//!    zero byte when the high bit is set. A hex string (the salt) keeps its own leading
//!    zeros and gets a `0` nibble in front when its length is odd.
//! 2. The pool name is the part of the pool id after `_`.
//! 3. The user id is `USER_ID_FOR_SRP` from the challenge, not the typed name (they differ
//!    when users sign in with an email alias).
//! 4. The timestamp is UTC, and its day of month has no leading zero
//!    (`Wed Dec 2 07:05:09 UTC 2026`).
//! 5. Abort when B mod N = 0 or u = 0 (either would let a server learn the password).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{NonZero, Odd, U256, U3072, U512};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// N of RFC 5054's 3072-bit group.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879",
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B",
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836",
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804",
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6",
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64",
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226",
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);
const N: U3072 = U3072::from_be_hex(N_HEX);
/// The bytes of the private value `a`, as many as Cognito's own clients take.
const PRIVATE_BYTES: usize = 128;
const INFO: &[u8] = b"Caldera Derived Key";

/// Why a `PASSWORD_VERIFIER` challenge could not be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SrpError {
    #[error("the challenge's {0} is not a hexadecimal number of at most 3072 bits")]
    BadNumber(&'static str),
    #[error("the challenge's SECRET_BLOCK is not base64")]
    BadSecretBlock,
    #[error(
        "the server's SRP_B is 0 mod N; refusing to answer (a genuine Cognito never sends it)"
    )]
    ZeroB,
    #[error("the SRP scrambling value u is 0; refusing to answer")]
    ZeroU,
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// What Cognito's `PASSWORD_VERIFIER` challenge carries.
#[derive(Debug, Clone, Copy)]
pub struct Challenge<'a> {
    pub user_id_for_srp: &'a str,
    pub salt_hex: &'a str,
    pub srp_b_hex: &'a str,
    pub secret_block_b64: &'a str,
}

/// The answer's two computed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub timestamp: String,
    pub signature: String,
}

/// One SRP exchange: the private `a` (wiped on drop) and the public `A` sent in `SRP_A`.
pub struct SrpClient {
    a: Zeroizing<U3072>,
    big_a: U3072,
}

impl std::fmt::Debug for SrpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpClient").finish_non_exhaustive()
    }
}

fn params() -> FixedMontyParams<{ U3072::LIMBS }> {
    // N is odd: its last hex digit is F.
    FixedMontyParams::new(Odd::new(N).expect("N is odd"))
}

fn modulus() -> NonZero<U3072> {
    NonZero::new(N).expect("N is not zero")
}

impl SrpClient {
    /// A fresh exchange with `a` from the operating system's random source.
    pub fn new() -> Result<SrpClient, SrpError> {
        let mut bytes = Zeroizing::new([0u8; PRIVATE_BYTES]);
        getrandom::getrandom(bytes.as_mut()).map_err(|e| SrpError::Random(e.to_string()))?;
        Ok(Self::with_private(&bytes[..]))
    }

    /// An exchange with a given `a` (at most [`PRIVATE_BYTES`] bytes, big-endian).
    pub(crate) fn with_private(a_be: &[u8]) -> SrpClient {
        let a = Zeroizing::new(uint_from_be(a_be).unwrap_or(U3072::ZERO).rem(&modulus()));
        let big_a = FixedMontyForm::new(&U3072::from_u8(2), &params())
            .pow(&*a)
            .retrieve();
        SrpClient { a, big_a }
    }

    /// `SRP_A`: A in lowercase hex without leading zeros, as Cognito's clients send it.
    pub fn public_hex(&self) -> String {
        hex(&minimal_be(&self.big_a))
    }

    /// Answers the challenge for `pool_id`'s user with `password`, stamped at `now`.
    pub fn claim(
        &self,
        pool_id: &str,
        challenge: &Challenge<'_>,
        password: &str,
        now: SystemTime,
    ) -> Result<Claim, SrpError> {
        let pool_name = pool_id.split_once('_').map_or(pool_id, |(_, name)| name);
        let secret_block = base64::engine::general_purpose::STANDARD
            .decode(challenge.secret_block_b64)
            .map_err(|_| SrpError::BadSecretBlock)?;
        let key = self.session_key(pool_name, challenge, password)?;
        let timestamp = cognito_timestamp(now);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key[..]).expect("HMAC takes any key");
        mac.update(pool_name.as_bytes());
        mac.update(challenge.user_id_for_srp.as_bytes());
        mac.update(&secret_block);
        mac.update(timestamp.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        Ok(Claim {
            timestamp,
            signature,
        })
    }

    /// The 16-byte key both sides derive: HKDF over S with u as the salt.
    fn session_key(
        &self,
        pool_name: &str,
        challenge: &Challenge<'_>,
        password: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SrpError> {
        let b_bytes = padded_hex(challenge.srp_b_hex).ok_or(SrpError::BadNumber("SRP_B"))?;
        let big_b = uint_from_be(&b_bytes).ok_or(SrpError::BadNumber("SRP_B"))?;
        if bool::from(big_b.rem(&modulus()).is_zero()) {
            return Err(SrpError::ZeroB);
        }
        let u = u256(
            &Sha256::new()
                .chain_update(padded(&self.big_a))
                .chain_update(padded(&big_b))
                .finalize(),
        );
        if bool::from(u.is_zero()) {
            return Err(SrpError::ZeroU);
        }
        let salt = padded_hex(challenge.salt_hex).ok_or(SrpError::BadNumber("SALT"))?;
        let x = private_x(pool_name, challenge.user_id_for_srp, password, &salt);
        let s = Zeroizing::new(self.premaster(&big_b, &u, &x));
        Ok(hkdf(&padded(&s), &padded(&u.resize::<{ U3072::LIMBS }>())))
    }

    /// S = (B - k·g^x)^(a + u·x) mod N.
    fn premaster(&self, big_b: &U3072, u: &U256, x: &U256) -> U3072 {
        let p = params();
        let g = FixedMontyForm::new(&U3072::from_u8(2), &p);
        let k = FixedMontyForm::new(&multiplier().resize(), &p);
        let b = FixedMontyForm::new(&big_b.rem(&modulus()), &p);
        let gx = Zeroizing::new(g.pow(x));
        let base = Zeroizing::new(b - k * *gx);
        let ux: Zeroizing<U512> = Zeroizing::new(u.concatenating_mul(x));
        // a < 2^1024 and u·x < 2^512: the sum cannot wrap in 3072 bits.
        let exponent = Zeroizing::new(self.a.wrapping_add(&ux.resize()));
        base.pow(&*exponent).retrieve()
    }
}

/// k = H(pad(N) | pad(g)).
fn multiplier() -> U256 {
    u256(
        &Sha256::new()
            .chain_update(padded(&N))
            .chain_update([2u8])
            .finalize(),
    )
}

/// x = H(pad(salt) | H(pool name | user id | ":" | password)), wiped on drop.
fn private_x(pool_name: &str, user_id: &str, password: &str, salt: &[u8]) -> Zeroizing<U256> {
    let mut inner = Sha256::new();
    inner.update(pool_name.as_bytes());
    inner.update(user_id.as_bytes());
    inner.update(b":");
    inner.update(password.as_bytes());
    let inner = digest_bytes(inner);
    let outer = digest_bytes(Sha256::new().chain_update(salt).chain_update(&inner[..]));
    Zeroizing::new(u256(&outer[..]))
}

/// A digest, copied where it is wiped on drop.
fn digest_bytes(hash: Sha256) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&hash.finalize());
    out
}

fn hkdf(ikm: &[u8], salt: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut extract = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key");
    extract.update(ikm);
    let mut prk = Zeroizing::new([0u8; 32]);
    prk.copy_from_slice(&extract.finalize().into_bytes());
    let mut expand = Hmac::<Sha256>::new_from_slice(&prk[..]).expect("HMAC takes any key");
    expand.update(INFO);
    expand.update(&[1]);
    Zeroizing::new(expand.finalize().into_bytes()[..16].to_vec())
}

fn u256(digest: &[u8]) -> U256 {
    U256::from_be_slice(digest)
}

/// A big-endian number of at most 3072 bits.
fn uint_from_be(bytes: &[u8]) -> Option<U3072> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let digits = &bytes[start..];
    let mut full = Zeroizing::new([0u8; U3072::BYTES]);
    let offset = full.len().checked_sub(digits.len())?;
    full[offset..].copy_from_slice(digits);
    Some(U3072::from_be_slice(&full[..]))
}

/// The shortest big-endian bytes of `n` (one zero byte for 0).
fn minimal_be(n: &U3072) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    bytes[start..].to_vec()
}

/// Cognito's padding of a number: shortest bytes, a zero byte in front if the high bit is set.
fn padded(n: &U3072) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(high_bit_padded(minimal_be(n)))
}

/// Cognito's padding of a hex string: it keeps its leading zeros, an odd length gets a `0`
/// nibble in front, and a set high bit a zero byte.
fn padded_hex(text: &str) -> Option<Vec<u8>> {
    let even = if text.len() % 2 == 1 {
        format!("0{text}")
    } else {
        text.to_owned()
    };
    if even.is_empty() {
        return None;
    }
    let bytes = (0..even.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(even.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(high_bit_padded(bytes))
}

fn high_bit_padded(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

fn hex(bytes: &[u8]) -> String {
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match text.strip_prefix('0') {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => text,
    }
}

/// `Wed Dec 2 07:05:09 UTC 2026`: UTC, English names, no leading zero on the day.
pub fn cognito_timestamp(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let rem = secs % 86_400;
    format!(
        "{} {} {} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        year
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[path = "srp_tests.rs"]
mod tests;
