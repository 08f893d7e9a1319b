#!/usr/bin/env python3
"""Checks HTTP Explain streams against the gRPC client's JSON of the same request.

usage: compare_http.py GRPC.json SSE.txt [NDJSON.txt ...]
SSE.txt is the body of POST /v1/explain as text/event-stream, the others application/x-ndjson.
Every stream must be Header first, Summary last, and hold every (method, layer) of the gRPC
result with every value equal as float32 (same engine, same request: no tolerance needed beyond
the float printing), approx_error / kept_mass / targets / explained logits included. Exits 1
naming the first difference.
"""
import json
import math
import struct
import sys


def f32(x):
    if isinstance(x, str):  # proto3 JSON: "NaN", "Infinity", "-Infinity"
        x = float(x)
    if x is None:
        return float("nan")
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def same(a, b):
    a, b = f32(a), f32(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def parse_sse(text):
    events = []
    for block in text.split("\n\n"):
        name, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if data:
            msg = json.loads(data)
            if name != "error":
                assert name == next(iter(msg)), f"event name {name} vs payload {list(msg)}"
            events.append(msg if name != "error" else {"error": msg})
    return events


def parse_ndjson(text):
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def check(grpc, events, what):
    assert events and "header" in events[0], f"{what}: first event is not the header"
    assert "summary" in events[-1], f"{what}: last event is not the summary: {events[-1]}"
    assert not any("error" in e for e in events), f"{what}: error event"
    h = events[0]["header"]
    assert h["tokenIds"] == grpc["ids"], f"{what}: ids {h['tokenIds']} vs {grpc['ids']}"
    rows = h["targetRows"]
    ncol = h["numColumns"]
    got = {}
    for e in events:
        if "layerResult" in e:
            l = e["layerResult"]
            key = (l["method"], l["layer"])
            m = got.setdefault(key, {"matrix": [[0.0] * ncol for _ in rows]})
            k0, k1 = l["rowBegin"], l["rowEnd"]
            dense = l["denseValues"]
            assert len(dense) == (k1 - k0) * ncol, f"{what}: dense size"
            for k in range(k0, k1):
                m["matrix"][k] = dense[(k - k0) * ncol:(k - k0 + 1) * ncol]
            if l["lastBlock"]:
                m["approx_error"] = l["approxError"]
                m["kept_mass"] = l["keptMass"]
                if l["targetTokens"]:
                    m["targets"] = l["targetTokens"]
        elif "tokenScores" in e:
            t = e["tokenScores"]
            m = got.setdefault((t["method"], t["layer"]),
                               {"rows": [], "scores": [], "explained_logit": [], "targets": []})
            n = t["numColumns"]
            for k, r in enumerate(t["targetRows"]):
                m["rows"].append(r)
                m["scores"].append(t["scores"][k * n:(k + 1) * n])
                m["explained_logit"].append(t["explainedLogits"][k])
                m["targets"].append(t["targetTokens"][k])
            m["approx_error"] = t["approxError"]
    want = {(r["method"], r["layer"]): r for r in grpc["results"]}
    assert set(got) == set(want), f"{what}: results {sorted(got)} vs {sorted(want)}"
    n_values = 0
    for key, r in want.items():
        g = got[key]
        for field in ("matrix", "scores"):
            if field in r:
                for k, (a_row, b_row) in enumerate(zip(g[field], r[field])):
                    assert len(a_row) == len(b_row), f"{what} {key} row {k}: length"
                    for j, (a, b) in enumerate(zip(a_row, b_row)):
                        assert same(a, b), f"{what} {key} [{k}][{j}]: HTTP {a} vs gRPC {b}"
                        n_values += 1
        for field in ("approx_error", "kept_mass", "explained_logit"):
            if field in r:
                a, b = g[field], r[field]
                pairs = zip(a, b) if isinstance(b, list) else [(a, b)]
                for x, y in pairs:
                    assert same(x, y), f"{what} {key} {field}: HTTP {x} vs gRPC {y}"
        if "targets" in r:
            assert g["targets"] == r["targets"], f"{what} {key} targets"
    print(f"{what}: {len(events)} events, {len(want)} results, {n_values} values equal")


def main():
    grpc = json.load(open(sys.argv[1]))
    try:
        check(grpc, parse_sse(open(sys.argv[2]).read()), "SSE")
        for path in sys.argv[3:]:
            check(grpc, parse_ndjson(open(path).read()), f"NDJSON {path}")
    except AssertionError as e:
        print("FAIL", e)
        sys.exit(1)


if __name__ == "__main__":
    main()
