#!/usr/bin/env python3
"""Local AWS emulator for cognito-s3fs's integration tests and demo.

Usage (run with the project's venv, see scripts/setup.sh):

    .venv/bin/python tests/support/moto_env.py --state-file PATH \
        [--seed test|demo] [--extra listing] [--creds-lifetime IGNORED] [--verbose]

What it does:

* starts moto's server in-process on 127.0.0.1 (a free port); the one server
  serves cognito-idp, cognito-identity and S3 (path-style);
* starts a recording proxy on another free loopback port that forwards every
  request verbatim to moto, counts requests per operation and can inject
  faults (see ``ProxyState``);
* seeds a user pool, five app clients (SRP and password flows with and without a
  secret; password flow only; the
  default flows, SRP only, with and without a secret), an identity pool, users and buckets;
* makes moto's Cognito stricter, as AWS is: InitiateAuth refuses flows an app client does
  not allow, and USER_SRP_AUTH checks the password claim for real (patch_moto_cognito);
* writes the state file atomically (tmp + rename) as JSON:

    {"endpoint": "http://127.0.0.1:MOTO_PORT",
     "proxy_endpoint": "http://127.0.0.1:PROXY_PORT",
     "region": "us-east-1",
     "user_pool_id": "us-east-1_...",
     "client_id": "...",            # app client without secret
     "secret_client_id": "...",     # app client with a secret
     "client_secret": "...",
     "srp_client_id": "...",        # default flows only: USER_SRP_AUTH, no password flow
     "password_client_id": "...",   # USER_PASSWORD_AUTH and refresh only, no SRP
     "srp_secret_client_id": "...", # the same, with a secret
     "srp_client_secret": "...",
     "identity_pool_id": "us-east-1:...",
     "users": {"alice": {"password": ...}, "newbie": {"temporary_password": ...},
               "bob": {"password": ...}},
     "buckets": [...],
     "objects": [{"bucket": B, "key": K, "size": N, "sha256": HEX}, ...],
     "seed": "test"|"demo", "pid": PID}

* with ``--extra listing``, also creates bucket "gamma" for the listing budget
  tests: ``big/`` holds 3,000 small objects (``big/obj-0000`` ..), and
  ``tree/p00/`` .. ``tree/p49/`` three each (``f0`` .. ``f2``). These are not
  in "buckets" or "objects"; the state gains
  ``"extra": {"listing": {"bucket": "gamma", "big": 3000, "tree": 50,
  "tree_files": 3}}``. Without ``--extra`` nothing changes;
* prints "ready <state file>" on stdout, then runs until SIGTERM/SIGINT and
  exits 0.

Proxy control endpoints (on the proxy port, never forwarded):

    GET    /__proxy/counts   -> {"<op>": count, ...}
    GET    /__proxy/flows    -> {"InitiateAuth/<AuthFlow>": count,
                                 "RespondToAuthChallenge/<ChallengeName>": count,
                                 "GetCredentialsForIdentity/<CustomRoleArn or ->": count,
                                 "AssumeRoleWithWebIdentity/<RoleArn>/<DurationSeconds>": count}
                                 (sign-in steps by kind: refresh or password; the role asked for)
    GET    /__proxy/lists    -> ["<bucket>/<prefix>", ...] every ListObjectsV2
                                 forwarded, in order (a prefix mount's budget)
    POST   /__proxy/reset    -> zero the counts (and forget the lists)
    GET    /__proxy/faults   -> pending faults
    POST   /__proxy/faults   body {"match": "<substring of op>", "status": 503,
                                   "count": N}
           status 0 resets the connection instead of answering; optional
           "code"/"message" override the injected error, and "delay_ms"
           delays the request (alone, without "status": delay then forward).
    DELETE /__proxy/faults   -> drop all pending faults

Operation names: the X-Amz-Target header for JSON-protocol calls (e.g.
"AWSCognitoIdentityProviderService.InitiateAuth"); for S3 one of
"S3.ListBuckets", "S3.ListObjectsV2", "S3.GetObject", "S3.HeadObject",
"S3.Other".

Object contents are deterministic: text files are fixed strings, binary
files are SHAKE-256("cognito-s3fs:<bucket>/<key>") truncated to their size.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import http.server
import json
import random
import logging
import os
import signal
import socket
import struct
import sys
import threading
import time
import unicodedata
import urllib.parse

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

# The harness talks to moto with fixed dummy credentials and never to AWS.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "MOTO_ACCOUNT_ID": ACCOUNT_ID,
        # moto checks TOTP codes; every user's secret is "asdfasdfasdf".
        "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
    }
)
os.environ.pop("AWS_PROFILE", None)
# moto computes GetCredentialsForIdentity's Expiration as
# naive_utc_now().timestamp(), which is only right when local time is UTC.
os.environ["TZ"] = "UTC"
time.tzset()

USERS = {
    "alice": {"password": "Correct-Horse-Battery-1"},
    "newbie": {"temporary_password": "Temp-Pass-Word-1"},
    "newbie2": {"temporary_password": "Temp-Pass-Word-2"},
    "bob": {"password": "Another-Good-Pass-2"},
    # MFA users: "totp" answers SOFTWARE_TOKEN_MFA (secret "asdfasdfasdf"), "sms" SMS_MFA.
    "totp": {"password": "Totp-User-Pass-3"},
    "sms": {"password": "Sms-User-Pass-4"},
}

# Users of the second user pool, whose MFA is required (ON) with TOTP only: "enrol" has no
# MFA yet, so signing in asks MFA_SETUP.
MFA_POOL_USERS = {
    "enrol": {"password": "Enrol-User-Pass-5"},
}

# "bob" is in two user-pool groups with IAM roles, so his IdToken lists both in
# cognito:roles (patch_moto_roles), read first by precedence.
ROLE_READ = f"arn:aws:iam::{ACCOUNT_ID}:role/s3-read"
ROLE_AUDIT = f"arn:aws:iam::{ACCOUNT_ID}:role/s3-audit"
GROUPS = {"readers": (ROLE_READ, 1), "auditors": (ROLE_AUDIT, 2)}

VERBOSE = False


def log(msg: str) -> None:
    if VERBOSE:
        print(f"moto_env: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Recording / fault-injecting proxy
# --------------------------------------------------------------------------

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}

# Query parameters that make a GET on an object something else than GetObject.
S3_OBJECT_SUBRESOURCES = {
    "acl",
    "attributes",
    "legal-hold",
    "retention",
    "tagging",
    "torrent",
    "uploadId",
    "restore",
    "select",
}


SECRET_FIELDS = ("IdToken", "AccessToken", "RefreshToken", "SecretKey", "SessionToken")


class ProxyState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        # Sign-in calls by AuthFlow / ChallengeName: tells a token refresh from a password.
        self.flows: dict[str, int] = {}
        # Every ListObjectsV2 as "bucket/prefix": tells a listing inside a prefix from one outside.
        self.lists: list[str] = []
        self.faults: list[dict] = []
        # Fixed seed: a run's fault pattern is reproducible.
        self.random = random.Random(20261126)
        # Every token and key seen in a Cognito answer, for tests that check logs for leaks.
        self.secrets: set[str] = set()

    def record(self, op: str) -> dict | None:
        """Counts one request and returns the fault to apply to it, if any.

        A fault applies to the next `count` matching requests; with `rate`, each matching
        request is hit with that probability (and `count` -1 means without end)."""
        with self.lock:
            self.counts[op] = self.counts.get(op, 0) + 1
            for fault in self.faults:
                if fault["match"] not in op or fault["count"] == 0:
                    continue
                if "rate" in fault and self.random.random() >= fault["rate"]:
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                applied = dict(fault)
                self.faults = [f for f in self.faults if f["count"] != 0]
                return applied
        return None

    def note_list(self, method: str, path: str, headers) -> None:
        """Remembers the bucket and prefix of a ListObjectsV2."""
        bucket, _ = bucket_and_key(path, headers)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
        with self.lock:
            self.lists.append(f"{bucket}/{query.get('prefix', [''])[0]}")

    def note_flow(self, op: str, body: bytes) -> None:
        """Counts an InitiateAuth by its AuthFlow, a challenge answer by its name, a
        GetCredentialsForIdentity by its CustomRoleArn ("-" without), an
        AssumeRoleWithWebIdentity by its RoleArn and DurationSeconds."""
        fields = {"InitiateAuth": "AuthFlow", "RespondToAuthChallenge": "ChallengeName",
                  "GetCredentialsForIdentity": "CustomRoleArn"}
        call = op.rsplit(".", 1)[-1]
        if call == "AssumeRoleWithWebIdentity":
            form = urllib.parse.parse_qs(body.decode("latin-1"))
            kind = "/".join(form.get(f, ["-"])[0] for f in ("RoleArn", "DurationSeconds"))
        elif call in fields:
            try:
                kind = json.loads(body).get(fields[call], "-")
            except (ValueError, AttributeError):
                kind = "?"
        else:
            return
        with self.lock:
            key = f"{call}/{kind}"
            self.flows[key] = self.flows.get(key, 0) + 1

    def note_secrets(self, data: bytes) -> None:
        """Remembers the secret fields of a JSON answer (nested one level in Credentials)."""
        try:
            doc = json.loads(data)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        found = []
        for part in (doc, doc.get("AuthenticationResult"), doc.get("Credentials")):
            if isinstance(part, dict):
                found += [str(part[f]) for f in SECRET_FIELDS if part.get(f)]
        with self.lock:
            self.secrets.update(found)


def bucket_and_key(path: str, headers) -> tuple[str, str]:
    """S3: path-style /bucket/key, or virtual-host bucket.localhost[:port]/key."""
    host = (headers.get("Host") or "").rsplit(":", 1)[0]
    raw = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
    if host.endswith(".localhost"):
        raw = "/" + host[: -len(".localhost")] + raw
    parts = raw.lstrip("/").split("/", 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def classify(method: str, path: str, headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.strip()
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    ctype = (headers.get("Content-Type") or "").lower()
    if method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("latin-1"), keep_blank_values=True)
        if "Action" in form:  # query protocol (STS, ...), not S3
            return f"Query.{form['Action'][0]}"
    bucket, key = bucket_and_key(path, headers)
    if not bucket:
        return "S3.ListBuckets" if method == "GET" else "S3.Other"
    if not key:
        if method == "GET" and query.get("list-type") == ["2"]:
            return "S3.ListObjectsV2"
        return "S3.Other"
    if not (S3_OBJECT_SUBRESOURCES & set(query)):
        if method == "GET":
            return "S3.GetObject"
        if method == "HEAD":
            return "S3.HeadObject"
    return "S3.Other"


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int], state: ProxyState):
        self.upstream = upstream
        self.state = state
        super().__init__(("127.0.0.1", 0), ProxyHandler)

    def handle_error(self, request, client_address) -> None:
        if VERBOSE:
            super().handle_error(request, client_address)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if VERBOSE:
            super().log_message(format, *args)

    # Every method goes through the same path.
    def do_ANY(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_ANY

    # ----------------------------------------------------------- helpers --
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionResetError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, ctype: str, extra=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, sort_keys=True).encode(), "application/json")

    def _reset_connection(self) -> None:
        # SO_LINGER 0 + close sends a TCP RST instead of a FIN.
        self.close_connection = True
        try:
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
        except OSError:
            pass

    # ----------------------------------------------------------- control --
    def _control(self, body: bytes) -> None:
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if path == "/__proxy/counts" and self.command == "GET":
            with state.lock:
                counts = dict(state.counts)
            return self._send_json(200, counts)
        if path == "/__proxy/secrets" and self.command == "GET":
            with state.lock:
                secrets = sorted(state.secrets)
            return self._send_json(200, secrets)
        if path == "/__proxy/lists" and self.command == "GET":
            with state.lock:
                lists = list(state.lists)
            return self._send_json(200, lists)
        if path == "/__proxy/flows" and self.command == "GET":
            with state.lock:
                flows = dict(state.flows)
            return self._send_json(200, flows)
        if path == "/__proxy/reset" and self.command == "POST":
            with state.lock:
                state.counts.clear()
                state.flows.clear()
                state.lists.clear()
            return self._send_json(200, {})
        if path == "/__proxy/faults":
            if self.command == "GET":
                with state.lock:
                    faults = [dict(f) for f in state.faults]
                return self._send_json(200, faults)
            if self.command == "DELETE":
                with state.lock:
                    state.faults.clear()
                return self._send_json(200, {})
            if self.command == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    fault = {
                        "match": str(spec["match"]),
                        "count": int(spec.get("count", 1)),
                    }
                    if spec.get("status") is not None:
                        fault["status"] = int(spec["status"])
                    for opt in ("code", "message"):
                        if spec.get(opt) is not None:
                            fault[opt] = str(spec[opt])
                    if spec.get("delay_ms") is not None:
                        fault["delay_ms"] = int(spec["delay_ms"])
                    if spec.get("rate") is not None:
                        fault["rate"] = float(spec["rate"])
                        fault["count"] = int(spec.get("count", -1))
                    if "status" not in fault and "delay_ms" not in fault:
                        raise ValueError("need status or delay_ms")
                except (ValueError, KeyError, TypeError) as e:
                    return self._send_json(400, {"error": f"bad fault spec: {e}"})
                with state.lock:
                    if fault["count"] != 0:
                        state.faults.append(fault)
                return self._send_json(200, fault)
        return self._send_json(404, {"error": f"unknown control {self.command} {path}"})

    # ----------------------------------------------------------- forward --
    def _inject(self, op: str, fault: dict) -> None:
        status = fault["status"]
        message = fault.get("message", "injected")
        if self.headers.get("X-Amz-Target"):
            code = fault.get("code", "InternalErrorException")
            body = json.dumps({"__type": code, "message": message}).encode()
            ctype = "application/x-amz-json-1.1"
            extra = [("x-amzn-ErrorType", code), ("x-amzn-RequestId", "injected-fault")]
        else:
            code = fault.get("code", "SlowDown")
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                "<RequestId>injected-fault</RequestId></Error>"
            ).encode()
            ctype = "application/xml"
            extra = [("x-amz-request-id", "injected-fault")]
        log(f"injecting {status} into {op}")
        self._send(status, body, ctype, extra)

    def _upstream_request(self, body: bytes):
        headers = [
            (k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
        ]
        if self.command not in ("GET", "HEAD", "DELETE", "OPTIONS") or body:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        for attempt in (0, 1):
            fresh = self._upstream is None
            if fresh:
                self._upstream = http.client.HTTPConnection(*self.server.upstream, timeout=300)
            conn = self._upstream
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    conn.close()
                    self._upstream = None
                return resp, data
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                conn.close()
                self._upstream = None
                if fresh or attempt == 1:  # only a stale kept-alive socket is retried
                    raise
        raise AssertionError("unreachable")

    def _handle(self) -> None:
        body = self._read_body()
        if urllib.parse.urlsplit(self.path).path.startswith("/__proxy/"):
            return self._control(body)
        op = classify(self.command, self.path, self.headers, body)
        self.server.state.note_flow(op, body)
        if op == "S3.ListObjectsV2":
            self.server.state.note_list(self.command, self.path, self.headers)
        fault = self.server.state.record(op)
        if fault is not None:
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000.0)
            if "status" in fault:
                if fault["status"] == 0:
                    log(f"resetting connection for {op}")
                    return self._reset_connection()
                if fault["status"] > 0:
                    return self._inject(op, fault)
        cut = fault is not None and fault.get("status") == -1
        try:
            resp, data = self._upstream_request(body)
        except OSError as e:
            self.close_connection = True
            return self._send(502, f"proxy: upstream error: {e}\n".encode(), "text/plain")
        if self.headers.get("X-Amz-Target"):
            self.server.state.note_secrets(data)
        declared = len(data)
        if cut:
            # Status -1: the whole header, half the body, then a reset.
            log(f"cutting the body of {op}")
            data = data[: len(data) // 2]
            self.close_connection = True
        self.send_response_only(resp.status, resp.reason)
        is_head = self.command == "HEAD"
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP or (lk == "content-length" and not is_head):
                continue
            self.send_header(k, v)
        if not is_head and not (100 <= resp.status < 200 or resp.status in (204, 304)):
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        if not is_head and data:
            self.wfile.write(data)
        if cut:
            self.wfile.flush()
            self._reset_connection()


# --------------------------------------------------------------------------
# Seed data
# --------------------------------------------------------------------------


def det_bytes(bucket: str, key: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes for bucket/key."""
    if size == 0:
        return b""
    return hashlib.shake_256(f"cognito-s3fs:{bucket}/{key}".encode()).digest(size)


