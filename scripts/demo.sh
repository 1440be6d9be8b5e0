#!/usr/bin/env bash
# Try cognito-s3fs without an AWS account: a local emulator (moto) plays
# Amazon Cognito and Amazon S3 on 127.0.0.1, and cognito-s3fs logs in as the
# demo user "alice" and mounts the demo buckets read-only at ./mnt.
#
#   scripts/demo.sh [start]   set up, build, start the emulator, mount ./mnt
#   scripts/demo.sh status    say what is running
#   scripts/demo.sh stop      unmount ./mnt, stop the daemon and the emulator
#
# Files: .demo/ holds the emulator's state file, pid files and logs.
# Environment: COGNITO_S3FS_BIN=path uses that binary instead of building
# target/release/cognito-s3fs with cargo.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEMO_DIR="$REPO/.demo"
MNT="$REPO/mnt"
STATE="$DEMO_DIR/state.json"
MOTO_PID_FILE="$DEMO_DIR/moto.pid"
MOTO_LOG="$DEMO_DIR/moto.log"
FS_PID_FILE="$DEMO_DIR/cognito-s3fs.pid"
FS_LOG="$DEMO_DIR/cognito-s3fs.log"
PY="$REPO/.venv/bin/python"
BIN="${COGNITO_S3FS_BIN:-$REPO/target/release/cognito-s3fs}"
STATE_WAIT_SECS=60
MOUNT_WAIT_SECS=60
EXIT_WAIT_SECS=10
export AWS_EC2_METADATA_DISABLED=true

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------- helpers ---

