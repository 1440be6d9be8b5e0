#!/usr/bin/env bash
# Soak: parallel readers (whole files, random offsets, sequential scans) through a real mount
# whose S3 and Cognito traffic sees injected faults and 90-second credentials; every byte is
# checked against the seed.
#
# Usage: scripts/soak.sh MINUTES [--readers N]
# SOAK_PROFILE=debug soaks the debug build instead of release; SOAK_BIN=PATH soaks a binary
# already built (scripts/test.sh passes the one `cargo test` built, so CI builds once).
# Prints reads done, bytes verified, errors by errno, wrong bytes (must be 0), credential
# fetches and the daemon's RSS at start and end. Exits 1 on any wrong byte or failed read.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export AWS_EC2_METADATA_DISABLED=true
[ $# -ge 1 ] || { echo "usage: scripts/soak.sh MINUTES [--readers N]" >&2; exit 2; }
minutes="$1"
shift

bash scripts/setup.sh
if [ -n "${SOAK_BIN:-}" ]; then
    bin="$SOAK_BIN"
    [ -x "$bin" ] || { echo "SOAK_BIN=$bin is not an executable" >&2; exit 2; }
else
    profile="${SOAK_PROFILE:-release}"
    case "$profile" in
        release) cargo build --quiet --release ;;
        debug) cargo build --quiet ;;
        *) echo "SOAK_PROFILE must be release or debug" >&2; exit 2 ;;
    esac
    bin="$REPO/target/$profile/cognito-s3fs"
fi
exec .venv/bin/python tests/support/soak.py "$minutes" --bin "$bin" "$@"