def test_objects() -> dict[str, dict[str, bytes]]:
    alpha: dict[str, bytes] = {
        "hello.txt": b"hello, world\n",
        "empty.bin": b"",
        "with space/name with spaces.txt": b"a file whose name has spaces\n",
        unicodedata.normalize("NFC", "unicode/héllo-wörld-日本.txt"): (
            "héllo wörld 日本\n".encode()
        ),
        "nested/a/b/c/deep.txt": b"deep down in nested/a/b/c\n",
        "nested/a/b/sibling.csv": b"id,name\n1,one\n2,two\n3,three\n",
        "nested/top.txt": b"top of nested\n",
        "marker/": b"",
        "marker/inside.txt": b"inside a prefix that has a directory marker\n",
        "emptymarker/": b"",
        "clash": b"clash is an object and also a prefix\n",
        "clash/child.txt": b"child of clash/\n",
        "slashes//double.txt": b"key with a double slash\n",
        "weird/./dot.txt": b"key with a /./ segment\n",
        "weird/../dotdot.txt": b"key with a /../ segment\n",
        "weird/ok.txt": b"ordinary file among weird ones\n",
        "weird/" + "x" * 300 + ".txt": b"name longer than 255 bytes\n",
        "big/sixteen.bin": det_bytes("alpha", "big/sixteen.bin", 16 * 1024 * 1024),
        "big/one.bin": det_bytes("alpha", "big/one.bin", 1024 * 1024 + 123),
    }
    rows = ["n,square,cube,hex"] + [f"{i},{i * i},{i * i * i},{i:#x}" for i in range(1, 301)]
    beta: dict[str, bytes] = {
        "data/numbers.csv": ("\n".join(rows) + "\n").encode(),
        "data/readme.md": b"# beta\n\nTest bucket with data and logs.\n",
        "logs/2024/01/app.log": "".join(
            f"2024-01-{d:02d}T12:00:00Z INFO request {d} ok\n" for d in range(1, 32)
        ).encode(),
        "logs/2024/02/app.log": "".join(
            f"2024-02-{d:02d}T12:00:00Z WARN slow request {d}\n" for d in range(1, 30)
        ).encode(),
    }
    return {"alpha": alpha, "beta": beta}


