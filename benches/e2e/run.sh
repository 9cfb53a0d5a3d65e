#!/usr/bin/env bash
# End-to-end benchmarks: xetfs mount vs hf_xet vs curl vs local reads, fio, loaders, WAN.
# Installs what it needs (fio, iproute2, fuse3, the project venv), builds xetfs in release,
# runs benches/e2e/bench.py (arguments pass through: --full, --only sequential,ttfb, …) and
# cleans up mounts, servers and network namespaces however it ends. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=/var/tmp/xetfs-bench
for ((i = 1; i <= $#; i++)); do
    [ "${!i}" = "--workdir" ] && { j=$((i + 1)); work=${!j}; }
done

log() { printf '\n== %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: the benchmark drops the page cache, mounts, and creates network namespaces" >&2
    exit 1
fi

need=()
command -v fio >/dev/null || need+=(fio)
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v fusermount3 >/dev/null || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# Python venv with the pinned official clients, safetensors and numpy.
. "$root/tests/python/venv.sh"
ensure_venv "$root"

log "building xetfs (release) and the engine bench"
cargo build -q --release --bin xetfs
cargo bench -q --bench engine --no-run 2>/dev/null || cargo bench --bench engine --no-run

# Whatever happens, leave no mount, server, link or namespace behind.
sweep() {
    set +e
    grep " $work/" /proc/self/mountinfo 2>/dev/null | awk '{print $5}' | while read -r m; do
        "$root/target/release/xetfs" umount "$m" >/dev/null 2>&1 || umount -l "$m"
    done
    # Processes the harness started, by the pid it recorded (and only if still ours).
    for f in "$work"/pids/*; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -e xetfs -e xbench; then
            kill -TERM "$pid" 2>/dev/null
        fi
        rm -f "$f"
    done
    for ns in xetfs-bench-cli xetfs-bench-srv; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM
        ip netns delete "$ns" 2>/dev/null
    done
    rm -rf /dev/shm/xetfs-bench
}
trap sweep EXIT INT TERM

export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_XET_TELEMETRY_ENABLED=false
if [ -w /proc/sys/fs/fuse/default_request_timeout ]; then
    echo 120 > /proc/sys/fs/fuse/default_request_timeout || true
fi
cd "$root/benches/e2e"
"$venv/bin/python" bench.py --python "$venv/bin/python" "$@"
