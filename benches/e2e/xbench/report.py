"""Medians, pairwise ratios and the markdown tables written into docs/BENCHMARKS.md."""

import statistics

MB = 1e6
MIB = 1 << 20
BEGIN, END = "<!-- e2e-results:begin -->", "<!-- e2e-results:end -->"


def mbps(r):
    return r["bytes"] / r["seconds"] / MB


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def pair(a, b, fa, fb):
    """Median over repetitions of fa(a[i]) / fb(b[i]): ratios taken within one repetition."""
    return med([fa(x) / fb(y) for x, y in zip(a, b) if fb(y)])


def f(v, digits=0, unit=""):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{unit}"


def summarize(res, budget):
    s = {}
    seq = res.get("sequential")
    if seq:
        mount = seq["mount"]
        for state in ("cold", "hot", "warm"):
            s[f"mount_{state}"] = med([mbps(r[state]) for r in mount])
        for m in ("hf_xet", "curl", "local_disk", "tmpfs"):
            if m in seq:
                s[m] = med([mbps(r) for r in seq[m]])
        if "hf_xet" in seq:
            s["cold_vs_hf"] = pair(mount, seq["hf_xet"], lambda r: mbps(r["cold"]), mbps)
        if "tmpfs" in seq:
            s["hot_vs_tmpfs"] = pair(mount, seq["tmpfs"], lambda r: mbps(r["hot"]), mbps)
        s["warm_vs_cold"] = med([mbps(r["warm"]) / mbps(r["cold"]) for r in mount])
        s["seq_fetch_ratio"] = med([r["cold"]["fetched"] / r["cold"]["bytes"] for r in mount])
        s["warm_fetched"] = med([r["warm"]["fetched"] for r in mount])
    ld = res.get("loaders")
    if ld:
        s["mmap"] = med([mbps(r) for r in ld["mmap"]])
        s["plain"] = med([mbps(r) for r in ld["plain"]])
        s["mmap_vs_plain"] = pair(ld["mmap"], ld["plain"], mbps, mbps)
    tt = res.get("ttfb")
    if tt:
        s["ttfb_big_ms"] = med([r["cold_big"] * 1e3 for r in tt])
    fio = res.get("fio")
    if fio:
        rr = fio["cold"]["rand_read"]
        s["rand_fetch_ratio"] = med([r["fetched"] / r["io_bytes"] for r in rr if r["io_bytes"]])
    hwm = [r["vm_hwm"] for r in _mount_runs(res)]
    s["peak_rss"] = max(hwm) if hwm else None
    s["rss_budget"] = budget
    wan = res.get("wan")
    if wan:
        link = wan["rate_mbit"] * 1e6 / 8 / MB
        for m, runs in wan["runs"].items():
            s[f"wan_{m}"] = med([mbps(r["cold"] if m == "mount" else r) for r in runs])
        s["wan_link_mb"] = link
        s["wan_vs_link"] = s["wan_mount"] / link if s.get("wan_mount") else None
    return s


def _mount_runs(res):
    """Every daemon run that reported a peak RSS."""
    out = []
    for r in (res.get("sequential") or {}).get("mount", []):
        out += [r[k] for k in ("cold", "hot", "warm")]
    for runs in (res.get("loaders") or {}).values():
        out += runs
    for state in ("cold", "warm"):
        for runs in ((res.get("fio") or {}).get(state) or {}).values():
            out += runs
    for r in ((res.get("wan") or {}).get("runs") or {}).get("mount", []):
        out += [r["cold"]]
    return [r for r in out if "vm_hwm" in r]


def targets(s):
    """(target, measured, met) rows; None when not measured."""
    def row(name, value, ok):
        return (name, value, None if ok is None else ("met" if ok else "**missed**"))

    def cmp(v, fn):
        return None if v is None else fn(v)

    rows = [
        row("cold mount ≥ 1.5× hf_xet", f(s.get("cold_vs_hf"), 2, "×"),
            cmp(s.get("cold_vs_hf"), lambda v: v >= 1.5)),
        row("TTFB ≤ 20 ms (cold 1 GB file, open + 4 KiB)", f(s.get("ttfb_big_ms"), 1, " ms"),
            cmp(s.get("ttfb_big_ms"), lambda v: v <= 20)),
        row("warm ≥ 1 GB/s", f(s.get("mount_warm"), 0, " MB/s"),
            cmp(s.get("mount_warm"), lambda v: v >= 1000)),
        row("warm never slower than cold", f(s.get("warm_vs_cold"), 2, "×"),
            cmp(s.get("warm_vs_cold"), lambda v: v >= 1.0)),
        row("hot ≥ 0.8× tmpfs", f(s.get("hot_vs_tmpfs"), 2, "×"),
            cmp(s.get("hot_vs_tmpfs"), lambda v: v >= 0.8)),
        row("mmap ≥ 0.8× plain reads", f(s.get("mmap_vs_plain"), 2, "×"),
            cmp(s.get("mmap_vs_plain"), lambda v: v >= 0.8)),
        row("fetch efficiency ≤ 1.05 (sequential)", f(s.get("seq_fetch_ratio"), 3),
            cmp(s.get("seq_fetch_ratio"), lambda v: v <= 1.05)),
        row("peak RSS ≤ budget + 100 MiB",
            f"{f(_mib(s.get('peak_rss')), 0, ' MiB')} (budget {f(_mib(s['rss_budget']), 0)} MiB)",
            cmp(s.get("peak_rss"), lambda v: v <= s["rss_budget"] + 100 * MIB)),
        row("WAN ≥ 85 % of the link", f(_pct(s.get("wan_vs_link")), 0, " %"),
            cmp(s.get("wan_vs_link"), lambda v: v >= 0.85)),
    ]
    return rows


