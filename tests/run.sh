#!/usr/bin/env bash
# Runs every xetfs test on a fresh machine: installs what the tests need (fuse3 for the mount
# tests, a Python venv with the official Hugging Face clients for the client tests), then runs the
# whole suite with cargo-nextest (cargo test when nextest is missing). Extra arguments go to the
# test runner, e.g. `tests/run.sh mount` runs only tests whose name contains "mount".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n== %s\n' "$*" >&2; }

# FUSE: the mount tests need /dev/fuse, root, and fusermount3 (fuser's unmount fallback).
if ! command -v fusermount3 >/dev/null 2>&1; then
    log "installing fuse3"
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3 >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3 >/dev/null; }
    else
        echo "fusermount3 is missing and we are not root: install the fuse3 package" >&2
        exit 1
    fi
fi
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
