#!/usr/bin/env python3
"""Trains Headroom's shipped passkey model: a small Llama (GQA) with genuine retrieval heads, its own
BPE tokenizer (digits one per token), the DuoAttention pattern found by the reference identification
algorithm, a held-out passkey evaluation set and a needle-in-a-haystack grid.

Runs on the GPU machine (PyTorch + transformers + tokenizers):

    python3 src/reference/train_passkey_model.py --out /tmp/passkey [--smoke]

and writes under --out:

    model/      config.json, generation_config.json, model.safetensors (bf16), tokenizer.json,
                tokenizer_config.json
    pattern/    config.json, full_attention_heads.tsv (the reference's format)
    eval/passkey-heldout.jsonl    {"prompt", "answer"} lines, never seen in training
    eval/niah-grid.jsonl          {"prompt", "answer", "length", "depth"} lines
    report.json                   training curve, identification curve, accuracies in PyTorch

The task: a haystack of sentences from a word-level Markov chain (the local structure streaming heads
can learn) with one to three needles "the secret code of <colour> is <5 digits>." and, at the end, a
question for one of them. Only retrieval over long distances answers it.
"""
import argparse
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "silver", "golden",
           "brown", "pink"]
SINK, RECENT = 8, 32


class Haystack:
    """Sentences from a first-order word-level Markov chain over generated pseudo-words."""

    def __init__(self, seed=7, words=300):
        rng = random.Random(seed)
        syll = ["ba", "ko", "ri", "ten", "mu", "sel", "da", "vo", "lin", "pa", "ro", "ne", "ti", "gar", "fu",
                "mo", "sa", "el", "dor", "ka", "wi", "hem", "lu", "zo"]
        vocab = set()
        while len(vocab) < words:
            vocab.add("".join(rng.choice(syll) for _ in range(rng.randint(1, 3))))
        self.words = sorted(vocab) + ["the", "a", "and", "with", "under", "over", "near"]
        self.next = {w: rng.sample(self.words, 6) for w in self.words}
        self.weights = [0.4, 0.2, 0.15, 0.1, 0.1, 0.05]

    def token_count(self, tok, sentence):
        """Approximate tokens of ' ' + sentence: per-word counts (cached) plus the full stop."""
        if not hasattr(self, "_counts"):
            self._counts = {w: len(tok.encode(" " + w, add_special_tokens=False).ids) for w in self.words}
        return sum(self._counts[w] for w in sentence[:-1].split(" ")) + 1

    def sentence(self, rng):
        w = rng.choice(self.words)
        out = [w]
        for _ in range(rng.randint(4, 12)):
            w = rng.choices(self.next[w], self.weights)[0]
            out.append(w)
        return " ".join(out) + "."


def needle(colour, code):
    return f"the secret code of {colour} is {code}."


def question(colour):
    return f" what is the secret code of {colour}? the secret code of {colour} is"


class SentencePool:
    """Pre-drawn haystack sentences with their approximate token counts, so that building a batch
    costs list look-ups instead of Markov-chain draws. Separate pools (seeds) for training and
    evaluation keep the evaluation haystacks unseen."""

    def __init__(self, hay, tok, seed, size):
        rng = random.Random(seed)
        self.sentences = [hay.sentence(rng) for _ in range(size)]
        self.counts = [hay.token_count(tok, s) for s in self.sentences]

    def draw(self, rng):
        i = rng.randrange(len(self.sentences))
        return self.sentences[i], self.counts[i]


def make_sample(rng, pool, target_tokens, depth=None, needles=None):
    """Haystack of about target_tokens tokens with 1-3 needles; returns (prompt, answer)."""
    n = needles or rng.randint(1, 3)
    colours = rng.sample(COLOURS, n)
    codes = ["".join(rng.choice("0123456789") for _ in range(5)) for _ in range(n)]
    sentences, count = [], 0
    while count < target_tokens:
        sentence, tokens = pool.draw(rng)
        sentences.append(sentence)
        count += tokens
    asked = rng.randrange(n)
    for i in range(n):
        d = depth if (depth is not None and i == asked) else rng.uniform(0.05, 0.95)
        sentences.insert(round(d * len(sentences)), needle(colours[i], codes[i]))
    return " ".join(sentences) + question(colours[asked]), codes[asked]


