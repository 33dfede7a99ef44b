"""Property tests for archcheck/layers/arith.py against torch 2.13 on tiny tensors.

For random shapes, dtypes and fields (valid and invalid alike), archcheck must
report an error exactly when torch raises, and otherwise give torch's output
shape and dtype. Plus a spec using every new type, generated, built and run.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import archcheck.engine.walk  # noqa: E402
import archcheck.spec.loader  # noqa: E402
import archcheck.spec.schema  # noqa: E402

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
TD = {
    "float32": torch.float32,
    "float16": torch.float16,
    "float64": torch.float64,
    "long": torch.long,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}
DT_NAME = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.int64: "int64"}


def ac(type_: str, fields: dict[str, Any], shapes: list[tuple[int, ...]], dtypes: list[str]):
    spec: dict[str, Any] = {"name": "T"}
    if len(shapes) == 1:
        spec["input"] = {"shape": list(shapes[0]), "dtype": dtypes[0]}
        layer = {"name": "l0", "type": type_, **fields}
    else:
        spec["inputs"] = {f"i{k}": {"shape": list(s), "dtype": d} for k, (s, d) in enumerate(zip(shapes, dtypes))}
        layer = {"name": "l0", "type": type_, "inputs": [f"i{k}" for k in range(len(shapes))], **fields}
    spec["layers"] = [layer]
    res = archcheck.engine.walk.check(
        archcheck.spec.schema.parse_spec(archcheck.spec.loader.load_text(json.dumps(spec), "t.json"))
    )
    errs = [d.code for d in res.diagnostics if d.severity == "error"]
    out = res.layers[0].output if res.layers and res.layers[0].output is not None else None
    return errs, out, [f"{d.code}: {d.message}" for d in res.diagnostics]


def agree(type_, fields, shapes, dtypes, fn):
    errs, out, msgs = ac(type_, fields, shapes, dtypes)
    xs = [
        torch.randn(s).to(TD[d]) if d.startswith("float") else torch.randint(0, 3, s).to(TD[d])
        for s, d in zip(shapes, dtypes)
    ]
    exc, y = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y = fn(*xs)
        except Exception as e:  # noqa: BLE001
            exc = e
    where = f"\n  {type_}({fields}) on {shapes} {dtypes}\n  archcheck: {errs} {out} {msgs}\n  torch: {exc!r} {None if y is None else (tuple(y.shape), y.dtype)}"
    assert bool(errs) == (exc is not None), where
    if y is not None:
        assert out is not None and tuple(out.shape) == tuple(y.shape), "shapes differ" + where
        want = {"long": "int64"}.get(out.dtype, out.dtype)
        assert want == str(y.dtype).removeprefix("torch."), "dtypes differ" + where


def shape_st(lo=0, hi_rank=4, hi=4):
    return st.lists(st.integers(1, hi), min_size=lo, max_size=hi_rank).map(tuple)


@st.composite
def matmul_shapes(draw):
    """Mostly compatible shapes (inner dims matched, batch dims broadcastable), sometimes not."""
    ra, rb = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    k = draw(st.integers(1, 4))
    a = list(draw(shape_st(ra, ra)))
    b = list(draw(shape_st(rb, rb)))
    if draw(st.integers(0, 4)):  # usually make the inner dims fit
        if a:
            a[-1] = k
        if len(b) >= 2:
            b[-2] = k
        elif b:
            b[-1] = k
    if draw(st.booleans()):  # batch dims: 1 or copied
        for j in range(1, min(len(a), len(b)) - 1):
            a[-2 - j] = draw(st.sampled_from([1, b[-2 - j]]))
    return tuple(a), tuple(b)


@SETTINGS
@given(matmul_shapes(), st.sampled_from([("float32", "float32"), ("long", "long"), ("float32", "long")]))
def test_matmul(shapes, dtypes):
    agree("MatMul", {}, list(shapes), list(dtypes), lambda a, b: a @ b)


@SETTINGS
@given(shape_st(), shape_st(), st.sampled_from(["Subtract", "Divide"]), st.sampled_from(["float32", "long"]))
def test_subtract_divide(a, b, type_, dtype):
    fn = (lambda x, y: x - y) if type_ == "Subtract" else (lambda x, y: x / y)
    agree(type_, {}, [a, b], [dtype, dtype], fn)


OPS = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__", "pow": "__pow__"}


@SETTINGS
@given(
    shape_st(),
    st.sampled_from(sorted(OPS)),
    st.one_of(st.integers(-3, 3), st.floats(-2, 2, allow_nan=False)),
    st.sampled_from(["float32", "long", "int32", "bool"]),
)
def test_arith(shape, op, value, dtype):
    agree("Arith", {"op": op, "value": value}, [shape], [dtype], lambda x: getattr(x, OPS[op])(value))


dims_st = st.one_of(st.none(), st.integers(-5, 5), st.lists(st.integers(-5, 5), max_size=3))


@SETTINGS
@given(shape_st(hi=2), dims_st)
def test_squeeze(shape, dim):
    fields = {} if dim is None else {"dim": dim}
    agree(
        "Squeeze",
        fields,
        [shape],
        ["float32"],
        lambda x: x.squeeze() if dim is None else x.squeeze(tuple(dim) if isinstance(dim, list) else dim),
    )


@SETTINGS
@given(shape_st(), st.integers(-6, 6))
def test_unsqueeze(shape, dim):
    agree("Unsqueeze", {"dim": dim}, [shape], ["float32"], lambda x: x.unsqueeze(dim))


@SETTINGS
@given(shape_st(), dims_st, st.booleans(), st.sampled_from(["float32", "long", "int32", "bool"]))
def test_sum(shape, dim, keep, dtype):
    fields: dict[str, Any] = {"keepdim": keep}
    if dim is not None:
        fields["dim"] = dim
    agree("Sum", fields, [shape], [dtype], lambda x: x.sum(dim=dim, keepdim=keep))


@SETTINGS
@given(shape_st(), st.one_of(st.integers(-3, 3), st.lists(st.integers(-3, 3), max_size=3)), dims_st)
def test_roll(shape, shifts, dims):
    fields: dict[str, Any] = {"shifts": shifts}
    if dims is not None:
        fields["dims"] = dims
    agree("Roll", fields, [shape], ["float32"], lambda x: x.roll(shifts, dims) if dims is not None else x.roll(shifts))


@SETTINGS
@given(shape_st(), st.sampled_from(sorted(TD)), st.sampled_from(["float32", "long"]))
def test_to(shape, dtype, src):
    agree("To", {"dtype": dtype}, [shape], [src], lambda x: x.to(TD[dtype]))


ATTENTION = """
name: HandAttention
inputs:
  x: {shape: [N, 16, 32]}
