#!/usr/bin/env python3
"""Runs the benchmark rows against every system and prints one markdown table.

Called by scripts/bench.sh, which installs the tools and builds the binaries first; see
there for the environment variables. Standard library only.

Method, and why:
- one Garage node on loopback is the S3 server for every system, so the server is the same
  and its Prometheus counters give the requests by kind *at the server*, peers included;
- every run starts with the page cache dropped, and every mount system gets a fresh mount per
  row, so reads are cold and the daemon's peak RSS (VmHWM) belongs to that row alone;
- rounds are interleaved (round r runs every row on every system), so a slow minute of the
  machine hurts every system alike; figures are medians over the rounds;
- Garage's CPU time (utime+stime) is taken around every run and printed next to the figure:
  Garage needs about a core per stream on this 2-core class of machine, so a system that
  makes Garage work harder can look slower for that reason alone.
"""

import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

ENV = os.environ
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = ENV["BENCH_WORK"]
GARAGE = ENV["BENCH_GARAGE"]
DAEMON = ENV["BENCH_DAEMON"]
DIRECT = ENV["BENCH_DIRECT"]
ROUNDS = int(ENV.get("BENCH_ROUNDS", "3"))
TIMEOUT = float(ENV.get("BENCH_TIMEOUT", "180"))
RAND_IOS = int(ENV.get("BENCH_RAND_IOS", "500"))
FIRST_IOS = 200
MOUNT_ARGS = ENV.get("BENCH_MOUNT_ARGS", "").split()
MOUNT_S3 = ENV.get("MOUNT_S3", "")
PROFILE = ENV.get("BENCH_PROFILE", "loopback")
SHAPER = ENV.get("BENCH_SHAPER", "")
# The s3-like profile's shaping (scripts/bench.sh documents the variables).
SHAPING = {"get_delay_ms": int(ENV.get("BENCH_GET_DELAY_MS", "20")),
           "list_delay_ms": int(ENV.get("BENCH_LIST_DELAY_MS", "60")),
           "bandwidth_mib": int(ENV.get("BENCH_BANDWIDTH_MIB", "90"))}
BUCKET, REGION = "bench", "garage"
KEY_ID, SECRET = "GK0123456789abcdef01234567", "5ec7e7" * 10 + "0000"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20

# Seeded layout: the same names as src/bin/s3-direct.rs.
BIG, MID, SMALL = "big/1GiB.bin", "mid/256MiB.bin", "small"
LISTS = {"1k": 1000, "10k": 10_000, "100k": 100_000}

ALL_ROWS = ["seq", "multi", "rand", "small", "tar", "mount", "list"]
PEERS = ["s3fs", "rclone"] + (["mount-s3"] if MOUNT_S3 else [])
ALL_SYSTEMS = ["direct", "cognito-s3fs"] + PEERS


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, cond, timeout=60.0, every=0.01):
    """Waits until cond() is true, checking every `every` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)


def cpu_secs(pid):
    """utime+stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return 0.0


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def drop_caches(what="3"):
    """3: page cache, dentries and inodes; 1: the page cache only."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write(what + "\n")


def run(argv, timeout=TIMEOUT, **kw):
    """Runs argv in its own process group; returns (seconds, stdout) or (None, '') on timeout."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True, **kw)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, ""
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {p.returncode}")
    return secs, out.decode()