DEMO_README = b"""\
This is demo data for cognito-s3fs.

Nothing here comes from AWS: a local emulator (moto) plays Amazon Cognito and
Amazon S3 on 127.0.0.1, and cognito-s3fs logged in as the demo user "alice"
and mounted its two buckets, demo-docs and demo-data, read-only.

Try: ls, cat, grep -r, sha256sum, cp ... /tmp/ -- and notice that writes fail
with "Read-only file system".
"""


def demo_objects() -> dict[str, dict[str, bytes]]:
    docs: dict[str, bytes] = {
        "README.txt": DEMO_README,
        "guide/getting-started.md": (
            b"# Getting started\n\n1. Log in with your Cognito user.\n"
            b"2. Mount: cognito-s3fs mount ./mnt --user-pool-id ... --client-id ...\n"
            b"3. Browse the buckets as directories.\n4. Unmount: fusermount3 -u ./mnt\n"
        ),
        "guide/faq.md": (
            b"# FAQ\n\nQ: Can I write files?\nA: No, the mount is read-only.\n\n"
            b"Q: Where do credentials come from?\nA: A Cognito identity pool exchanges "
            b"your user pool login for temporary AWS credentials.\n"
        ),
        "guide/advanced/caching.md": (
            b"# Caching\n\nDirectory listings and file attributes are cached briefly;\n"
            b"file contents are fetched with ranged GETs as you read them.\n"
        ),
        "notes/2024-01-15-meeting.txt": b"Meeting notes: ship the read-only mount first.\n",
        "notes/2024-02-01-todo.txt": b"TODO: try grep -r TODO on the mount.\n",
    }
    rows = ["date,city,temperature_c,rain_mm"]
    cities = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka"]
    for day in range(366):  # 2024 is a leap year
        date = datetime.date(2024, 1, 1) + datetime.timedelta(days=day)
        for ci, city in enumerate(cities):
            h = hashlib.sha256(f"{date}:{city}".encode()).digest()
            temp = (h[0] % 30) - 5 + ci
            rain = h[1] % 20
            rows.append(f"{date.isoformat()},{city},{temp},{rain}")
    data: dict[str, bytes] = {
        "weather/2024.csv": ("\n".join(rows) + "\n").encode(),
        "images/pixels.bin": det_bytes("demo-data", "images/pixels.bin", 10 * 1024 * 1024),
        "archive/2023/q4/summary.txt": b"Q4 2023: all systems nominal.\n",
        "archive/2023/q3/summary.txt": b"Q3 2023: migrated to the new storage.\n",
    }
    return {"demo-docs": docs, "demo-data": data}


