"""The measured scenarios. Each returns plain dicts (lists of per-repetition results); the
report computes medians and pairwise ratios. Every cold run starts from an empty xetfs cache
(fresh directory, fresh daemon) and an empty page cache, with the server's xorbs warm."""

import os
import shutil
import time

from . import measure
from .procs import Mount, drop_caches, loadavg

MB = 1e6


class Ctx:
    """What every section needs: paths, the server, settings."""

    def __init__(self, args, repo, server, xetfs, python, work):
        self.args, self.repo, self.server = args, repo, server
        self.xetfs, self.python, self.work = xetfs, python, work
        self.ns = None  # client network namespace (WAN)
        self.n_mounts = 0

    @property
    def mnt(self):
        return os.path.join(self.work, "mnt")

    def big_in(self, mnt):
        return os.path.join(mnt, self.repo["repo"], self.repo["big"])

    def fresh_cache(self, tag):
        d = os.path.join(self.work, "caches", tag)
        shutil.rmtree(d, ignore_errors=True)
        return d

    def mount(self, cache_dir):
        self.n_mounts += 1
        log = os.path.join(self.work, "logs", f"mount-{self.n_mounts:03}.log")
        return Mount(self.xetfs, self.mnt, self.server.endpoint, cache_dir,
                     self.args.memory_cache, log, ns=self.ns)

    def cold(self):
        """Empty page cache everywhere, then the server's xorbs back in memory."""
        drop_caches()
        self.server.warm_state()

    def resolve_url(self):
        return f"{self.server.endpoint}/{self.repo['repo']}/resolve/main/{self.repo['big']}"


def _rotate(items, rep):
    k = rep % len(items)
    return items[k:] + items[:k]


def _mount_pass(ctx, m, before):
    s = m.stats()["reader"]
    keep = ("disk_write_dropped", "read_errors", "disk_hits", "reconstructions", "fetches",
            "prefetch_windows", "integrity_failures")
    return {"fetched": ctx.server.xorb_bytes() - before, "vm_hwm": m.vm_hwm(),
            **{k: s[k] for k in keep}}


def run_mount_cycle(ctx, rep, verify, cold_only=False):
    """Cold read through a fresh mount, hot re-read in the same mount, then warm: a fresh
    mount on the same (now filled) disk cache after dropping the page cache."""
    cache = ctx.fresh_cache(f"seq-{rep}")
    out = {}
    ctx.cold()
    m = ctx.mount(cache)
    try:
        before = ctx.server.xorb_bytes()
        secs, n = measure.dd(ctx.big_in(ctx.mnt))
        out["cold"] = {"seconds": secs, "bytes": n, **_mount_pass(ctx, m, before)}
        if cold_only:
            return out
        before = ctx.server.xorb_bytes()
        secs, n = measure.dd(ctx.big_in(ctx.mnt))
        out["hot"] = {"seconds": secs, "bytes": n, **_mount_pass(ctx, m, before)}
        if verify:
            out["sha256_ok"] = measure.sha256(ctx.big_in(ctx.mnt)) == ctx.repo["sha256"]
    finally:
        m.umount()
        if cold_only:
            shutil.rmtree(cache, ignore_errors=True)
    out["disk_cache_bytes"] = _du(cache)
    ctx.cold()
    m = ctx.mount(cache)
    try:
        before = ctx.server.xorb_bytes()
        secs, n = measure.dd(ctx.big_in(ctx.mnt))
        out["warm"] = {"seconds": secs, "bytes": n, **_mount_pass(ctx, m, before)}
    finally:
        m.umount()
    shutil.rmtree(cache, ignore_errors=True)
    return out


def run_hf(ctx, rep, verify):
    home = os.path.join(ctx.work, "hf_home")
    shutil.rmtree(home, ignore_errors=True)
    ctx.cold()
    before = ctx.server.xorb_bytes()
    r = measure.hf_download(ctx.python, ctx.server.endpoint, home, ctx.repo["repo"],
                            ctx.repo["big"], ns=ctx.ns)
    r["fetched"] = ctx.server.xorb_bytes() - before
    if verify:
        r["sha256_ok"] = measure.sha256(r["path"]) == ctx.repo["sha256"]
    shutil.rmtree(home, ignore_errors=True)
    return r


def run_curl(ctx, rep, verify):
    ctx.cold()
    return measure.curl(ctx.resolve_url(), ns=ctx.ns)


def run_local(ctx, rep, verify):
    drop_caches()
    secs, n = measure.dd(ctx.repo["path"])
    return {"seconds": secs, "bytes": n}


def run_tmpfs(ctx, rep, verify):
    secs, n = measure.dd(ctx.repo["tmpfs_copy"])
    return {"seconds": secs, "bytes": n}


