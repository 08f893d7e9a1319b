#!/usr/bin/env python3
"""Checks mamba-explain-eval's JSON (every method, metrics in [0, 1]) and decodes each heatmap PNG
with Python's zlib (an inflater independent of ours), verifying chunk CRCs and the pixel count.
Usage: check_eval_outputs.py OUT.json PNG_DIR"""
import json
import os
import struct
import sys
import zlib

METHODS = ["latim-l1", "latim-l2", "latim-alti", "latim-alti-logit", "grad-x-input",
           "integrated-gradients", "smoothgrad", "mamba-lrp", "mamba-attention", "rollout",
           "mamba-attribution"]


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: bad signature")
    at, idat, width, height = 8, b"", 0, 0
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        if zlib.crc32(kind + body) != crc:
            fail(f"{path}: CRC of {kind}")
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if (depth, colour) != (8, 2):
                fail(f"{path}: not 8-bit RGB")
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    raw = zlib.decompress(idat)
    if len(raw) != height * (1 + 3 * width):
        fail(f"{path}: {len(raw)} bytes for {width}x{height}")
    if any(raw[y * (1 + 3 * width)] != 0 for y in range(height)):
        fail(f"{path}: filter type not 0")
    if os.path.getsize(path) >= 100_000:
        fail(f"{path}: {os.path.getsize(path)} bytes")


def main():
    report = json.load(open(sys.argv[1]))
    got = [m["method"] for m in report["methods"]]
    if got != METHODS:
        fail(f"methods {got}")
    for m in report["methods"]:
        for key in ("auc", "ap", "r_at_k"):
            value = m["best"][key]
            if value is None or not 0.0 <= value <= 1.0:
                fail(f"{m['method']} {key}={value}")
    if set(report["decomposition_error"]) != {"silu", "relu", "identity"}:
        fail("decomposition_error keys")
    pngs = sorted(os.listdir(sys.argv[2]))
    if len(pngs) != len(METHODS) or len(report["heatmaps"]) != len(METHODS):
        fail(f"heatmaps {pngs}")
    for name in pngs:
        check_png(os.path.join(sys.argv[2], name))


if __name__ == "__main__":
    main()