def seed(endpoint: str, which: str) -> dict:
    import boto3  # imported late: keeps --help fast

    kw = {"endpoint_url": endpoint, "region_name": REGION}
    idp = boto3.client("cognito-idp", **kw)
    ident = boto3.client("cognito-identity", **kw)
    s3 = boto3.client("s3", **kw)

    pool_id = idp.create_user_pool(PoolName=f"cognito-s3fs-{which}")["UserPool"]["Id"]
    flows = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-public", GenerateSecret=False,
        ExplicitAuthFlows=flows,
    )["UserPoolClient"]["ClientId"]
    secret_client = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-secret", GenerateSecret=True,
        ExplicitAuthFlows=flows,
    )["UserPoolClient"]
    # No SRP: `auto` falls back to USER_PASSWORD_AUTH.
    password_client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-password-only", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    # No sign-in flow at all: `auto` tries each and names them.
    refresh_only_client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-refresh-only", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    # The default flows of an app client made without ExplicitAuthFlows: SRP, no password.
    srp_client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-srp-only", GenerateSecret=False,
    )["UserPoolClient"]["ClientId"]
    srp_secret_client = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-srp-secret", GenerateSecret=True,
    )["UserPoolClient"]
    for name, info in USERS.items():
        temp = info.get("temporary_password", "Initial-Temp-Pass-9")
        idp.admin_create_user(
            UserPoolId=pool_id, Username=name, TemporaryPassword=temp,
            MessageAction="SUPPRESS",
        )
        if "password" in info:
            idp.admin_set_user_password(
                UserPoolId=pool_id, Username=name, Password=info["password"],
                Permanent=True,
            )
    enrol_mfa_users(idp, pool_id)
    for group, (role, precedence) in GROUPS.items():
        idp.create_group(GroupName=group, UserPoolId=pool_id, RoleArn=role, Precedence=precedence)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username="bob", GroupName=group)
    mfa_pool_id, mfa_client_id = seed_mfa_pool(idp, which)
    identity_pool_id = ident.create_identity_pool(
        IdentityPoolName=f"cognito_s3fs_{which}",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[
            {
                "ProviderName": f"cognito-idp.{REGION}.amazonaws.com/{pool_id}",
                "ClientId": client_id,
            }
        ],
    )["IdentityPoolId"]

    content = test_objects() if which == "test" else demo_objects()
    objects = []
    for bucket, files in content.items():
        s3.create_bucket(Bucket=bucket)
        for key, data in files.items():
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            objects.append(
                {"bucket": bucket, "key": key, "size": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
            )
    # Check that every key landed exactly as written (no path normalisation).
    for bucket, files in content.items():
        got = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            got.update(o["Key"] for o in page.get("Contents", []))
        if got != set(files):
            raise RuntimeError(f"seeded keys differ in {bucket}: {sorted(got ^ set(files))}")

    return {
        "region": REGION,
        "user_pool_id": pool_id,
        "client_id": client_id,
        "secret_client_id": secret_client["ClientId"],
        "client_secret": secret_client["ClientSecret"],
        "srp_client_id": srp_client_id,
        "password_client_id": password_client_id,
        "refresh_only_client_id": refresh_only_client_id,
        "srp_secret_client_id": srp_secret_client["ClientId"],
        "srp_client_secret": srp_secret_client["ClientSecret"],
        "identity_pool_id": identity_pool_id,
        "roles": {"bob": [ROLE_READ, ROLE_AUDIT]},
        "mfa_pool_id": mfa_pool_id,
        "mfa_client_id": mfa_client_id,
        "users": {**USERS, **MFA_POOL_USERS},
        "buckets": list(content),
        "objects": objects,
    }


def enrol_mfa_users(idp, pool_id: str) -> None:
    """Gives "totp" a verified authenticator app and "sms" SMS MFA, both preferred."""
    from moto.cognitoidp.models import cognitoidp_backends

    user = cognitoidp_backends[ACCOUNT_ID][REGION].user_pools[pool_id].users["totp"]
    user.token_verified = True  # as after AssociateSoftwareToken + VerifySoftwareToken
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool_id, Username="totp",
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    idp.admin_set_user_mfa_preference(
        UserPoolId=pool_id, Username="sms",
        SMSMfaSettings={"Enabled": True, "PreferredMfa": True})


def seed_mfa_pool(idp, which: str) -> tuple[str, str]:
    """A user pool that requires TOTP MFA, with an app client of the default flows (SRP).
    moto's GetId takes its tokens in the one identity pool, as it checks no provider."""
    pool_id = idp.create_user_pool(PoolName=f"cognito-s3fs-{which}-mfa")["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="ON",
        SoftwareTokenMfaConfiguration={"Enabled": True})
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="cli-mfa-required", GenerateSecret=False,
    )["UserPoolClient"]["ClientId"]
    for name, info in MFA_POOL_USERS.items():
        idp.admin_create_user(
            UserPoolId=pool_id, Username=name, TemporaryPassword="Initial-Temp-Pass-9",
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username=name, Password=info["password"], Permanent=True,
        )
    return pool_id, client_id


