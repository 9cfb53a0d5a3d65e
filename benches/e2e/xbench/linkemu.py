"""A WAN link between two network namespaces: fixed one-way delay, a rate limit and a
tail-drop buffer, like `tc qdisc add … netem delay 20ms rate 1gbit`.

Why not netem: this machine's kernel is built without CONFIG_NET_SCH_NETEM (and without
sch_fq, so no EDT delays either). So the link is a process that owns one TUN device in each
namespace and moves packets between them. Both ends are the kernel's own TCP stacks, so
slow start, window limits and loss recovery are real; only the wire is emulated.

The TUN devices use virtio-net headers with TSO/checksum offload, so the kernel hands over
GSO super-packets (up to 64 KiB) as a NIC driver would: ~2 000 packets/s at 1 Gbit/s, cheap
enough for Python. Each super-packet is charged its Ethernet wire size (per segment: headers,
FCS, preamble and gap), so the best goodput is ~94 % of the nominal rate, as on a real link.

Run as `python -m xbench.linkemu NS_A ADDR_A NS_B ADDR_B --delay-ms 20 --rate-mbit 1000`.
It configures both devices, prints `ready`, and forwards until SIGTERM.
"""

import argparse
import ctypes
import fcntl
import heapq
import os
import selectors
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
CLONE_NEWNET = 0x40000000
VNET_HDR = 10  # struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start/offset
ETH_OVERHEAD = 14 + 4 + 8 + 12  # header, FCS, preamble, inter-frame gap
DEV = "xbwan0"

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def open_tun(ns):
    """A TUN device named DEV inside network namespace `ns` (the fd stays bound to it)."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    setns(f"/run/netns/{ns}")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", DEV.encode(),
                                               IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
        fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
        return fd
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(home)


def ip(ns, *args):
    subprocess.run(["ip", "-n", ns, *args], check=True)


def wire_bytes(pkt):
    """Bytes a packet occupies on an Ethernet wire, segmented at its GSO size."""
    _flags, gso_type, hdr_len, gso_size = struct.unpack_from("<BBHH", pkt)
    ip_len = len(pkt) - VNET_HDR
    if gso_type == 0 or gso_size == 0:
        return ip_len + ETH_OVERHEAD
    segs = max(1, -(-(ip_len - hdr_len) // gso_size))
    return ip_len + (segs - 1) * hdr_len + segs * ETH_OVERHEAD


class Direction:
    """One way of the link: a serializer at `rate` followed by `delay` of propagation."""

    def __init__(self, dst, rate_bps, delay, buffer_s):
        self.dst, self.rate, self.delay, self.buffer = dst, rate_bps, delay, buffer_s
        self.free_at = 0.0
        self.sent = self.dropped = 0

    def admit(self, pkt, now, heap, seq):
        start = max(now, self.free_at)
        if start - now > self.buffer:
            self.dropped += 1  # the router queue is full: tail drop
            return
        self.free_at = start + wire_bytes(pkt) * 8 / self.rate
        self.sent += 1
        heapq.heappush(heap, (self.free_at + self.delay, seq, self.dst, pkt))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ns_a"), ap.add_argument("addr_a")
    ap.add_argument("ns_b"), ap.add_argument("addr_b")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="one way")
    ap.add_argument("--rate-mbit", type=float, default=1000.0)
    ap.add_argument("--buffer-ms", type=float, default=50.0, help="queue before tail drop")
    a = ap.parse_args()

    fa, fb = open_tun(a.ns_a), open_tun(a.ns_b)
    for ns, addr in ((a.ns_a, a.addr_a), (a.ns_b, a.addr_b)):
        ip(ns, "link", "set", "lo", "up")
        ip(ns, "addr", "add", addr + "/30", "dev", DEV)
        ip(ns, "link", "set", DEV, "mtu", "1500", "up")
    rate, delay, buf = a.rate_mbit * 1e6, a.delay_ms / 1e3, a.buffer_ms / 1e3
    ways = {fa: Direction(fb, rate, delay, buf), fb: Direction(fa, rate, delay, buf)}
    sel = selectors.DefaultSelector()
    for fd in ways:
        sel.register(fd, selectors.EVENT_READ)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)

    heap, seq = [], 0
    while not stop:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, dst, pkt = heapq.heappop(heap)
            try:
                os.write(dst, pkt)
            except OSError:
                pass  # the device is going away or its queue is full: a lost packet
        timeout = max(0.0, heap[0][0] - now) if heap else 0.5
        for key, _ in sel.select(timeout):
            fd = key.fd
            for _ in range(64):
                try:
                    pkt = os.read(fd, 65536 + VNET_HDR)
                except BlockingIOError:
                    break
                seq += 1
                ways[fd].admit(pkt, time.monotonic(), heap, seq)
    sent = sum(w.sent for w in ways.values())
    dropped = sum(w.dropped for w in ways.values())
    print(f"linkemu: {sent} packets forwarded, {dropped} dropped", file=sys.stderr)


if __name__ == "__main__":
    main()
