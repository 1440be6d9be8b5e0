"""Turns the per-round results of scripts/bench.py into the markdown report.

Every figure is the median over the rounds. A run that hit the per-command timeout counts as
missing: a cell whose every round timed out says "timeout", one where only some did is the
median of the others, marked with a dagger.
"""

import os
import platform
import statistics

# measurement -> (label, unit, higher is better, sub-figures [(key, label, unit)])
MEASUREMENTS = {
    "seq": ("1 GiB file, one sequential reader (`dd bs=1M`)", "MiB/s", True, []),
    "multi": ("256 MiB file, 4 concurrent readers of a quarter each", "MiB/s", True, []),
    "rand4k": ("random 4 KiB reads (fio randread psync)", "IOPS", True,
               [("p50_ms", "p50", "ms"), ("p99_ms", "p99", "ms"),
                ("first_secs", "first 200 reads", "s")]),
    "rand128k": ("random 128 KiB reads (fio randread psync)", "IOPS", True,
                 [("p50_ms", "p50", "ms"), ("p99_ms", "p99", "ms")]),
    "small": ("`cat` of 1,000 × 16 KiB files, cold", "s", False, []),
    "small16": ("the same 1,000 files, 16 GETs in flight (direct only)", "s", False, []),
    "tar": ("`tar cf - ` of the same 1,000 files, into a pipe, cold", "s", False, []),
    "mount": ("mount command to usable mount", "s", False, []),
}
for _n in ("1k", "10k", "100k"):
    for _state in ("cold", "warm"):
        MEASUREMENTS[f"list{_n}-{_state}"] = (
            f"`ls -l` of {_n.replace('k', ',000')} objects, {_state}", "s", False, [])

ENDPOINTS = {"GetObject": "GET", "HeadObject": "HEAD", "ListObjectsV2": "LIST",
             "ListObjects": "LISTv1", "ListBuckets": "ListBuckets", "HeadBucket": "HeadBucket",
             "GetBucketLocation": "GetBucketLocation"}


def median(rounds, key):
    vals = [r.get(key) for r in rounds]
    got = [v for v in vals if v is not None]
    if not got:
        return None, len(vals)
    return statistics.median(got), len(vals) - len(got)


def fmt(v, unit):
    if v is None:
        return "timeout"
    if unit == "s":
        return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"
    if unit == "CPU s":
        return f"{v:.2f} s"
    if unit == "ms":
        return f"{v:.2f} ms"
    return f"{v:,.0f} {unit}"


def cell(rounds, key, unit, cpu=False):
    if not rounds or all(r.get(key) is None and r.get("value") is not None for r in rounds):
        return "—"
    v, missing = median(rounds, key)
    if v is None and any(r.get("error") for r in rounds):
        return "failed"
    text = fmt(v, unit) + ("†" if missing and v is not None else "")
    g, _ = median(rounds, "garage_cpu")
    if cpu and v is not None and g is not None:
        text += f" · G {g:.2f} s"
        p, _ = median(rounds, "proxy_cpu")
        if p is not None:
            text += f" · P {p:.2f} s"
    return text


def cpu_sum(rounds):
    if rounds and median(rounds, "value")[0] is None:
        return "timeout"
    parts = [median(rounds or [], k)[0] for k in ("garage_cpu", "client_cpu", "reader_cpu")]
    busy, _ = median(rounds or [], "machine_busy")
    if None in parts or busy is None:
        return "—"
    g, c, r = parts
    p, _ = median(rounds, "proxy_cpu")
    if p is None:
        return f"{g:.2f} + {c:.2f} + {r:.2f} = {g + c + r:.2f} s, {busy:.0%} busy"
    return f"{g:.2f} + {c:.2f} + {r:.2f} + P {p:.2f} = {g + c + r + p:.2f} s, {busy:.0%} busy"


