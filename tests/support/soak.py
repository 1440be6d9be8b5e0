"""Soak test: parallel readers through a real mount whose S3 and Cognito traffic sees
injected faults, across many 90-second credential lifetimes. Every byte read is checked.

usage: soak.py MINUTES --bin PATH [--readers N]

Prints reads done, bytes verified, errors by errno, wrong bytes, credential refreshes and
the daemon's RSS at start and end; exits 1 if any byte was wrong or any read failed.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

FAULTS = [
    {"match": "S3.GetObject", "status": 503, "rate": 0.05},
    {"match": "S3.GetObject", "status": 0, "rate": 0.03},
    {"match": "S3.GetObject", "status": -1, "rate": 0.02},
    {"match": "S3.ListObjectsV2", "status": 503, "rate": 0.05},
    {"match": "AWSCognitoIdentity", "status": 503, "rate": 0.2},
]


def proxy(state, method, path, body=None):
    req = urllib.request.Request(state["proxy_endpoint"] + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def daemon_pid(mnt, binary):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(exe) == os.path.basename(binary) and mnt in cmd:
            return int(pid)
    raise RuntimeError("daemon not found")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.reads = 0
        self.bytes = 0
        self.wrong = 0
        self.errors = {}

    def ok(self, n):
        with self.lock:
            self.reads += 1
            self.bytes += n

    def bad(self, what):
        with self.lock:
            self.wrong += 1
        print(f"soak: WRONG BYTES: {what}", file=sys.stderr)

    def error(self, err):
        name = errno.errorcode.get(err.errno, str(err.errno))
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1
        print(f"soak: read error: {err}", file=sys.stderr)


def reader(root, truth, deadline, tally, seed):
    rng = random.Random(seed)
    paths = sorted(truth)
    while time.monotonic() < deadline:
        path = rng.choice(paths)
        data = truth[path]
        mode = rng.random()
        try:
            # O_DIRECT: past the kernel's page cache, so every read reaches the daemon.
            fd = os.open(os.path.join(root, path), os.O_RDONLY | os.O_DIRECT)
            try:
                if mode < 0.3 or len(data) < 4096:
                    got = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
                    (tally.ok if got == data else tally.bad)(len(got) if got == data else path)
                elif mode < 0.8:
                    off = rng.randrange(len(data))
                    n = rng.randint(1, 512 * 1024)
                    got = os.pread(fd, n, off)
                    want = data[off:off + n]
                    (tally.ok if got == want else tally.bad)(len(got) if got == want else f"{path}@{off}+{n}")
                else:
                    off = rng.randrange(len(data))
                    while off < len(data) and time.monotonic() < deadline:
                        got = os.pread(fd, 128 * 1024, off)
                        want = data[off:off + 128 * 1024]
                        if got != want:
                            tally.bad(f"{path}@{off} sequential")
                            break
                        tally.ok(len(got))
                        off += len(got)
            finally:
                os.close(fd)
        except OSError as e:
            tally.error(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("minutes", type=float)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--readers", type=int, default=8)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cognito-s3fs-soak-")
    state_file = os.path.join(tmp, "state.json")
    env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
    moto = subprocess.Popen([sys.executable, os.path.join(HERE, "moto_env.py"), "--state-file", state_file],
                            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "moto.log"), "w"), env=env, text=True)
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    pid = None
    try:
        if not moto.stdout.readline().startswith("ready"):
            raise RuntimeError("emulator did not start; see " + os.path.join(tmp, "moto.log"))
        state = json.load(open(state_file))
        daemon_env = dict(env, AWS_ENDPOINT_URL=state["endpoint"],
                          AWS_ENDPOINT_URL_S3=state["proxy_endpoint"],
                          AWS_ENDPOINT_URL_COGNITO_IDENTITY=state["proxy_endpoint"],
                          AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=state["proxy_endpoint"],
                          COGNITO_S3FS_PASSWORD=state["users"]["alice"]["password"])
        subprocess.run([args.bin, "mount", mnt, "--region", state["region"],
                        "--user-pool-id", state["user_pool_id"], "--client-id", state["client_id"],
                        "--identity-pool-id", state["identity_pool_id"], "--username", "alice",
                        "--metadata-ttl", "20", "--log-file", os.path.join(tmp, "daemon.log"),
                        # A 2 MiB block cache, so reads keep going to S3 through the faults.
                        "--max-memory", "66M", "--part-size", "1M"],
                       env=daemon_env, check=True)
        pid = daemon_pid(mnt, args.bin)
        # Ground truth: every visible file, checked against the seeded sha256 before faults.
        truth = {}
        for o in state["objects"]:
            path = os.path.join(o["bucket"], o["key"])
            full = os.path.join(mnt, path)
            if o["key"].endswith("/") or not os.path.isfile(full):
                continue
            data = open(full, "rb").read()
            if hashlib.sha256(data).hexdigest() != o["sha256"]:
                raise RuntimeError(f"{path}: wrong bytes before any fault")
            truth[path] = data
        rss_start = rss_kib(pid)
        refreshes_before = proxy(state, "GET", "/__proxy/counts").get(
            "AWSCognitoIdentityService.GetCredentialsForIdentity", 0)
        for fault in FAULTS:
            proxy(state, "POST", "/__proxy/faults", fault)
        tally = Tally()
        deadline = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=reader, args=(mnt, truth, deadline, tally, i))
                   for i in range(args.readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = proxy(state, "GET", "/__proxy/counts")
        refreshes = counts.get("AWSCognitoIdentityService.GetCredentialsForIdentity", 0) - refreshes_before
        rss_end = rss_kib(pid)
        print(f"soak: {args.minutes:g} min, {args.readers} readers, {len(truth)} files")
        print(f"soak: reads={tally.reads} bytes_verified={tally.bytes} ({tally.bytes / 2**20:.0f} MiB)")
        print(f"soak: errors={sum(tally.errors.values())} by_errno={json.dumps(tally.errors, sort_keys=True)}")
        print(f"soak: wrong_bytes={tally.wrong}")
        print(f"soak: credential_fetches={refreshes} (GetCredentialsForIdentity calls, failed ones included)")
        print(f"soak: s3_get_requests={counts.get('S3.GetObject', 0)} s3_list_requests={counts.get('S3.ListObjectsV2', 0)}")
        print(f"soak: daemon_rss_kib start={rss_start} end={rss_end}")
        failed = tally.wrong > 0 or tally.errors
        print("soak: FAILED" if failed else "soak: OK")
        return 1 if failed else 0
    finally:
        subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
        if pid is not None:
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
        moto.send_signal(signal.SIGTERM)
        moto.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
