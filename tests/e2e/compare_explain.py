#!/usr/bin/env python3
"""Compares a remote `mamba-explain explain --server` JSON with the offline `mamba-explain explain`
JSON of the same ids and flags (the offline run is the reference).
usage: compare_explain.py OFFLINE.json REMOTE.json [--dense | --threshold T | --top-k K | --mass P]
--dense (default): same ids, same results in the same order (method, layer, rows) and matrices
  equal within 1e-5 (relative 1e-4 for large entries), approx_error within 1e-4. Per-target
  results ("scores" instead of "matrix": gradient methods, mamba-lrp, mamba-attribution) must have
  the offline keys exactly, equal targets and explained logits, and are compared dense in every
  mode (the server never sparsifies them).
--threshold/--top-k/--mass: the remote matrices were sparsified on the server (CSR) and expanded
  back by the client: every kept entry equals the offline value, and the kept set is what the policy
  keeps on the offline matrix. Entries within 1e-5 of the policy's cut may go either way (the two
  runs are separate computations)."""
import json
import math
import sys

TOL = 1e-5


def close(a, b):
    return abs(a - b) <= TOL + 1e-4 * abs(b)


def fail(msg):
    print("compare_explain: " + msg, file=sys.stderr)
    sys.exit(1)


off, rem = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
mode = sys.argv[3] if len(sys.argv) > 3 else "--dense"
arg = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
if off["ids"] != rem["ids"]:
    fail(f"ids differ: {off['ids']} vs {rem['ids']}")
if len(off["tokens"]) != len(rem["tokens"]):
    fail("token counts differ")
ko = [(r["method"], r["layer"], r["rows"]) for r in off["results"]]
kr = [(r["method"], r["layer"], r["rows"]) for r in rem["results"]]
if ko != kr:
    fail(f"results differ in (method, layer, rows):\n offline {ko}\n remote  {kr}")
for o, r in zip(off["results"], rem["results"]):
    name = f"{o['method']} layer {o['layer']}"
    # Per-target methods: "scores" (never sparsified), the explained logit and token per row.
    key = "scores" if "scores" in o else "matrix"
    if key not in r or ("scores" in r) != (key == "scores"):
        fail(f"{name}: offline has '{key}', remote has keys {sorted(r)}")
    if key == "scores":
        if sorted(o) != sorted(r):
            fail(f"{name}: keys differ: offline {sorted(o)} vs remote {sorted(r)}")
        if o["targets"] != r["targets"]:
            fail(f"{name}: targets {r['targets']} vs offline {o['targets']}")
        if len(o["explained_logit"]) != len(r["explained_logit"]) or not all(
                close(a, b) for a, b in zip(r["explained_logit"], o["explained_logit"])):
            fail(f"{name}: explained_logit {r['explained_logit']} vs offline {o['explained_logit']}")
    if len(o[key]) != len(r[key]):
        fail(f"{name}: row counts differ")
    oe, re_ = o["approx_error"], r["approx_error"]
    if not (oe is None and re_ is None) and abs((oe or 0) - (re_ or 0)) > 1e-4 + 1e-3 * abs(oe or 0):
        fail(f"{name}: approx_error {re_} vs offline {oe}")
    for k, (orow, rrow) in enumerate(zip(o[key], r[key])):
        if len(orow) != len(rrow):
            fail(f"{name} row {k}: column counts differ")
        if mode == "--dense" or key == "scores":
            for j, (a, b) in enumerate(zip(rrow, orow)):
                if not close(a, b):
                    fail(f"{name} row {k} col {j}: remote {a} vs offline {b}")
            continue
        kept = [j for j, v in enumerate(rrow) if v != 0.0]
        for j in kept:
            if not close(rrow[j], orow[j]):
                fail(f"{name} row {k} col {j}: kept {rrow[j]} vs offline {orow[j]}")
        mags = [abs(v) for v in orow]
        mx, total = max(mags), sum(mags)
        if mode == "--threshold":
            for j, m in enumerate(mags):
                if m >= arg * mx + TOL and rrow[j] == 0.0 and m > 0:
                    fail(f"{name} row {k} col {j}: |{orow[j]}| >= {arg} x max {mx} but dropped")
                if m < arg * mx - TOL and rrow[j] != 0.0:
                    fail(f"{name} row {k} col {j}: |{orow[j]}| < {arg} x max {mx} but kept")
        else:
            dropped = [m for j, m in enumerate(mags) if rrow[j] == 0.0 and m > 0]
            kept_mags = [mags[j] for j in kept]
            if kept_mags and dropped and min(kept_mags) < max(dropped) - TOL:
                fail(f"{name} row {k}: a dropped entry is larger than a kept one")
            if mode == "--top-k":
                if len(kept) > int(arg):
                    fail(f"{name} row {k}: {len(kept)} entries kept, top-k {int(arg)}")
                if len(kept) < min(int(arg), sum(1 for m in mags if m > 0)):
                    fail(f"{name} row {k}: only {len(kept)} entries kept, top-k {int(arg)}")
            elif mode == "--mass":
                if sum(kept_mags) < arg * total - 1e-4 * max(total, 1e-30):
                    fail(f"{name} row {k}: kept mass {sum(kept_mags)} < {arg} x {total}")
            else:
                fail(f"unknown mode {mode}")
        if "kept_mass" in r and not (0 < r["kept_mass"] <= 1 + 1e-6 or math.isclose(mx, 0)):
            fail(f"{name}: kept_mass {r['kept_mass']}")
print(f"compare_explain: {len(ko)} results match ({mode})")
