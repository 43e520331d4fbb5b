#!/usr/bin/env python3
"""Summarises an ncu raw CSV (ncu --csv --page raw --metrics gpu__time_duration.sum,dram__bytes_read.sum,...)
per kernel and grid: launches, median duration, median DRAM bytes read and the read rate.

    python3 src/bench/ncu_kernel_table.py ncu.csv [--per N]

--per N divides the summed durations by N (e.g. the decode steps the profiled launches cover).
"""
import csv
import statistics
import sys


def num(s):
    """ncu prints large numbers with thousands separators."""
    return float((s or "0").replace(",", ""))


def main():
    path = sys.argv[1]
    per = float(sys.argv[sys.argv.index("--per") + 1]) if "--per" in sys.argv else 1.0
    rows = []
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]
    reader = csv.DictReader(lines)
    for r in reader:
        if not r.get("ID", "").isdigit():
            continue  # the units row
        rows.append(r)
    groups = {}
    for r in rows:
        key = (r["Kernel Name"].split("(")[0], r["Grid Size"])
        groups.setdefault(key, []).append(r)
    total = 0.0
    print("%-34s %-16s %6s %10s %10s %9s %10s" % ("kernel", "grid", "n", "median us", "sum us/N", "MB read", "GB/s"))
    for (name, grid), rs in sorted(groups.items(), key=lambda kv: -sum(num(x["gpu__time_duration.sum"]) for x in kv[1])):
        d = [num(x["gpu__time_duration.sum"]) / 1e3 for x in rs]  # ns -> us
        b = [num(x.get("dram__bytes_read.sum")) for x in rs]
        s = sum(d) / per
        total += s
        md, mb = statistics.median(d), statistics.median(b)
        print("%-34s %-16s %6d %10.2f %10.1f %9.2f %10.0f" % (name[:34], grid, len(rs), md, s, mb / 1e6,
                                                            mb / (md * 1e3) if md else 0))
    print("total us per N: %.1f" % total)


if __name__ == "__main__":
    main()
