#!/usr/bin/env python3
"""The peer of genlab's `vae` plugin: the same MLP VAE (784-400-20, Bernoulli decoder, Adam
1e-3, batch 128) in plain PyTorch eager Python, on MNIST held in memory, with Debian's
python3-torch (the same 1.13.1 build and kernels as libtorch-dev). Written from the paper
and pytorch/examples' description, for bench/vae_speed.sh: it prints steps/s of training,
samples/s of generation and peak memory.

Usage: vae.py MNIST_DIR STEPS THREADS
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import read_idx_images, report


class VAE(nn.Module):
    def __init__(self, d=784, hidden=400, latent=20):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(d, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, d)

    def encode(self, x):
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))


def main(mnist_dir, steps, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    images = read_idx_images(f"{mnist_dir}/train-images-idx3-ubyte")
    model = VAE()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = np.random.default_rng(1)
    order = generator.permutation(images.shape[0])
    start = time.perf_counter()
    for step in range(steps):
        at = (step * 128) % (images.shape[0] - 128)
        x = images[order[at:at + 128]]
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = F.binary_cross_entropy_with_logits(model.decode(z), x.flatten(1), reduction="none").sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        loss = (recon + kl).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    train_seconds = time.perf_counter() - start
    with torch.no_grad():
        start = time.perf_counter()
        samples = torch.sigmoid(model.decode(torch.randn(10000, 20)))
        sample_seconds = time.perf_counter() - start
    report(steps, train_seconds, samples.shape[0], sample_seconds, final_loss=f"{loss.item():.2f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
