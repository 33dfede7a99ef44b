"""ScaledDotProductAttention and Arange (archcheck/layers/attention_ops.py) against torch, and the index check
an Embedding makes on Arange's positions (AC265; on a free dim the maximum T <= num_embeddings, AC266).

Property tests: for random shapes, dtypes and fields (valid and invalid alike) archcheck reports an error
exactly when torch raises, and otherwise gives torch's output shape and dtype. Then MACs against torch's
FlopCounterMode, free dims, the messages, and nanoGPT's CausalSelfAttention written as a spec, built and
compared with nanoGPT's own module value for value (the same weights give the same output).
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import pytest
from conftest import run_cli

import archcheck
from archcheck import check
from archcheck.emit.codegen import generate
from archcheck.emit.diagram import to_dot
from archcheck.emit.summary import render as summary_render
from archcheck.spec.jsonschema import schema_text

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from archcheck.emit.verify import module_from_result  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
TD = {"float32": torch.float32, "float64": torch.float64, "long": torch.long}


def _spec(shapes: list[tuple[int, ...] | list[Any]], dtypes: list[str], layer: dict[str, Any]) -> dict[str, Any]:
    names = ["q", "k", "v"][: len(shapes)] if len(shapes) > 1 else ["x"]
    spec: dict[str, Any] = {"name": "T", "layers": [{"name": "l0", **layer}]}
    if len(shapes) == 1:
        spec["input"] = {"shape": list(shapes[0]), "dtype": dtypes[0]}
    else:
        spec["inputs"] = {n: {"shape": list(s), "dtype": d} for n, s, d in zip(names, shapes, dtypes)}
        spec["layers"][0]["inputs"] = names
    return spec


def _ac(spec: dict[str, Any]) -> tuple[list[str], Any, list[str]]:
    res = check(spec)
    errs = [d.code for d in res.diagnostics if d.severity == "error"]
    out = res.layers[-1].output if res.layers else None
    return errs, out, [f"{d.code}: {d.message}" for d in res.diagnostics]


def _agree(spec: dict[str, Any], xs: list[Any], fn: Any) -> None:
    errs, out, msgs = _ac(spec)
    exc, y = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y = fn(*xs)
        except Exception as e:  # noqa: BLE001 - any refusal of torch's
            exc = e
    where = (
        f"\n  {json.dumps(spec)}\n  archcheck: {errs} {out} {msgs}\n  torch: {exc!r} {None if y is None else y.shape}"
    )
    assert bool(errs) == (exc is not None), where
    if y is not None:
        assert out is not None and tuple(out.shape) == tuple(y.shape), "shapes differ" + where
        assert {"long": "int64"}.get(out.dtype, out.dtype) == str(y.dtype).removeprefix("torch."), where


def _tensor(shape: tuple[int, ...], dtype: str) -> Any:
    return torch.randn(shape).to(TD[dtype]) if dtype != "long" else torch.randint(0, 3, shape)


# ------------------------------------------------------------------ ScaledDotProductAttention vs torch


@st.composite
def _qkv(draw: Any) -> tuple[list[tuple[int, ...]], list[str], dict[str, Any]]:
    """query [*b, L, E], key [*b, S, E], value [*b, S, Ev]: mostly fitting, batch dims broadcast (1s, fewer
    dims), sometimes a wrong size, rank or dtype."""
    rank = draw(st.integers(2, 5))
    batch = [draw(st.integers(1, 3)) for _ in range(rank - 2)]
    L, S, E, Ev = (draw(st.integers(1, 4)) for _ in range(4))

    def b() -> list[int]:
        keep = draw(st.integers(0, len(batch)))  # fewer leading dims
        return [1 if draw(st.booleans()) and draw(st.booleans()) else d for d in batch[len(batch) - keep :]]

    q, k, v = [*b(), L, E], [*b(), S, E], [*b(), S, Ev]
    for t in (q, k, v):  # a wrong size now and then
        if draw(st.integers(0, 9)) == 0:
            t[draw(st.integers(0, len(t) - 1))] = draw(st.integers(1, 4))
    if draw(st.integers(0, 14)) == 0:
        q = q[-1:]  # 1-D
    dtypes = [draw(st.sampled_from(["float32", "float32", "float32", "float64", "long"])) for _ in range(3)]
    if draw(st.booleans()):
        dtypes = [dtypes[0]] * 3
    fields: dict[str, Any] = {"type": "ScaledDotProductAttention", "is_causal": draw(st.booleans())}
    if draw(st.booleans()):
        fields["scale"] = draw(st.sampled_from([0.125, 1.0, 2.5]))
    return [tuple(q), tuple(k), tuple(v)], dtypes, fields


@SETTINGS
@given(_qkv())
def test_sdpa_agrees_with_torch(case: tuple[list[tuple[int, ...]], list[str], dict[str, Any]]) -> None:
    shapes, dtypes, fields = case
    xs = [_tensor(s, d) for s, d in zip(shapes, dtypes)]
    kw = {k: v for k, v in fields.items() if k != "type"}
    _agree(_spec(list(shapes), dtypes, fields), xs, lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw))


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)],
        [(1, 12, 16, 64)] * 3,
        [(2, 1, 4, 8), (3, 5, 8), (1, 5, 6)],
        [(4, 8), (5, 8), (5, 6)],
        [(2, 2, 3, 4, 8), (2, 3, 5, 8), (5, 6)],
    ],
)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_macs_are_torchs_flop_count(shapes: list[tuple[int, ...]], causal: bool) -> None:
    """QK^T and AV, the full L x S even when causal: half of FlopCounterMode's count (the reference's MACs)."""
    from torch.utils.flop_counter import FlopCounterMode

    res = check(_spec(list(shapes), ["float32"] * 3, {"type": "ScaledDotProductAttention", "is_causal": causal}))
    assert res.ok
    counter = FlopCounterMode(display=False)
    with counter:
        F.scaled_dot_product_attention(*(torch.empty(s, device="meta") for s in shapes), is_causal=causal)
    assert res.total_macs == counter.get_total_flops() // 2 > 0


def test_sdpa_messages_name_the_inputs_and_the_dims() -> None:
    res = check(
        _spec([(2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 6, 6)], ["float32"] * 3, {"type": "ScaledDotProductAttention"})
    )
    (d,) = res.diagnostics
    assert d.code == "AC219" and d.path == "l0"
    assert "key and value must agree in the key length S (second-last dim): 5 vs 6" in d.message
    assert d.message.endswith("(key [2, 3, 5, 8] (the model input k); value [2, 3, 6, 6] (the model input v))")
    res = check(
        _spec([(2, 3, 4, 8), (2, 2, 5, 8), (2, 3, 5, 6)], ["float32"] * 3, {"type": "ScaledDotProductAttention"})
    )
    (d,) = res.diagnostics
    assert d.code == "AC219" and "cannot broadcast the batch dims of its query and key: 3 vs 2 in dim -3" in d.message
    res = check(_spec([(2, 4, 8)] * 3, ["float32", "float32", "long"], {"type": "ScaledDotProductAttention"}))
    assert [d.code for d in res.diagnostics] == [
        "AC214"
    ] and "but its value [2, 4, 8] (the model input v) has dtype long" in res.diagnostics[0].message


def test_sdpa_on_free_dims_records_conditions() -> None:
    """Heads of a free T: the output keeps T; key and value of free lengths S and S2 must agree (a condition)."""
    layer = {"type": "ScaledDotProductAttention", "is_causal": True}
    res = check(_spec([["B", 2, "T", 8], ["B", 2, "T", 8], ["B", 2, "T", 8]], ["float32"] * 3, layer))
    assert res.ok and res.layers[0].output.shape == ("B", 2, "T", 8)
    assert res.total_macs is None  # T x T products of a free T
    res = check(_spec([["B", 4, 8], ["B", "S", 8], ["B", "S2", 8]], ["float32"] * 3, layer))
    assert [(d.code, d.severity) for d in res.diagnostics] == [("AC306", "warning")]
    assert "needs S == S2" in res.diagnostics[0].message


def test_sdpa_code_diagram_and_summary() -> None:
    layer = {"type": "ScaledDotProductAttention", "is_causal": True, "dropout_p": 0.1, "scale": 0.125}
    res = check(_spec([(2, 3, 4, 8)] * 3, ["float32"] * 3, layer))
    assert res.ok
    code = generate(res)
    call = "nn.functional.scaled_dot_product_attention(q,k,v,dropout_p=0.1ifself.trainingelse0.0,is_causal=True,scale=0.125)"
    assert call in "".join(code.split()).replace(",)", ")")  # however ruff-style wrapping splits the line
    model = module_from_result(res).eval()
    q, k, v = (torch.randn(2, 3, 4, 8) for _ in range(3))
    with torch.no_grad():  # eval mode: no dropout, so exactly torch's function
        assert torch.allclose(model(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.125))
    dot = to_dot(res)
    assert "<b>l0</b>" in dot and "ScaledDotProduct" in dot  # the diagram wraps the long type name
    assert res.layers[0].layer is not None and res.layers[0].layer.label() == "causal p=0.1 scale 0.125"
    assert "ScaledDotProductAttention" in summary_render(res)


# ------------------------------------------------------------------ Arange vs torch


@SETTINGS
@given(
    st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple),  # an input size is at least 1
    st.integers(-5, 4),
    st.integers(0, 7),
    st.integers(1, 3),
)
def test_arange_agrees_with_torch(shape: tuple[int, ...], dim: int, start: int, step: int) -> None:
    spec = _spec([shape], ["long"], {"type": "Arange", "dim": dim, "start": start, "step": step})

    def torch_arange(x: Any) -> Any:
        return torch.arange(start, x.size(dim), step, dtype=torch.long, device=x.device)

    _agree(spec, [torch.zeros(shape, dtype=torch.long)], torch_arange)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 12), st.integers(1, 3))
def test_an_embedding_of_positions_agrees_with_torch(size: int, n: int, start: int, step: int) -> None:
    """torch raises IndexError exactly when archcheck reports AC265 (or AC267: a range that runs backwards)."""
    spec = _spec([(2, size)], ["long"], {"type": "Arange", "dim": 1, "start": start, "step": step})
    spec["layers"].append({"name": "emb", "type": "Embedding", "num_embeddings": n, "embedding_dim": 3})
    emb = nn.Embedding(n, 3)

    def torch_positions(x: Any) -> Any:
        return emb(torch.arange(start, x.size(1), step, dtype=torch.long, device=x.device))

    _agree(spec, [torch.zeros(2, size, dtype=torch.long)], torch_positions)


def test_arange_on_a_free_dim_and_its_code() -> None:
    res = check(
        {
            "name": "P",
            "input": {"shape": ["B", "T"], "dtype": "long"},
            "layers": [{"name": "pos", "type": "Arange", "dim": 1}],
        }
    )
    assert res.ok and res.layers[0].output.shape == ("T",) and res.layers[0].output.dtype == "long"
    assert res.layers[0].output.values[0] == 0 and str(res.layers[0].output.values[1]) == "T - 1"
    assert "torch.arange(0, x.size(1), dtype=torch.long, device=x.device)" in generate(res)
    res = check(
        {
            "name": "P",
            "input": {"shape": ["B", "T"], "dtype": "long"},
            "layers": [{"name": "pos", "type": "Arange", "dim": 1, "start": 3}],
        }
    )
    assert [(d.code, d.severity) for d in res.diagnostics] == [("AC311", "note")]  # T must be at least 3
    assert "T must be at least 3" in res.diagnostics[0].message


# ------------------------------------------------------------------ Embedding of positions: T <= num_embeddings


def _positions(t: Any, n: int = 1024, dims: dict[str, Any] | None = None, **arange: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "Pos",
        "input": {"shape": ["B", t], "dtype": "long"},
        "layers": [
            {"name": "pos", "type": "Arange", "dim": 1, **arange},
            {"name": "wpe", "type": "Embedding", "num_embeddings": n, "embedding_dim": 8},
        ],
    }
    if dims is not None:
        spec["dims"] = dims
    return spec


def test_positions_beyond_the_table_are_an_error_at_the_embedding() -> None:
    assert check(_positions(1024)).ok
    res = check(_positions(1025))
    (d,) = res.diagnostics
    assert (d.code, d.severity, d.path) == ("AC265", "error", "wpe")
    assert d.message == (
        "wpe looks up positions 0 to 1024 from pos in its 1024 embeddings (num_embeddings=1024): "
        "index 1024 is out of range (valid: 0 to 1023); torch raises IndexError"
    )
    assert d.hint == "make the sequence shorter (at most 1024 positions), or raise num_embeddings to 1025"
    assert res.layers[1].output is not None  # recovered: the output's shape does not depend on the values
    assert not check(_positions(10, n=5, start=2, step=2)).ok  # positions 2, 4, 6, 8: 8 >= 5
    assert check(_positions(10, n=9, start=2, step=2)).ok


def test_a_free_sequence_length_gets_a_maximum() -> None:
    """T free: T <= num_embeddings, exact (the largest T that works is the table's size), located at wpe."""
    res = check(_positions("T", dims={"T": {"min": 1, "max": 1024}}))
    assert res.diagnostics == []
    res = check(_positions("T", dims={"T": {"min": 1, "max": 2048}}))
    (d,) = res.diagnostics
    assert (d.code, d.severity, d.path) == ("AC266", "warning", "wpe")
    assert d.message.startswith("T must be at most 1024: wpe looks up positions 0 to T - 1 from pos")
    assert d.hint == "lower the maximum: dims: {T: {max: 1024}}, or make the table larger"
    (d,) = check(_positions("T")).diagnostics  # no declared range: a note, as a minimum's AC311
    assert (d.code, d.severity) == ("AC266", "note") and d.hint == "declare it: dims: {T: {max: 1024}}"
    (d,) = check(_positions("T", dims={"T": {"min": 2000}})).diagnostics  # no size of T works
    assert (d.code, d.severity) == ("AC307", "error") and d.message.endswith("which needs T <= 1024")
    # positions start, start + step, ...: the largest T whose last position is below the table
    for n, start, step in [(9, 2, 2), (10, 0, 3), (7, 1, 1)]:
        (d,) = [d for d in check(_positions("T", n=n, start=start, step=step)).diagnostics if d.code != "AC311"]
        best = max(t for t in range(start, 100) if start + step * (math.ceil((t - start) / step) - 1) < n)
        assert d.code == "AC266" and d.message.startswith(f"T must be at most {best}:"), (n, start, step, d.message)


def test_the_gpt2_spec_reports_a_longer_context() -> None:
    spec = archcheck.load("specs/gpt2.yaml")
    assert check(spec).diagnostics == []
    (d, *_) = [d for d in check(spec, {"T": 1025}).diagnostics if d.code == "AC265"]
    assert d.path == "transformer.wpe" and d.line == next(
        i for i, line in enumerate(open("specs/gpt2.yaml").read().splitlines(), 1) if "name: wpe" in line
    )


# ------------------------------------------------------------------ nanoGPT's attention, value for value


class NanoAttention(nn.Module):
    """nanoGPT's CausalSelfAttention (flash path), as tests/data/make_reference.py re-implements it."""

    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x: Any) -> Any:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def test_the_gpt_spec_computes_what_nanogpt_computes() -> None:
    """specs/gpt2_tiny.yaml built, with nanoGPT's weights loaded: the same logits (causal masking, the q/k/v
    split order and the head layout all show in the values, not in the shapes)."""
    res = check(archcheck.load("specs/gpt2_tiny.yaml"), {"B": 2, "T": 16})
    torch.manual_seed(0)
    model = module_from_result(res).eval()
    attn = NanoAttention(64, 2)
    block = model.transformer.h[0].attn
    attn.load_state_dict(block.state_dict())  # the same keys: c_attn.*, c_proj.*
    x = torch.randn(2, 16, 64)
    with torch.no_grad():
        assert torch.allclose(block(x), attn(x), atol=1e-6)
        logits = model(torch.randint(0, 1000, (2, 16)))
        # causal: changing the last token changes no earlier position's logits
        idx = torch.randint(0, 1000, (1, 16))
        idx2 = idx.clone()
        idx2[0, -1] = (idx[0, -1] + 1) % 1000
        a, b = model(idx), model(idx2)
    assert logits.shape == (2, 16, 1000)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6) and not torch.allclose(a[:, -1], b[:, -1])
    assert model.lm_head.weight is model.transformer.wte.weight


def test_types_and_schema_list_them() -> None:
    r = run_cli("types")
    assert r.exit_code == 0 and "ScaledDotProductAttention" in r.output and "Arange" in r.output
    schema = json.loads(schema_text())["definitions"]
    sdpa = schema["layer.ScaledDotProductAttention"]["properties"]
    assert {"dropout_p", "is_causal", "scale"} <= set(sdpa)
    assert "dim" in schema["layer.Arange"]["required"]