layers:
  - {name: q, type: Linear, out_features: 32, inputs: [x]}
  - {name: k, type: Linear, out_features: 32, inputs: [x]}
  - {name: kt, type: Transpose, dim0: -2, dim1: -1, inputs: [k]}
  - {name: s, type: MatMul, inputs: [q, kt]}
  - {name: scaled, type: Arith, op: mul, value: 0.1767766952966369}
  - {name: w, type: Softmax, dim: -1}
  - {name: o, type: MatMul, inputs: [w, x]}
  - {name: g, type: Arith, op: mul, value: 0.458, inputs: [o]}
  - {name: h, type: Arith, op: add, value: -0.03}
  - {name: d, type: Subtract, inputs: [h, o]}
  - {name: e, type: Divide, inputs: [d, x]}
  - {name: u, type: Unsqueeze, dim: 1}
  - {name: sq, type: Squeeze, dim: 1}
  - {name: r, type: Roll, shifts: [-3, 2], dims: [1, 2]}
  - {name: c, type: To, dtype: float64}
  - {name: t, type: Sum, dim: -1}
"""


def test_spec_generates_and_runs(tmp_path):
    from archcheck.emit.codegen import generate

    res = archcheck.engine.walk.check(
        archcheck.spec.schema.parse_spec(archcheck.spec.loader.load_text(ATTENTION, "a.yaml"))
    )
    assert not [d for d in res.diagnostics if d.severity == "error"], [d.message for d in res.diagnostics]
    assert tuple(res.layers[-1].output.shape) == ("N", 16)
    assert res.layers[-1].output.dtype == "float64"
    src = generate(res)
    assert "q @ kt" in src.replace("self.", "") or " @ " in src
    ns: dict[str, Any] = {}
    exec(compile(src, "gen.py", "exec"), ns)  # noqa: S102
    cls = next(
        v for k, v in ns.items() if isinstance(v, type) and issubclass(v, torch.nn.Module) and v is not torch.nn.Module
    )
    y = cls()(torch.randn(3, 16, 32))
    assert tuple(y.shape) == (3, 16) and y.dtype == torch.float64