class Garage:
    """One Garage node on loopback: config, data and log in WORK (or BENCH_GARAGE_DIR)."""

    def __init__(self):
        self.dir = ENV.get("BENCH_GARAGE_DIR") or os.path.join(WORK, "garage")
        os.makedirs(self.dir, exist_ok=True)
        self.s3_port, self.admin_port, rpc = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.s3_port}"
        conf = os.path.join(self.dir, "garage.toml")
        with open(conf, "w") as f:
            f.write(f"""metadata_dir = "{self.dir}/meta"
data_dir = "{self.dir}/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{'ab' * 32}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{self.s3_port}"

[admin]
api_bind_addr = "127.0.0.1:{self.admin_port}"
""")
        env = dict(ENV, GARAGE_DEFAULT_ACCESS_KEY=KEY_ID, GARAGE_DEFAULT_SECRET_KEY=SECRET,
                   GARAGE_DEFAULT_BUCKET=BUCKET, RUST_LOG=ENV.get("BENCH_GARAGE_LOG", "warn"))
        if ENV.get("BENCH_GARAGE_PRELOAD"):
            env["LD_PRELOAD"] = ENV["BENCH_GARAGE_PRELOAD"]
        logf = open(os.path.join(WORK, "garage.log"), "ab")
        self.proc = subprocess.Popen(
            [GARAGE, "-c", conf, "server", "--single-node", "--default-bucket"],
            env=env, stdout=logf, stderr=logf, start_new_session=True)
        with open(os.path.join(WORK, "garage.pid"), "w") as f:
            f.write(str(self.proc.pid))
        poll("Garage's admin API", self.healthy)
        poll("the bench bucket", self.bucket_ready)
        self.version = subprocess.run([GARAGE, "--version"], capture_output=True,
                                      text=True).stdout.strip()

    def healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"garage exited with {self.proc.returncode}; see {WORK}/garage.log")
        try:
            return urllib.request.urlopen(self.admin("/health"), timeout=1).status == 200
        except OSError:
            return False

    def bucket_ready(self):
        return subprocess.run(direct_cmd(self, "list", "big/"), capture_output=True,
                              env=client_env()).returncode == 0

    def admin(self, path):
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def snapshot(self):
        """Garage's CPU seconds, its S3 requests by endpoint and its block bytes read."""
        text = urllib.request.urlopen(self.admin("/metrics"), timeout=10).read().decode()
        reqs, block = {}, 0
        for line in text.splitlines():
            m = re.match(r'api_s3_request_counter(?:_total)?\{.*api_endpoint="(\w+)".*\} (\S+)', line)
            if m:
                reqs[m[1]] = reqs.get(m[1], 0) + int(float(m[2]))
            elif re.match(r"block_bytes_read(_total)?(\{.*\})? ", line):
                block += int(float(line.split()[-1]))
        return {"cpu": cpu_secs(self.proc.pid), "reqs": reqs, "block": block}

    def settle(self, timeout=300.0):
        """Waits until Garage is idle (under 5% of a core over a second): after seeding, its
        background workers would otherwise slow the first round down."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = cpu_secs(self.proc.pid)
            time.sleep(1)  # the measuring window itself, not a wait for something to happen
            if cpu_secs(self.proc.pid) - before < 0.05:
                return
        log("Garage still busy after seeding; going on")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Shaper:
    """s3-shaper between every system and Garage: a first-byte delay per request and a
    bandwidth cap per connection (src/bin/s3-shaper). Every client, direct included, reads
    through it; seeding does not."""

    def __init__(self, upstream_port):
        self.report = os.path.join(WORK, "shaper-report.json")
        argv = [SHAPER, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream_port}",
                "--get-delay-ms", str(SHAPING["get_delay_ms"]),
                "--list-delay-ms", str(SHAPING["list_delay_ms"]),
                "--bandwidth-mib", str(SHAPING["bandwidth_mib"]), "--report", self.report]
        logf = open(os.path.join(WORK, "shaper.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"s3-shaper did not start ({line!r}); see {WORK}/shaper.log")
        self.url = "http://" + line[len("listening on "):]

    def cpu(self):
        return cpu_secs(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def client_env():
    """The environment of every client: the bench key and nothing else of AWS_* (an inherited
    AWS_CA_BUNDLE, for one, makes rclone refuse a plain-http endpoint)."""
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
    return dict(env, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                AWS_EC2_METADATA_DISABLED="true", AWS_REGION=REGION)


def direct_cmd(garage, *args):
    return [DIRECT, "--endpoint-url", garage.url, "--region", REGION, "--bucket", BUCKET, *args]


class Mount:
    """A fresh mount of one system, in the foreground so its pid is the daemon's."""

    def __init__(self, system, garage, tag):
        self.system = system
        self.dir = os.path.join(WORK, "mnt", system)
        os.makedirs(self.dir, exist_ok=True)
        self.root = os.path.join(self.dir, BUCKET) if system == "cognito-s3fs" else self.dir
        self.stats = os.path.join(WORK, f"stats-{system}-{tag}")
        argv, env = self.command(garage)
        logf = open(os.path.join(WORK, f"{system}.log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, env=env, stdout=logf, stderr=logf,
                                     start_new_session=True)
        poll(f"{system} to mount", self.usable, timeout=TIMEOUT, every=0.002)
        self.mount_secs = time.monotonic() - t0

    def command(self, g):
        env = client_env()
        if self.system == "cognito-s3fs":
            return [DAEMON, "mount", self.dir, "--bucket", BUCKET, "--endpoint-url", g.url,
                    "--region", REGION, "--stats-file", self.stats, "--foreground",
                    *MOUNT_ARGS], env
        if self.system == "s3fs":
            passwd = os.path.join(WORK, "s3fs.passwd")
            with open(os.open(passwd, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(f"{KEY_ID}:{SECRET}\n")
            opts = f"url={g.url},use_path_request_style,endpoint={REGION},passwd_file={passwd},ro"
            return ["s3fs", BUCKET, self.dir, "-f", "-o", opts], env
        if self.system == "rclone":
            env.update(RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_BENCH_TYPE="s3",
                       RCLONE_CONFIG_BENCH_PROVIDER="Other", RCLONE_CONFIG_BENCH_ENDPOINT=g.url,
                       RCLONE_CONFIG_BENCH_REGION=REGION, RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=KEY_ID,
                       RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=SECRET)
            return ["rclone", "mount", f"bench:{BUCKET}", self.dir, "--read-only"], env
        if self.system == "mount-s3":
            return [MOUNT_S3, BUCKET, self.dir, "--endpoint-url", g.url, "--region", REGION,
                    "--force-path-style", "--read-only", "--foreground"], env
        raise ValueError(self.system)

    def usable(self):
        # In-process checks: a `mountpoint` and an `ls` per poll cost more than the mount.
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.system} exited with {self.proc.returncode}; "
                               f"see {WORK}/{self.system}.log")
        if not os.path.ismount(self.dir):
            return False
        try:
            os.listdir(self.root)
            return True
        except OSError:
            return False

    def unmount(self):
        """Unmounts (lazily if busy) and waits for the daemon to exit."""
        if subprocess.run(["fusermount3", "-u", self.dir], capture_output=True).returncode:
            subprocess.run(["fusermount3", "-uz", self.dir], capture_output=True)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measured(garage, pid, fn, drop="3"):
    """Drops the caches, runs fn() and returns its result with the deltas around it."""
    drop_caches(drop)
    shaper = getattr(garage, "shaper", None)
    pcpu = shaper.cpu() if shaper else None
    before, dcpu = garage.snapshot(), client_cpu(pid)
    rcpu, cpu0 = children_cpu(), machine_cpu()
    result = fn()
    after, dcpu = garage.snapshot(), client_cpu(pid) - dcpu
    rcpu, cpu1 = children_cpu() - rcpu, machine_cpu()
    busy, total = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    reqs = {k: v - before["reqs"].get(k, 0) for k, v in after["reqs"].items()}
    result.update(garage_cpu=after["cpu"] - before["cpu"],
                  reqs={k: v for k, v in reqs.items() if v},
                  block_mib=(after["block"] - before["block"]) / MIB,
                  client_cpu=dcpu,
                  # The program reading through the mount (dd, fio, cat); for direct, none.
                  reader_cpu=rcpu if pid else 0.0,
                  machine_busy=busy / total if total else None,
                  proxy_cpu=shaper.cpu() - pcpu if shaper else None)
    return result


def children_cpu():
    """CPU seconds of the finished children (the reader of a mounted row; s3-direct)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine_cpu():
    """(busy, all) time of every CPU so far, from /proc/stat; I/O wait counts as idle."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def client_cpu(pid):
    """CPU seconds of the daemon, or without one, of the finished children (s3-direct)."""
    return cpu_secs(pid) if pid else children_cpu()


def timed(argv, **kw):
    secs, out = run(argv, **kw)
    return {"value": secs, "out": out}


def parallel_dd(path, readers, slice_mib):
    """readers concurrent dd, reader i reading the i-th slice; aggregate MiB/s."""
    t0 = time.monotonic()
    procs = [subprocess.Popen(["dd", f"if={path}", "of=/dev/null", "bs=1M",
                               f"skip={i * slice_mib}", f"count={slice_mib}"],
                              stderr=subprocess.DEVNULL, start_new_session=True)
             for i in range(readers)]
    deadline = t0 + TIMEOUT
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    os.killpg(q.pid, signal.SIGKILL)
                    q.wait()
            return {"value": None}
    return {"value": readers * slice_mib / (time.monotonic() - t0)}


def fio_rand(path, bs):
    lat = os.path.join(WORK, f"fio-{bs}")
    secs, out = run(["fio", "--name=rand", f"--filename={path}", "--readonly", "--rw=randread",
                     "--ioengine=psync", f"--bs={bs}", f"--number_ios={RAND_IOS}",
                     "--randseed=1", "--output-format=json", f"--write_lat_log={lat}",
                     "--log_avg_msec=0"])
    if secs is None:
        return {"value": None}
    read = json.loads(out[out.index("{"):])["jobs"][0]["read"]
    pct = read["clat_ns"]["percentile"]
    with open(f"{lat}_clat.1.log") as f:
        done = [int(line.split(",")[0]) for line in f]
    first = done[FIRST_IOS - 1] / 1e3 if len(done) >= FIRST_IOS else None
    return {"value": read["iops"], "p50_ms": pct["50.000000"] / 1e6,
            "p99_ms": pct["99.000000"] / 1e6, "first_secs": first}


def direct_json(garage, *args):
    secs, out = run(direct_cmd(garage, *args), env=client_env())
    return None if secs is None else json.loads(out)


def mounted_row(system, garage, row, rnd):
    """One row on a fresh mount; returns {measurement name: result}."""
    if row == "mount":
        # Cold like every other row: whatever ran before (and in which order) must not
        # leave one system's program in the page cache and another's not.
        drop_caches()
    m = Mount(system, garage, f"{row}-{rnd}")
    pid, root, res = m.proc.pid, m.root, {}
    try:
        if row == "mount":
            res["mount"] = {"value": m.mount_secs}
        elif row == "seq":
            r = measured(garage, pid, lambda: timed(["dd", f"if={root}/{BIG}", "of=/dev/null",
                                                     "bs=1M"], stderr=subprocess.DEVNULL))
            r["value"] = r["value"] and 1024 / r["value"]
            res["seq"] = r
        elif row == "multi":
            res["multi"] = measured(garage, pid, lambda: parallel_dd(f"{root}/{MID}", 4, 64))
        elif row in ("rand4k", "rand128k"):
            bs = row[4:]
            res[row] = measured(garage, pid, lambda: fio_rand(f"{root}/{BIG}", bs))
        elif row == "small":
            # LC_ALL=C: the glob's order is then S3's listing order (byte order).
            res["small"] = measured(garage, pid, lambda: timed(
                ["sh", "-c", f"cat {root}/{SMALL}/* >/dev/null"], env=dict(ENV, LC_ALL="C")))
        elif row == "tar":
            # Into a pipe, not to /dev/null: GNU tar writing to /dev/null reads no file at all.
            res["tar"] = measured(garage, pid, lambda: timed(
                ["sh", "-c", f"tar cf - -C {root} {SMALL} | cat >/dev/null"]))
        elif row.startswith("list"):
            n = row[4:]
            # The directory's path is resolved first, on every system alike, so that the
            # row costs the listing itself (cognito-s3fs: one LIST per path component).
            os.stat(f"{root}/list/{n}")
            base = status_kib(pid, "VmRSS")
            ls = ["ls", "-l", f"{root}/list/{n}"]
            # Only the page cache is dropped: dropping dentries would undo the stat above.
            cold = measured(garage, pid, lambda: timed(ls, stderr=subprocess.DEVNULL),
                            drop="1")
            cold["rss_per_entry"] = (status_kib(pid, "VmHWM") - base) * 1024 / LISTS[n]
            res[f"{row}-cold"] = cold
            if cold["value"] is not None:
                # Warm: the kernel's dentries and attributes stay, as they would for a user.
                res[f"{row}-warm"] = measured(
                    garage, pid, lambda: timed(ls, stderr=subprocess.DEVNULL), drop="1")
        hwm = status_kib(pid, "VmHWM")
    finally:
        m.unmount()
    for r in res.values():
        r["rss_mib"] = hwm / 1024
        r.pop("out", None)
    if system == "cognito-s3fs" and os.path.exists(m.stats):
        with open(m.stats) as f:
            stats = f.read().strip()
        for r in res.values():
            r["daemon_stats"] = stats
    return res


def direct_row(garage, row):
    def go(*args, key="run_secs", scale=None):
        def fn():
            j = direct_json(garage, *args)
            if j is None:
                return {"value": None}
            v = j.get(key, j["secs"])
            return dict(j, value=scale(v) if scale else v)
        return measured(garage, None, fn)

    if row == "seq":
        # The daemon's defaults: --part-size 8M, --read-parallel 6.
        return {"seq": go("seq", BIG, "--concurrency", "6", "--part-mib", "8", key="mib_s")}
    if row == "multi":
        return {"multi": go("multi", MID, "--readers", "4", "--part-mib", "8", key="mib_s")}
    if row in ("rand4k", "rand128k"):
        block = str(4096 if row == "rand4k" else 131072)
        r = go("rand", BIG, "--block", block, "--count", str(RAND_IOS),
               "--first", str(FIRST_IOS), key="iops")
        return {row: r}
    if row == "small":
        # One GET at a time, as `cat` asks; and 16 in flight, the parallel limit.
        return {"small": go("small", f"{SMALL}/"),
                "small16": go("small", f"{SMALL}/", "--concurrency", "16")}
    if row == "tar":
        # `tar` reads the same files one after another: the same baseline as `cat`.
        return {"tar": go("small", f"{SMALL}/")}
    if row.startswith("list"):
        # No cache: "warm" is just the same listing again.
        return {f"{row}-{state}": go("list", f"list/{row[4:]}/", key="secs")
                for state in ("cold", "warm")}
    return {}


def run_row(system, garage, row, rnd):
    """One row on one system; a failure (a command's error, a mount that does not come up)
    is recorded as that system's figure, "failed", and the benchmark goes on."""
    try:
        return (direct_row(garage, row) if system == "direct"
                else mounted_row(system, garage, row, rnd))
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        log(f"  {row} on {system} failed: {e}")
        if system == "direct" and row == "mount":
            return {}
        names = [f"{row}-cold", f"{row}-warm"] if row.startswith("list") else [row]
        return {n: {"value": None, "error": str(e)} for n in names}


def expand(rows):
    out = []
    for r in rows:
        if r == "rand":
            out += ["rand4k", "rand128k"]
        elif r == "list":
            out += [f"list{n}" for n in LISTS]
        elif r.startswith("list") and r[4:] in LISTS or r in ALL_ROWS or r in ("rand4k", "rand128k"):
            out.append(r)
        else:
            sys.exit(f"bench: unknown row {r!r}; rows: {' '.join(ALL_ROWS)} (or rand4k, list10k, ...)")
    return out


def versions(garage, systems):
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    v = {"Garage": garage.version, "fio": first_line(["fio", "--version"])}
    for s, argv in [("s3fs", ["s3fs", "--version"]), ("rclone", ["rclone", "version"]),
                    ("mount-s3", [MOUNT_S3, "--version"]),
                    ("cognito-s3fs", [DAEMON, "--version"])]:
        if s in systems:
            v[s] = first_line(argv)
    if "cognito-s3fs" in systems:
        v["cognito-s3fs"] += f" ({DAEMON})"
    return v


def main():
    if PROFILE not in ("loopback", "s3-like"):
        sys.exit(f"bench: unknown BENCH_PROFILE {PROFILE!r}; profiles: loopback, s3-like")
    rows = expand(sys.argv[1:] or ALL_ROWS)
    systems = ENV.get("BENCH_SYSTEMS", ",".join(ALL_SYSTEMS)).split(",")
    for s in systems:
        if s not in ALL_SYSTEMS:
            sys.exit(f"bench: unknown system {s!r}; systems: {','.join(ALL_SYSTEMS)}"
                     + ("" if MOUNT_S3 else " (mount-s3 needs MOUNT_S3=/path/to/mount-s3)"))
    started = time.monotonic()
    garage = Garage()
    try:
        log(f"Garage {garage.version} on {garage.url}; seeding (skipped when already there)")
        log(f"seed: {direct_json(garage, 'seed')}")
        garage.settle()
        garage.shaper = None
        if PROFILE == "s3-like":
            garage.shaper = Shaper(garage.s3_port)
            garage.url = garage.shaper.url
            log(f"s3-like profile: every client reads through s3-shaper on {garage.url} "
                f"({SHAPING})")
        results = {}  # measurement -> system -> [result per round]
        given_up = {}  # (row, system) -> the result of the round that timed out or failed
        for rnd in range(ROUNDS):
            for row in rows:
                for system in systems:
                    log(f"round {rnd + 1}/{ROUNDS}: {row} on {system}")
                    if (row, system) in given_up:
                        # Waiting for the same timeout again would only make the run longer.
                        res = given_up[(row, system)]
                    else:
                        res = run_row(system, garage, row, rnd)
                    if any(r.get("value") is None for r in res.values()):
                        given_up[(row, system)] = res
                    for name, r in res.items():
                        results.setdefault(name, {}).setdefault(system, []).append(r)
                        log(f"  {name}: {summary(r)}")
        meta = {"command": " ".join(["scripts/bench.sh"] + sys.argv[1:]),
                "env": {k: v for k, v in ENV.items() if k.startswith("BENCH_") and k not in
                        ("BENCH_WORK", "BENCH_GARAGE", "BENCH_DAEMON", "BENCH_DIRECT",
                         "BENCH_GARAGE_PRELOAD", "BENCH_SHAPER")},
                "nodelay": bool(ENV.get("BENCH_GARAGE_PRELOAD")),
                "max_memory": next((MOUNT_ARGS[i + 1] for i, a in enumerate(MOUNT_ARGS[:-1])
                                    if a == "--max-memory"), "512M"),
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "versions": versions(garage, systems), "rounds": ROUNDS,
                "minutes": (time.monotonic() - started) / 60,
                "profile": PROFILE, "shaping": SHAPING if PROFILE == "s3-like" else None}
    finally:
        if getattr(garage, "shaper", None):
            garage.shaper.stop()
        garage.stop()
    out_dir = os.path.join(REPO, "bench-results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump({"meta": meta, "systems": systems, "results": results}, f, indent=1)
    from bench_report import report  # noqa: E402  (sibling module)
    text = report(meta, systems, results)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def summary(r):
    keys = ["value", "p50_ms", "p99_ms", "first_secs", "garage_cpu", "proxy_cpu", "reqs",
            "rss_mib"]
    return ", ".join(f"{k}={round(r[k], 3) if isinstance(r[k], float) else r[k]}"
                     for k in keys if r.get(k) is not None)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
