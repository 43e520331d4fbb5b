#!/usr/bin/env python3
"""The baseline a user would otherwise run: PyTorch + transformers (SDPA attention, bf16) on the same
random-weight model geometry as Headroom's `bench --random`. Per context length: prefill time (one
forward over the whole prompt, logits of the last position only), median decode latency with the
dynamic KV cache, and peak device memory; stops at the first out-of-memory and records it.

Run on the GPU machine (torch 2.11, transformers 5.x there):
  python3 src/bench/torch_baseline.py --geometry llama3-8b --contexts 4096,32768,131072 --out base.json
"""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

GEOMETRIES = {
    # name: (layers, hidden, intermediate, heads, kv_heads, vocab, tied)
    "llama-1b": (16, 2048, 8192, 32, 8, 128256, True),
    "llama3-8b": (32, 4096, 14336, 32, 8, 128256, False),
    "llama2-7b": (32, 4096, 11008, 32, 32, 32000, False),
}


def matmul_rate(m=4096, n=8192, k=8192, reps=20):
    """The card's bf16 matmul rate through cuBLAS (torch.matmul, (m×k)·(k×n), best of reps): the
    prefill floor's rate; the shape is the one bench times our gemm_bf16_tc on."""
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    y = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    best = float("inf")
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        torch.matmul(x, y)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    del x, y
    return 2.0 * m * n * k / best / 1e12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--geometry", required=True, choices=sorted(GEOMETRIES))
    ap.add_argument("--contexts", required=True, help="comma-separated prompt lengths, ascending")
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    layers, hidden, inter, heads, kv, vocab, tied = GEOMETRIES[a.geometry]
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
                      tie_word_embeddings=tied, max_position_embeddings=2 << 20, rope_theta=500000.0,
                      rms_norm_eps=1e-5)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    results = {"framework": f"torch {torch.__version__}, transformers (SDPA, bf16, dynamic cache)",
               "device": torch.cuda.get_device_name(0), "geometry": a.geometry, "weight_bytes": weights,
               "runs": []}
    results["matmul_bf16_tflops"] = matmul_rate()
    print(json.dumps({"matmul_bf16_tflops": results["matmul_bf16_tflops"]}), flush=True)
    # one untimed prefill and a few decode steps first: the first forward pays for loading kernels and
    # creating library handles, which a 32K-first context list otherwise charged to its first prefill
    # (7B at 32K: 2.88 s first, 1.46 s after a 4K context)
    with torch.no_grad():
        warm = model(input_ids=torch.randint(0, vocab, (1, 2048), device="cuda"), use_cache=True, logits_to_keep=1)
        token = warm.logits[:, -1:].argmax(-1)
        for _ in range(4):
            warm = model(input_ids=token, past_key_values=warm.past_key_values, use_cache=True)
            token = warm.logits[:, -1:].argmax(-1)
        torch.cuda.synchronize()
        del warm, token
    results["warm_up"] = "one untimed 2048-token prefill and 4 decode steps before the first timed context"
    for n in [int(x) for x in a.contexts.split(",")]:
        run = {"context": n}
        try:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            ids = torch.randint(0, vocab, (1, n), device="cuda")
            with torch.no_grad():
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
                torch.cuda.synchronize()
                run["prefill_seconds"] = time.perf_counter() - t0
                past = out.past_key_values
                token = out.logits[:, -1:].argmax(-1)
                times = []
                for _ in range(a.decode_tokens):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    out = model(input_ids=token, past_key_values=past, use_cache=True)
                    token = out.logits[:, -1:].argmax(-1)
                    torch.cuda.synchronize()
                    times.append(time.perf_counter() - t0)
                    past = out.past_key_values
            times.sort()
            run["decode_median_seconds_per_token"] = times[len(times) // 2]
            run["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
            del out, past, ids
        except torch.OutOfMemoryError as e:
            run["out_of_memory"] = str(e).splitlines()[0][:200]
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
            break
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
