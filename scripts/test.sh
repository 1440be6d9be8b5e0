#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lints, unit and property tests, and the
# end-to-end tests that mount for real through FUSE against a local moto emulator.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# Traffic stays on loopback: the AWS SDK must never probe the instance metadata address.
export AWS_EC2_METADATA_DISABLED=true

bash scripts/setup.sh

echo "test: cargo fmt --check"
cargo fmt --check
echo "test: cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "test: emulator harness self-test"
.venv/bin/python tests/support/moto_env_selftest.py
# One debug build serves both the soak and the tests: `cargo build` alone would build the
# dependency tree a second time (dev-dependencies change tokio's features), doubling the disk.
echo "test: cargo test --no-run (build)"
cargo test --quiet --all-targets --no-run
echo "test: 3-minute soak under injected faults (debug build)"
SOAK_BIN="$REPO/target/debug/cognito-s3fs" bash scripts/soak.sh 3
echo "test: cargo test"
cargo test --all-targets "$@"
echo "test: target/ takes $(du -sh target | cut -f1) of disk; $(df -h --output=avail . | tail -1 | tr -d ' ') free"
