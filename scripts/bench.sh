#!/usr/bin/env bash
# Benchmarks cognito-s3fs against a direct S3 client and the other S3 mounts (s3fs, rclone
# mount, and mount-s3 when MOUNT_S3 is set), all reading from one local Garage node, and
# prints one markdown table (also written to bench-results/latest.md).
#
#   scripts/bench.sh [ROW...]     rows: seq multi rand small tar mount list
#                                 (also rand4k rand128k list1k list10k list100k); default all
#
# Runs as root (it drops the page cache). Installs what it needs: the Debian packages s3fs,
# rclone and fio, and Garage (cargo install, into $BENCH_CACHE/garage). Everything listens on
# 127.0.0.1 only.
#
# Environment:
#   BENCH_ROUNDS=3           rounds; every figure is the median over them
#   BENCH_SYSTEMS=...        comma-separated subset of direct,cognito-s3fs,s3fs,rclone,mount-s3
#   BENCH_TIMEOUT=180        seconds one command may take before it counts as "timeout"
#   BENCH_RAND_IOS=500       reads per random-read run
#   BENCH_MOUNT_ARGS="..."   extra cognito-s3fs mount flags (tuning)
#   BENCH_PROFILE=loopback   loopback: every system reads Garage directly (CPU-bound on 2 CPUs:
#                            the cost goals live here); s3-like: every system, direct included,
#                            reads through s3-shaper (src/bin/s3-shaper), which delays each
#                            request's first byte and caps each connection's bandwidth:
#   BENCH_GET_DELAY_MS=20    s3-like: first-byte delay of a GET or HEAD
#   BENCH_LIST_DELAY_MS=60   s3-like: first-byte delay of a listing
#   BENCH_BANDWIDTH_MIB=90   s3-like: bandwidth cap per connection and direction, MiB/s
#   MOUNT_S3=/path/mount-s3  add Mountpoint for S3 as a column
#   BENCH_DAEMON=/path       measure this cognito-s3fs binary instead of this tree's build
#                            (an earlier commit's, to tell a regression from a slower machine)
#   BENCH_CACHE=~/.cache/cognito-s3fs-bench   where Garage is installed
#   BENCH_GARAGE_NODELAY=1   run Garage with TCP_NODELAY (scripts/bench-nodelay.c); 0: as shipped
#   BENCH_GARAGE_DIR=DIR     keep Garage's data in DIR across runs (seeding is then skipped);
#                            default: a temporary directory, removed at the end
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_CACHE="${BENCH_CACHE:-$HOME/.cache/cognito-s3fs-bench}"
GARAGE="$BENCH_CACHE/garage/bin/garage"
GARAGE_VERSION="2.5.0"
export AWS_EC2_METADATA_DISABLED=true

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the benchmark drops the page cache before every run"

# ---------------------------------------------------------------- installs ---
missing=()
for tool in s3fs rclone fio; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian package(s) ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
command -v fusermount3 >/dev/null 2>&1 || die "fusermount3 missing: run scripts/setup.sh first"

if [ ! -x "$GARAGE" ]; then
    if pgrep -f "cargo install --locked garage" >/dev/null; then
        log "waiting for the Garage build already running"
        while pgrep -f "cargo install --locked garage" >/dev/null; do sleep 5; done
    fi
    if [ ! -x "$GARAGE" ]; then
        log "building Garage $GARAGE_VERSION into $BENCH_CACHE/garage (takes a while)"
        cargo install --locked garage --version "$GARAGE_VERSION" --root "$BENCH_CACHE/garage"
    fi
fi

# See scripts/bench-nodelay.c: Garage otherwise stalls every small GET for 40 ms.
NODELAY=""
if [ "${BENCH_GARAGE_NODELAY:-1}" = 1 ]; then
    NODELAY="$BENCH_CACHE/bench-nodelay.so"
    if [ ! -f "$NODELAY" ] || [ "$REPO/scripts/bench-nodelay.c" -nt "$NODELAY" ]; then
        command -v cc >/dev/null 2>&1 || die "a C compiler (cc) is needed for $NODELAY"
        cc -shared -fPIC -O2 -o "$NODELAY" "$REPO/scripts/bench-nodelay.c" -ldl
    fi
fi

log "building cognito-s3fs, s3-direct and s3-shaper (release)"
(cd "$REPO" && cargo build --release --quiet --bin cognito-s3fs --bin s3-direct --bin s3-shaper)
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"

# ------------------------------------------------------------------- run ---
WORK="$(mktemp -d /tmp/cognito-s3fs-bench.XXXXXX)"
cleanup() {
    # bench.py unmounts and stops Garage itself; this is for when it was killed.
    local m
    for m in "$WORK"/mnt/*; do
        [ -d "$m" ] || continue
        if mountpoint -q "$m"; then
            fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
        fi
    done
    if [ -f "$WORK/garage.pid" ]; then
        kill "$(cat "$WORK/garage.pid")" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP_WORK:-0}" = 1 ]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BENCH_WORK="$WORK" BENCH_GARAGE="$GARAGE" BENCH_GARAGE_PRELOAD="$NODELAY" \
    BENCH_DAEMON="${BENCH_DAEMON:-$TARGET/release/cognito-s3fs}" BENCH_DIRECT="$TARGET/release/s3-direct" \
    BENCH_SHAPER="$TARGET/release/s3-shaper" \
    python3 "$REPO/scripts/bench.py" "$@"