LISTING_EXTRA = {"bucket": "gamma", "big": 3000, "tree": 50, "tree_files": 3}


def seed_listing(endpoint: str) -> dict:
    """The opt-in listing seed: many small objects, put from a thread pool."""
    import boto3
    from concurrent.futures import ThreadPoolExecutor

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    extra = LISTING_EXTRA
    s3.create_bucket(Bucket=extra["bucket"])
    keys = [f"big/obj-{i:04d}" for i in range(extra["big"])]
    keys += [
        f"tree/p{p:02d}/f{f}" for p in range(extra["tree"]) for f in range(extra["tree_files"])
    ]

    def put(key: str) -> None:
        s3.put_object(Bucket=extra["bucket"], Key=key, Body=key.encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    return {"listing": extra}


# --------------------------------------------------------------------------
# Cognito fidelity: app-client flows and a real SRP verifier
# --------------------------------------------------------------------------

# What an app client created without ExplicitAuthFlows allows.
DEFAULT_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_CUSTOM_AUTH"]
# Cognito's own words when a flow is not enabled for the app client.
NOT_ENABLED = {
    "USER_SRP_AUTH": "USER_SRP_AUTH is not enabled for the client.",
    "USER_PASSWORD_AUTH": "USER_PASSWORD_AUTH flow not enabled for this client",
    "USER_AUTH": "USER_AUTH flow not enabled for this client",
}
SRP_TIMESTAMP = r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9]\d? \d\d:\d\d:\d\d UTC \d{4}$"


