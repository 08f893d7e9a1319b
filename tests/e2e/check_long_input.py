"""Checks of tests/e2e/long_input_test.sh: a long input (ids in the Header and InputTokens
messages) read back by each client.

  check_long_input.py grpc IDS RESULT.json STREAM.jsonl
      the C++ client's JSON: every id and token string, rows = [n - 1], per layer a row of n
      values with exactly 8 non-zero finite entries (TOP_K 8); its stream log: header, then
      input_tokens at contiguous offsets before any result, each message <= 1 MiB.
  check_long_input.py http IDS GRPC.json NDJSON
      the gateway's NDJSON: header with the first ids, inputTokens lines with the rest in order,
      before any result; each line under 4 MiB of JSON (one <= 1 MiB message); layer rows equal
      the gRPC JSON's.
  check_long_input.py python IDS GRPC.json HOST:PORT
      the Python client (importable): Header.ids/tokens complete, rows equal the C++ client's;
      and its assembler refuses a gap in the offsets with DATA_LOSS.
"""
import json
import math
import sys

MIB = 1 << 20


def close(a, b):  # float32 values through two JSON printers
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def load_ids(path):
    return [int(x) for x in open(path).read().split()]


def nonzero(row):
    return {j: v for j, v in enumerate(row) if v != 0}


def check_grpc(ids, grpc, stream):
    n = len(ids)
    assert grpc["ids"] == ids, "ids differ"
    assert len(grpc["tokens"]) == n and all(grpc["tokens"]), "token strings"
    assert grpc["target_rows"] == [n - 1], grpc["target_rows"]
    assert len(grpc["results"]) == 3, [r["layer"] for r in grpc["results"]]
    for r in grpc["results"]:
        assert r["rows"] == [n - 1], r["rows"]
        (row,) = r["matrix"]
        assert len(row) == n
        kept = nonzero(row)
        assert len(kept) == 8 and all(math.isfinite(v) for v in kept.values()), kept
        print(f"{r['method']} layer {r['layer']}: top-8 columns {sorted(kept)} of {n}")
    kinds = [json.loads(line) for line in open(stream)]
    assert kinds[0]["kind"] == "header", kinds[0]
    chunks = [k for k in kinds if k["kind"] == "input_tokens"]
    assert chunks and kinds[1:1 + len(chunks)] == chunks, "input_tokens right after the header"
    header_ids = chunks[0]["offset"]
    assert 0 < header_ids < n, header_ids
    at = header_ids
    for c in chunks:
        assert c["offset"] == at, (c, at)
        at += c["ids"]
    assert at == n, (at, n)
    biggest = max(k["bytes"] for k in kinds)
    assert biggest <= MIB, biggest
    print(f"stream: header with {header_ids} ids + {len(chunks)} input_tokens messages, "
          f"largest message {biggest} bytes")


def check_http(ids, grpc, ndjson):
    lines = open(ndjson).read().splitlines()
    events = [json.loads(x) for x in lines if x.strip()]
    assert "header" in events[0], events[0].keys()
    assert not any("error" in e for e in events), [e for e in events if "error" in e]
    h = events[0]["header"]
    got_ids = [int(x) for x in h["tokenIds"]]
    tokens = list(h["tokens"])
    assert int(h["numColumns"]) == len(ids) and len(got_ids) < len(ids), len(got_ids)
    k = 1
    while "inputTokens" in events[k]:
        t = events[k]["inputTokens"]
        assert int(t["offset"]) == len(got_ids), (t["offset"], len(got_ids))
        got_ids += [int(x) for x in t["tokenIds"]]
        tokens += t["tokens"]
        k += 1
    assert k > 1, "no inputTokens events"
    assert got_ids == ids and tokens == grpc["tokens"], "reassembled ids or tokens differ"
    assert not any("inputTokens" in e for e in events[k:]), "inputTokens after a result"
    # Each line is the JSON of one message of <= 1 MiB: bounded, however long the input (token
    # strings such as "<23>" print as "\u003c23\u003e", so a line may be a few times the bytes).
    assert max(len(x) for x in lines) < 4 * MIB, max(len(x) for x in lines)
    want = {r["layer"]: nonzero(r["matrix"][0]) for r in grpc["results"]}
    layers = [e["layerResult"] for e in events if "layerResult" in e]
    assert sorted(int(l["layer"]) for l in layers) == sorted(want), [l["layer"] for l in layers]
    for l in layers:
        got = {int(c): float(v) for c, v in zip(l["colIndices"], l["values"])}
        assert got.keys() == want[int(l["layer"])].keys(), l["layer"]
        assert all(close(got[c], want[int(l["layer"])][c]) for c in got), l["layer"]
    assert "summary" in events[-1], events[-1].keys()
    print(f"http: header with {len(h['tokenIds'])} ids + {k - 1} inputTokens lines")


def check_python(ids, grpc, addr):
    import numpy as np
    from mamba_explain_client import Client, ExplainError, Header, _Assembler, pb

    with Client(addr) as client:
        items = list(client.explain_stream("m1", ids=ids, methods=["synthetic-decay"],
                                           rows="last", top_k=8))
    headers = [x for x in items if isinstance(x, Header)]
    assert len(headers) == 1 and items[0] is headers[0], "one complete Header first"
    h = headers[0]
    assert h.ids.dtype == np.int32 and h.ids.tolist() == ids, "ids"
    assert h.tokens == grpc["tokens"], "tokens"
    results = [x for x in items[1:-1]]
    assert [r.layer for r in results] == [r["layer"] for r in grpc["results"]]
    for r, c in zip(results, grpc["results"]):
        want = np.array(c["matrix"], np.float32)
        assert r.matrix.shape == want.shape and np.array_equal(r.matrix, want), r.layer
        assert r.rows.tolist() == [len(ids) - 1]

    # A gap in the offsets is DATA_LOSS, not a silently shorter input.
    a = _Assembler()
    first = pb.ExplainResponse()
    first.header.num_columns = 4
    first.header.token_ids.extend([1, 2])
    first.header.tokens.extend(["a", "b"])
    assert a.feed(first) == [], "the header waits for its tokens"
    gap = pb.ExplainResponse()
    gap.input_tokens.offset = 3
    gap.input_tokens.token_ids.append(4)
    gap.input_tokens.tokens.append("d")
    try:
        a.feed(gap)
        raise AssertionError("a gap was accepted")
    except ExplainError as e:
        assert e.code == "DATA_LOSS", e
    print(f"python: {len(ids)} ids, {len(results)} results")


def main():
    mode, ids = sys.argv[1], load_ids(sys.argv[2])
    grpc = json.load(open(sys.argv[3]))
    if mode == "grpc":
        check_grpc(ids, grpc, sys.argv[4])
    elif mode == "http":
        check_http(ids, grpc, sys.argv[4])
    elif mode == "python":
        check_python(ids, grpc, sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
