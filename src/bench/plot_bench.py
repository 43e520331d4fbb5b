#!/usr/bin/env python3
"""Plots from the raw bench JSON (no plotting library needed: writes SVG by hand).

  python3 src/bench/plot_bench.py COMMIT TORCH_JSON OUT_DIR [GEOMETRY]
  python3 src/bench/plot_bench.py prefill COMMIT TORCH_JSON OUT_DIR [GEOMETRY [KERNEL]]

GEOMETRY is 8b (default, Llama-3-8B) or 7b (Llama-2-7B); TORCH_JSON may be "-" (no baseline).
Reads src/docs/bench/raw/cuda-h100-COMMIT-GEOMETRY-{full,duo}-*.json and the PyTorch baseline JSON;
writes OUT_DIR/decode-GEOMETRY.svg (decode latency and its bytes floor vs context, log-log) and
OUT_DIR/memory-GEOMETRY.svg (KV bytes vs context; the card's memory less the weights as a line).
The prefill form reads every cuda-h100-COMMIT-*.json prefilled from position 0 (of the geometry: the
8B runs have 8 KV heads, the 7B ones 32) and writes OUT_DIR/prefill-GEOMETRY.svg: prefill time vs
prompt length, full and Duo, their FLOP floors at the matmul rate the PyTorch step measured, and
PyTorch's prefill; KERNEL keeps only the runs of that prefill attention kernel (e.g. flash_prefill_ws128),
and runs named base-* or alt-* (an earlier build's) are left out.
"""
import glob
import json
import math
import os
import sys

W, H, L, R, T, B = 640, 400, 70, 170, 30, 50


def axes(xs, ys, xlabel, ylabel, title):
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    y0, y1 = math.log10(min(ys)), math.log10(max(ys))
    y0, y1 = math.floor(y0), math.ceil(y1)
    fx = lambda x: L + (math.log2(x) - x0) / max(x1 - x0, 1e-9) * (W - L - R)
    fy = lambda y: H - B - (math.log10(y) - y0) / max(y1 - y0, 1e-9) * (H - T - B)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W/2}" y="18" text-anchor="middle" font-size="13">{title}</text>',
           f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
           f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">{xlabel}</text>',
           f'<text x="14" y="{(T+H-B)/2}" transform="rotate(-90 14 {(T+H-B)/2})" text-anchor="middle">{ylabel}</text>']
    for x in sorted(set(xs)):
        label = f"{x // 1024}K" if x < 1_000_000 else f"{x / 1e6:.1f}M"
        out.append(f'<text x="{fx(x)}" y="{H-B+15}" text-anchor="middle">{label}</text>')
    for e in range(y0, y1 + 1):
        out.append(f'<line x1="{L-4}" y1="{fy(10**e)}" x2="{W-R}" y2="{fy(10**e)}" stroke="#ddd"/>')
        out.append(f'<text x="{L-6}" y="{fy(10**e)+4}" text-anchor="end">{10**e:g}</text>')
    return out, fx, fy


def series(out, fx, fy, pts, color, label, idx, dash=""):
    pts = sorted(pts)
    path = " ".join(f"{'M' if i == 0 else 'L'}{fx(x):.1f},{fy(y):.1f}" for i, (x, y) in enumerate(pts))
    out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
    for x, y in pts:
        out.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="{color}"/>')
    ly = T + 14 + 16 * idx
    out.append(f'<line x1="{W-R+10}" y1="{ly}" x2="{W-R+30}" y2="{ly}" stroke="{color}" stroke-width="2" '
               f'stroke-dasharray="{dash}"/>')
    out.append(f'<text x="{W-R+34}" y="{ly+4}">{label}</text>')


