#!/usr/bin/env python3
"""Self-test of tests/support/moto_env.py (no cargo needed).

    .venv/bin/python tests/support/moto_env_selftest.py

Starts moto_env.py --seed test, then through both the direct and the proxy
endpoint: InitiateAuth (USER_PASSWORD_AUTH) for alice, GetId +
GetCredentialsForIdentity, ListObjectsV2 with Delimiter, a ranged GetObject;
checks proxy counts, an injected 503, an injected connection reset, newbie's
NEW_PASSWORD_REQUIRED challenge, and that SIGTERM makes it exit 0 quickly.
Prints "N passed, 0 failed" at the end; exits non-zero on the first failure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PASSED = 0


def check(cond, what):
    global PASSED
    if not cond:
        raise AssertionError(what)
    PASSED += 1


def err_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def ctl(proxy, method, path, body=None):
    req = urllib.request.Request(
        proxy + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def exercise(st, endpoint, tag):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                 s3={"addressing_style": "path"})
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", config=cfg)
    idp = boto3.client("cognito-idp", **kw)
    ident = boto3.client("cognito-identity", **kw)
    s3 = boto3.client("s3", **kw)
    alice = st["users"]["alice"]["password"]
    r = idp.initiate_auth(ClientId=st["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "alice", "PASSWORD": alice})
    ar = r["AuthenticationResult"]
    check(ar["IdToken"] and ar["RefreshToken"], f"{tag}: alice tokens")
    logins = {f"cognito-idp.us-east-1.amazonaws.com/{st['user_pool_id']}": ar["IdToken"]}
    iid = ident.get_id(IdentityPoolId=st["identity_pool_id"], Logins=logins)["IdentityId"]
    creds = ident.get_credentials_for_identity(IdentityId=iid, Logins=logins)["Credentials"]
    check(creds["AccessKeyId"] and creds["SessionToken"], f"{tag}: credentials")
    s3c = boto3.client("s3", aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretKey"],
                       aws_session_token=creds["SessionToken"], **kw)
    top = s3c.list_objects_v2(Bucket="alpha", Delimiter="/")
    prefixes = {p["Prefix"] for p in top.get("CommonPrefixes", [])}
    keys = {o["Key"] for o in top.get("Contents", [])}
    check({"nested/", "marker/", "clash/", "big/"} <= prefixes, f"{tag}: prefixes {prefixes}")
    check({"hello.txt", "empty.bin", "clash"} <= keys, f"{tag}: keys {keys}")
    big = next(o for o in st["objects"] if o["key"] == "big/sixteen.bin")
    check(big["size"] == 16 * 1024 * 1024, "16 MiB size")
    g = s3c.get_object(Bucket="alpha", Key="big/sixteen.bin", Range="bytes=1000-1999")
    part = g["Body"].read()
    check(len(part) == 1000 and g["ContentRange"] == "bytes 1000-1999/16777216",
          f"{tag}: ranged get")
    whole = hashlib.shake_256(b"cognito-s3fs:alpha/big/sixteen.bin").digest(2000)
    check(part == whole[1000:2000], f"{tag}: ranged bytes")
    h = s3c.head_object(Bucket="alpha", Key="hello.txt")
    check(h["ContentLength"] == 13, f"{tag}: head")
    n = idp.initiate_auth(ClientId=st["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "newbie",
                                          "PASSWORD": st["users"]["newbie"]["temporary_password"]})
    check(n.get("ChallengeName") == "NEW_PASSWORD_REQUIRED" and n.get("Session"),
          f"{tag}: newbie challenge")
    return idp, ident, s3c, ar


def main():
    tmp = tempfile.mkdtemp(prefix="moto_env_selftest.")
    state_file = os.path.join(tmp, "state.json")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "moto_env.py"), "--state-file", state_file,
         "--seed", "test"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        check(line.strip() == f"ready {state_file}", f"ready line: {line!r} {proc.stderr.read() if not line else ''}")
        print(f"startup {time.monotonic() - t0:.1f}s", file=sys.stderr)
        with open(state_file) as f:
            st = json.load(f)
        for k in ("endpoint", "proxy_endpoint", "region", "user_pool_id", "client_id",
                  "secret_client_id", "client_secret", "identity_pool_id", "users",
                  "buckets", "objects"):
            check(k in st, f"state key {k}")
        proxy = st["proxy_endpoint"]

        exercise(st, st["endpoint"], "direct")
        check(ctl(proxy, "GET", "/__proxy/counts") == {}, "no proxy traffic yet")
        idp, ident, s3c, ar = exercise(st, proxy, "proxy")
        counts = ctl(proxy, "GET", "/__proxy/counts")
        check(counts == {
            "AWSCognitoIdentityProviderService.InitiateAuth": 2,
            "AWSCognitoIdentityService.GetId": 1,
            "AWSCognitoIdentityService.GetCredentialsForIdentity": 1,
            "S3.ListObjectsV2": 1, "S3.GetObject": 1, "S3.HeadObject": 1,
        }, f"counts {counts}")
        s3c.list_buckets()
        check(ctl(proxy, "GET", "/__proxy/counts").get("S3.ListBuckets") == 1, "ListBuckets")
        ctl(proxy, "POST", "/__proxy/reset")
        check(ctl(proxy, "GET", "/__proxy/counts") == {}, "reset")

        # injected 503 (JSON protocol and S3), then normal again
        ctl(proxy, "POST", "/__proxy/faults",
            {"match": "GetCredentialsForIdentity", "status": 503, "count": 1})
        iid = ident.get_id(IdentityPoolId=st["identity_pool_id"])["IdentityId"]
        check(err_code(lambda: ident.get_credentials_for_identity(IdentityId=iid))
              == ("InternalErrorException", 503), "injected json 503")
        ident.get_credentials_for_identity(IdentityId=iid)
        ctl(proxy, "POST", "/__proxy/faults", {"match": "S3.GetObject", "status": 503, "count": 1})
        check(err_code(lambda: s3c.get_object(Bucket="alpha", Key="hello.txt"))
              == ("SlowDown", 503), "injected s3 503")
        check(s3c.get_object(Bucket="alpha", Key="hello.txt")["Body"].read()
              == b"hello, world\n", "get after fault")
        # injected connection reset
        ctl(proxy, "POST", "/__proxy/faults", {"match": "S3.HeadObject", "status": 0, "count": 1})
        try:
            s3c.head_object(Bucket="alpha", Key="hello.txt")
            check(False, "reset should fail")
        except botocore.exceptions.ConnectionClosedError:
            check(True, "reset")
        check(s3c.head_object(Bucket="alpha", Key="hello.txt")["ContentLength"] == 13,
              "head after reset")
        # faults list / clear
        ctl(proxy, "POST", "/__proxy/faults", {"match": "S3.", "status": 500, "count": 5})
        check(len(ctl(proxy, "GET", "/__proxy/faults")) == 1, "fault pending")
        ctl(proxy, "DELETE", "/__proxy/faults")
        check(ctl(proxy, "GET", "/__proxy/faults") == [], "faults cleared")
        counts = ctl(proxy, "GET", "/__proxy/counts")
        check(counts == {
            "AWSCognitoIdentityService.GetId": 1,
            "AWSCognitoIdentityService.GetCredentialsForIdentity": 2,
            "S3.GetObject": 2, "S3.HeadObject": 2,
        }, f"counts after faults {counts}")

        # secret client: SECRET_HASH = b64(HMAC-SHA256(secret, username + client_id))
        sh = base64.b64encode(hmac.new(st["client_secret"].encode(),
                                       ("alice" + st["secret_client_id"]).encode(),
                                       hashlib.sha256).digest()).decode()
        r = idp.initiate_auth(ClientId=st["secret_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": "alice", "SECRET_HASH": sh,
                                              "PASSWORD": st["users"]["alice"]["password"]})
        check("AuthenticationResult" in r, "secret client login")
        r = idp.initiate_auth(ClientId=st["client_id"], AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": ar["RefreshToken"]})
        check("IdToken" in r["AuthenticationResult"], "refresh")
        check(err_code(lambda: idp.initiate_auth(
            ClientId=st["client_id"], AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": "wrong"}))
            == ("NotAuthorizedException", 400), "wrong password")
        check(err_code(lambda: idp.initiate_auth(
            ClientId=st["client_id"], AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "nobody", "PASSWORD": "x"}))
            == ("UserNotFoundException", 400), "unknown user")
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "timeout"
        shutil.rmtree(tmp, ignore_errors=True)
    check(rc == 0, f"exit code {rc}: {proc.stderr.read()}")
    check(time.monotonic() - t1 < 3, "fast exit")
    print(f"exit after SIGTERM in {time.monotonic() - t1:.2f}s", file=sys.stderr)
    print(f"{PASSED} passed, 0 failed")


if __name__ == "__main__":
    main()
