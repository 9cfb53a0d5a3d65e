"""Single timed operations: a dd pass, an hf_xet download, a curl, first bytes, fio, loaders."""

import hashlib
import json
import os
import struct
import subprocess
import sys
import time

from .procs import netns_prefix

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dd(path, ns=None):
    """`dd bs=1M` of a whole file to /dev/null: (seconds, bytes)."""
    size = os.path.getsize(path)
    t0 = time.perf_counter()
    subprocess.run(netns_prefix(ns) + ["dd", f"if={path}", "of=/dev/null", "bs=1M",
                                       "status=none"], check=True)
    return time.perf_counter() - t0, size


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()


def hf_download(python, endpoint, hf_home, repo, filename, ns=None):
    """hf_hub_download into a fresh HF_HOME; the JSON line of `xbench.hfdl`."""
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HOME=hf_home,
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_XET_TELEMETRY_ENABLED="false", PYTHONPATH=HERE)
    env.pop("HF_TOKEN", None)
    r = subprocess.run(netns_prefix(ns) + [python, "-m", "xbench.hfdl", repo, filename],
                       env=env, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"hf_hub_download failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def curl(url, ns=None, byte_range=None):
    """GET (following redirects) to /dev/null: dict with seconds, bytes, ttfb (s)."""
    cmd = netns_prefix(ns) + ["curl", "-sSfL", "-o", "/dev/null", "-w",
                              "%{time_total} %{size_download} %{time_starttransfer}"]
    if byte_range:
        cmd += ["-r", byte_range]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    total, size, ttfb = out.split()
    return {"seconds": float(total), "bytes": int(size), "ttfb": float(ttfb)}


def first_bytes(path, n=4096):
    """open + first `n` bytes: seconds."""
    t0 = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        got = os.read(fd, n)
    finally:
        os.close(fd)
    dt = time.perf_counter() - t0
    assert len(got) == min(n, os.path.getsize(path))
    return dt


def header_and_tensor(path, name):
    """What a loader does for one tensor: open, 8-byte length, JSON header, the tensor's bytes.
    Returns (seconds, bytes read, the tensor's bytes)."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        begin, end = header[name]["data_offsets"]
        f.seek(8 + n + begin)
        data = bytearray(end - begin)
        view, got = memoryview(data), 0
        while got < len(data):
            k = f.readinto(view[got:])
            if not k:
                raise IOError(f"short read of {name}")
            got += k
    return time.perf_counter() - t0, 8 + n + len(data), bytes(data)


def loader(python, mode, path):
    env = dict(os.environ, PYTHONPATH=HERE)
    r = subprocess.run([python, "-m", "xbench.loaders", mode, path], env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"loader {mode} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fio(job, path, size, runtime):
    """Runs `benches/e2e/fio/<job>.fio` on `path`; returns the group's read stats."""
    env = dict(os.environ, FILE=path, SIZE=str(size), QSIZE=str(size // 4 // 4096 * 4096),
               RUNTIME=str(runtime))
    jobfile = os.path.join(HERE, "fio", job + ".fio")
    r = subprocess.run(["fio", "--readonly", "--output-format=json", jobfile], env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"fio {job} failed: {r.stderr[-2000:]}")
    text = r.stdout[r.stdout.index("{"):]
    rd = json.loads(text)["jobs"][0]["read"]
    return {"io_bytes": rd["io_bytes"], "bw": rd["bw_bytes"],
            "runtime_ms": rd["runtime"], "iops": rd["iops"],
            "clat_mean_ms": rd["clat_ns"]["mean"] / 1e6,
            "clat_max_ms": rd["clat_ns"]["max"] / 1e6}


def machine():
    info = {"kernel": os.uname().release, "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    info["python"] = sys.version.split()[0]
    return info
