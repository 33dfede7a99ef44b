"""Exactness edge cases (issue 11, item 5), each checked against real torch.

* a ConvTranspose whose output has a 0-size dim: torch returns an empty tensor (AC222, a warning), and
  the layers after it run or refuse exactly as torch's do on an empty tensor (AC224);
* ``Reshape [N, -1]`` once N has a value (``--dim``, ``dims:``, explore, verify);
* ``Reshape [-1, F]`` on a sequence-first ``[S, B, F]`` (torch's ``view(-1, F)``) is allowed;
* ``return_indices: true`` on max pools: the spec keeps the first item, the generated code indexes [0];
* a tensor whose bytes exceed 2**63 - 1 (AC223), for inputs and layer outputs;
* ``outputs: []`` and a name listed twice in ``outputs``.
"""

from __future__ import annotations

import json

import pytest

import archcheck
from archcheck.layers.base import REGISTRY


def _check(text: str, dims: dict[str, int] | None = None):
    return archcheck.check(archcheck.load("t.yaml", text=text), dims)


def _codes(res, severity: str = "error") -> list[str]:
    return [d.code for d in res.diagnostics if d.severity == severity]


# ---------------------------------------------------------------- empty ConvTranspose output


def _upconv(shape: tuple[int, ...]) -> dict:
    """A ConvTranspose that turns ``shape`` with last dim 1 into ``shape`` with last dim 0."""
    nd = len(shape) - 2
    return {
        "name": "up",
        "type": f"ConvTranspose{nd}d",
        "out_channels": shape[1],
        "kernel_size": [1] * (nd - 1) + [2],
        "padding": [0] * (nd - 1) + [1],
    }


def test_convtranspose_empty_output_is_a_warning():
    res = _check(
        "input: {shape: [N, 4, 1, 5]}\nlayers:\n"
        "  - {name: up, type: ConvTranspose2d, out_channels: 8, kernel_size: 2, padding: 1}\n"
    )
    assert res.ok and _codes(res, "warning") == ["AC222"]
    assert res.layers[0].output.shape == ("N", 8, 0, 4)
    # A negative size is still an error.
    res = _check(
        "input: {shape: [N, 4, 1, 5]}\nlayers:\n"
        "  - {name: up, type: ConvTranspose2d, out_channels: 8, kernel_size: 2, padding: 2}\n"
    )
    assert _codes(res) == ["AC203"]


@pytest.mark.parametrize(
    ("n", "groups", "nd"), [(2, 1, 2), (4, 1, 1), (1, 2, 2), (3, 2, 3), (2, 1, 3)], ids=lambda v: str(v)
)
def test_convtranspose_empty_output_equals_torch(n, groups, nd):
    torch = pytest.importorskip("torch")
    cls = getattr(torch.nn, f"ConvTranspose{nd}d")
    shape = (n, 4) + (5,) * (nd - 1) + (1,)
    m = cls(4, 6, 2, padding=1, groups=groups)
    y = m(torch.randn(shape))
    spec = {
        "input": {"shape": list(shape)},
        "layers": [
            {"type": f"ConvTranspose{nd}d", "out_channels": 6, "kernel_size": 2, "padding": 1, "groups": groups}
        ],
    }
    res = archcheck.check(archcheck.load("t.json", text=json.dumps(spec)))
    assert res.ok and "AC222" in _codes(res, "warning")
    assert tuple(res.layers[0].output.shape) == tuple(y.shape)
    assert res.layers[0].params == sum(p.numel() for p in m.parameters())


def test_convtranspose_empty_output_batch_of_one_raises_on_cpu():
    """The case the warning names: torch's plain CPU kernel (a batch of 1, no groups) raises."""
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="too small"):
        torch.nn.ConvTranspose2d(4, 6, 2, padding=1)(torch.randn(1, 4, 1, 5))


EMPTY_CASES = [
    pytest.param(name, i, ex, id=f"{name}-{i}")
    for name, cls in sorted(REGISTRY.items())
    for i, ex in enumerate(cls.examples)
    if ex.error is None and not ex.extra and 3 <= len(ex.input) <= 5 and cls.torch_name is not None
]