# is_mounted: is $MNT a mount point? Reads mountinfo rather than stat()ing
# the directory, so a FUSE mount whose daemon died still counts.
is_mounted() {
    local esc="$MNT"
    esc="${esc//\\/\\134}"
    esc="${esc// /\\040}"
    esc="${esc//$'\t'/\\011}"
    esc="${esc//$'\n'/\\012}"
    awk -v m="$esc" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# pid_cmdline_has PID WORD: is WORD one of PID's arguments (or a suffix of one)?
pid_cmdline_has() {
    [ -r "/proc/$1/cmdline" ] || return 1
    tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"
}

read_pid_file() {
    if [ -f "$1" ]; then tr -dc '0-9' <"$1"; fi
}

# wait_gone PID SECS: waits up to SECS for PID to exit.
wait_gone() {
    local pid="$1" deadline=$((SECONDS + $2))
    while pid_alive "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# find_fs_pids: pids of cognito-s3fs processes serving $MNT.
find_fs_pids() {
    local dir pid args
    for dir in /proc/[0-9]*; do
        pid="${dir#/proc/}"
        [ "$pid" != "$$" ] || continue
        args="$(tr '\0' '\n' 2>/dev/null <"$dir/cmdline")" || continue
        grep -qx -- "$MNT" <<<"$args" || continue
        grep -qx -- mount <<<"$args" || continue
        grep -q -- 'cognito-s3fs$' <<<"$args" || continue
        printf '%s\n' "$pid"
    done
}

log_tail() {
    if [ -s "$1" ]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 20 "$1" >&2
        printf -- '---\n' >&2
    fi
}

# ---------------------------------------------------------------- stop ---

stop_fs() {
    local pids pid
    pids="$(read_pid_file "$FS_PID_FILE")"
    if [ -n "$pids" ] && ! pid_cmdline_has "$pids" "$MNT"; then
        pids=""   # stale pid file
    fi
    [ -n "$pids" ] || pids="$(find_fs_pids | tr '\n' ' ')"

    if is_mounted; then
        if fusermount3 -u "$MNT" 2>/dev/null; then
            say "unmounted $MNT"
        elif umount -l "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null; then
            say "unmounted $MNT (lazily: something was still using it)"
        else
            die "could not unmount $MNT; close programs using it and run '$0 stop' again"
        fi
    else
        say "$MNT is not mounted"
    fi

    for pid in $pids; do
        if wait_gone "$pid" "$EXIT_WAIT_SECS"; then
            say "cognito-s3fs daemon (pid $pid) exited"
        else
            say "cognito-s3fs daemon (pid $pid) still running after ${EXIT_WAIT_SECS}s; sending SIGTERM"
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || die "cognito-s3fs daemon (pid $pid) does not exit"
            say "cognito-s3fs daemon (pid $pid) stopped"
        fi
    done
    rm -f "$FS_PID_FILE"
}

stop_moto() {
    local pid
    pid="$(read_pid_file "$MOTO_PID_FILE")"
    if pid_alive "$pid" && pid_cmdline_has "$pid" moto_env.py; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" "$EXIT_WAIT_SECS"; then
            say "emulator (pid $pid) ignored SIGTERM for ${EXIT_WAIT_SECS}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || die "emulator (pid $pid) does not exit"
        fi
        say "stopped the emulator (pid $pid)"
    else
        say "the emulator is not running"
    fi
    rm -f "$MOTO_PID_FILE" "$STATE"
}

cmd_stop() {
    stop_fs
    stop_moto
}

# -------------------------------------------------------------- status ---

cmd_status() {
    local pid
    if is_mounted; then say "$MNT is mounted"; else say "$MNT is not mounted"; fi
    for pid in $(find_fs_pids); do say "cognito-s3fs daemon running (pid $pid), log: $FS_LOG"; done
    pid="$(read_pid_file "$MOTO_PID_FILE")"
    if pid_alive "$pid" && pid_cmdline_has "$pid" moto_env.py; then
        say "emulator running (pid $pid), log: $MOTO_LOG"
    else
        say "emulator not running"
    fi
}

# --------------------------------------------------------------- start ---

print_hints() {
    cat <<EOF

The demo is mounted at ./mnt (read-only). Things to try:

  ls mnt
  ls -la mnt/demo-docs
  cat mnt/demo-docs/README.txt
  head mnt/demo-data/weather/2024.csv
  sha256sum mnt/demo-data/images/pixels.bin
  grep -r TODO mnt/demo-docs
  touch mnt/demo-docs/new.txt        # fails: read-only file system

Logs: .demo/cognito-s3fs.log (daemon), .demo/moto.log (emulator)
When done: scripts/demo.sh stop
EOF
}

START_OK=0
on_start_exit() {
    local rc=$?
    if [ "$START_OK" -ne 1 ]; then
        say "start failed; cleaning up" >&2
        cmd_stop >&2 || true
    fi
    exit "$rc"
}

cmd_start() {
    local pid i fields

    if is_mounted; then
        if timeout 5 stat -- "$MNT" >/dev/null 2>&1; then
            say "the demo is already running (scripts/demo.sh stop to end it)"
            print_hints
            return 0
        fi
        say "$MNT is a stale mount (its daemon is gone); cleaning up first"
        cmd_stop
    fi
    [ -e /dev/fuse ] || die "/dev/fuse is missing: FUSE is not available on this machine \
(in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN)"

    # Leftovers from an earlier run (emulator without a mount, stale files).
    if [ -n "$(read_pid_file "$MOTO_PID_FILE")" ]; then
        cmd_stop >/dev/null
    fi

    "$REPO/scripts/setup.sh"

    if [ -n "${COGNITO_S3FS_BIN:-}" ]; then
        say "using COGNITO_S3FS_BIN=$BIN (not building)"
    else
        command -v cargo >/dev/null 2>&1 \
            || die "cargo not found: install the Rust toolchain (rustup), then run this again"
        say "building cognito-s3fs (cargo build --release; the first build takes a few minutes)"
        (cd "$REPO" && cargo build --release) || die "cargo build --release failed"
    fi
    [ -x "$BIN" ] || die "$BIN is missing or not executable"

    mkdir -p "$DEMO_DIR"
    rm -f "$STATE" || die "cannot remove the stale $STATE"
    trap on_start_exit EXIT
    trap 'exit 130' INT TERM

    say "starting the AWS emulator (log: .demo/moto.log)"
    setsid "$PY" -I "$REPO/tests/support/moto_env.py" --seed demo --state-file "$STATE" \
        </dev/null >"$MOTO_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$MOTO_PID_FILE"

    for ((i = 0; i < STATE_WAIT_SECS * 5; i++)); do
        [ -s "$STATE" ] && break
        if ! pid_alive "$pid"; then
            log_tail "$MOTO_LOG"
            die "the emulator exited during start-up (see $MOTO_LOG)"
        fi
        sleep 0.2
    done
    [ -s "$STATE" ] || { log_tail "$MOTO_LOG"; die "the emulator did not write $STATE within ${STATE_WAIT_SECS}s"; }

    mapfile -t fields < <("$PY" -I - "$STATE" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for v in (s["endpoint"], s["user_pool_id"], s["client_id"], s["identity_pool_id"],
          s["users"]["alice"]["password"], s["pid"]):
    print(v)
PY
)
    [ "${#fields[@]}" -eq 6 ] || die "could not read $STATE"
    [ "${fields[5]}" = "$pid" ] || echo "${fields[5]}" >"$MOTO_PID_FILE"

    mkdir -p "$MNT"
    say "mounting ./mnt as alice (log: .demo/cognito-s3fs.log)"
    : >"$FS_LOG"
    if ! COGNITO_S3FS_PASSWORD="${fields[4]}" timeout "$MOUNT_WAIT_SECS" "$BIN" mount "$MNT" \
            --region us-east-1 \
            --user-pool-id "${fields[1]}" \
            --client-id "${fields[2]}" \
            --identity-pool-id "${fields[3]}" \
            --username alice \
            --endpoint-url "${fields[0]}" \
            --log-file "$FS_LOG" </dev/null; then
        log_tail "$FS_LOG"
        die "cognito-s3fs mount failed or did not return within ${MOUNT_WAIT_SECS}s (see $FS_LOG)"
    fi
    is_mounted || { log_tail "$FS_LOG"; die "cognito-s3fs returned, but $MNT is not mounted (see $FS_LOG)"; }
    find_fs_pids | head -n 1 >"$FS_PID_FILE"

    START_OK=1
    say "ready"
    print_hints
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h | --help | help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) die "unknown command '$1' (use start, stop or status)" ;;
esac
