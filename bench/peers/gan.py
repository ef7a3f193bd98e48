#!/usr/bin/env python3
"""The peer of genlab's `gan` plugin with arch = "dcgan28": the DCGAN of pytorch/examples
cpp/dcgan for 28x28 MNIST, in plain PyTorch eager Python with Debian's python3-torch (the
same 1.13.1 kernels as libtorch-dev): the same layers, non-saturating loss, one D step per
G step, Adam 2e-4 (beta1 0.5), batch 64, data in memory. For bench/gan_speed.sh.

Usage: gan.py MNIST_DIR STEPS THREADS WIDTH
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import read_idx_images, report


def main(mnist_dir, steps, threads, width):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    c = lambda n: max(4, int(n * width))
    G = nn.Sequential(
        nn.ConvTranspose2d(100, c(256), 4, bias=False), nn.BatchNorm2d(c(256)), nn.ReLU(),
        nn.ConvTranspose2d(c(256), c(128), 3, 2, 1, bias=False), nn.BatchNorm2d(c(128)), nn.ReLU(),
        nn.ConvTranspose2d(c(128), c(64), 4, 2, 1, bias=False), nn.BatchNorm2d(c(64)), nn.ReLU(),
        nn.ConvTranspose2d(c(64), 1, 4, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, c(64), 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(c(64), c(128), 4, 2, 1, bias=False), nn.BatchNorm2d(c(128)), nn.LeakyReLU(0.2),
        nn.Conv2d(c(128), c(256), 4, 2, 1, bias=False), nn.BatchNorm2d(c(256)), nn.LeakyReLU(0.2),
        nn.Conv2d(c(256), 1, 3, 1, 0, bias=False))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = read_idx_images(f"{mnist_dir}/train-images-idx3-ubyte") * 2 - 1
    order = np.random.default_rng(1).permutation(images.shape[0])
    start = time.perf_counter()
    for step in range(steps):
        at = (step * 64) % (images.shape[0] - 64)
        real = images[order[at:at + 64]]
        fake = G(torch.randn(64, 100, 1, 1)).detach()
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(64, 100, 1, 1)))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    train_seconds = time.perf_counter() - start
    G.eval()
    with torch.no_grad():
        start = time.perf_counter()
        samples = G(torch.randn(1000, 100, 1, 1))
        sample_seconds = time.perf_counter() - start
    report(steps, train_seconds, samples.shape[0], sample_seconds)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
