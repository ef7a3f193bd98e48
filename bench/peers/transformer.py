#!/usr/bin/env python3
"""The peer of genlab's `transformer` plugin: nanoGPT's model (pre-LN blocks, causal
self-attention written out, as nanoGPT does without flash attention, GELU MLP, learned
positions, tied output projection, GPT-2 initialisation) and train.py's loop (AdamW with
beta2 0.99, weight decay 0.1 on 2-D tensors only, linear warm-up and cosine decay, clipping
at 1), in plain PyTorch with Debian's python3-torch (the same 1.13.1 kernels as
libtorch-dev), on character-level text held in memory. For bench/transformer_speed.sh.

Generation continues the prompt "\\n" for NEW_TOKENS tokens from one sequence, either as
nanoGPT's generate does ("full": the whole window, up to block_size tokens, recomputed for
every new token) or with a key/value cache and genlab's window policy ("cache").

Usage: transformer.py TEXT STEPS THREADS N_LAYER N_HEAD N_EMBD BLOCK BATCH GEN_MODE NEW_TOKENS [--quality]
  --quality: also print the validation loss over the held-out last 10% (nanoGPT's estimate_loss,
  200 batches) and a 500-character sample, as nanoGPT's train.py and sample.py would.
"""
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import report


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.c_attn, self.attn_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
        self.c_fc, self.c_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

    def attention(self, x, cache=None, start=0):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, 2))
        if cache is not None:
            cache[0][:, :, start:start + T], cache[1][:, :, start:start + T] = k, v
            k, v = cache[0][:, :, :start + T], cache[1][:, :, :start + T]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if T > 1:
            S = k.size(2)
            att = att.masked_fill(torch.ones(T, S, dtype=torch.bool).tril(S - T).logical_not(), float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.attn_proj(y)

    def forward(self, x, cache=None, start=0):
        x = x + self.attention(self.ln_1(x), cache, start)
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd):
        super().__init__()
        self.block, self.n_head = block, n_head
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") or name.endswith("attn_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, caches=None, start=0):
        T = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(start, start + T))
        for l, block in enumerate(self.h):
            x = block(x, caches[l] if caches is not None else None, start)
        return self.ln_f(x) @ self.wte.weight.t()

    @torch.inference_mode()
    def generate_full(self, idx, new_tokens):  # nanoGPT's generate: the window recomputed every token
        for _ in range(new_tokens):
            logits = self(idx[:, -self.block:])[:, -1]
            idx = torch.cat([idx, torch.multinomial(F.softmax(logits, -1), 1)], 1)
        return idx

    @torch.inference_mode()
    def generate_cached(self, idx, new_tokens):  # genlab's policy: a cache; when full, keep the newest half
        B, C = idx.size(0), self.wte.weight.size(1)
        context, pieces, caches = idx[:, -self.block:], [idx], None
        for _ in range(new_tokens):
            if caches is None:
                caches = [(torch.empty(B, self.n_head, self.block, C // self.n_head),
                           torch.empty(B, self.n_head, self.block, C // self.n_head)) for _ in self.h]
                logits = self(context, caches, 0)[:, -1]
            else:
                logits = self(context[:, -1:], caches, context.size(1) - 1)[:, -1]
            nxt = torch.multinomial(F.softmax(logits, -1), 1)
            pieces.append(nxt)
            if context.size(1) == self.block:
                context, caches = context[:, -(self.block // 2):], None
            context = torch.cat([context, nxt], 1)
        return torch.cat(pieces, 1)


def main(text_path, steps, threads, n_layer, n_head, n_embd, block, batch, gen_mode, new_tokens, quality=False):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    text = open(text_path, encoding="utf-8").read()
    split = len(text) - int(0.1 * len(text))
    chars = sorted(set(text[:split]))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    train, val = data[:split], data[split:]
    model = GPT(len(chars), block, n_layer, n_head, n_embd)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(1)

    def lr_at(it, warmup=100, decay_iters=2000, lr=1e-3, min_lr=1e-4):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        if it > decay_iters:
            return min_lr
        return min_lr + 0.5 * (1 + math.cos(math.pi * (it - warmup) / (decay_iters - warmup))) * (lr - min_lr)

    start = time.perf_counter()
    for it in range(steps):
        offsets = rng.integers(0, len(train) - block - 1, batch)
        xy = torch.stack([train[o:o + block + 1] for o in offsets])
        logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), xy[:, 1:].reshape(-1))
        for group in optimiser.param_groups:
            group["lr"] = lr_at(it)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    prompt = torch.tensor([[index["\n"]]], dtype=torch.long)
    start = time.perf_counter()
    out = (model.generate_full if gen_mode == "full" else model.generate_cached)(prompt, new_tokens)
    gen_seconds = time.perf_counter() - start
    extra = {"final_loss": f"{loss.item():.4f}", "params": sum(p.numel() for p in model.parameters()),
             "tokens_per_second": f"{new_tokens / gen_seconds:.1f}"}
    if quality:
        with torch.inference_mode():
            losses = []
            for _ in range(200):
                offsets = rng.integers(0, len(val) - block - 1, batch)
                xy = torch.stack([val[o:o + block + 1] for o in offsets])
                logits = model(xy[:, :-1])
                losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), xy[:, 1:].reshape(-1)).item())
        extra["val_loss"] = f"{sum(losses) / len(losses):.4f}"
    report(steps, train_seconds, 1, gen_seconds, **extra)
    if quality:
        print("sample: " + "".join(chars[t] for t in out[0].tolist()))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--quality"]
    main(args[0], *(int(a) for a in args[1:8]), args[8], int(args[9]), quality="--quality" in sys.argv)
