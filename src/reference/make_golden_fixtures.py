#!/usr/bin/env python3
"""Builds Headroom's golden fixtures: tiny random-weight Hugging Face checkpoints (bf16) and the
outputs transformers computes from them, which gpu-engine's tests must reproduce.

Runs on the GPU machine (PyTorch + transformers + tokenizers; a GPU is not needed):

    python3 src/reference/make_golden_fixtures.py --out /tmp/golden

and the result is copied to gpu-engine/src/test/resources/golden/. For every case it writes

    config.json, generation_config.json      as transformers saves them
    model.safetensors (or shards + index)    bf16 weights
    tokenizer.json, tokenizer_config.json    a byte-level BPE trained here (digits one per token)
    expected.json                            token ids of the prompts, greedy continuations,
                                             tokenizer encodings and chat-template renderings
    reference.safetensors                    float32 logits of every position of every prompt

The reference logits come from the bf16 weights upcast to float32 (eager attention, float32
compute), which is what the engine computes on the CPU.
"""
import argparse
import json
import os
import random
import shutil

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
import transformers
from transformers import (AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

WORDS = ("the contract shall terminate on notice quarterly revenue ticket closed customer reported "
         "error build failed chapter river mountain secret code of blue green red is number "
         "agreement party clause invoice payment due engine attention head memory token window "
         "sink recent retrieval stream model layer").split()
UNICODE = ["héllo wörld", "naïve café", "日本語のテキスト", "emoji 🙂 and 🚀", "Ωμέγα", "tab\tand\nnewline"]

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def corpus(rng, n=4000):
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        if rng.random() < 0.3:
            words.append(str(rng.randint(0, 99999)))
        if rng.random() < 0.1:
            words.append(rng.choice(UNICODE))
        lines.append(" ".join(words) + ".")
    return lines


def build_tokenizer(rng, specials, bos, add_bos, vocab_size):
    """Byte-level BPE, digits split one per token, BOS added by the post-processor when add_bos."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    if add_bos:
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, tok.token_to_id(bos))])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


CASES = {
    # Llama 3 style: GQA, llama3 rope scaling (original context 32, so the long prompt crosses all
    # three frequency bands), sharded checkpoint, two eos ids, chat template.
    "llama3-gqa": dict(
        cls=(LlamaConfig, LlamaForCausalLM),
        specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        bos="<|begin_of_text|>", eos=["<|end_of_text|>", "<|eot_id|>"], add_bos=True, template=LLAMA3_TEMPLATE,
        shard="60KB",
        config=dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
                    rope_theta=500000.0, tie_word_embeddings=False,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=32))),
    # Llama 2 style: MHA, linear rope scaling, attention_bias (q, k, v and o biases), no template.
    "llama-mha": dict(
        cls=(LlamaConfig, LlamaForCausalLM),
        specials=["<unk>", "<s>", "</s>"], bos="<s>", eos=["</s>"], add_bos=True, template=None, shard=None,
        config=dict(hidden_size=48, intermediate_size=100, num_hidden_layers=3, num_attention_heads=3,
                    num_key_value_heads=3, max_position_embeddings=256, rms_norm_eps=1e-6,
                    rope_theta=10000.0, attention_bias=True, tie_word_embeddings=False,
                    rope_scaling=dict(rope_type="linear", factor=2.0))),
    # Qwen2: q/k/v biases, tied embeddings, no BOS, ChatML template.
    "qwen2-tied": dict(
        cls=(Qwen2Config, Qwen2ForCausalLM),
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos=None, eos=["<|im_end|>", "<|endoftext|>"],
        add_bos=False, template=CHATML_TEMPLATE, shard=None,
        config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-6,
                    rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False)),
    # Mistral: MQA (one KV head), explicit head_dim unequal to hidden/heads, width not a multiple of 16.
    "mistral": dict(
        cls=(MistralConfig, MistralForCausalLM),
        specials=["<unk>", "<s>", "</s>"], bos="<s>", eos=["</s>"], add_bos=True, template=None, shard=None,
        config=dict(hidden_size=80, intermediate_size=200, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=1, head_dim=24, max_position_embeddings=512, rms_norm_eps=1e-5,
                    rope_theta=1000000.0, sliding_window=None, tie_word_embeddings=False)),
}

PROMPTS = ["the contract shall terminate on notice",
           "secret code of blue is 48213. what is the secret code of blue?",
           "naïve café 🙂 日本語"]


def write_case(name, spec, out, seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tok = build_tokenizer(rng, spec["specials"], spec["bos"], spec["add_bos"], vocab_size=480)
    tok.save(os.path.join(d, "tokenizer.json"))
    tcfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
            "bos_token": spec["bos"], "eos_token": spec["eos"][0], "clean_up_tokenization_spaces": False}
    if spec["template"]:
        tcfg["chat_template"] = spec["template"]
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2, ensure_ascii=False)

    cfg_cls, model_cls = spec["cls"]
    ids = {t: tok.token_to_id(t) for t in spec["specials"]}
    cfg = cfg_cls(vocab_size=tok.get_vocab_size(), initializer_range=0.1,
                  bos_token_id=ids.get(spec["bos"]), eos_token_id=[ids[e] for e in spec["eos"]],
                  **spec["config"])
    model = model_cls(cfg).eval()
    with torch.no_grad():  # random norms and biases, so that loading them wrongly shows
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif pname.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model = model.to(torch.bfloat16)
    kwargs = {"max_shard_size": spec["shard"]} if spec["shard"] else {}
    model.save_pretrained(d, **kwargs)

    ref = model_cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    hf_tok = AutoTokenizer.from_pretrained(d)
    rs = random.Random(seed + 1)
    prompts = [hf_tok(p)["input_ids"] for p in PROMPTS]
    prompts.append([rs.randrange(tok.get_vocab_size()) for _ in range(96)])  # long: crosses rope bands
    tensors, greedy, margins = {}, [], []
    with torch.no_grad():
        for i, p in enumerate(prompts):
            logits = ref(torch.tensor([p])).logits[0].float().contiguous()
            tensors[f"logits.{i}"] = logits
            # an explicit all-ones mask: generate() would otherwise mask every prompt token equal to
            # the pad id, and with pad = bos that silently drops the BOS
            ids = torch.tensor([p])
            gen = ref.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=16,
                               output_scores=True, return_dict_in_generate=True,
                               pad_token_id=cfg.eos_token_id[0])
            new = gen.sequences[0, len(p):].tolist()
            for s in gen.scores:
                top2 = torch.topk(s[0].float(), 2).values
                margins.append(float(top2[0] - top2[1]))
            greedy.append({"prompt": i, "tokens": new})
    save_file(tensors, os.path.join(d, "reference.safetensors"))
    texts = PROMPTS + UNICODE + ["numbers 1234567890 and  double  spaces", ""]
    encodings = [{"text": t, "ids": hf_tok(t)["input_ids"],
                  "decoded": hf_tok.decode(hf_tok(t)["input_ids"], skip_special_tokens=True)} for t in texts]
    chats = []
    if spec["template"]:
        msgs = [{"role": "user", "content": "what is the secret code of blue?"}]
        chats.append({"messages": msgs, "add_generation_prompt": True,
                      "text": hf_tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)})
        msgs2 = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "hi"},
                 {"role": "assistant", "content": "hello"}, {"role": "user", "content": "code?"}]
        chats.append({"messages": msgs2, "add_generation_prompt": False,
                      "text": hf_tok.apply_chat_template(msgs2, tokenize=False, add_generation_prompt=False)})
    expected = {"case": name, "seed": seed, "transformers": transformers.__version__, "torch": torch.__version__,
                "script": "src/reference/make_golden_fixtures.py",
                "prompts": prompts, "greedy": greedy, "min_greedy_margin": min(margins),
                "encodings": encodings, "chat": chats}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
    return min(margins)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for name, spec in CASES.items():
        # a near-tie between the two best logits would make token identity depend on rounding
        for seed in range(1, 20):
            margin = write_case(name, spec, args.out, seed)
            if margin > 2e-3:
                break
        print(f"{name}: seed {seed}, min greedy margin {margin:.4g}")
        print(open(os.path.join(args.out, name, "config.json")).read())


if __name__ == "__main__":
    main()