def sequential(ctx, reps, methods, cold_only=False):
    """Cold sequential read of the big file by every method, alternating the order."""
    def mount(ctx, rep, verify):
        return run_mount_cycle(ctx, rep, verify, cold_only)

    runners = {"mount": mount, "hf_xet": run_hf, "curl": run_curl,
               "local_disk": run_local, "tmpfs": run_tmpfs}
    res = {m: [] for m in methods}
    for rep in range(reps):
        for name in _rotate(list(methods), rep):
            t0 = time.time()
            res[name].append(runners[name](ctx, rep, verify=rep == 0))
            print(f"  sequential rep {rep} {name}: {time.time() - t0:.1f}s "
                  f"(load {loadavg():.1f})", flush=True)
    return res


def ttfb(ctx, reps):
    """First 4 KiB of cold files, and a loader's "header + one tensor" from a cold file."""
    repo = ctx.repo
    tensors = [t for t in repo["tensors"] if t[0].endswith("mlp.down_proj.weight")]
    tensor = tensors[len(tensors) // 2]
    out = []
    for rep in range(reps):
        r = {}
        ctx.cold()
        m = ctx.mount(ctx.fresh_cache(f"ttfb-{rep}"))
        try:
            d = os.path.join(ctx.mnt, repo["repo"])
            r["fresh_mount_small"] = measure.first_bytes(os.path.join(d, "shards/part_00.bin"))
            r["cold_big"] = measure.first_bytes(os.path.join(d, repo["big"]))
            r["cold_small"] = measure.first_bytes(os.path.join(d, "shards/part_01.bin"))
            r["reopen_big"] = measure.first_bytes(os.path.join(d, repo["big"]))
        finally:
            m.umount()
        ctx.cold()
        m = ctx.mount(ctx.fresh_cache(f"ttfb-{rep}"))
        try:
            before = ctx.server.xorb_bytes()
            secs, n, data = measure.header_and_tensor(ctx.big_in(ctx.mnt), tensor[0])
            r["header_tensor"] = {"seconds": secs, "bytes": n, "tensor": tensor[0],
                                  "fetched": ctx.server.xorb_bytes() - before}
            with open(repo["path"], "rb") as f:
                f.seek(tensor[1])
                r["header_tensor"]["ok"] = f.read(tensor[2]) == data
        finally:
            m.umount()
        ctx.cold()
        r["curl_4k"] = measure.curl(ctx.resolve_url(), byte_range="0-4095")
        out.append(r)
        print(f"  ttfb rep {rep}: {r['cold_big'] * 1e3:.1f} ms big, "
              f"header+tensor {r['header_tensor']['seconds'] * 1e3:.0f} ms", flush=True)
    return out


def loaders(ctx, reps):
    """safetensors through the mount: mmap (safe_open) vs one f.read(), cold each."""
    res = {"mmap": [], "plain": []}
    for rep in range(reps):
        for mode in _rotate(["mmap", "plain"], rep):
            cache = ctx.fresh_cache(f"load-{mode}-{rep}")
            ctx.cold()
            m = ctx.mount(cache)
            try:
                before = ctx.server.xorb_bytes()
                r = measure.loader(ctx.python, mode, ctx.big_in(ctx.mnt))
                r.update(_mount_pass(ctx, m, before))
                r["bytes"] = ctx.repo["size"]
            finally:
                m.umount()
            shutil.rmtree(cache, ignore_errors=True)
            res[mode].append(r)
            print(f"  loader rep {rep} {mode}: {r['seconds']:.2f}s", flush=True)
    return res


FIO_JOBS = ["seq_read", "seq_read_4t", "rand_read", "rand_read_4t", "seq_read_skip_17m", "ttfb"]


def fio_matrix(ctx, reps, runtime):
    """Every job cold (empty cache) and warm (full disk cache, empty page cache)."""
    size = ctx.repo["size"]
    full = ctx.fresh_cache("fio-warm")
    ctx.cold()
    m = ctx.mount(full)
    try:
        measure.dd(ctx.big_in(ctx.mnt))  # fills the disk cache for the warm runs
    finally:
        m.umount()
    res = {"cold": {j: [] for j in FIO_JOBS}, "warm": {j: [] for j in FIO_JOBS},
           "warm_cache_bytes": _du(full)}
    for rep in range(reps):
        for state in _rotate(["cold", "warm"], rep):
            for job in _rotate(FIO_JOBS, rep):
                cache = ctx.fresh_cache("fio-cold") if state == "cold" else full
                t0 = time.time()
                ctx.cold()
                m = ctx.mount(cache)
                try:
                    before = ctx.server.xorb_bytes()
                    r = measure.fio(job, ctx.big_in(ctx.mnt), size, runtime)
                    r.update(_mount_pass(ctx, m, before))
                finally:
                    m.umount()
                res[state][job].append(r)
                print(f"  fio rep {rep} {state} {job}: {r['bw'] / MB:.0f} MB/s "
                      f"({time.time() - t0:.1f}s)", flush=True)
    return res


def _du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total
