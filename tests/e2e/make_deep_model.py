#!/usr/bin/env python3
"""Writes a deeper copy of a committed fixture model: layer i of the copy is layer i % n of the
fixture (same tensors), so the engine serves a real model that takes long enough per request to be
cancelled, time out or fill the queue on any machine. Pure Python (safetensors is a JSON header
plus raw bytes).
usage: make_deep_model.py FIXTURE_DIR OUT_DIR N_LAYERS"""
import json
import re
import struct
import sys

src, out, n_out = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = json.load(open(f"{src}/config.json"))
n_in = config["num_hidden_layers"]
with open(f"{src}/model.safetensors", "rb") as f:
    size = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(size))
    data = f.read()
header.pop("__metadata__", None)
layer = re.compile(r"^backbone\.layers\.(\d+)\.(.*)$")
tensors = {}  # name -> (dtype, shape, bytes)
for name, info in header.items():
    begin, end = info["data_offsets"]
    blob = data[begin:end]
    m = layer.match(name)
    if m is None:
        tensors[name] = (info["dtype"], info["shape"], blob)
        continue
    i, rest = int(m.group(1)), m.group(2)
    for j in range(i, n_out, n_in):
        tensors[f"backbone.layers.{j}.{rest}"] = (info["dtype"], info["shape"], blob)
out_header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
for name in sorted(tensors):
    dtype, shape, blob = tensors[name]
    out_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    chunks.append(blob)
    offset += len(blob)
encoded = json.dumps(out_header).encode()
encoded += b" " * (-len(encoded) % 8)
with open(f"{out}/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(encoded)))
    f.write(encoded)
    for blob in chunks:
        f.write(blob)
config["num_hidden_layers"] = n_out
json.dump(config, open(f"{out}/config.json", "w"), indent=2)
