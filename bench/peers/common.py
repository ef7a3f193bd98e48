"""What the plain PyTorch peers of bench/ share: MNIST from its IDX file, held in memory,
and the one line bench/peers/compare.sh reads."""
import resource

import numpy as np
import torch


def read_idx_images(path):
    """IDX images as float32 [N, 1, H, W] in [0, 1]."""
    with open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255)


def report(steps, train_seconds, samples, sample_seconds, **extra):
    """Prints: python steps_per_second X samples_per_second Y peak_rss_mb Z [key value]..."""
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tail = "".join(f" {k} {v}" for k, v in extra.items())
    print(f"python steps_per_second {steps / train_seconds:.3f} samples_per_second {samples / sample_seconds:.2f} "
          f"peak_rss_mb {peak_mb:.0f}{tail}")
