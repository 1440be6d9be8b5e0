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
echo "test: 3-minute soak under injected faults (debug build)"
SOAK_PROFILE=debug bash scripts/soak.sh 3
echo "test: cargo test"
cargo test --all-targets "$@"
