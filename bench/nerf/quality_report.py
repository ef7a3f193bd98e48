#!/usr/bin/env python3
"""The report of bench/nerf_quality.sh: for each model of a NeRF manifest and each training
budget, the PSNR and SSIM on the test views (from the run's results.json), the steps done
(train.done.toml), and an image strip of the first test views: ground truth on top, then
each model's render (the run's samples.safetensors) per budget, in the table's order.

Reads the files genlab writes, with the standard library and numpy only: run.toml with
tomllib, safetensors by hand (8-byte little-endian header length, a JSON header, raw data),
PNG by hand (zlib and the five row filters).

Usage: quality_report.py MANIFEST WORKSPACE STRIP_PNG VIEWS MINUTES...
"""
import glob
import json
import os
import struct
import sys
import tomllib
import zlib

import numpy as np


def read_safetensors(path):
    """{name: numpy array} of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in dtypes:
            sys.exit(f"{path}: tensor '{name}' has dtype {entry['dtype']}, expected one of {sorted(dtypes)}")
        begin, end = entry["data_offsets"]
        raw = data[8 + header_size + begin:8 + header_size + end]
        tensors[name] = np.frombuffer(raw, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return tensors


def read_png(path):
    """An 8-bit RGB or RGBA PNG (no interlacing) as uint8 [H, W, channels]."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    at, idat, width = 8, b"", None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace != 0:
                sys.exit(f"{path}: expected an 8-bit RGB or RGBA PNG without interlacing, got bit depth {depth}, "
                         f"colour type {colour}, interlace {interlace}")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    if width is None:
        sys.exit(f"{path}: no IHDR chunk")
    stride = width * channels
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            out = line
        elif kind == 1:  # sub: each byte adds the one a pixel to its left, a running sum per channel
            out = np.cumsum(line.reshape(width, channels), axis=0).reshape(stride) % 256
        elif kind == 2:  # up
            out = (line + previous) % 256
        elif kind in (3, 4):  # average, Paeth: depend on the byte just reconstructed
            out = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 3:
                    predicted = (left + up) // 2
                else:
                    upper_left = previous[x - channels] if x >= channels else 0
                    p = left + up - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                    predicted = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                out[x] = (line[x] + predicted) % 256
        else:
            sys.exit(f"{path}: row {y} has filter type {kind}, expected 0 to 4")
        image[y] = out
        previous = out
    return image.reshape(height, width, channels)


def write_png(path, image):
    """uint8 [H, W, 3] as an RGB PNG."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def ground_truth(root, views, background):
    """The first test views as float [H, W, 3] in [0, 1], composited as the dataset does."""
    with open(os.path.join(root, "transforms_test.json")) as f:
        frames = json.load(f)["frames"][:views]
    out = []
    for frame in frames:
        rgba = read_png(os.path.join(root, frame["file_path"] + ".png")).astype(np.float32) / 255
        alpha = rgba[..., 3:] if rgba.shape[-1] == 4 else np.ones_like(rgba[..., :1])
        out.append(rgba[..., :3] * alpha + background * (1 - alpha))
    return out


def find_run(experiment_dir, model, seconds):
    """The run folder of `model` trained for `seconds` (the newest, if several), or None."""
    found = []
    for run_toml in glob.glob(os.path.join(experiment_dir, "runs", "*", "run.toml")):
        with open(run_toml, "rb") as f:
            run = tomllib.load(f)
        if run["model"]["name"] == model and abs(run["settings"]["max_seconds"] - seconds) < 1e-6:
            found.append(os.path.dirname(run_toml))
    return max(found, key=os.path.getmtime) if found else None


def main(manifest_path, workspace, strip_path, views, minutes):
    with open(manifest_path, "rb") as f:
        manifest = tomllib.load(f)
    experiment_dir = os.path.join(workspace, manifest["experiment"]["name"])
    dataset = next(iter(manifest["datasets"].values()))
    data_root = os.environ.get("GENLAB_DATA", "data")
    root = dataset.get("root", os.path.join(data_root, "nerf", "bunny")).replace("$GENLAB_DATA", data_root)
    background = 1.0 if dataset.get("background", "white") == "white" else 0.0

    rows, table = [("ground truth", ground_truth(root, views, background))], []
    for m in minutes:
        for model, params in manifest["models"].items():
            label = f"{model} ({params.get('encoding', 'frequency')})"
            run_dir = find_run(experiment_dir, model, float(m) * 60)
            results = sorted(glob.glob(os.path.join(run_dir, "eval-*", "results.json")), key=os.path.getmtime) \
                if run_dir else []
            if not results:
                table.append((label, m, None, None, None, None))
                continue
            with open(results[-1]) as f:
                metrics = json.load(f)["metrics"]
            psnr = next(v for k, v in metrics.items() if k.endswith(".psnr") and not k.startswith("cost."))
            ssim = next(v for k, v in metrics.items() if k.endswith(".ssim") and not k.startswith("cost."))
            with open(os.path.join(run_dir, "train.done.toml"), "rb") as f:
                done = tomllib.load(f)
            table.append((label, m, psnr, ssim, done["steps"], done["seconds"]))
            images = read_safetensors(os.path.join(os.path.dirname(results[-1]), "samples.safetensors"))["image"]
            rows.append((f"{label}, {m} min", [np.transpose(images[i], (1, 2, 0)) for i in range(min(views, len(images)))]))

    print(f"{'option':<24} {'minutes':>7} {'PSNR dB':>8} {'SSIM':>7} {'steps':>8} {'train s':>8}")
    for label, m, psnr, ssim, steps, seconds in table:
        if psnr is None:
            print(f"{label:<24} {m:>7} {'(no finished evaluation)':>35}")
        else:
            print(f"{label:<24} {m:>7} {psnr:>8.2f} {ssim:>7.4f} {steps:>8} {seconds:>8.0f}")

    # The strip: one row per line above, `views` columns, 2-pixel grey gaps.
    height, width = rows[0][1][0].shape[:2]
    gap = 2
    strip = np.full((len(rows) * (height + gap) - gap, views * (width + gap) - gap, 3), 128, dtype=np.uint8)
    for r, (_, images) in enumerate(rows):
        for c, image in enumerate(images):
            if image.shape[:2] != (height, width):
                sys.exit(f"{strip_path}: row '{rows[r][0]}' has {image.shape[1]}x{image.shape[0]} views, "
                         f"the ground truth {width}x{height}")
            y, x = r * (height + gap), c * (width + gap)
            strip[y:y + height, x:x + width] = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    write_png(strip_path, strip)
    print(f"strip of the first {views} test views: {strip_path}")
    print("  rows, top to bottom: " + "; ".join(label for label, _ in rows))


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__.split("\n\n")[-1].strip())
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:])
