"""Python client of mamba-explaind (proto/mamba_explain/v1/explain.proto).

    from mamba_explain_client import Client
    client = Client("127.0.0.1:50051")
    exp = client.explain("copy", ids=[0, 5, 7, 1, 5], methods=["latim-l2", "grad-x-input"])
    exp.tokens, exp.ids                      # the input, as the server tokenized it
    exp.result("latim-l2", layer=1).matrix  # np.float32 [len(rows), n]: target rows x sources
    for item in client.explain_stream(...):  # Header, then each Result as it completes, Summary
        ...

Results mirror the CLI's JSON (README): per-layer matrices (layer -1 for whole-model results),
per-target `scores` with `explained_logit` and `targets`; `approx_error` is None for methods that
define none (the catalogue's "approx_error": false). `METHODS` is the method catalogue
(`mamba-explain methods --json`), shipped with the package. Sparse (CSR) blocks are expanded to
dense rows with zeros where entries were dropped. gRPC errors raise ExplainError with the
status code name (e.g. "INVALID_ARGUMENT") and the server's message.
"""
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import grpc
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_gen"))
from mamba_explain.v1 import explain_pb2 as pb  # noqa: E402  (generated at build time)
from mamba_explain.v1 import explain_pb2_grpc as pb_grpc  # noqa: E402

__all__ = ["Client", "Explanation", "Header", "Result", "Summary", "Progress", "ExplainError",
           "METHODS"]

# The method catalogue (src/attribution/methods.h), as `mamba-explain methods --json` writes it
# into proto/mamba_explain/v1/methods.json; setup.py copies it beside the stubs. name -> {"family",
# "scope", "output_dependent", "result", "approx_error", "summary"}.
with open(os.path.join(os.path.dirname(__file__), "_gen", "mamba_explain", "v1",
                       "methods.json"), encoding="utf-8") as _f:
    METHODS: Dict[str, dict] = {m["name"]: m for m in json.load(_f)["methods"]}