def patch_moto_cognito() -> None:
    """Makes moto's InitiateAuth honour each app client's ExplicitAuthFlows, and its
    USER_SRP_AUTH a real SRP-6a server (salt, B from the user's password verifier, a
    base64 SECRET_BLOCK, USER_ID_FOR_SRP = the user's username, the claim signature and
    its timestamp format checked), so a wrong password fails as on AWS. Out of the box,
    moto's SRP is shape only and accepts any signature."""
    import base64, hashlib, hmac, re, secrets
    from moto.cognitoidp import models as m
    from moto.cognitoidp.exceptions import InvalidParameterException, NotAuthorizedError
    from pycognito import aws_srp as srp

    big_n, g = srp.hex_to_long(srp.N_HEX), 2
    k = srp.hex_to_long(srp.hex_hash("00" + srp.N_HEX + "02"))
    pending: dict[str, dict] = {}
    orig_initiate = m.CognitoIdpBackend.initiate_auth
    orig_respond = m.CognitoIdpBackend.respond_to_auth_challenge

    def find_client(backend, client_id):
        for pool in backend.user_pools.values():
            if client_id in pool.clients:
                return pool, pool.clients[client_id]
        return None, None

    def initiate_auth(self, client_id, auth_flow, auth_parameters):
        pool, client = find_client(self, client_id)
        if client is not None and auth_flow in NOT_ENABLED:
            flows = client.extended_config.get("ExplicitAuthFlows") or DEFAULT_FLOWS
            if f"ALLOW_{auth_flow}" not in flows:
                raise InvalidParameterException(NOT_ENABLED[auth_flow])
        out = orig_initiate(self, client_id, auth_flow, auth_parameters)
        if auth_flow != "USER_SRP_AUTH":
            return out
        user = self.admin_get_user(pool.id, auth_parameters["USERNAME"])
        big_a = int(auth_parameters["SRP_A"], 16)
        if big_a % big_n == 0:
            raise NotAuthorizedError("Incorrect username or password.")
        pool_name = pool.id.split("_", 1)[1]
        salt = secrets.token_hex(16)
        x = srp.hex_to_long(srp.hex_hash(srp.pad_hex(salt) + srp.hash_sha256(
            f"{pool_name}{user.username}:{user.password}".encode())))
        v = pow(g, x, big_n)
        b = secrets.randbelow(big_n)
        big_b = (k * v + pow(g, b, big_n)) % big_n
        block = base64.standard_b64encode(secrets.token_bytes(48)).decode()
        pending[block] = {"session": out["Session"], "a": big_a, "b": b, "B": big_b, "v": v,
                          "user": user.username, "pool_name": pool_name}
        out["ChallengeParameters"].update(
            SALT=salt, SRP_B=f"{big_b:x}", SECRET_BLOCK=block,
            USER_ID_FOR_SRP=user.username, USERNAME=user.username)
        return out

    def check_claim(client, st, responses):
        if responses.get("USERNAME") != st["user"]:
            raise NotAuthorizedError("Incorrect username or password.")
        if client.generate_secret and not m.check_secret_hash(
                client.secret, client.id, st["user"], responses.get("SECRET_HASH")):
            raise NotAuthorizedError("Unable to verify secret hash for client")
        stamp = responses.get("TIMESTAMP") or ""
        if not re.match(SRP_TIMESTAMP, stamp):
            raise InvalidParameterException("TIMESTAMP format is invalid")
        u = srp.calculate_u(st["a"], st["B"])
        s_val = pow(st["a"] * pow(st["v"], u, big_n), st["b"], big_n)
        key = srp.compute_hkdf(bytes.fromhex(srp.pad_hex(s_val)), bytes.fromhex(srp.pad_hex(u)))
        msg = (st["pool_name"].encode() + st["user"].encode()
               + base64.standard_b64decode(responses["PASSWORD_CLAIM_SECRET_BLOCK"]) + stamp.encode())
        want = base64.standard_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, responses.get("PASSWORD_CLAIM_SIGNATURE") or ""):
            raise NotAuthorizedError("Incorrect username or password.")

    def respond_to_auth_challenge(self, session, client_id, challenge_name, responses):
        if challenge_name == "PASSWORD_VERIFIER":
            st = pending.pop(responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or "", None)
            _, client = find_client(self, client_id)
            if st is None or client is None:
                raise NotAuthorizedError("Invalid session for the user.")
            check_claim(client, st, responses)
            responses = dict(responses, PASSWORD_CLAIM_SECRET_BLOCK=st["session"])
        out = orig_respond(self, session, client_id, challenge_name, responses)
        params = out.get("ChallengeParameters") or {}
        for key, value in params.items():  # Cognito's parameters are strings (JSON lists)
            if isinstance(value, list):
                params[key] = json.dumps(value)
        return out

    m.CognitoIdpBackend.initiate_auth = initiate_auth
    m.CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge


