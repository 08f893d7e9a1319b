#!/usr/bin/env python3
"""Writes the HF-transformers parity fixtures under tests/fixtures/.

An independent implementation (HF transformers' Mamba / Mamba2 PyTorch code, CPU, fp32) creates
small random-initialised checkpoints in HF format and records, for a batch of two random
sequences, the logits and the residual stream after every block (forward hooks on
backbone.layers[i]). tests/mamba/hf_parity_test.cc compares our forward with them.

Run on a machine with torch + transformers + safetensors (the GPU host has them):
    python3 tools/make_hf_fixtures.py --out tests/fixtures
"""
import argparse
import json
import math
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

VOCAB = 96
SEQ_LEN = 21
BATCH = 2


def randomise(model, seed):
    """Re-draws every parameter so that each path (biases, D, norms, decays) matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            def normal(std, mean=0.0):
                return torch.randn(p.shape, generator=g) * std + mean
            if name.endswith("A_log"):
                continue  # HF init: log(1..N) (M1) / log U(1, 16) (M2), realistic decays
            if name.endswith("dt_proj.bias") or name.endswith("dt_bias"):
                dt = torch.rand(p.shape, generator=g) * 0.9 + 0.05
                p.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            elif name.endswith(".D"):
                p.copy_(normal(0.5, 1.0))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(normal(0.2, 1.0))
            elif "conv1d.weight" in name:
                p.copy_(normal(0.5))
            elif name.endswith("bias"):
                p.copy_(normal(0.1))
            elif "embeddings" in name or "embedding" in name:
                p.copy_(normal(1.0))
            elif p.dim() == 2:
                p.copy_(normal(1.0 / math.sqrt(p.shape[1])))
            else:
                p.copy_(normal(0.1))


def hf_gated_norm_mode(model):
    """'full' or 'per_group': what this transformers version's Mamba2 gated norm does."""
    mixer = model.backbone.layers[0].mixer
    if mixer.n_groups == 1:
        return None
    e = mixer.intermediate_size
    y = torch.randn(1, 3, e)
    z = torch.randn(1, 3, e)
    with torch.no_grad():
        got = mixer.norm(y, z)
    gated = y * torch.nn.functional.silu(z)
    w = mixer.norm.weight
    eps = mixer.norm.variance_epsilon
    full = w * gated * torch.rsqrt(gated.pow(2).mean(-1, keepdim=True) + eps)
    grouped = gated.view(1, 3, mixer.n_groups, -1)
    grouped = (grouped * torch.rsqrt(grouped.pow(2).mean(-1, keepdim=True) + eps)).view(1, 3, e) * w
    if torch.allclose(got, full, atol=1e-5):
        return "full"
    if torch.allclose(got, grouped, atol=1e-5):
        return "per_group"
    raise RuntimeError("HF gated norm matches neither full nor per-group normalisation")


def reference(model, ids):
    hidden = {}
    hooks = []
    for i, layer in enumerate(model.backbone.layers):
        def hook(_m, _inp, out, i=i):
            hidden[i] = (out[0] if isinstance(out, tuple) else out).detach().float().clone()
        hooks.append(layer.register_forward_hook(hook))
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    for h in hooks:
        h.remove()
    tensors = {"input_ids": ids.to(torch.int64).contiguous(), "logits": logits.contiguous()}
    for i, h in hidden.items():
        tensors[f"hidden.{i}"] = h.contiguous()
    return tensors


def write(name, model, out_dir, seed, dtype=torch.float32, shard=None, note=""):
    path = os.path.join(out_dir, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    model = model.to(dtype)
    kwargs = {}
    if shard:
        kwargs["max_shard_size"] = shard
    model.save_pretrained(path, **kwargs)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(path, extra)):
            os.remove(os.path.join(path, extra))
    ref_model = model.float().eval()  # fp32 compute on the (possibly bf16-rounded) weights
    extra_cfg = {}
    if isinstance(model, Mamba2ForCausalLM):
        mode = hf_gated_norm_mode(ref_model)
        if mode is not None:
            extra_cfg["gated_norm"] = mode
    if extra_cfg:
        cfg_path = os.path.join(path, "config.json")
        text = open(cfg_path).read()
        cfg = json.loads(text)
        cfg.update(extra_cfg)
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)  # json.dump writes Infinity as bare Infinity, as HF does
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ_LEN), generator=g)
    save_file(reference(ref_model, ids), os.path.join(path, "reference.safetensors"))
    files = sorted(os.listdir(path))
    print(f"{name}: {files} {note} {extra_cfg}")
    return {"name": name, "files": files, "note": note, **extra_cfg}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures")
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    manifest = {"transformers": transformers.__version__, "torch": torch.__version__,
                "seq_len": SEQ_LEN, "batch": BATCH, "fixtures": []}

    def m1(seed, **kw):
        cfg = MambaConfig(vocab_size=VOCAB, hidden_size=32, state_size=8, num_hidden_layers=3,
                          expand=2, conv_kernel=4, time_step_rank="auto", **kw)
        torch.manual_seed(seed)
        model = MambaForCausalLM(cfg).eval()
        randomise(model, seed)
        return model

    def m2(seed, n_groups, **kw):
        cfg = Mamba2Config(vocab_size=VOCAB, hidden_size=32, state_size=16, num_heads=8,
                           head_dim=8, expand=2, n_groups=n_groups, chunk_size=8,
                           num_hidden_layers=3, conv_kernel=4, **kw)
        torch.manual_seed(seed)
        model = Mamba2ForCausalLM(cfg).eval()
        randomise(model, seed)
        return model

    fx = manifest["fixtures"]
    fx.append(write("mamba1_bias_tied", m1(11, use_bias=True, use_conv_bias=True,
                                           tie_word_embeddings=True), args.out, 11,
                    note="Mamba-1, in/out_proj and conv biases, tied head"))
    fx.append(write("mamba1_nobias_untied", m1(12, use_bias=False, use_conv_bias=False,
                                               tie_word_embeddings=False), args.out, 12,
                    note="Mamba-1, no biases at all, untied lm_head"))
    fx.append(write("mamba2_g1", m2(21, 1, use_bias=False, use_conv_bias=True,
                                    tie_word_embeddings=True), args.out, 21,
                    note="Mamba-2, n_groups 1, chunk 8 < seq 21"))
    fx.append(write("mamba2_g2_bias", m2(22, 2, use_bias=True, use_conv_bias=True,
                                         tie_word_embeddings=False), args.out, 22,
                    note="Mamba-2, n_groups 2, in/out biases, untied, chunk 8 < seq 21"))
    fx.append(write("mamba1_sharded", m1(13, use_bias=False, use_conv_bias=True,
                                         tie_word_embeddings=True), args.out, 13,
                    shard="40KB", note="Mamba-1 saved as several safetensors shards + index"))
    fx.append(write("mamba2_bf16", m2(23, 1, use_bias=False, use_conv_bias=True,
                                      tie_word_embeddings=True), args.out, 23,
                    dtype=torch.bfloat16,
                    note="Mamba-2 stored in BF16; reference = HF fp32 on the bf16 weights"))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()
