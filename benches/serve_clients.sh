#!/usr/bin/env bash
# Ingest throughput and official-client download throughput of `xetfs serve` on one large file,
# plus a raw presigned xorb range with curl. Numbers go to docs/BENCHMARKS.md ("serve").
#
#   benches/serve_clients.sh [SIZE_MIB] [RUNS]      (default 512 MiB, 3 runs)
#
# Uses target/release/xetfs (built if missing) and $XETFS_TEST_PYTHON or .venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-512}
runs=${2:-3}
python=${XETFS_TEST_PYTHON:-$PWD/.venv/bin/python}
bin=${XETFS_BIN:-$PWD/target/release/xetfs}
[ -x "$bin" ] || cargo build --release --bin xetfs
work=$(mktemp -d "${XETFS_BENCH_DIR:-/tmp}/xetfs-serve-bench.XXXXXX")
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/root/bench/model"
"$python" - "$work/root/bench/model/model.safetensors" "$size_mib" <<'PY'
import random, sys
r = random.Random(1)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(r.randbytes(1 << 20))
PY
sync

start=$(date +%s.%N)
"$bin" serve "$work/root" --listen 127.0.0.1:0 --state "$work/state" >"$work/out" 2>"$work/log" &
pid=$!
until grep -q "xetfs serve: ready" "$work/out" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$work/log"; exit 1; }
    sleep 0.05
done
ready=$(date +%s.%N)
endpoint=$(sed -n 's/^xetfs serve: listening on //p' "$work/out")
awk -v s="$start" -v e="$ready" -v m="$size_mib" \
    'BEGIN { t = e - s; printf "ingest: %d MiB in %.2f s (start to ready) = %.0f MB/s\n", m, t, m * 1.048576 / t }'
grep -o 'ingest done.*' "$work/log" || true

export HF_ENDPOINT=$endpoint HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_XET_TELEMETRY_ENABLED=false
for i in $(seq "$runs"); do
    home=$(mktemp -d "$work/home.XXXXXX")
    t0=$(date +%s.%N)
    HF_HOME=$home "$python" benches/serve_clients.py download bench/model model.safetensors
    t1=$(date +%s.%N)
    awk -v s="$t0" -v e="$t1" -v m="$size_mib" \
        'BEGIN { printf "  with interpreter start: %.2f s = %.0f MB/s\n", e - s, m * 1.048576 / (e - s) }'
    rm -rf "$home"
done
read -r url range <<<"$("$python" benches/serve_clients.py xorb bench/model model.safetensors)"
for i in 1 2 3; do
    curl -s -o /dev/null -H "Range: $range" -w "curl xorb range: %{size_download} B at %{speed_download} B/s\n" "$url"
done
