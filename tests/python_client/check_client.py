"""Checks the installed mamba_explain_client against the C++ client's JSON (see
python_client_test.sh). usage: check_client.py HOST:PORT DIR (DIR holds cpp_<model>.json)."""
import json
import sys

import numpy as np

from mamba_explain_client import METHODS, Client, ExplainError, Header, Result, Summary

addr, tmp = sys.argv[1], sys.argv[2]
methods = ["latim-l2", "latim-alti-logit", "grad-x-input", "rollout", "mamba-attribution"]
ids = [1, 5, 7, 9, 11, 13]


def compare(exp, cpp_path):
    cpp = json.load(open(cpp_path))
    assert exp.ids.tolist() == cpp["ids"], (exp.ids, cpp["ids"])
    assert exp.tokens == cpp["tokens"], (exp.tokens, cpp["tokens"])
    assert [(r.method, r.layer) for r in exp.results] == \
        [(r["method"], r["layer"]) for r in cpp["results"]], "result order"
    for r, c in zip(exp.results, cpp["results"]):
        want = np.array(c.get("matrix", c.get("scores")), np.float32)
        assert r.values.dtype == np.float32 and r.values.shape == want.shape, (r.method, r.layer)
        assert np.array_equal(r.values, want), (r.method, r.layer, np.abs(r.values - want).max())
        assert r.rows.tolist() == c["rows"], (r.method, r.rows, c["rows"])
        if c["approx_error"] is None:
            assert r.approx_error is None, (r.method, r.approx_error)
        else:
            assert abs(r.approx_error - c["approx_error"]) <= 1e-6 * max(1, abs(c["approx_error"]))
        if "explained_logit" in c:
            assert np.allclose(r.explained_logit, c["explained_logit"], rtol=0, atol=0)
            assert r.targets.tolist() == c["targets"]


# The client's method set is the catalogue (`mamba-explain methods --json`, written by the test
# script): a catalogue method missing from the package, or a stale field, fails here.
catalogue = {m["name"]: m for m in json.load(open(f"{tmp}/methods.json"))["methods"]}
assert METHODS == catalogue, (sorted(set(catalogue) ^ set(METHODS)), METHODS, catalogue)

with Client(addr) as client:
    names = {m["name"]: m for m in client.models()}
    for m in names.values():
        assert set(m["methods"]) <= set(METHODS), (m["name"], set(m["methods"]) - set(METHODS))
    assert names["m1"]["state"] == "READY" and names["m1"]["vocab_size"] == 96, names
    for model in ("m1", "m2"):
        exp = client.explain(model, ids=ids, methods=methods)
        assert exp.header.model == model and exp.summary is not None
        compare(exp, f"{tmp}/cpp_{model}.json")
        sparse = client.explain(model, ids=ids, methods=["latim-l1"], rows="last", top_k=2)
        compare(sparse, f"{tmp}/cpp_sparse_{model}.json")
        assert all((np.count_nonzero(r.matrix, axis=1) <= 2).all() for r in sparse.results)
    # Streaming: the header first, each result once it is complete, the summary last.
    items = list(client.explain_stream("m1", ids=ids, methods=["latim-l2", "grad-x-input"]))
    assert isinstance(items[0], Header) and isinstance(items[-1], Summary), items
    results = items[1:-1]
    assert all(isinstance(r, Result) for r in results)
    assert [(r.method, r.layer) for r in results] == \
        [("latim-l2", 0), ("latim-l2", 1), ("latim-l2", 2), ("grad-x-input", -1)], \
        [(r.method, r.layer) for r in results]
    # Progress: only when asked; each long method's last step (done == total) before its result.
    seen = []
    exp = client.explain("m1", ids=ids, methods=["integrated-gradients", "mamba-lrp"], ig_steps=20,
                         on_progress=seen.append)
    rows = len(ids)
    for method, total in (("integrated-gradients", rows * 20), ("mamba-lrp", rows)):
        done = [p.done for p in seen if p.method == method]
        assert done and done == sorted(done) and done[-1] == total, (method, seen)
        assert all(p.total == total for p in seen if p.method == method), seen
    assert [r.method for r in exp.results] == ["integrated-gradients", "mamba-lrp"], exp.results
    items = list(client.explain_stream("m1", ids=ids, methods=["integrated-gradients"],
                                       progress=True))
    kinds = [type(i).__name__ for i in items]
    assert kinds.index("Progress") < kinds.index("Result"), kinds
    assert "Progress" not in [type(i).__name__ for i in client.explain_stream(
        "m1", ids=ids, methods=["integrated-gradients"])]
    # Errors carry the status code name and the server's field-level message.
    try:
        client.explain("m1", ids=[1, 96], methods=["latim-l2"])
        raise AssertionError("no error for an id beyond the vocabulary")
    except ExplainError as e:
        assert e.code == "INVALID_ARGUMENT" and "token_ids[1]=96" in e.message, e
    try:
        client.explain("nope", ids=[1], methods=["latim-l2"])
        raise AssertionError("no error for an unknown model")
    except ExplainError as e:
        assert e.code == "NOT_FOUND", e
print("python client checks passed")
