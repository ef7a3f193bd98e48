#!/usr/bin/env python3
"""The peer of genlab's `diffusion` plugin: the same DDPM (Ho et al. 2020) in plain PyTorch
eager Python with Debian's python3-torch (the same 1.13.1 kernels as libtorch-dev): the same
U-Net (residual blocks with group norm and a sinusoidal time embedding, stride-2 convolution
down, nearest + convolution up, one skip per level, attention at the lowest resolution), the
same loss, Adam, gradient clipping and EMA, and the same two samplers (ancestral DDPM over
all T steps, DDIM over S steps, both with x_0 clipped). For bench/diffusion_speed.sh.

Usage: diffusion.py MNIST_DIR STEPS THREADS SAMPLER SAMPLE_STEPS SAMPLES [CHANNELS] [MULT]
  SAMPLER ddpm or ddim; MULT like 1,2,2
"""
import copy
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import read_idx_images, report


def groups(channels, most=8):
    return next(g for g in range(min(most, channels), 0, -1) if channels % g == 0)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / half))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], 1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, embed):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(embed, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(groups(c), c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, 3, c, h * w).unbind(1)
        weights = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), -1)
        return x + self.proj(torch.bmm(v, weights.transpose(1, 2)).view(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, image_channels=1, ch=32, mult=(1, 2, 2)):
        super().__init__()
        embed = 4 * ch
        self.ch = ch
        self.time_mlp = nn.Sequential(nn.Linear(ch // 2 * 2, embed), nn.SiLU(), nn.Linear(embed, embed))
        self.conv_in = nn.Conv2d(image_channels, ch, 3, padding=1)
        width, skips = ch, []
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for level, m in enumerate(mult):
            self.down.append(ResBlock(width, ch * m, embed))
            width = ch * m
            skips.append(width)
            if level + 1 < len(mult):
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.mid1, self.mid_attention, self.mid2 = ResBlock(width, width, embed), Attention(width), ResBlock(width, width, embed)
        self.up, self.upsample = nn.ModuleList([None] * len(mult)), nn.ModuleList([None] * len(mult))
        for level in reversed(range(len(mult))):
            self.up[level] = ResBlock(width + skips[level], ch * mult[level], embed)
            width = ch * mult[level]
            if level > 0:
                self.upsample[level] = nn.Conv2d(width, width, 3, padding=1)
        self.norm_out, self.conv_out = nn.GroupNorm(groups(width), width), nn.Conv2d(width, image_channels, 3, padding=1)

    def forward(self, x, t):
        emb = self.time_mlp(timestep_embedding(t, self.ch))
        h, skips = self.conv_in(x), []
        for level, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.mid2(self.mid_attention(self.mid1(h, emb)), emb)
        for level in reversed(range(len(self.up))):
            h = self.up[level](torch.cat([h, skips[level]], 1), emb)
            if level > 0:
                h = self.upsample[level](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def linear_alphas_bar(T):
    scale = 1000.0 / T
    betas = torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)
    return betas, torch.cumprod(1 - betas, 0)


@torch.inference_mode()
def sample(model, n, sampler, steps, T, shape):
    betas, abar = linear_alphas_bar(T)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    c0 = (abar_prev.sqrt() * betas / (1 - abar)).float()
    ct = ((1 - betas).sqrt() * (1 - abar_prev) / (1 - abar)).float()
    post = (1 - abar_prev) * betas / (1 - abar)
    abar_f = abar.float()
    x = torch.randn(n, *shape)

    def x0_of(x, t):
        ab = abar_f[t].view(-1, 1, 1, 1)
        return ((x - (1 - ab).sqrt() * model(x, t)) / ab.sqrt()).clamp(-1, 1)

    if sampler == "ddpm":
        for step in reversed(range(T)):
            t = torch.full((n,), step, dtype=torch.long)
            x0 = x0_of(x, t)
            x = c0[t].view(-1, 1, 1, 1) * x0 + ct[t].view(-1, 1, 1, 1) * x
            if step > 0:
                x = x + math.sqrt(post[step].item()) * torch.randn_like(x)
    else:
        tau = [i * T // steps for i in range(steps)]
        for i in reversed(range(steps)):
            ab, ab_prev = abar[tau[i]].item(), abar[tau[i - 1]].item() if i > 0 else 1.0
            x0 = x0_of(x, torch.full((n,), tau[i], dtype=torch.long))
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps  # eta = 0
    return ((x + 1) / 2).clamp(0, 1)


def main(mnist_dir, steps, threads, sampler, sample_steps, samples, ch=32, mult="1,2,2"):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    T, batch = 1000, 128
    images = read_idx_images(f"{mnist_dir}/train-images-idx3-ubyte") * 2 - 1
    model = UNet(images.shape[1], ch, tuple(int(m) for m in mult.split(",")))
    ema = copy.deepcopy(model).eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-4)
    _, abar = linear_alphas_bar(T)
    abar = abar.float()
    order = np.random.default_rng(1).permutation(images.shape[0])
    start = time.perf_counter()
    for step in range(steps):
        at = (step * batch) % (images.shape[0] - batch)
        x0 = images[order[at:at + batch]]
        t = torch.randint(0, T, (batch,))
        noise = torch.randn_like(x0)
        ab = abar[t].view(-1, 1, 1, 1)
        loss = F.mse_loss(model(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t), noise)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        with torch.no_grad():
            decay = min(0.999, (1 + step) / (10 + step))
            for e, p in zip(ema.parameters(), model.parameters()):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    out = sample(ema, samples, sampler, sample_steps, T, images.shape[1:])
    report(steps, train_seconds, out.shape[0], time.perf_counter() - start, final_loss=f"{loss.item():.4f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
         *(int(a) if i == 0 else a for i, a in enumerate(sys.argv[7:])))