def build_tokenizer(hay, seed):
    rng = random.Random(seed)
    corpus = [" ".join(hay.sentence(rng) for _ in range(5)) for _ in range(3000)]
    corpus += [needle(c, "0123456789") + question(c) for c in COLOURS for _ in range(5)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)])])
    return tok


def encode_training(tok, prompt, answer, eos):
    """Ids of BOS + prompt + ' ' + answer + '.' + EOS and per-token loss weights (answer heavy)."""
    p = tok.encode(prompt).ids
    a = tok.encode(" " + answer + ".", add_special_tokens=False).ids + [eos]
    ids = p + a
    weights = [0.1] * len(p) + [1.0] * len(a)
    return ids, weights


def batch_tensors(items, pad, device):
    T = max(len(i) for i, _ in items)
    ids = torch.full((len(items), T), pad, dtype=torch.long)
    w = torch.zeros((len(items), T))
    for b, (i, ws) in enumerate(items):
        ids[b, :len(i)] = torch.tensor(i)
        w[b, :len(ws)] = torch.tensor(ws)
    return ids.to(device), w.to(device)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def duo_forward(model, ids, gates=None, sink=SINK, recent=RECENT):
    """Forward pass with DuoAttention mixing: per (layer, KV head) gate g, attention output =
    g * full + (1 - g) * streaming (sink + recent window). gates=None is plain full attention."""
    m, cfg = model.model, model.config
    B, T = ids.shape
    H, KV = cfg.num_attention_heads, cfg.num_key_value_heads
    D = cfg.hidden_size // H
    G = H // KV
    x = m.embed_tokens(ids)
    pos = torch.arange(T, device=ids.device)[None].expand(B, T)
    cos, sin = m.rotary_emb(x, pos)
    cos, sin = cos[:, None], sin[:, None]
    i = torch.arange(T, device=ids.device)[:, None]
    j = torch.arange(T, device=ids.device)[None, :]
    stream_mask = (j <= i) & ((j < sink) | (j > i - recent))
    for l, layer in enumerate(m.layers):
        h = layer.input_layernorm(x)
        a = layer.self_attn
        q = a.q_proj(h).view(B, T, H, D).transpose(1, 2)
        k = a.k_proj(h).view(B, T, KV, D).transpose(1, 2)
        v = a.v_proj(h).view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(G, dim=1)
        v = v.repeat_interleave(G, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if gates is not None:
            st = F.scaled_dot_product_attention(q, k, v, attn_mask=stream_mask)
            g = gates[l].repeat_interleave(G)[None, :, None, None].to(out.dtype)
            out = g * out + (1 - g) * st
        x = x + a.o_proj(out.transpose(1, 2).reshape(B, T, H * D))
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    hidden = m.norm(x)
    return hidden, model.lm_head(hidden)


@torch.no_grad()
def greedy_accuracy(model, tok, samples, gates=None, max_new=8):
    correct = 0
    for prompt, answer in samples:
        ids = torch.tensor([tok.encode(prompt).ids], device="cuda")
        for _ in range(max_new):
            _, logits = duo_forward(model, ids, gates)
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        text = tok.decode(ids[0, -max_new:].tolist(), skip_special_tokens=True)
        correct += text.strip().startswith(answer)
    return correct / len(samples)


def binarize(gates, sparsity):
    flat = gates.flatten()
    n_stream = round(sparsity * flat.numel())
    order = sorted(range(flat.numel()), key=lambda idx: (float(flat[idx]), idx))
    mask = torch.ones_like(flat)
    for idx in order[:n_stream]:
        mask[idx] = 0
    return mask.view_as(gates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true", help="a few steps of everything, to check the pipeline")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--id-steps", type=int, default=400)
    args = ap.parse_args()
    steps = 30 if args.smoke else args.steps
    id_steps = 10 if args.smoke else args.id_steps
    torch.manual_seed(0)
    rng = random.Random(1)
    hay = Haystack()
    tok = build_tokenizer(hay, 2)
    bos, eos, pad = tok.token_to_id("<s>"), tok.token_to_id("</s>"), tok.token_to_id("<pad>")
    pool = SentencePool(hay, tok, seed=3, size=2000 if args.smoke else 100000)
    eval_pool = SentencePool(hay, tok, seed=4, size=2000 if args.smoke else 20000)
    os.makedirs(f"{args.out}/model", exist_ok=True)
    os.makedirs(f"{args.out}/pattern", exist_ok=True)
    os.makedirs(f"{args.out}/eval", exist_ok=True)
    report = {"script": "src/reference/train_passkey_model.py", "smoke": args.smoke, "sink": SINK, "recent": RECENT}

    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=256, intermediate_size=768,
                      num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                      max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
                      bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warm) * 0.5 *
                                              (1 + math.cos(math.pi * min(1.0, s / steps))))
    t0 = time.time()
    curve = []
    batch = 48
    for step in range(steps):
        frac = min(1.0, step / (0.5 * steps))
        max_chars = int(1200 + (4000 - 1200) * frac)
        items = []
        for _ in range(batch):
            chars = rng.randint(100, max_chars)
            prompt, answer = make_sample(rng, pool, max(8, chars // 6))
            items.append(encode_training(tok, prompt, answer, eos))
        ids, w = batch_tensors(items, pad, "cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(ids).logits
        ce = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1),
                             reduction="none").view(ids.shape[0], -1)
        wt = w[:, 1:]
        answer = (wt == 1.0).float()
        haystack = ((wt > 0) & (wt < 1.0)).float()
        answer_ce = (ce * answer).sum() / answer.sum()
        loss = answer_ce + 0.1 * (ce * haystack).sum() / haystack.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                hit = (logits[:, :-1].argmax(-1) == ids[:, 1:]).float()
                answer_acc = float((hit * answer).sum() / answer.sum())
            curve.append({"step": step, "loss": float(loss), "answer_ce": float(answer_ce),
                          "answer_token_accuracy": answer_acc, "max_chars": max_chars,
                          "seconds": time.time() - t0})
            print(f"train step {step} loss {float(loss):.4f} answer ce {float(answer_ce):.4f} "
                  f"answer tok acc {answer_acc:.3f} max_chars {max_chars} {time.time() - t0:.0f}s", flush=True)
    report["loss"] = "mean CE of answer tokens + 0.1 * mean CE of haystack tokens"
    report["train"] = {"steps": steps, "batch": batch, "seconds": time.time() - t0, "curve": curve}
    model.eval()

    # store in bf16, then evaluate exactly what is shipped
    model = model.to(torch.bfloat16)
    model.save_pretrained(f"{args.out}/model")
    tok.save(f"{args.out}/model/tokenizer.json")
    with open(f"{args.out}/model/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "pad_token": "<pad>", "model_max_length": 2048, "clean_up_tokenization_spaces": False}, f, indent=2)
    model = model.float()
    for p in model.parameters():
        p.requires_grad_(False)

    # the manual DuoAttention forward must equal transformers' forward with all gates = 1
    check_ids = torch.tensor([tok.encode(make_sample(rng, pool, 200)[0]).ids], device="cuda")
    with torch.no_grad():
        ref = model(check_ids).logits
        ours = duo_forward(model, check_ids, torch.ones(cfg.num_hidden_layers, cfg.num_key_value_heads,
                                                          device="cuda"))[1]
    report["manual_forward_max_abs_diff"] = float((ref - ours).abs().max())
    print("manual forward vs transformers: max |diff|", report["manual_forward_max_abs_diff"], flush=True)

    # identification: frozen model, gates per (layer, KV head), distillation on answer positions
    gates = torch.ones(cfg.num_hidden_layers, cfg.num_key_value_heads, device="cuda", requires_grad=True)
    gopt = torch.optim.Adam([gates], lr=0.02)
    gwarm = max(1, id_steps // 10)
    gsched = torch.optim.lr_scheduler.LambdaLR(gopt, lambda s: min(1, (s + 1) / gwarm) *
                                               max(0.0, 1 - s / id_steps))
    id_curve = []
    t1 = time.time()
    for step in range(id_steps):
        prompt, answer = make_sample(rng, pool, rng.randint(250, 700), needles=3)
        ids, _ = encode_training(tok, prompt, answer, eos)
        n_prompt = len(tok.encode(prompt).ids)
        x = torch.tensor([ids], device="cuda")
        q_len = len(tok.encode(question("red"), add_special_tokens=False).ids)
        sel = slice(n_prompt - q_len, len(ids))  # question and answer positions
        with torch.no_grad():
            teacher, _ = duo_forward(model, x)
        student, _ = duo_forward(model, x, gates)
        distill = F.mse_loss(student[0, sel], teacher[0, sel])
        reg = gates.mean()
        loss = distill + 0.05 * reg
        gopt.zero_grad()
        loss.backward()
        gopt.step()
        gsched.step()
        with torch.no_grad():
            gates.clamp_(0, 1)
        if step % 25 == 0 or step == id_steps - 1:
            id_curve.append({"step": step, "distill": float(distill), "reg": float(reg)})
            print(f"identify step {step} distill {float(distill):.5f} mean gate {float(reg):.3f}", flush=True)
    g = gates.detach().clamp(0, 1).cpu()
    report["identify"] = {"steps": id_steps, "seconds": time.time() - t1, "curve": id_curve, "gates": g.tolist()}
    with open(f"{args.out}/pattern/full_attention_heads.tsv", "w") as f:
        for row in g.tolist():
            f.write("\t".join(f"{v:.18e}" for v in row) + "\n")
    with open(f"{args.out}/pattern/config.json", "w") as f:
        json.dump({"model_name": "headroom-passkey", "dataset_format": "multiple_passkey", "lr": 0.02,
                   "num_steps": id_steps, "reg_weight": 0.05, "initial_value": 1.0, "sink_size": SINK,
                   "recent_size": RECENT, "context_length_min": 250, "context_length_max": 700,
                   "num_passkeys": 3, "supervision": "distill", "threshold": 0.5, "sparsity": None,
                   "seed": 0, "produced_by": "src/reference/train_passkey_model.py"}, f, indent=1)

    # held-out evaluation set and NIAH grid, from a generator seed never used above
    erng = random.Random(123456)
    heldout = [make_sample(erng, eval_pool, erng.randint(250, 600)) for _ in range(20 if args.smoke else 200)]
    with open(f"{args.out}/eval/passkey-heldout.jsonl", "w") as f:
        for p, a in heldout:
            f.write(json.dumps({"prompt": p, "answer": a}) + "\n")
    with open(f"{args.out}/eval/niah-grid.jsonl", "w") as f:
        for length in [100, 200, 300, 400, 500, 600]:
            for depth in [0.0, 0.25, 0.5, 0.75, 1.0]:
                for _ in range(2 if args.smoke else 10):
                    p, a = make_sample(erng, eval_pool, length, depth=depth)
                    f.write(json.dumps({"prompt": p, "answer": a, "length": length, "depth": depth}) + "\n")

    acc = {"full": greedy_accuracy(model, tok, heldout)}
    for s in [0.25, 0.5, 0.75]:
        acc[f"duo@{s}"] = greedy_accuracy(model, tok, heldout, binarize(g, s).cuda())
    acc["streaming_only"] = greedy_accuracy(model, tok, heldout, torch.zeros_like(g).cuda())
    report["pytorch_heldout_accuracy"] = acc
    print("held-out accuracy (PyTorch):", acc, flush=True)
    with open(f"{args.out}/report.json", "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