def _mib(v):
    return None if v is None else v / MIB


def _pct(v):
    return None if v is None else 100 * v


def markdown(res, s):
    """The generated part of docs/BENCHMARKS.md (between the markers)."""
    meta = res["meta"]
    L = [BEGIN, "", f"Run of {meta['date']} (`{meta['command']}`), xetfs `{meta['git']}`.", "",
         f"- Machine: {meta['machine'].get('cpu', '?')}, {meta['machine']['cpus']} vCPU, "
         f"{meta['machine'].get('mem_gib', '?')} GiB, kernel {meta['machine']['kernel']}; "
         f"load average {meta['load_start']:.1f} at start, {meta['load_end']:.1f} at the end "
         "(other agents share the machine).",
         f"- File: `{meta['file']}`, {meta['size'] / MB:,.0f} MB, {meta['tensors']} tensors "
         "(bf16-like weights); served by `xetfs serve` on 127.0.0.1 from its page cache.",
         f"- Mount: `--memory-cache {meta['memory_cache']}`, defaults otherwise "
         f"(read-ahead 4 MiB). {meta['reps']} alternating repetitions, medians; "
         "ratios are taken within a repetition.", ""]
    L += ["### Targets", "", "| target | measured | |", "|---|---|---|"]
    L += [f"| {a} | {b} | {c or 'not measured'} |" for a, b, c in targets(s)]
    seq = res.get("sequential")
    if seq:
        L += ["", "### Cold sequential read, warm and hot (MB/s, whole file)", "",
              "| method | MB/s | notes |", "|---|---|---|"]
        m = seq["mount"]
        L.append(f"| xetfs mount, cold (`dd bs=1M`) | {f(s['mount_cold'])} | fetched ÷ read "
                 f"{f(s['seq_fetch_ratio'], 3)}; mount ÷ hf_xet {f(s.get('cold_vs_hf'), 2)}× |")
        L.append(f"| xetfs mount, warm (disk cache, page cache dropped) | {f(s['mount_warm'])} |"
                 f" warm ÷ cold {f(s['warm_vs_cold'], 2)}×; network bytes during warm "
                 f"{f(s['warm_fetched'] / MB, 0)} MB; disk cache after cold "
                 f"{f(med([r['disk_cache_bytes'] for r in m]) / MB, 0)} MB |")
        L.append(f"| xetfs mount, hot (page cache) | {f(s['mount_hot'])} | hot ÷ tmpfs "
                 f"{f(s.get('hot_vs_tmpfs'), 2)}× |")
        names = {"hf_xet": "`hf_hub_download` (hf_xet 1.8.0), fresh HF_HOME",
                 "curl": "`curl -L` of the resolve URL (plain bytes, decoded by the server)",
                 "local_disk": "local copy on the VM disk, page cache dropped",
                 "tmpfs": "local copy on tmpfs (ceiling)"}
        for k, name in names.items():
            if k in seq:
                note = ""
                if k == "hf_xet":
                    note = (f"writes the file; peak RSS "
                            f"{f(med([r['max_rss'] for r in seq[k]]) / MIB, 0)} MiB")
                L.append(f"| {name} | {f(s[k])} | {note} |")
        drops = med([r["cold"]["disk_write_dropped"] for r in m])
        errs = max(r["warm"]["read_errors"] for r in m)
        L.append("")
        L.append(f"Engine counters (medians): cold `disk_write_dropped` {f(drops)}, warm "
                 f"`read_errors` (max) {errs}, warm reconstructions "
                 f"{f(med([r['warm']['reconstructions'] for r in m]))}.")
    tt = res.get("ttfb")
    if tt:
        L += ["", "### Time to first byte (ms, medians)", "", "| what | ms |", "|---|---|"]
        rows = [("first file in a fresh mount (repo lookup + listing + open + 4 KiB of a 1 MiB "
                 "Xet file)", "fresh_mount_small"),
                ("cold 1 GB file, repo already listed (open + 4 KiB)", "cold_big"),
                ("cold 1 MiB file, repo already listed", "cold_small"),
                ("re-open of the 1 GB file (same mount)", "reopen_big")]
        for name, k in rows:
            L.append(f"| {name} | {f(med([r[k] * 1e3 for r in tt]), 1)} |")
        ht = [r["header_tensor"] for r in tt]
        L.append(f"| safetensors header + `{ht[0]['tensor']}` "
                 f"({f(ht[0]['bytes'] / MB, 1)} MB) from a cold mount | "
                 f"{f(med([h['seconds'] * 1e3 for h in ht]), 0)} (fetched ÷ read "
                 f"{f(med([h['fetched'] / h['bytes'] for h in ht]), 2)}) |")
        L.append(f"| curl, first 4 KiB (`-r 0-4095`, server decodes) | "
                 f"{f(med([r['curl_4k']['seconds'] * 1e3 for r in tt]), 1)} |")
    ld = res.get("loaders")
    if ld:
        L += ["", "### safetensors loading through the mount (cold each)", "",
              "| loader | MB/s | s | peak RSS of the daemon |", "|---|---|---|---|"]
        for k, name in (("mmap", "`safe_open` + `get_tensor` (mmap)"),
                        ("plain", "`f.read()` + `safetensors.numpy.load`")):
            L.append(f"| {name} | {f(s[k])} | {f(med([r['seconds'] for r in ld[k]]), 2)} | "
                     f"{f(med([r['vm_hwm'] for r in ld[k]]) / MIB, 0)} MiB |")
        L.append(f"| mmap ÷ plain | {f(s['mmap_vs_plain'], 2)}× | | |")
    fio = res.get("fio")
    if fio:
        L += ["", "### fio (`benches/e2e/fio/*.fio`, ioengine=sync, buffered unless noted)", "",
              "| job | cold MB/s | warm MB/s | cold fetched ÷ read | peak RSS (MiB) |",
              "|---|---|---|---|---|"]
        for job in fio["cold"]:
            c, w = fio["cold"][job], fio["warm"][job]
            if job == "ttfb":
                L.append(f"| ttfb (1 B, O_DIRECT, 10 opens): mean / max latency ms | "
                         f"{f(med([r['clat_mean_ms'] for r in c]), 2)} / "
                         f"{f(med([r['clat_max_ms'] for r in c]), 1)} | "
                         f"{f(med([r['clat_mean_ms'] for r in w]), 2)} / "
                         f"{f(med([r['clat_max_ms'] for r in w]), 1)} | | |")
                continue
            ratio = med([r["fetched"] / r["io_bytes"] for r in c if r["io_bytes"]])
            L.append(f"| {job} | {f(med([r['bw'] / MB for r in c]))} | "
                     f"{f(med([r['bw'] / MB for r in w]))} | {f(ratio, 2)} | "
                     f"{f(max(r['vm_hwm'] for r in c + w) / MIB, 0)} |")
        L.append("")
        L.append(f"Warm runs share one disk cache filled by a cold `dd` "
                 f"({f(fio['warm_cache_bytes'] / MB, 0)} MB after filling).")
    eng = res.get("engine")
    if eng:
        L += ["", "### Read engine without FUSE (`cargo bench --bench engine`, same server and "
              "file)", "", "| case | MB/s | fetched ÷ read | CPU s per GB (whole process) | "
              "ms per read | disk puts dropped |", "|---|---|---|---|---|---|"]
        for k, v in eng.items():
            L.append(f"| {k} | {f(v['mb_per_s'])} | {f(v['fetch_ratio'], 3)} | "
                     f"{f(v['cpu_s_per_gb'], 2)} | {f(v['ms_per_read'], 2)} | "
                     f"{f(v.get('disk_write_dropped'))} |")
    wan = res.get("wan")
    if wan:
        L += ["", f"### WAN: {wan['rtt_ms']} ms RTT, {wan['rate_mbit']:.0f} Mbit/s "
              f"({s['wan_link_mb']:.0f} MB/s; Ethernet framing caps goodput at ~94 %)", "",
              "| method | MB/s | ÷ link |", "|---|---|---|"]
        for m in wan["runs"]:
            v = s.get(f"wan_{m}")
            L.append(f"| {m} | {f(v)} | {f(_pct(v / s['wan_link_mb'] if v else None), 0)} % |")
        L.append("")
        L.append("Link: " + ", ".join(f"{k} `{v}`" for k, v in wan["sysctls"].items()) + ".")
    L += ["", END]
    return "\n".join(L)


def write_into(doc_path, block):
    """Replaces the generated block in the doc (or appends it under the e2e heading)."""
    with open(doc_path) as fh:
        text = fh.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## End to end (generated)\n\n" + block + "\n"
    with open(doc_path, "w") as fh:
        fh.write(text)