class ExplainError(Exception):
    """A failed RPC: `code` is the gRPC status name, `message` the server's text."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Header:
    model: str
    architecture: str
    n_layers: int
    ids: np.ndarray  # int32 [n]
    tokens: List[str]
    methods: List[str]
    layers: List[int]
    target_rows: np.ndarray  # int32: the rows every matrix has
    target_tokens: np.ndarray  # int32 (empty when no method needed one)
    precision: str
    activation: str
    request_id: str


@dataclass
class Result:
    method: str
    layer: int  # -1 = whole model
    rows: np.ndarray  # int32 target positions
    matrix: Optional[np.ndarray] = None  # float32 [len(rows), n] (matrix methods)
    scores: Optional[np.ndarray] = None  # float32 [len(rows), n] (per-target methods)
    explained_logit: Optional[np.ndarray] = None  # float32 [len(rows)] (per-target methods)
    targets: Optional[np.ndarray] = None  # int32 explained token per row, when any
    approx_error: Optional[float] = None
    kept_mass: Optional[float] = None

    @property
    def values(self) -> np.ndarray:
        """The matrix or the scores, whichever this method produces."""
        return self.matrix if self.matrix is not None else self.scores


@dataclass
class Summary:
    queue_ms: float
    compute_ms: float
    stream_ms: float
    total_ms: float
    batch_size: int
    max_approx_error: float


@dataclass
class Progress:
    """A long method's items (target rows x IG steps or SmoothGrad samples) done of the total;
    only when the request asked for progress."""
    method: str
    done: int
    total: int


@dataclass
class Explanation:
    header: Header
    results: List[Result] = field(default_factory=list)
    summary: Optional[Summary] = None

    @property
    def ids(self) -> np.ndarray:
        return self.header.ids

    @property
    def tokens(self) -> List[str]:
        return self.header.tokens

    def result(self, method: str, layer: int = -1) -> Result:
        for r in self.results:
            if r.method == method and r.layer == layer:
                return r
        raise KeyError(f"no result for method {method!r} at layer {layer}")


def _approx(method: str, value: float) -> Optional[float]:
    """None where the catalogue says the method has no approximation error (a method this
    client's catalogue does not know, from a newer server, keeps its value), or for NaN."""
    if not METHODS.get(method, {"approx_error": True})["approx_error"] or math.isnan(value):
        return None
    return float(value)


class _Assembler:
    """Turns the Explain stream into Header, Result and Summary objects."""

    def __init__(self):
        self.header: Optional[Header] = None
        self._pending: Dict[tuple, Result] = {}
        self._scores_key: Optional[tuple] = None
        # A long input's ids and token strings arrive in the Header and the InputTokens messages
        # that follow it (explain.proto); the Header is yielded once they are all there.
        self._num_columns = 0
        self._ids: List[int] = []
        self._tokens: List[str] = []
        self._input_complete = True

    def _add_input(self, offset: int, ids, tokens) -> List[object]:
        if offset != len(self._ids) or len(ids) != len(tokens) or \
                len(self._ids) + len(ids) > self._num_columns:
            raise ExplainError("DATA_LOSS", f"input tokens at offset {offset} ({len(ids)} ids, "
                               f"{len(tokens)} strings) do not continue the {len(self._ids)} of "
                               f"{self._num_columns} received")
        self._ids.extend(ids)
        self._tokens.extend(tokens)
        if len(self._ids) < self._num_columns:
            return []
        self._input_complete = True
        self.header.ids = np.array(self._ids, np.int32)
        self.header.tokens = self._tokens
        self._ids, self._tokens = [], []
        return [self.header]

    def _new_matrix(self, l) -> Result:
        h = self.header
        return Result(method=l.method, layer=l.layer, rows=h.target_rows.copy(),
                      matrix=np.zeros((len(h.target_rows), l.num_columns), np.float32))

    def feed(self, resp) -> List[object]:
        out: List[object] = []
        kind = resp.WhichOneof("payload")
        if kind != "token_scores" and self._scores_key is not None:
            out.append(self._pending.pop(self._scores_key))
            self._scores_key = None
        if kind not in ("header", "input_tokens") and not self._input_complete:
            raise ExplainError("DATA_LOSS", f"{kind} before the input's {self._num_columns} "
                               f"tokens were complete ({len(self._ids)} received)")
        if kind == "header":
            h = resp.header
            self.header = Header(
                model=h.model, architecture=h.architecture, n_layers=h.n_layers,
                ids=np.zeros(0, np.int32), tokens=[],
                methods=list(h.methods), layers=list(h.layers),
                target_rows=np.array(h.target_rows, np.int32),
                target_tokens=np.array(h.target_tokens, np.int32),
                precision=pb.Precision.Name(h.precision),
                activation=pb.Activation.Name(h.activation), request_id=h.request_id)
            self._num_columns = h.num_columns
            self._input_complete = False
            out.extend(self._add_input(0, h.token_ids, h.tokens))
        elif kind == "input_tokens":
            if self.header is None or self._input_complete:
                raise ExplainError("DATA_LOSS", "input tokens outside a long input's header")
            t = resp.input_tokens
            out.extend(self._add_input(t.offset, t.token_ids, t.tokens))
        elif kind == "layer_result":
            l = resp.layer_result
            key = (l.method, l.layer)
            r = self._pending.get(key)
            if r is None:
                r = self._pending[key] = self._new_matrix(l)
            rows = l.row_end - l.row_begin
            if len(l.dense_values):
                r.matrix[l.row_begin:l.row_end] = np.array(
                    l.dense_values, np.float32).reshape(rows, l.num_columns)
            elif len(l.row_offsets):
                offsets = np.array(l.row_offsets)
                cols = np.array(l.col_indices, np.int64)
                vals = np.array(l.values, np.float32)
                for k in range(rows):
                    a, b = offsets[k], offsets[k + 1]
                    r.matrix[l.row_begin + k, cols[a:b]] = vals[a:b]
            if l.last_block:
                r.approx_error = _approx(l.method, l.approx_error)
                r.kept_mass = float(l.kept_mass)
                if len(l.target_tokens):
                    r.targets = np.array(l.target_tokens, np.int32)
                out.append(self._pending.pop(key))
        elif kind == "token_scores":
            t = resp.token_scores
            key = (t.method, t.layer)
            if self._scores_key is not None and self._scores_key != key:
                out.append(self._pending.pop(self._scores_key))
            self._scores_key = key
            r = self._pending.get(key)
            n = len(t.target_rows)
            block = np.array(t.scores, np.float32).reshape(n, t.num_columns)
            if r is None:
                r = self._pending[key] = Result(
                    method=t.method, layer=t.layer, rows=np.zeros(0, np.int32),
                    scores=np.zeros((0, t.num_columns), np.float32),
                    explained_logit=np.zeros(0, np.float32), targets=np.zeros(0, np.int32))
            r.rows = np.concatenate([r.rows, np.array(t.target_rows, np.int32)])
            r.scores = np.concatenate([r.scores, block])
            r.explained_logit = np.concatenate(
                [r.explained_logit, np.array(t.explained_logits, np.float32)])
            r.targets = np.concatenate([r.targets, np.array(t.target_tokens, np.int32)])
            r.approx_error = _approx(t.method, t.approx_error)
        elif kind == "progress":
            p = resp.progress
            out.append(Progress(method=p.method, done=p.done, total=p.total))
        elif kind == "summary":
            s = resp.summary
            out.append(Summary(queue_ms=s.queue_ms, compute_ms=s.compute_ms,
                               stream_ms=s.stream_ms, total_ms=s.total_ms,
                               batch_size=s.batch_size, max_approx_error=s.max_approx_error))
        return out


class Client:
    """A connection to one mamba-explaind. Plaintext unless `root_certificates` (PEM bytes) is
    given; `token` is sent as a bearer token; `timeout` (seconds) is every call's deadline."""

    def __init__(self, address: str, *, root_certificates: Optional[bytes] = None,
                 token: Optional[str] = None, timeout: float = 300.0):
        options = [("grpc.max_receive_message_length", 64 << 20)]
        if root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.ExplainerStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, fn, request):
        try:
            return fn(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise ExplainError(e.code().name, e.details()) from None

    def models(self) -> List[dict]:
        resp = self._call(self._stub.ListModels, pb.ListModelsRequest())
        return [{"name": m.name, "state": pb.ModelInfo.State.Name(m.state),
                 "architecture": m.architecture, "n_layers": m.n_layers,
                 "vocab_size": m.vocab_size, "methods": list(m.methods)} for m in resp.models]

    def tokenize(self, model: str, text: str):
        """(ids as np.int32, token strings)."""
        resp = self._call(self._stub.Tokenize, pb.TokenizeRequest(model=model, text=text))
        return np.array(resp.token_ids, np.int32), list(resp.tokens)

    @staticmethod
    def request(model: str, *, text: Optional[str] = None,
                ids: Optional[Sequence[int]] = None,
                methods: Sequence[str] = ("latim-l2",), layers: Sequence[int] = (),
                rows: Union[str, Sequence[int]] = "all", target: Optional[int] = None,
                target_tokens: Sequence[int] = (), activation: Optional[str] = None,
                precision: Optional[str] = None, top_k: Optional[int] = None,
                ig_steps: int = 0, ig_rule: str = "", sg_samples: int = 0,
                sg_sigma: Optional[float] = None, sg_input: str = "", seed: int = 0,
                lrp_rules: str = "", attention_norm: str = "", start_layer: int = 0,
                memory_budget_mib: int = 0, priority: int = 0, request_id: str = "",
                progress: bool = False):
        """The ExplainRequest message; the CLI's flag names, unset values take server defaults.
        `progress` asks for Progress items while a long method computes."""
        if (text is None) == (ids is None):
            raise ValueError("give exactly one of text and ids")
        r = pb.ExplainRequest(model=model, methods=list(methods), layers=list(layers),
                              priority=priority, request_id=request_id, progress=progress)
        if text is not None:
            r.text = text
        else:
            r.token_ids.extend(int(i) for i in ids)
        if isinstance(rows, str):
            if rows not in ("all", "last"):
                raise ValueError(f"rows must be 'all', 'last' or a list of positions, not {rows!r}")
            if rows == "last":
                r.row_selection = pb.ROW_SELECTION_LAST
        else:
            r.target_rows.extend(int(i) for i in rows)
        if target is not None:
            r.target_token = int(target)
        r.target_tokens.extend(int(t) for t in target_tokens)
        if activation:
            r.activation = pb.Activation.Value("ACTIVATION_" + activation.upper())
        if precision:
            r.precision = pb.Precision.Value("PRECISION_" + precision.upper())
        if top_k is None:
            r.sparsity.mode = pb.Sparsity.DENSE
        else:
            r.sparsity.mode = pb.Sparsity.TOP_K
            r.sparsity.top_k = top_k
        p = r.parameters
        p.ig_steps, p.smoothgrad_samples, p.seed, p.start_layer = (
            ig_steps, sg_samples, seed, start_layer)
        p.ig_rule, p.smoothgrad_input, p.lrp_rules, p.attention_norm = (
            ig_rule, sg_input, lrp_rules, attention_norm)
        p.memory_budget_mib = memory_budget_mib
        if sg_sigma is not None:
            p.smoothgrad_sigma = sg_sigma
        return r

    def explain_stream(self, model: str, **kwargs) -> Iterator[object]:
        """Yields the Header (with every id and token string, also of a long input whose
        tokens the server sends in several messages), then each Result as soon as the server
        has sent all of it (and, with progress=True, Progress items while a long method
        computes), then the Summary. Keyword arguments: those of `request`."""
        req = self.request(model, **kwargs)
        assembler = _Assembler()
        try:
            for resp in self._stub.Explain(req, timeout=self._timeout, metadata=self._metadata):
                yield from assembler.feed(resp)
        except grpc.RpcError as e:
            raise ExplainError(e.code().name, e.details()) from None

    def explain(self, model: str, on_progress: Optional[Callable[[Progress], None]] = None,
                **kwargs) -> Explanation:
        """The whole explanation; results in the CLI's order (increasing layer, layer -1 last).
        `on_progress`, when given, is called with each Progress of the long methods."""
        exp: Optional[Explanation] = None
        if on_progress is not None:
            kwargs["progress"] = True
        for item in self.explain_stream(model, **kwargs):
            if isinstance(item, Progress):
                if on_progress is not None:
                    on_progress(item)
                continue
            if isinstance(item, Header):
                exp = Explanation(header=item)
            elif isinstance(item, Result):
                exp.results.append(item)
            elif isinstance(item, Summary):
                exp.summary = item
        if exp is None or exp.summary is None:
            raise ExplainError("DATA_LOSS", "stream ended without a summary")
        exp.results.sort(key=lambda r: r.layer if r.layer >= 0 else 1 << 30)
        return exp
