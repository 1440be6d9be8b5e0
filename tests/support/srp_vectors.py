#!/usr/bin/env python3
"""Known-answer vectors for Cognito's SRP, computed by pycognito (an independent client).

usage: .venv/bin/python tests/support/srp_vectors.py  > vectors.json

Each vector fixes what is random or time-dependent in a real exchange (the private a, the
server's salt and B, the secret block, the clock) and records what pycognito's AWSSRP sends:
SRP_A, TIMESTAMP, PASSWORD_CLAIM_SIGNATURE and, with a client secret, SECRET_HASH. The Rust
test (src/auth/signin/srp_tests.rs) runs this script and must reproduce every field.

The set covers Cognito's known pitfalls: B and A with the high bit set (padded with a zero
byte) and without, odd-length hex, salts with leading zeros, a one-digit day of month, an
email-alias user whose USER_ID_FOR_SRP differs from the typed name, a client secret, and a
non-ASCII password.
"""

import base64
import datetime
import json
import random
import sys
from unittest import mock

from pycognito import aws_srp

N = aws_srp.hex_to_long(aws_srp.N_HEX)


def rand_hex(rng: random.Random, nbytes: int) -> str:
    return "".join(f"{rng.randrange(256):02x}" for _ in range(nbytes))


def private_a(rng: random.Random, high_bit_a: bool | None) -> int:
    """A private a (at most 128 bytes) whose A = g^a has the requested top bit."""
    while True:
        a = int(rand_hex(rng, 128), 16)
        big_a = pow(2, a, N)
        top = aws_srp.pad_hex(big_a).startswith("00")
        if high_bit_a is None or top == high_bit_a:
            return a


class FrozenClock:
    """Stands in for the datetime module inside pycognito.aws_srp."""

    def __init__(self, at: datetime.datetime):
        frozen = at

        class _DT(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return frozen

        self.datetime = _DT


def vector(name: str, seed: int, *, b_hex=None, salt_hex=None, user="alice",
           user_id=None, password="Correct-Horse-Battery-1", pool="us-east-1_AbCdEf123",
           secret=None, at=(2026, 12, 2, 7, 5, 9), high_bit_a=None) -> dict:
    rng = random.Random(seed)
    a = private_a(rng, high_bit_a)
    b_hex = b_hex if b_hex is not None else f"{rng.randrange(2, N):x}"
    salt_hex = salt_hex if salt_hex is not None else rand_hex(rng, 16)
    user_id = user_id or user
    block = base64.standard_b64encode(bytes(rng.randrange(256) for _ in range(rng.randrange(40, 400)))).decode()
    client_id = "3n4b5urk1ft4fl3mg5e62d9ado"
    srp = aws_srp.AWSSRP(user, password, pool, client_id, client=object(), client_secret=secret)
    srp.small_a_value = a
    srp.large_a_value = srp.calculate_a()
    when = datetime.datetime(*at)
    challenge = {"USERNAME": user_id, "USER_ID_FOR_SRP": user_id, "SALT": salt_hex,
                 "SRP_B": b_hex, "SECRET_BLOCK": block}
    with mock.patch.object(aws_srp, "datetime", FrozenClock(when)):
        answer = srp.process_challenge(challenge, srp.get_auth_params())
    return {
        "name": name, "pool_id": pool, "client_id": client_id, "client_secret": secret,
        "username": user, "user_id_for_srp": user_id, "password": password,
        "a_hex": f"{a:x}", "salt_hex": salt_hex, "srp_b_hex": b_hex, "secret_block": block,
        "unix_time": int(when.replace(tzinfo=datetime.timezone.utc).timestamp()),
        "expect": {
            "srp_a": srp.get_auth_params()["SRP_A"],
            "timestamp": answer["TIMESTAMP"],
            "signature": answer["PASSWORD_CLAIM_SIGNATURE"],
            "secret_hash": answer.get("SECRET_HASH"),
        },
    }


def vectors() -> list[dict]:
    n_minus = f"{N - 12345:x}"  # high bit set, full length
    return [
        vector("plain", 1),
        vector("b high bit", 2, b_hex=n_minus),
        vector("b odd length", 3, b_hex="7" + "a5" * 383),
        vector("b short", 4, b_hex="1f"),
        vector("salt odd length", 5, salt_hex="abc" + "12" * 14),
        vector("salt high bit", 6, salt_hex="f0" + "01" * 15),
        vector("salt leading zeros", 7, salt_hex="0000" + "7e" * 14),
        vector("salt upper case", 8, salt_hex="DEADBEEF" * 4),
        vector("a high bit", 9, high_bit_a=True),
        vector("a no high bit", 10, high_bit_a=False),
        vector("email alias", 11, user="carol@example.com",
               user_id="5f1c2d3e-0a9b-4c8d-9e7f-6a5b4c3d2e1f"),
        vector("client secret", 12, user="carol@example.com",
               user_id="5f1c2d3e-0a9b-4c8d-9e7f-6a5b4c3d2e1f",
               secret="1example23456789012345678901234567890abcdefghijkl"),
        vector("two-digit day", 13, at=(2027, 2, 28, 23, 59, 59)),
        vector("leap day, midnight", 14, at=(2028, 2, 29, 0, 0, 0)),
        vector("non-ascii password", 15, password="Pässwörd-日本-1"),
        vector("other region and pool", 16, pool="eu-west-2_Zz9"),
    ]


if __name__ == "__main__":
    json.dump(vectors(), sys.stdout, indent=1)
    sys.stdout.write("\n")