def speed(results, name, system, higher):
    v, _ = median(results[name].get(system, []), "value") if system in results[name] else (None, 0)
    if v is None or v == 0:
        return None
    return v if higher else 1 / v


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def reqs_text(rounds):
    if not rounds:
        return "—"
    kinds = sorted({k for r in rounds for k in r.get("reqs", {})})
    parts = []
    for k in kinds:
        v = statistics.median([r.get("reqs", {}).get(k, 0) for r in rounds])
        parts.append(f"{ENDPOINTS.get(k, k)} {v:,.0f}")
    block = statistics.median([r.get("block_mib", 0) for r in rounds])
    if block >= 1:
        parts.append(f"blocks {block:,.0f} MiB")
    return ", ".join(parts) or "none"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, Linux {platform.release()}"


def profile_line(meta):
    shaping = meta.get("shaping")
    if not shaping:
        return "- profile: loopback (no shaping: every system reads Garage directly)"
    return (f"- profile: s3-like: every system, direct included, reads through s3-shaper "
            f"(first-byte delay {shaping['get_delay_ms']} ms per GET/HEAD, "
            f"{shaping['list_delay_ms']} ms per LIST; {shaping['bandwidth_mib']} MiB/s per "
            f"connection); `P n s`: the shaper's own CPU time during that run")


def report(meta, systems, results):
    names = [n for n in MEASUREMENTS if n in results]
    peers = [s for s in systems if s not in ("direct", "cognito-s3fs")]
    out = ["## Benchmark", "",
           f"- command: `{meta['command']}`"
           + "".join(f" `{k}={v}`" for k, v in sorted(meta["env"].items())),
           f"- date: {meta['date']}; {meta['rounds']} round(s), medians; "
           f"took {meta['minutes']:.1f} min",
           f"- machine: {machine()}",
           "- versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()),
           profile_line(meta),
           "- server: one Garage node on loopback (1 MiB blocks"
           + ("; TCP_NODELAY set by scripts/bench-nodelay.c, else every small GET waits 40 ms "
              "for a delayed ACK" if meta.get("nodelay") else "; as shipped, Nagle on")
           + "); page cache dropped before "
           "every run; a fresh mount per row; every mount in the foreground at its defaults, "
           "read-only",
           "- `G n s`: Garage's CPU time (utime+stime) during that run; † some rounds timed out "
           "or failed; a system that timed out or failed once is not run again on that row",
           "- direct: `s3-direct` (the daemon's own S3 client, no filesystem): sequential = 6 "
           "ranged GETs of 8 MiB in flight; 4 readers = one 8 MiB GET at a time each; random = "
           "one GET at a time; `cat` = LIST then one GET per object; `ls -l` = paginated "
           "ListObjectsV2", ""]
    rows = []
    for n in names:
        label, unit, _, subs = MEASUREMENTS[n]
        rows.append([label]
                    + [cell(results[n].get(s), "value", unit, cpu=True) for s in systems])
        for key, sub, sunit in subs:
            rows.append([f"  {sub}"] + [cell(results[n].get(s), key, sunit) for s in systems])
    out += [table(["measurement"] + systems, rows), ""]

    out += ["### Speed relative to the direct baseline (higher is better), and cognito-s3fs "
            "vs each peer", ""]
    vs = [f"cognito-s3fs vs {p}" for p in peers if "cognito-s3fs" in systems]
    rows = []
    for n in names:
        label, _, higher, _ = MEASUREMENTS[n]
        sp = {s: speed(results, n, s, higher) for s in systems}
        row = [label] + [ratio(sp[s], sp.get("direct")) for s in systems if s != "direct"]
        row += [ratio(sp.get("cognito-s3fs"), sp[p]) for p in peers if vs]
        rows.append(row)
    out += [table(["measurement"] + [s for s in systems if s != "direct"] + vs, rows), ""]

    out += ["### Requests at the server (Garage's counters, per run) and peak RSS of the "
            "daemon (VmHWM)", ""]
    rows = [[MEASUREMENTS[n][0]] + [reqs_text(results[n].get(s)) for s in systems]
            for n in names]
    out += [table(["measurement"] + systems, rows), ""]
    rows = [[MEASUREMENTS[n][0]] + [cpu_sum(results[n].get(s)) for s in systems]
            for n in names if n != "mount"]
    out += ["Where the CPU went: Garage + the client (the daemon; for direct, s3-direct) + the "
            "program reading through the mount (`dd`, `fio`, `cat`, `ls`) (+ P: s3-shaper, in "
            "the s3-like profile) = all, in CPU seconds, and how busy the machine's CPUs were during the run (I/O wait counts as "
            "idle):", "",
            table(["measurement"] + systems, rows), ""]
    mounts = [s for s in systems if s != "direct"]
    rows = []
    for n in names:
        row = [MEASUREMENTS[n][0]] + [cell(results[n].get(s), "rss_mib", "MiB") for s in mounts]
        if n.startswith("list") and n.endswith("cold") and "cognito-s3fs" in results[n]:
            row[1 + mounts.index("cognito-s3fs")] += (
                " (" + cell(results[n]["cognito-s3fs"], "rss_per_entry", "B") + "/entry)")
        rows.append(row)
    out += [table(["peak RSS"] + mounts, rows), ""]
    if "cognito-s3fs" in mounts:
        bound = meta.get("max_memory", "512M")
        units = {"K": 1 / 1024, "M": 1, "G": 1024}
        bound_mib = float(bound[:-1]) * units[bound[-1].upper()] if bound[-1].isalpha() \
            else float(bound) / 2**20
        peaks = [r.get("rss_mib") for n in names for r in results[n].get("cognito-s3fs", [])]
        peak = max((p for p in peaks if p is not None), default=None)
        verdict = ("under it in every run" if peak is not None and peak < bound_mib
                   else "OVER it in some run")
        out += [f"cognito-s3fs's memory bound: `--max-memory {bound}`; its highest peak RSS "
                f"in any run was {peak:.0f} MiB, {verdict}. "
                "In the `ls -l` rows every mount has resolved the directory's path (a `stat`, "
                "not counted) before the timed listing; for cognito-s3fs that costs one LIST "
                "per path component (2 here), once per metadata TTL.", ""]
    out += read_ahead_lines(results)
    return "\n".join(out)


