#!/usr/bin/env bash
# Installs what the demo and the integration tests need, on Debian:
#   - Debian packages: fuse3 (fusermount3), attr (getfattr), util-linux/bsdutils (script),
#     python3 + python3-venv when missing, ca-certificates (pip over TLS);
#   - a Python venv at $REPO/.venv with pinned moto[server] (pulls in boto3) and
#     pycognito (an independent SRP client: the source of the SRP known-answer vectors).
# Idempotent: prints nothing when everything is already in place, and one
# line per thing it installs otherwise. Needs no network except the Debian
# archive and PyPI.
#
# Environment: PYTHON  python used to create the venv (default: python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
MOTO_VERSION="5.2.1"
PYCOGNITO_VERSION="2024.5.1"
PYTHON="${PYTHON:-python3}"
export AWS_EC2_METADATA_DISABLED=true
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed; run as root"
    SUDO=(sudo)
fi

# ---------------------------------------------------------------- Debian ---
APT_UPDATED=0
# apt_install REASON PKG...: installs PKG... (apt-get update once, first).
apt_install() {
    local reason="$1" out
    shift
    command -v apt-get >/dev/null 2>&1 \
        || die "apt-get not found; install $* ($reason) by hand"
    log "installing Debian package(s) $* ($reason)"
    if [ "$APT_UPDATED" -eq 0 ]; then
        if ! out="$("${SUDO[@]}" apt-get update -q 2>&1)"; then
            printf '%s\n' "$out" >&2
            die "apt-get update failed"
        fi
        APT_UPDATED=1
    fi
    if ! out="$(DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" \
            apt-get install -y -q --no-install-recommends "$@" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "apt-get install $* failed"
    fi
}

command -v fusermount3 >/dev/null 2>&1 || apt_install "for fusermount3" fuse3
command -v getfattr >/dev/null 2>&1 || apt_install "for getfattr (the --xattrs test)" attr
# `script` is in bsdutils on Debian 12 and in util-linux on later releases.
command -v script >/dev/null 2>&1 || apt_install "for script" util-linux bsdutils
[ -e /etc/ssl/certs/ca-certificates.crt ] || apt_install "for pip over TLS" ca-certificates
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    [ "$PYTHON" = python3 ] || die "PYTHON=$PYTHON not found"
    apt_install "for the test emulator" python3
fi

# ------------------------------------------------------------ Python venv ---
venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -I - "$MOTO_VERSION" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as md
assert md.version("moto") == sys.argv[1]
import boto3, flask, flask_cors, moto.server  # noqa: F401  (moto[server] extras)
PY
}

if ! venv_ok; then
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -I -c 'import pip' >/dev/null 2>&1; then
        log "creating Python venv at $VENV"
        if ! out="$("$PYTHON" -m venv --clear "$VENV" 2>&1)"; then
            # Debian splits venv/ensurepip out of python3 into python3-venv.
            apt_install "python3 -m venv does not work" python3-venv
            if ! out="$("$PYTHON" -m venv --clear "$VENV" 2>&1)"; then
                printf '%s\n' "$out" >&2
                die "could not create the venv at $VENV with $PYTHON"
            fi
        fi
    fi
    log "installing moto[server]==$MOTO_VERSION (with boto3) and pycognito==$PYCOGNITO_VERSION into $VENV"
    "$VENV/bin/python" -I -m pip install --quiet "moto[server]==$MOTO_VERSION" \
        "pycognito==$PYCOGNITO_VERSION" \
        || die "pip install moto[server]==$MOTO_VERSION pycognito==$PYCOGNITO_VERSION failed"
    venv_ok || die "venv at $VENV still lacks moto[server]==$MOTO_VERSION or pycognito==$PYCOGNITO_VERSION after installing"
fi