@pytest.mark.parametrize(("name", "i", "ex"), EMPTY_CASES)
def test_layer_after_an_empty_tensor_agrees_with_torch(name, i, ex):
    """Every layer type, fed the empty output of a ConvTranspose: archcheck errs (AC224) exactly when torch raises."""
    pytest.importorskip("torch")
    from torch_util import torch_kwargs, torch_run

    src_shape = tuple(ex.input[:-1]) + (1,)
    empty = tuple(ex.input[:-1]) + (0,)
    spec = {
        "input": {"shape": ["N", *src_shape[1:]]},
        "layers": [_upconv(src_shape), {"name": "l0", "type": name, **ex.fields}],
    }
    res = archcheck.check(archcheck.load("t.json", text=json.dumps(spec)), {"N": src_shape[0]})
    assert "AC222" in _codes(res, "warning")
    node = {n.path: n for n in res.layers}["l0"]
    errs = [d.code for d in res.diagnostics if d.severity == "error" and d.path == "l0"]
    kw = torch_kwargs(name, ex.fields, ex.input, node.layer)
    if node.layer is not None:
        kw.update({k: v for k, v in node.layer.ctor_args().items() if kw.get(k) is None})
    th = torch_run(name, kw, empty)
    ran = th.exc is None or th.stage == "empty"
    assert bool(errs) != ran, f"{name}{ex.fields} on {empty}: archcheck {errs or node.output}, torch {th.exc!r}"
    if ran:
        assert tuple(node.output.shape) == th.shape, (name, node.output.shape, th.shape)


# ---------------------------------------------------------------- Reshape [N, -1] with N given

RESHAPE = "input: {shape: [N, 32, 7, 7]}\nlayers:\n  - {name: r, type: Reshape, shape: [N, -1]}\n"


def test_reshape_named_batch_with_dim_value():
    assert _check(RESHAPE).layers[0].output.shape == ("N", 1568)
    res = _check(RESHAPE, {"N": 4})
    assert res.ok and res.layers[0].output.shape == (4, 1568)
    res = _check("dims: {N: 4}\n" + RESHAPE)
    assert res.ok and res.layers[0].output.shape == (4, 1568)
    # A name that is neither a free dim nor given a value is still an error.
    assert _codes(_check(RESHAPE.replace("[N, -1]", "[M, -1]"))) == ["AC104"]


def test_reshape_named_batch_cli(cli, write_spec):
    p = write_spec("name: R\n" + RESHAPE)
    r = cli("validate", "--dim", "N=4", "--format", "json", str(p))
    assert r.exit_code == 0, r.output
    assert r.json()[0]["outputs"] == {"r": [4, 1568]}
    r = cli("explore", str(p), "--set", "N=1,4")
    assert r.exit_code == 0 and "AC104" not in r.output, r.output


def test_reshape_named_batch_verify(cli, write_spec):
    pytest.importorskip("torch")
    p = write_spec(
        "name: R\n" + RESHAPE.replace("layers:\n", "layers:\n  - {type: Conv2d, out_channels: 32, kernel_size: 1}\n")
    )
    r = cli("verify", "--dim", "N=3", str(p))
    assert r.exit_code == 0, r.output
    r = cli("verify", str(p))
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- Reshape [-1, F] on [S, B, F]


@pytest.mark.parametrize(
    ("shape", "new", "ok"),
    [
        ((5, 4, 16), [-1, 16], True),  # view(-1, F) on sequence-first [S, B, F]
        ((4, 5, 16), [-1, 16], True),  # and batch-first [B, T, F]
        ((20, 16), [5, 4, 16], True),  # back
        ((4, 6), [-1], True),  # view(-1)
        ((4, 1568), [-1, 392], False),  # the DESIGN bug: a sample split over 4 rows
        ((4, 32, 7, 7), [-1, 392], False),
        ((5, 4, 16), [-1, 8], False),  # each position's features split in two rows
        ((5, 4, 16), [2, -1, 16], False),  # the S*B rows regrouped across samples
    ],
)
def test_reshape_batch_rule_against_torch(shape, new, ok):
    torch = pytest.importorskip("torch")
    spec = {"input": {"shape": list(shape)}, "layers": [{"type": "Reshape", "shape": new}]}
    res = archcheck.check(archcheck.load("t.json", text=json.dumps(spec)))
    y = torch.zeros(shape).reshape(*new)  # torch takes all of them: AC217 is archcheck's own rule
    if ok:
        assert res.ok, [d.message for d in res.diagnostics]
        assert tuple(res.layers[0].output.shape) == tuple(y.shape)
    else:
        assert _codes(res) == ["AC217"]