def read_ahead_lines(results):
    """cognito-s3fs's small-file read-ahead in the small-file rows, from its stats line."""
    lines = []
    for n in ("small", "tar"):
        rounds = [r for r in results.get(n, {}).get("cognito-s3fs", []) if r.get("daemon_stats")]
        if not rounds:
            continue
        stats = [dict(kv.split("=", 1) for kv in r["daemon_stats"].split() if "=" in kv)
                 for r in rounds]
        med = {k: statistics.median(int(s.get(k, 0)) for s in stats)
               for k in ("get", "get_bytes", "ahead_files", "ahead_bytes", "ahead_used_bytes",
                         "ahead_wasted_bytes")}
        read = 1000 * 16 * 1024
        lines.append(f"- {MEASUREMENTS[n][0]}: cognito-s3fs sent {med['get']:.0f} GETs for "
                     f"{med['get_bytes'] / 2**20:.1f} MiB; {med['ahead_files']:.0f} files "
                     f"({med['ahead_bytes'] / 2**20:.1f} MiB) were fetched ahead of their open, "
                     f"{med['ahead_wasted_bytes'] / 2**10:.0f} KiB never read "
                     f"({100 * med['ahead_wasted_bytes'] / read:.1f}% of the files' bytes); "
                     "medians over the rounds.")
    return (["Small-file read-ahead:", ""] + lines + [""]) if lines else []


if __name__ == "__main__":
    # Reprints the report of a finished run: python3 scripts/bench_report.py bench-results/latest.json
    import json
    import sys

    with open(sys.argv[1]) as f:
        saved = json.load(f)
    print(report(saved["meta"], saved["systems"], saved["results"]))
