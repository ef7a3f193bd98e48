#!/usr/bin/env python3
"""The peer of genlab's `nerf` plugin with encoding = "frequency": the MLP NeRF of
Mildenhall et al. (2020) in plain PyTorch eager Python, with Debian's python3-torch (the
same 1.13.1 build and kernels as libtorch-dev). Written from the paper for
bench/nerf_speed.sh; the same model as plugins/models/nerf/nerf.cpp: positional encoding
(x, sin and cos of 2^k pi x; 10 octaves for points, 4 for directions), `depth` ReLU layers
of `width` with the input concatenated after layer `skip`, a ReLU density head, a feature
layer, the direction's encoding, one layer of width / 2 and a sigmoid colour head; a coarse
network at stratified samples in [2, 6] and a fine one at those plus importance samples from
the coarse weights; the composite in plain autograd; loss MSE(coarse) + MSE(fine) on a white
background; Adam 5e-4, betas (0.9, 0.999), eps 1e-7, the learning rate decaying to 0.1x over
20,000 steps.

It trains on synthetic rays (origins on a sphere of radius 4, directions at the origin with
a small jitter, random colours: the speed does not depend on the values) and renders one
100x100 view in chunks of 8,192 rays without gradients (bin midpoints, evenly spaced
quantiles). Prints one line:
    python rays_per_second X render_ms_per_view Y

Usage: nerf.py DEPTH WIDTH SAMPLES FINE_SAMPLES BATCH_RAYS STEPS THREADS [SKIP]
"""
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

NEAR, FAR = 2.0, 6.0
BACKGROUND = 1.0  # white
CHUNK = 8192      # rays rendered at once (the plugin's default `chunk`)
WARMUP_STEPS = 3
VIEW_SIZE = 100
CAMERA_ANGLE_X = 0.6911112070083618  # the NeRF-synthetic scenes' field of view


def positional_encoding(x, freqs):
    """[N, D] -> [N, D (1 + 2 freqs)]: x, then sin(2^k pi x), then cos(2^k pi x)."""
    scales = math.pi * 2.0 ** torch.arange(freqs, dtype=x.dtype)
    scaled = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, torch.sin(scaled), torch.cos(scaled)], -1)


