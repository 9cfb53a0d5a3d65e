"""A WAN between two network namespaces the harness creates (client and server), joined by
`linkemu` (40 ms RTT, 1 Gbit/s). Only addresses inside these namespaces are used: 198.18.0.0/30,
from the range reserved for network benchmarks (RFC 2544)."""

import os
import subprocess
import sys

from .procs import CLEANUP, forget_pid, record_pid

CLIENT_NS, SERVER_NS = "xetfs-bench-cli", "xetfs-bench-srv"
CLIENT_ADDR, SERVER_ADDR = "198.18.0.1", "198.18.0.2"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def delete_namespaces():
    for ns in (CLIENT_NS, SERVER_NS):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


class Link:
    def __init__(self, delay_ms, rate_mbit, log):
        delete_namespaces()
        CLEANUP.append(delete_namespaces)
        for ns in (CLIENT_NS, SERVER_NS):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        # The server stands for a CDN: its send buffer may grow to the client's receive buffer
        # (Linux' default 4 MiB cap would bound one connection to ~100 MB/s at 40 ms).
        rmem = subprocess.run(["ip", "netns", "exec", CLIENT_NS, "sysctl", "-n",
                               "net.ipv4.tcp_rmem"], capture_output=True, text=True,
                              check=True).stdout.split()
        subprocess.run(["ip", "netns", "exec", SERVER_NS, "sysctl", "-qw",
                        f"net.ipv4.tcp_wmem=4096 16384 {rmem[2]}"], check=True)
        self.sysctls = {"client tcp_rmem": " ".join(rmem),
                        "server tcp_wmem": f"4096 16384 {rmem[2]}"}
        cc = subprocess.run(["ip", "netns", "exec", CLIENT_NS, "sysctl", "-n",
                             "net.ipv4.tcp_congestion_control"], capture_output=True, text=True)
        self.sysctls["congestion control"] = cc.stdout.strip()
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xbench.linkemu", CLIENT_NS, CLIENT_ADDR, SERVER_NS,
             SERVER_ADDR, "--delay-ms", str(delay_ms / 2), "--rate-mbit", str(rate_mbit)],
            cwd=HERE, stdout=subprocess.PIPE, stderr=self.log)
        record_pid(self.proc.pid)
        CLEANUP.append(self.stop)
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError(f"link emulator failed to start (see {log})")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        forget_pid(self.proc.pid)
        self.log.close()
