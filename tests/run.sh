#!/usr/bin/env bash
# Runs every xetfs test on a fresh machine: installs what the tests need (fuse3 for the mount
# tests, Redis for the shared-cache tests, a Python venv with the official Hugging Face clients
# and Node with Transformers.js for the client tests), then runs the whole suite with
# cargo-nextest (cargo test when nextest is missing). Extra arguments go to the
# test runner, e.g. `tests/run.sh mount` runs only tests whose name contains "mount".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n== %s\n' "$*" >&2; }

# Debian packages the tests need, installed when missing (we are root on the test machines).
apt_install() {
    log "installing $*"
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing $* and we are not root: install these Debian packages" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# FUSE: the mount tests need /dev/fuse, root, and fusermount3 (fuser's unmount fallback).
command -v fusermount3 >/dev/null 2>&1 || apt_install fuse3
# A last-resort safety net: the kernel aborts a FUSE request nobody answers (kernel >= 6.14).
if [ -w /proc/sys/fs/fuse/default_request_timeout ]; then
    echo 120 > /proc/sys/fs/fuse/default_request_timeout || true
fi

# The reference test vectors live next to the checkout (../shared/testvectors); look upwards
# from the checkout, then at the workplace's usual place.
if [ -z "${XETFS_TESTVECTORS:-}" ]; then
    dir="$root"
    while [ "$dir" != "/" ]; do
        dir=$(dirname "$dir")
        if [ -f "$dir/shared/testvectors/README.md" ]; then
            export XETFS_TESTVECTORS="$dir/shared/testvectors"
            break
        fi
    done
    if [ -z "${XETFS_TESTVECTORS:-}" ] && [ -f /work/shared/testvectors/README.md ]; then
        export XETFS_TESTVECTORS=/work/shared/testvectors
    fi
fi
if [ -z "${XETFS_TESTVECTORS:-}" ]; then
    echo "cannot find the reference test vectors (shared/testvectors): set XETFS_TESTVECTORS" >&2
    exit 1
fi

# Redis: the tests start their own nodes on free loopback ports (tests/support/redis.rs), so the
# package's system service must not run (it would hold 6379 and memory for nothing).
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
    || apt_install redis-server redis-tools
if [ -d /run/systemd/system ]; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
elif [ -f /run/redis/redis-server.pid ]; then
    # No systemd: stop the service by its own pid file (never by name: tests' nodes may run).
    kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true
    update-rc.d redis-server disable >/dev/null 2>&1 || true
fi
export XETFS_REQUIRE_REDIS=1

# Node with Transformers.js (tests/node): pinned by package-lock.json. onnxruntime-node's
# postinstall would reach for a host outside the package registries; its CPU runtime ships in
# the package, so skip it.
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
# Transformers.js 4 loads sharp, which needs Node >= 20 (Debian 12's own nodejs is 18).
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "Node $(node --version) is too old for Transformers.js 4 (sharp needs >= 20)" >&2
    exit 1
fi
if ! cmp -s tests/node/package-lock.json tests/node/node_modules/.xetfs-lock; then
    log "installing Transformers.js (npm ci in tests/node)"
    (cd tests/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
    cp tests/node/package-lock.json tests/node/node_modules/.xetfs-lock
fi

# Python venv with the pinned official clients, safetensors and numpy.
. "$root/tests/python/venv.sh"
ensure_venv "$root"
export XETFS_TEST_PYTHON="$venv/bin/python"
# The client tests must talk to loopback only, never to huggingface.co.
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_XET_TELEMETRY_ENABLED=false
# Tests that mount must run, not skip: they fail loudly when FUSE is unusable.
export XETFS_REQUIRE_FUSE=1

log "running tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --profile ci --no-fail-fast "$@"
    cargo test --doc -q
else
    cargo test --no-fail-fast -q "$@"
fi

# The release binary carries no test double of the remote: src/testkit is compiled only for tests,
# through the `testing` feature of the crate's dev-dependency on itself. Two checks: the library
# the release binary links was built without that feature (cargo's own record), and the binary
# has no symbol of the test doubles.
log "checking the release binary for test doubles"
features=$(cargo build --release --bin xetfs --message-format=json -q | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "xetfs" \
            and "lib" in m["target"]["kind"]:
        print("lib features:", ",".join(m["features"]) or "none")
')
echo "$features"
if [ "$features" != "lib features: none" ]; then
    echo "the release build of the library has features it must not have: $features" >&2
    exit 1
fi
symbols=$(nm -C target/release/xetfs)   # fails the script if nm is missing or fails
doubles=$(grep -E 'remote::mock|testkit|faulty' <<<"$symbols" || true)
if [ -n "$doubles" ]; then
    head -5 <<<"$doubles" >&2
    echo "the release binary contains test doubles (symbols above)" >&2
    exit 1
fi
