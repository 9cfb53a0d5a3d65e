"""The processes a benchmark drives: `xetfs serve`, `xetfs mount` daemons, and the page cache.

Everything started here is registered in `CLEANUP`, which `cleanup_all()` undoes in reverse
order (unmount, kill, delete namespaces). `run.sh` also sweeps by name after a crash.
"""

import glob
import json
import os
import signal
import subprocess
import time
import urllib.request

CLEANUP = []
PID_DIR = None  # set by the driver: run.sh kills what is recorded there after a crash


def record_pid(pid):
    if PID_DIR:
        os.makedirs(PID_DIR, exist_ok=True)
        with open(os.path.join(PID_DIR, str(pid)), "w") as f:
            f.write(str(pid))


def forget_pid(pid):
    if PID_DIR:
        try:
            os.unlink(os.path.join(PID_DIR, str(pid)))
        except FileNotFoundError:
            pass


def cleanup_all():
    while CLEANUP:
        fn = CLEANUP.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning the rest
            print(f"cleanup: {e}")


def netns_prefix(ns):
    """Runs a command in network namespace `ns` only (mounts stay visible to everyone)."""
    return ["nsenter", f"--net=/run/netns/{ns}"] if ns else []


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def read_all(paths):
    """Reads files into the page cache (e.g. the server's xorbs after a drop)."""
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.read(8 << 20):
                pass


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Server:
    """`xetfs serve ROOT` on a free port, ingest finished."""

    def __init__(self, xetfs, root, state, log, host="127.0.0.1", ns=None):
        self.state, self.ns = state, ns
        self.log = open(log, "ab")
        cmd = netns_prefix(ns) + [xetfs, "serve", root, "--listen", f"{host}:0",
                                  "--state", state]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log)
        record_pid(self.proc.pid)
        CLEANUP.append(self.stop)
        self.endpoint = None
        deadline = time.time() + 900
        for line in self.proc.stdout:
            line = line.decode().strip()
            if line.startswith("xetfs serve: listening on "):
                self.endpoint = line.rsplit(" ", 1)[1]
            if line == "xetfs serve: ready":
                break
            if time.time() > deadline:
                raise RuntimeError("xetfs serve is not ready after 15 minutes")
        if self.endpoint is None or self.proc.poll() is not None:
            raise RuntimeError(f"xetfs serve failed to start (see {log})")

    def metrics(self):
        """Server counters; over a namespace link they are read through the same link."""
        url = self.endpoint + "/metrics"
        if self.ns:
            out = subprocess.run(netns_prefix("xetfs-bench-cli") + ["curl", "-sf", url],
                                 check=True, capture_output=True).stdout
            return json.loads(out)
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)

    def xorb_bytes(self):
        return self.metrics()["endpoints"].get("xorb_get", {}).get("bytes_sent", 0)

    def warm_state(self):
        """Puts the server's xorbs in the page cache: cold runs measure the client, not this
        VM's virtual disk."""
        files = glob.glob(os.path.join(self.state, "xorbs", "**", "*"), recursive=True)
        read_all([p for p in files if os.path.isfile(p)])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        forget_pid(self.proc.pid)
        self.log.close()


class Mount:
    """A `xetfs mount` daemon. The stats file gives its pid and counters."""

    def __init__(self, xetfs, mnt, endpoint, cache_dir, memory_cache, log, ns=None,
                 extra=()):
        self.xetfs, self.mnt = xetfs, mnt
        os.makedirs(mnt, exist_ok=True)
        cmd = netns_prefix(ns) + [xetfs, "mount", mnt, "--endpoint", endpoint,
                                  "--cache-dir", cache_dir, "--memory-cache", memory_cache,
                                  "--log-file", log, *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError(f"xetfs mount failed: {r.stderr.strip()} (see {log})")
        CLEANUP.append(self.umount)
        self.pid = self.stats()["pid"]
        record_pid(self.pid)
        self.mounted = True

    def stats(self):
        with open(os.path.join(self.mnt, ".xetfs-stats")) as f:
            return json.load(f)

    def vm_hwm(self):
        """Peak resident set of the daemon, bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def umount(self):
        if not getattr(self, "mounted", False):
            return
        self.mounted = False
        r = subprocess.run([self.xetfs, "umount", self.mnt], capture_output=True, timeout=120)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        # The daemon flushes its disk cache before exiting: wait for it (the next mount on the
        # same cache directory needs the lock).
        deadline = time.time() + 60
        while time.time() < deadline and os.path.exists(f"/proc/{self.pid}"):
            time.sleep(0.05)
        if os.path.exists(f"/proc/{self.pid}"):
            os.kill(self.pid, signal.SIGKILL)
        forget_pid(self.pid)