def jwt_claims(token: str) -> dict:
    import base64
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def patch_moto_roles() -> None:
    """Cognito puts `cognito:roles` (and `cognito:preferred_role`) in the IdToken of a user
    in groups that have IAM roles, and its identity pool refuses a CustomRoleArn the token
    does not list; moto does neither. The refusal's code and message are this emulator's
    stand-in for Cognito's."""
    from moto.cognitoidp import models as m
    from moto.cognitoidentity import responses as r
    from moto.core.exceptions import JsonRESTError

    orig_extra = m.CognitoIdpUserPool.get_user_extra_data_by_client_id
    orig_creds = r.CognitoIdentityResponse.get_credentials_for_identity

    def extra_data(self, client_id, username):
        out = orig_extra(self, client_id, username)
        groups = [g for g in self._get_user(username).groups if g.role_arn]
        groups.sort(key=lambda g: g.precedence or 0)
        if groups:
            out["cognito:roles"] = [g.role_arn for g in groups]
            out["cognito:preferred_role"] = groups[0].role_arn
        return out

    def get_credentials_for_identity(self):
        role = self._get_param("CustomRoleArn")
        if role:
            roles = [r for t in (self._get_param("Logins") or {}).values()
                     for r in jwt_claims(t).get("cognito:roles", [])]
            if role not in roles:
                raise JsonRESTError("InvalidParameterException",
                                    "Invalid CustomRoleArn: the token does not allow this role.")
        return orig_creds(self)

    m.CognitoIdpUserPool.get_user_extra_data_by_client_id = extra_data
    r.CognitoIdentityResponse.get_credentials_for_identity = get_credentials_for_identity


