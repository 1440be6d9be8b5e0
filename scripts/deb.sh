#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (metadata in Cargo.toml): the binary, its man
# pages, the bash/zsh/fish completions and the example systemd unit, depending on fuse3.
#
#   scripts/deb.sh             build target/debian/cognito-s3fs_VERSION_ARCH.deb (release)
#   scripts/deb.sh --install   ... and install it with dpkg -i
#   scripts/deb.sh --check     ... install it, then mount with the installed binary through
#                              the README's fstab line (mount -T, a temporary fstab) against
#                              the local emulator, read a file, unmount, and check the
#                              package's files (man pages, completions that load, the unit)
#   --dev                      package the debug build instead of a release build (what CI
#                              does: the test suite has built it already; a release build
#                              takes about 7 minutes on 2 CPUs)
#
# Installs cargo-deb with `cargo install` when it is missing. Runs as root for --install.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
export AWS_EC2_METADATA_DISABLED=true
CARGO_DEB_VERSION="3.8.0"
PROFILE=release
INSTALL=0
CHECK=0
for arg in "$@"; do
    case "$arg" in
        --install) INSTALL=1 ;;
        --check) INSTALL=1; CHECK=1 ;;
        --dev) PROFILE=dev ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "deb: unknown argument $arg" >&2; exit 2 ;;
    esac
done

say() { printf 'deb: %s\n' "$*"; }
die() { printf 'deb: error: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo-deb >/dev/null 2>&1; then
    say "installing cargo-deb $CARGO_DEB_VERSION (cargo install)"
    cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi

OUT_DIR="$([ "$PROFILE" = dev ] && echo debug || echo release)"
say "building the binary ($PROFILE profile)"
cargo build --quiet --profile "$PROFILE" --bin cognito-s3fs
BIN="$REPO/target/$OUT_DIR/cognito-s3fs"

# The man pages and completions come from the binary's own command-line definitions.
EXTRA="$REPO/target/debian-extra"
rm -rf "$EXTRA" && mkdir -p "$EXTRA/man" "$EXTRA/completions"
"$BIN" manual --out-dir "$EXTRA/man" >/dev/null
gzip -9n "$EXTRA"/man/*.1
"$BIN" completions bash >"$EXTRA/completions/cognito-s3fs"
"$BIN" completions zsh >"$EXTRA/completions/_cognito-s3fs"
"$BIN" completions fish >"$EXTRA/completions/cognito-s3fs.fish"

say "packaging"
DEB="$(cargo deb --no-build --profile "$PROFILE" --quiet 2>/dev/null | tail -n 1)"
[ -f "$DEB" ] || die "cargo deb made no package"
say "built $DEB"
[ "$INSTALL" = 1 ] || exit 0

dpkg -i "$DEB" >/dev/null
say "installed: $(dpkg-query -W -f='${Package} ${Version}' cognito-s3fs)"
[ "$CHECK" = 1 ] || exit 0

# ------------------------------------------------------------- check ---
for f in /usr/bin/cognito-s3fs /usr/share/man/man1/cognito-s3fs.1.gz \
         /usr/share/man/man1/cognito-s3fs-mount.1.gz \
         /usr/share/bash-completion/completions/cognito-s3fs \
         /usr/share/zsh/vendor-completions/_cognito-s3fs \
         /usr/share/fish/vendor_completions.d/cognito-s3fs.fish \
         /usr/share/doc/cognito-s3fs/examples/cognito-s3fs-team.service; do
    dpkg -S "$f" >/dev/null 2>&1 || die "the package does not hold $f"
done
bash -c 'source /usr/share/bash-completion/completions/cognito-s3fs && complete -p cognito-s3fs' \
    >/dev/null || die "the bash completions do not load"
zcat /usr/share/man/man1/cognito-s3fs-mount.1.gz | grep -q 'user\\-pool\\-id' \
    || die "the mount man page lacks the options"

bash scripts/setup.sh
WORK="$(mktemp -d /tmp/cognito-s3fs-deb.XXXXXX)"
MNT="$WORK/mnt"
mkdir -p "$MNT"
EMU_PID=""
cleanup() {
    fusermount3 -u "$MNT" 2>/dev/null || true
    [ -z "$EMU_PID" ] || kill "$EMU_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
.venv/bin/python tests/support/moto_env.py --state-file "$WORK/state.json" >"$WORK/emu.out" 2>"$WORK/emu.log" &
EMU_PID=$!
for _ in $(seq 1 300); do
    grep -q '^ready ' "$WORK/emu.out" 2>/dev/null && break
    kill -0 "$EMU_PID" 2>/dev/null || { cat "$WORK/emu.log" >&2; die "the emulator did not start"; }
    sleep 0.2
done
grep -q '^ready ' "$WORK/emu.out" || die "the emulator did not get ready"

# The README's profile and fstab line, with the emulator's ids and this run's paths.
.venv/bin/python - "$WORK" <<'EOF'
import json, os, re, sys
work = sys.argv[1]
state = json.load(open(f"{work}/state.json"))
readme = open("README.md").read()
profile = readme.split("```toml\n# ~/.config/cognito-s3fs/config.toml\n", 1)[1].split("```", 1)[0]
pw = f"{work}/alice.password"
fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, state["users"]["alice"]["password"].encode())
os.close(fd)
for example, real in [("eu-west-1_AbCdEf123", state["user_pool_id"]),
                      ("1example23456789", state["client_id"]),
                      ("eu-west-1:0f2a4b1c-1111-2222-3333-444455556666", state["identity_pool_id"]),
                      ("eu-west-1", state["region"]),
                      ("/home/alice/.config/cognito-s3fs/alice.password", pw)]:
    assert f'"{example}"' in profile, example
    profile = profile.replace(f'"{example}"', json.dumps(real))
open(f"{work}/config.toml", "w").write(profile)
line = readme.split("# /etc/fstab\n", 1)[1].splitlines()[0]
line = line.replace("/etc/cognito-s3fs/config.toml", f"{work}/config.toml").replace("/mnt/team", f"{work}/mnt")
open(f"{work}/fstab", "w").write(line + "\n")
open(f"{work}/endpoint", "w").write(state["endpoint"])
EOF
say "mounting with /usr/bin/cognito-s3fs through: $(cat "$WORK/fstab")"
AWS_ENDPOINT_URL="$(cat "$WORK/endpoint")" AWS_REGION=us-east-1 XDG_STATE_HOME="$WORK/state" \
    mount -T "$WORK/fstab" "$MNT"
LISTED="$(ls "$MNT" | tr '\n' ' ')"
[ "$LISTED" = "numbers.csv readme.md " ] || die "the mount shows '$LISTED'"
head -c 6 "$MNT/readme.md" | grep -q '^# beta' || die "readme.md does not read back"
DAEMON="$(awk -v m="$MNT" '$5 == m' /proc/self/mountinfo | wc -l)"
[ "$DAEMON" = 1 ] || die "not mounted once"
fusermount3 -u "$MNT"
say "ok: the installed binary mounted the README's fstab line, read a file and unmounted"