def main():
    commit, torch_json, out_dir = sys.argv[1:4]
    geometry = sys.argv[4] if len(sys.argv) > 4 else "8b"
    title = {"8b": "Llama-3-8B", "7b": "Llama-2-7B"}[geometry]
    runs = {"full": [], "duo": []}
    share = 1.0
    weights_gib = 15
    for f in glob.glob(f"src/docs/bench/raw/cuda-h100-{commit}-{geometry}-*.json"):
        d = json.load(open(f))
        if not d.get("fits", True) or "decode_median_seconds_per_token" not in d:
            continue
        kept, total = (int(v) for v in d["retrieval_heads"].split(" of "))
        kind = "full" if kept == total else "duo"
        share = min(share, kept / total)
        weights_gib = d["parameters"] * 2 / 2**30
        runs[kind].append(d)
    base = json.load(open(torch_json)) if torch_json != "-" else {"runs": [], "weight_bytes": 0}
    torch_ok = [r for r in base["runs"] if "decode_median_seconds_per_token" in r]
    xs, ys = [], []
    for k in runs:
        for d in runs[k]:
            xs.append(d["decode_context"]); ys += [d["decode_median_seconds_per_token"] * 1e3,
                                                   d["decode_floor_seconds_per_token"] * 1e3]
    for r in torch_ok:
        xs.append(r["context"]); ys.append(r["decode_median_seconds_per_token"] * 1e3)
    out, fx, fy = axes(xs, ys, "context (tokens)", "ms per token", f"Decode, {title} geometry, H100 (batch 1)")
    colors = {"full": "#1f77b4", "duo": "#d62728"}
    i = 0
    for k, name in (("full", "Headroom full"), ("duo", f"Headroom Duo {share:.0%}")):
        if runs[k]:
            series(out, fx, fy, [(d["decode_context"], d["decode_median_seconds_per_token"] * 1e3) for d in runs[k]],
                   colors[k], name, i); i += 1
            series(out, fx, fy, [(d["decode_context"], d["decode_floor_seconds_per_token"] * 1e3) for d in runs[k]],
                   colors[k], name.replace("Headroom", "floor"), i, "4,3"); i += 1
    if torch_ok:
        series(out, fx, fy, [(r["context"], r["decode_median_seconds_per_token"] * 1e3) for r in torch_ok], "#555",
               "PyTorch (SDPA)", i)
    oom = [r["context"] for r in base["runs"] if "out_of_memory" in r]
    out.append("</svg>")
    os.makedirs(out_dir, exist_ok=True)
    open(os.path.join(out_dir, f"decode-{geometry}.svg"), "w").write("\n".join(out))

    xs, ys = [], []
    pts = {"full": [], "duo": []}
    for k in runs:
        for d in runs[k]:
            kv = d["decode_bytes_per_token_kv"] / 2**30
            pts[k].append((d["decode_context"], kv)); xs.append(d["decode_context"]); ys.append(kv)
    tpts = [(r["context"], (r["peak_memory_bytes"] - base["weight_bytes"]) / 2**30) for r in torch_ok]
    xs += [x for x, _ in tpts] + oom; ys += [y for _, y in tpts] + [80]
    pts = {k: sorted(v) for k, v in pts.items()}
    mtitle = "KV memory (Headroom)" + (" and PyTorch peak less weights" if tpts else f", {title} geometry")
    out, fx, fy = axes(xs, ys, "context (tokens)", "GiB", mtitle)
    series(out, fx, fy, pts["full"], colors["full"], "Headroom full KV", 0)
    series(out, fx, fy, pts["duo"], colors["duo"], "Headroom Duo KV", 1)
    if tpts:
        series(out, fx, fy, tpts, "#555", "PyTorch peak - weights", 2)
    series(out, fx, fy, [(min(xs), 80 - weights_gib), (max(xs), 80 - weights_gib)], "#999", "80 GB - weights", 3,
           "2,2")
    for x in oom:
        out.insert(-1, f'<text x="{fx(x):.1f}" y="{fy(35):.1f}" text-anchor="middle" fill="#555">PyTorch OOM</text>')
    out.append("</svg>")
    open(os.path.join(out_dir, f"memory-{geometry}.svg"), "w").write("\n".join(out))


def prefill_main():
    commit, torch_json, out_dir = sys.argv[2:5]
    geometry = sys.argv[5] if len(sys.argv) > 5 else "8b"
    kernel = sys.argv[6] if len(sys.argv) > 6 else None
    title, kv_heads = {"8b": ("Llama-3-8B", 8), "7b": ("Llama-2-7B", 32)}[geometry]
    base = json.load(open(torch_json))
    rate = base["matmul_bf16_tflops"] * 1e12
    runs = {"full": [], "duo": []}
    share = 1.0
    for f in glob.glob(f"src/docs/bench/raw/cuda-h100-{commit}-*.json"):
        d = json.load(open(f))
        if "prefill_seconds" not in d or d.get("prefill_after", 0) != 0 or "retrieval_heads" not in d:
            continue
        if f"-{commit}-base-" in f or f"-{commit}-alt-" in f or kernel and d.get("prefill_attention") != kernel:
            continue
        if d.get("decode_context", 0) > d["prompt_tokens"] + 64:  # a decode run's prompt into synthetic KV
            continue
        kept, total = (int(v) for v in d["retrieval_heads"].split(" of "))
        if total != 32 * kv_heads:  # retrieval heads of all layers
            continue
        share = min(share, kept / total)
        runs["full" if kept == total else "duo"].append(d)
    torch_pts = [(r["context"], r["prefill_seconds"]) for r in base["runs"] if "prefill_seconds" in r]
    pts = {k: sorted((d["prompt_tokens"], d["prefill_seconds"]) for d in v) for k, v in runs.items()}
    floors = {k: sorted((d["prompt_tokens"], d["prefill_flops"] / rate) for d in v) for k, v in runs.items()}
    xs = [x for v in pts.values() for x, _ in v] + [x for x, _ in torch_pts]
    ys = [y for v in list(pts.values()) + list(floors.values()) for _, y in v] + [y for _, y in torch_pts]
    out, fx, fy = axes(xs, ys, "prompt (tokens)", "seconds", f"Prefill, {title} geometry, H100 ({commit})")
    colors = {"full": "#1f77b4", "duo": "#d62728"}
    i = 0
    for k, name in (("full", "Headroom full"), ("duo", f"Headroom Duo {share:.0%}")):
        if pts[k]:
            series(out, fx, fy, pts[k], colors[k], name, i); i += 1
            series(out, fx, fy, floors[k], colors[k], name.replace("Headroom", "floor"), i, "4,3"); i += 1
    if torch_pts:
        series(out, fx, fy, torch_pts, "#555", "PyTorch (SDPA)", i)
    out.append("</svg>")
    os.makedirs(out_dir, exist_ok=True)
    open(os.path.join(out_dir, f"prefill-{geometry}.svg"), "w").write("\n".join(out))


if __name__ == "__main__":
    prefill_main() if sys.argv[1] == "prefill" else main()