def write_state(path: str, state: dict) -> None:
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main() -> int:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-file", required=True, help="where to write the JSON state")
    ap.add_argument("--seed", choices=["test", "demo"], default="test")
    ap.add_argument("--extra", choices=["listing"], default=None,
                    help="also seed bucket gamma for the listing budget tests")
    ap.add_argument("--creds-lifetime", default=None,
                    help="ignored (moto's credentials always expire after 90 s)")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()
    VERBOSE = args.verbose

    logging.getLogger("werkzeug").setLevel(logging.INFO if VERBOSE else logging.ERROR)

    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from moto.server import ThreadedMotoServer

    patch_moto_cognito()
    patch_moto_roles()

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    _, moto_port = moto.get_host_and_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    log(f"moto on {endpoint}")

    proxy = ProxyServer(("127.0.0.1", moto_port), ProxyState())
    proxy_thread = threading.Thread(
        target=proxy.serve_forever, kwargs={"poll_interval": 0.1},
        name="proxy", daemon=True,
    )
    proxy_thread.start()
    proxy_port = proxy.server_address[1]
    log(f"proxy on http://127.0.0.1:{proxy_port}")

    def shutdown() -> None:
        # Never hang on the way out: force the exit if a server won't stop.
        watchdog = threading.Timer(5.0, lambda: os._exit(0))
        watchdog.daemon = True
        watchdog.start()
        proxy.shutdown()
        proxy.server_close()
        moto.stop()

    try:
        state = {
            "endpoint": endpoint,
            "proxy_endpoint": f"http://127.0.0.1:{proxy_port}",
            **seed(endpoint, args.seed),
            "seed": args.seed,
            "pid": os.getpid(),
        }
        if args.extra == "listing":
            state["extra"] = seed_listing(endpoint)
        if not stop.is_set():
            write_state(args.state_file, state)
    except BaseException:
        shutdown()
        raise

    if not stop.is_set():
        print(f"ready {args.state_file}", flush=True)
        log(f"seeded {len(state['objects'])} objects; waiting for SIGTERM/SIGINT")
        while not stop.wait(1.0):
            pass
    log("stopping")
    shutdown()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except Exception as e:  # noqa: BLE001
        print(f"moto_env: error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