def test_reshape_sequence_first_symbolic():
    res = _check("input: {shape: [S, B, 16]}\nlayers:\n  - {type: Reshape, shape: [-1, 16]}\n")
    assert res.ok
    res = _check("input: {shape: [S, B, 16]}\nlayers:\n  - {type: Reshape, shape: [-1, 16]}\n", {"S": 5, "B": 4})
    assert res.ok and res.layers[0].output.shape == (20, 16)


# ---------------------------------------------------------------- return_indices

POOLS = """\
name: RI
input: {shape: [N, 3, 16, 16]}
layers:
  - {name: conv, type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool, type: MaxPool2d, kernel_size: 2, return_indices: true}
  - name: seq
    type: Sequential
    layers:
      - {type: MaxPool2d, kernel_size: 2, return_indices: true}
      - {type: AdaptiveMaxPool2d, output_size: 2, return_indices: true}
  - {name: amp, type: AdaptiveMaxPool2d, output_size: 1, return_indices: true}
  - Flatten
  - {name: fc, type: Linear, out_features: 2}
  - {type: Unflatten, dim: 1, unflattened_size: [1, 2]}
  - {name: p1, type: MaxPool1d, kernel_size: 2, return_indices: true}
  - {name: ap1, type: AdaptiveMaxPool1d, output_size: 1, return_indices: true}
"""


def test_return_indices_generated_module_runs(cli, write_spec, tmp_path):
    torch = pytest.importorskip("torch")
    p = write_spec(POOLS)
    res = archcheck.check(p)
    assert res.ok
    src = archcheck.generate(res)
    assert "self.pool(x)[0]" in src
    from archcheck.emit.verify import build

    model = build(p, {"N": 2})
    y = model(torch.randn(2, 3, 16, 16))
    assert isinstance(y, torch.Tensor) and tuple(y.shape) == (2, 1, 1)
    r = cli("verify", str(p))
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- too many elements


@pytest.mark.parametrize(
    ("shape", "dtype", "bad"),
    [
        ("[4611686018427387904, 4]", "float32", True),
        ("[" + ", ".join(["2"] * 100) + "]", "float32", True),
        ("[" + ", ".join(["2"] * 61) + "]", "float32", True),  # 2**61 elements, 2**63 bytes
        ("[576460752303423488, 2]", "float32", False),  # 2**62 bytes: torch allocates it (meta)
        ("[576460752303423488, 2]", "float64", True),
        ("[N, 4611686018427387904, 4]", "float32", True),  # too large for every N
    ],
)
def test_too_many_elements_input(shape, dtype, bad):
    torch = pytest.importorskip("torch")
    res = _check(f"input: {{shape: {shape}, dtype: {dtype}}}\nlayers:\n  - ReLU\n")
    assert (_codes(res) == ["AC223"]) == bad, [d.message for d in res.diagnostics]
    assert res.ok != bad
    dims = [1 if d == "N" else int(d) for d in shape.strip("[]").split(", ")]
    try:
        torch.empty(dims, dtype=getattr(torch, dtype), device="meta")
        raised = False
    except RuntimeError:
        raised = True
    assert raised == bad


def test_too_many_elements_layer_output():
    res = _check(
        "input: {shape: [N, 1024]}\nlayers:\n  - {type: Linear, out_features: 2048}\n"
        "  - {type: Reshape, shape: [N, 1, 1, -1]}\n  - {name: up, type: Upsample, scale_factor: 1000000000}\n"
        "  - ReLU\n"
    )
    assert _codes(res) == ["AC223"]
    assert [d.path for d in res.diagnostics if d.code == "AC223"] == ["up"]


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("outputs", "code"), [("[]", "AC104"), ("{}", "AC104"), ("[fc, fc]", "AC106"), ("[x, fc, x]", "AC106")]
)
def test_outputs_empty_or_duplicate(outputs, code, cli, write_spec):
    text = f"name: O\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: Linear, out_features: 2}}\noutputs: {outputs}\n"
    res = _check(text)
    assert _codes(res) == [code]
    d = next(d for d in res.diagnostics if d.code == code)
    assert d.line == 5 and d.column is not None
    r = cli("generate", str(write_spec(text)))
    assert r.exit_code == 1
