#!/usr/bin/env python3
"""Prints the figures of bench/results/<db>-<requests>.json as the Markdown tables of
bench/RESULTS.md, each against its target.

    bench/report.py bench/results/sqlite-1000000.json
"""

import json
import sys


def verdict(met):
    return "met" if met else "**missed**"


def main(path):
    r = json.load(open(path))
    m = r["machine"]
    print(f"### {r['db']}, {r['requests']:,} requests ({r['date']})\n")
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}.\n")
    g = r["generate"]
    target = (f"target 50,000/s: {verdict(g['requests_per_second'] >= 50_000)}"
              if r["db"] == "sqlite" else "the target is set on SQLite only")
    print(f"Generation: {g['seconds']:.1f} s, {g['requests_per_second']:,.0f} requests/s "
          f"({target}).\n")
    print("| Page (wrk, 32 connections) | req/s | p50 ms | p99 ms | × /healthz | × static | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, f in r["list_pages"].items():
        target = ""
        if name not in ("healthz", "static_file"):
            target = verdict(f["ratio_to_healthz"] >= 0.25 and f["p99_ms"] < 50)
        print(f"| {name} | {f['rps']:,.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | "
              f"{f['ratio_to_healthz']:.3f} | {f['ratio_to_static']:.3f} | {target} |")
    s = r["submission"]
    print(f"\nSubmission of three 5 MB files: {s['submission_mb_s']:.1f} MB/s against dd "
          f"{s['dd_fdatasync_mb_s']:.1f} MB/s = {s['ratio_to_dd']:.2f} × dd (target 0.5: "
          f"{verdict(s['ratio_to_dd'] >= 0.5)}; dd writing where a deleted file was: "
          f"{s.get('dd_rewrite_mb_s', float('nan')):.1f} MB/s); memory growth with 20 in flight "
          f"{s['growth_mib']:.1f} MiB (target < 32: {verdict(s['growth_mib'] < 32)}), from "
          f"{s['rss_before_kib'] / 1024:.0f} MiB on a restarted portal. The portal's RSS was "
          f"{r['rss_after_list_pages_mib']:.0f} MiB after the list pages and "
          f"{s['rss_after_timed_submissions_kib'] / 1024:.0f} MiB after the timed submissions.\n")
    x = r["sabana"]
    print(f"Sábana, {x['rows']:,} rows: CSV {x['csv']['seconds']:.2f} s = "
          f"{x['csv']['rows_per_second']:,.0f} rows/s (target 300,000: "
          f"{verdict(x['csv']['rows_per_second'] >= 300_000)}), server peak "
          f"{x['csv']['server_peak_mib']:.0f} MiB; XLSX {x['xlsx']['seconds']:.2f} s against the bare "
          f"writer's {x['bare_xlsx']['seconds']:.2f} s = {x['xlsx']['ratio_to_bare']:.2f} × (target "
          f"1.3: {verdict(x['xlsx']['ratio_to_bare'] <= 1.3)}), server peak "
          f"{x['xlsx']['server_peak_mib']:.0f} MiB (target < 150: "
          f"{verdict(x['xlsx']['server_peak_mib'] < 150)}).\n")
    c = r["charts"]
    for name in ("charts", "compliance"):
        print(f"- {name}: time to first byte {c[name]['ttfb_ms_median']:.1f} ms (target < 100: "
              f"{verdict(c[name]['ttfb_ms_median'] < 100)})")
    st = r["start"]
    print(f"- cold start {st['cold_start_ms_median']:.0f} ms (target < 300: "
          f"{verdict(st['cold_start_ms_median'] < 300)}); idle memory {st['idle_rss_mib']:.1f} MiB "
          f"(target < 40: {verdict(st['idle_rss_mib'] < 40)})\n")


if __name__ == "__main__":
    main(sys.argv[1])
