#!/usr/bin/env python3
"""Reads a reference.safetensors with the standard library only (no torch, no safetensors pkg).

  compare_logits.py ids REF ROW                 -> prints the row's input ids as "1,2,3"
  compare_logits.py compare REF ROW OUT.json all|last
      checks the CLI's {"ids", "logits"} against the reference logits of that row to
      |a - b| <= 1e-4 + 1e-4 |b|; exits 1 with the worst element otherwise.
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        fmt = {"F32": "f", "I64": "q"}[e["dtype"]]
        count = (end - b) // struct.calcsize(fmt)
        out[name] = (e["shape"], struct.unpack("<%d%s" % (count, fmt), data[base + b:base + end]))
    return out


def main():
    ref = read(sys.argv[2])
    row = int(sys.argv[3])
    (batch, seq), ids = ref["input_ids"]
    row_ids = ids[row * seq:(row + 1) * seq]
    if sys.argv[1] == "ids":
        print(",".join(str(i) for i in row_ids))
        return 0
    (_, _, vocab), logits = ref["logits"]
    got = json.load(open(sys.argv[4]))
    assert got["ids"] == list(row_ids), "ids differ"
    positions = range(seq) if sys.argv[5] == "all" else [seq - 1]
    assert len(got["logits"]) == len(positions), "expected %d rows, got %d" % (len(positions), len(got["logits"]))
    worst = (0.0, None)
    for r, t in enumerate(positions):
        assert len(got["logits"][r]) == vocab
        for v in range(vocab):
            want = logits[(row * seq + t) * vocab + v]
            err = abs(got["logits"][r][v] - want) - (1e-4 + 1e-4 * abs(want))
            if err > worst[0]:
                worst = (err, (t, v, got["logits"][r][v], want))
    if worst[1] is not None:
        print("mismatch at position %d vocab %d: got %r want %r" % worst[1], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
