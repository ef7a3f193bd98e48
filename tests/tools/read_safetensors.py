#!/usr/bin/env python3
"""An independent reader of the safetensors format, standard library only (struct, json).

It checks a file against the format's rules (https://github.com/huggingface/safetensors:
8-byte little-endian header length, JSON header, data offsets that tile the byte buffer
exactly) and prints one line per tensor: name, dtype, shape, and the first value. It
shares no code with genlab, so a test that runs it on genlab's files checks genlab against
the format, not against itself.
"""
import json
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
FORMATS = {"F64": "<d", "F32": "<f", "I64": "<q", "I32": "<i", "I16": "<h", "I8": "<b",
           "U64": "<Q", "U32": "<I", "U16": "<H", "U8": "<B"}


def main(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buffer = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in metadata.values()), "metadata values must be strings"
    spans = []
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        count = 1
        for s in entry["shape"]:
            count *= s
        assert end - begin == count * SIZES[entry["dtype"]], f"{name}: size disagrees with shape and dtype"
        spans.append((begin, end, name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        assert begin == cursor, f"{name}: starts at {begin}, expected {cursor}"
        cursor = end
    assert cursor == len(buffer), "bytes left over after the last tensor"
    for key in sorted(metadata):
        print(f"meta {key}={metadata[key]}")
    for begin, end, name in spans:
        entry = header[name]
        first = ""
        if end > begin and entry["dtype"] in FORMATS:
            (first,) = struct.unpack_from(FORMATS[entry["dtype"]], buffer, begin)
        print(f"tensor {name} {entry['dtype']} {entry['shape']} {first}")


if __name__ == "__main__":
    main(sys.argv[1])
