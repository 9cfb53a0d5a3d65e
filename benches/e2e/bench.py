"""End-to-end benchmark driver (run through `benches/e2e/run.sh`, which installs what it needs
and builds xetfs in release). See `docs/BENCHMARKS.md` for what is measured and how."""

import argparse
import atexit
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from xbench import measure, report, sections, wan
from xbench import procs
from xbench.procs import CLEANUP, Server, cleanup_all, loadavg
from xbench.repo import ensure_repo

CRATE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTIONS = ["sequential", "ttfb", "loaders", "fio", "engine", "wan"]
T0 = time.time()


def say(what):
    print(f"== [{time.time() - T0:5.0f}s] {what}", flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true",
                    help="2 GiB file, 5 repetitions, 15 s random fio runs")
    ap.add_argument("--workdir", default="/var/tmp/xetfs-bench",
                    help="repo, server state, caches, logs (the repo is reused between runs)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    ap.add_argument("--reps", type=int, help="repetitions (default 3, --full 5)")
    ap.add_argument("--size", type=int, help="target size of the big file in bytes")
    ap.add_argument("--memory-cache", default="1GiB", help="xetfs --memory-cache")
    ap.add_argument("--xetfs", default=os.path.join(CRATE, "target/release/xetfs"))
    ap.add_argument("--python", default=os.path.join(CRATE, ".venv/bin/python"),
                    help="Python with huggingface_hub, hf_xet, safetensors, numpy")
    ap.add_argument("--doc", default=os.path.join(CRATE, "docs/BENCHMARKS.md"),
                    help="where the tables go ('' to skip)")
    a = ap.parse_args()
    a.reps = a.reps or (5 if a.full else 3)
    a.size = a.size or ((2 if a.full else 1) << 30)
    a.fio_runtime = 15 if a.full else 4
    a.only = [s for s in a.only.split(",") if s]
    return a


def git_rev():
    r = subprocess.run(["git", "-C", CRATE, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def parse_budget(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().replace("ib", "").replace("b", "")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


def engine_bench(server, reps):
    out = os.path.join(os.path.dirname(server.state), "engine.json")
    env = dict(os.environ, XETFS_BENCH_ENDPOINT=server.endpoint, XETFS_BENCH_REPS=str(reps),
               XETFS_BENCH_REPO="bench/model", XETFS_BENCH_FILE="model.safetensors")
    subprocess.run(["cargo", "bench", "-q", "--bench", "engine", "--", "--json", out],
                   cwd=CRATE, env=env, check=True)
    with open(out) as f:
        return json.load(f)


def run_wan(a, repo, work, ctx, res):
    """The cold sequential case with the server behind a 40 ms, 1 Gbit/s link."""
    rtt, rate = 40, 1000
    link = wan.Link(rtt, rate, os.path.join(work, "logs", "linkemu.log"))
    server = Server(a.xetfs, os.path.join(work, "hub"), os.path.join(work, "state"),
                    os.path.join(work, "logs", "serve-wan.log"), host=wan.SERVER_ADDR,
                    ns=wan.SERVER_NS)
    ctx.server, ctx.ns = server, wan.CLIENT_NS
    runs = sections.sequential(ctx, a.reps, ["mount", "hf_xet", "curl"], cold_only=True)
    # Only the cold pass crossed the link in a way that matters here.
    res["wan"] = {"rtt_ms": rtt, "rate_mbit": rate, "sysctls": link.sysctls, "runs": runs}
    server.stop()
    link.stop()
    wan.delete_namespaces()


def main():
    a = parse_args()
    work = a.workdir
    for d in ("logs", "caches"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    procs.PID_DIR = os.path.join(work, "pids")
    atexit.register(cleanup_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    res = {"meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "benches/e2e/run.sh" + (" --full" if a.full else ""),
        "git": git_rev(), "machine": measure.machine(), "load_start": loadavg(),
        "reps": a.reps, "memory_cache": a.memory_cache}}
    say(f"repo ({a.size >> 20} MiB target) in {work}/hub")
    t0 = time.time()
    repo = ensure_repo(os.path.join(work, "hub"), os.path.join(work, "repo-spec.json"), a.size)
    repo["path"] = os.path.join(work, "hub", repo["repo"], repo["big"])
    shm = "/dev/shm/xetfs-bench"
    os.makedirs(shm, exist_ok=True)
    repo["tmpfs_copy"] = os.path.join(shm, repo["big"])
    if os.path.getsize(repo["path"]) != (os.path.getsize(repo["tmpfs_copy"])
                                         if os.path.exists(repo["tmpfs_copy"]) else -1):
        shutil.copyfile(repo["path"], repo["tmpfs_copy"])
    CLEANUP.append(lambda: shutil.rmtree(shm, ignore_errors=True))
    res["meta"].update(file=f"{repo['repo']}/{repo['big']}", size=repo["size"],
                       tensors=len(repo["tensors"]))
    print(f"   {repo['size'] / 1e6:.0f} MB ready in {time.time() - t0:.0f}s", flush=True)

    t0 = time.time()
    server = Server(a.xetfs, os.path.join(work, "hub"), os.path.join(work, "state"),
                    os.path.join(work, "logs", "serve.log"))
    say(f"xetfs serve at {server.endpoint}, ingest {time.time() - t0:.0f}s")
    ctx = sections.Ctx(a, repo, server, a.xetfs, a.python, work)

    if "sequential" in a.only:
        say("cold sequential, warm, hot")
        res["sequential"] = sections.sequential(
            ctx, a.reps, ["mount", "hf_xet", "curl", "local_disk", "tmpfs"])
    if "ttfb" in a.only:
        say("time to first byte")
        res["ttfb"] = sections.ttfb(ctx, a.reps)
    if "loaders" in a.only:
        say("safetensors loaders")
        res["loaders"] = sections.loaders(ctx, a.reps)
    if "fio" in a.only:
        say("fio matrix")
        res["fio"] = sections.fio_matrix(ctx, a.reps, a.fio_runtime)
    if "engine" in a.only:
        say("engine without FUSE")
        res["engine"] = engine_bench(server, a.reps)
    server.stop()
    if "wan" in a.only:
        say("WAN (network namespaces, 40 ms RTT, 1 Gbit/s)")
        run_wan(a, repo, work, ctx, res)

    res["meta"]["load_end"] = loadavg()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(work, f"results-{stamp}.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    s = report.summarize(res, parse_budget(a.memory_cache))
    block = report.markdown(res, s)
    print(block)
    if a.doc:
        report.write_into(a.doc, block)
        print(f"== tables written into {a.doc}")


if __name__ == "__main__":
    main()