class NeRF(nn.Module):
    def __init__(self, depth, width, skip, freqs_xyz=10, freqs_dir=4):
        super().__init__()
        self.skip, self.freqs_xyz, self.freqs_dir = skip, freqs_xyz, freqs_dir
        in_xyz, in_dir = 3 * (1 + 2 * freqs_xyz), 3 * (1 + 2 * freqs_dir)
        self.layers = nn.ModuleList(
            nn.Linear(in_xyz if i == 0 else width + in_xyz if i == skip + 1 else width, width) for i in range(depth))
        self.sigma = nn.Linear(width, 1)
        self.feature = nn.Linear(width, width)
        self.view = nn.Linear(width + in_dir, width // 2)
        self.rgb = nn.Linear(width // 2, 3)

    def forward(self, points, directions):
        """points [R, S, 3], directions [R, 3] -> sigmas [R, S], rgbs [R, S, 3]."""
        rays, samples = points.shape[:2]
        x = positional_encoding(points.reshape(-1, 3), self.freqs_xyz)
        h = x
        for i, layer in enumerate(self.layers):
            h = F.relu(layer(h))
            if i == self.skip and i + 1 < len(self.layers):
                h = torch.cat([x, h], -1)
        sigmas = F.relu(self.sigma(h)).view(rays, samples)
        d = positional_encoding(directions, self.freqs_dir)
        d = d[:, None].expand(rays, samples, d.shape[-1]).reshape(rays * samples, -1)
        v = F.relu(self.view(torch.cat([self.feature(h), d], -1)))
        return sigmas, torch.sigmoid(self.rgb(v)).view(rays, samples, 3)


def stratified_samples(rays, samples, perturb):
    lower = torch.linspace(NEAR, FAR, samples + 1)[:-1]
    width = (FAR - NEAR) / samples
    if perturb:
        return lower + width * torch.rand(rays, samples)
    return (lower + 0.5 * width).expand(rays, samples)


def sample_pdf(bins, weights, n, deterministic):
    """Inverse transform sampling of the piecewise-constant density over the bins."""
    weights = weights.detach() + 1e-5
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    cdf[:, -1] = 1.0
    if deterministic:
        u = torch.linspace(0.0, 1.0, n).expand(weights.shape[0], n).contiguous()
    else:
        u = torch.rand(weights.shape[0], n).sort(-1).values
    above = torch.searchsorted(cdf, u, right=True).clamp(1, weights.shape[1])
    below = above - 1
    cdf_below, cdf_above = cdf.gather(1, below), cdf.gather(1, above)
    bin_below, bin_above = bins.gather(1, below), bins.gather(1, above)
    mass = cdf_above - cdf_below
    mass = torch.where(mass < 1e-5, torch.ones_like(mass), mass)
    return bin_below + ((u - cdf_below) / mass).clamp(0, 1) * (bin_above - bin_below)


def composite(sigmas, rgbs, ts):
    """Volume rendering (the paper's eq. 3): color, depth, opacity, weights."""
    deltas = torch.cat([ts[:, 1:] - ts[:, :-1], torch.full_like(ts[:, :1], 1e10)], -1)
    optical = sigmas * deltas
    before = torch.cat([torch.zeros_like(optical[:, :1]), torch.cumsum(optical, -1)[:, :-1]], -1)
    weights = torch.exp(-before) * (1 - torch.exp(-optical))
    return (weights[..., None] * rgbs).sum(-2), (weights * ts).sum(-1), weights.sum(-1), weights


def render_pass(model, origins, directions, ts):
    points = origins[:, None] + ts[..., None] * directions[:, None]
    color, depth, opacity, weights = composite(*model(points, directions), ts)
    return color + (1 - opacity[:, None]) * BACKGROUND, depth, opacity, weights


def render_rays(coarse, fine, origins, directions, samples, fine_samples, training):
    """The coarse pass and the fine one, each (pixels, depth, opacity, weights)."""
    ts = stratified_samples(origins.shape[0], samples, training)
    coarse_out = render_pass(coarse, origins, directions, ts)
    mids = 0.5 * (ts[:, 1:] + ts[:, :-1])
    extra = sample_pdf(mids, coarse_out[3][:, 1:-1], fine_samples, deterministic=not training)
    all_ts = torch.cat([ts, extra], 1).sort(1).values
    return coarse_out, render_pass(fine, origins, directions, all_ts)


def synthetic_rays(count):
    """Origins on a sphere of radius 4, directions at the origin with a small jitter."""
    origins = F.normalize(torch.randn(count, 3), dim=-1) * 4
    directions = F.normalize(-origins / 4 + 0.05 * torch.randn(count, 3), dim=-1)
    return origins, directions, torch.rand(count, 3)


def view_rays(size):
    """The rays through the pixel centres of a size x size view from (0, -4 cos 30, 4 sin 30)
    looking at the origin (camera-to-world in OpenGL's convention)."""
    elevation = math.radians(30)
    position = torch.tensor([0.0, -4 * math.cos(elevation), 4 * math.sin(elevation)])
    back = F.normalize(position, dim=0)              # the camera's +z (it looks down -z)
    right = F.normalize(torch.linalg.cross(torch.tensor([0.0, 0.0, 1.0]), back), dim=0)
    up = torch.linalg.cross(back, right)
    focal = 0.5 * size / math.tan(0.5 * CAMERA_ANGLE_X)
    rows, columns = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                                   torch.arange(size, dtype=torch.float32), indexing="ij")
    camera = torch.stack([columns + 0.5 - size / 2, -(rows + 0.5 - size / 2), torch.full_like(rows, -focal)], -1)
    directions = F.normalize(camera.reshape(-1, 3) @ torch.stack([right, up, back]), dim=-1)
    return position.expand(size * size, 3), directions


def main(depth, width, samples, fine_samples, batch, steps, threads, skip=4):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    coarse, fine = NeRF(depth, width, skip), NeRF(depth, width, skip)
    optimiser = torch.optim.Adam(list(coarse.parameters()) + list(fine.parameters()), lr=5e-4, betas=(0.9, 0.999),
                                 eps=1e-7)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 0.1 ** min(1.0, step / 20000))
    batches = [synthetic_rays(batch) for _ in range(4)]

    def train_step(step):
        origins, directions, colors = batches[step % len(batches)]
        coarse_out, fine_out = render_rays(coarse, fine, origins, directions, samples, fine_samples, training=True)
        loss = F.mse_loss(coarse_out[0], colors) + F.mse_loss(fine_out[0], colors)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        return loss

    for step in range(WARMUP_STEPS):
        train_step(step)
    start = time.perf_counter()
    for step in range(steps):
        loss = train_step(WARMUP_STEPS + step)
    loss.item()
    train_seconds = time.perf_counter() - start

    origins, directions = view_rays(VIEW_SIZE)

    def render_view():
        image = torch.empty(origins.shape[0], 3)
        with torch.no_grad():
            for start in range(0, origins.shape[0], CHUNK):
                o, d = origins[start:start + CHUNK], directions[start:start + CHUNK]
                _, (pixels, _, _, _) = render_rays(coarse, fine, o, d, samples, fine_samples, training=False)
                image[start:start + CHUNK] = pixels
        return image.clamp(0, 1).t().reshape(3, VIEW_SIZE, VIEW_SIZE)

    render_view()  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        render_view()
        times.append(time.perf_counter() - start)
    print(f"python rays_per_second {steps * batch / train_seconds:.1f} "
          f"render_ms_per_view {1000 * statistics.median(times):.1f}")


if __name__ == "__main__":
    if len(sys.argv) not in (8, 9):
        sys.exit(__doc__.split("\n\n")[-1].strip())
    main(*(int(a) for a in sys.argv[1:]))
