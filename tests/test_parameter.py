"""Learnable tensors (Parameter) and Expand, against torch.

A Parameter is an ``nn.Parameter`` attribute at its path: counted in
``parameters()`` and in the ``state_dict`` as torch counts it, broadcast by Add,
taken to the batch by Expand (ViT's class token and position embedding).
Expand's rule is compared with ``Tensor.expand`` on random shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_util import ac_run

import archcheck

torch = pytest.importorskip("torch")

VIT = {
    "name": "TinyViT",
    "params": {"dim": 32, "patch": 4},
    "input": {"shape": ["N", 3, 16, 16]},
    "blocks": {
        "Encoder": {
            "params": {"seq": None, "dim": None},
            "layers": [
                {
                    "name": "pos_embedding",
                    "type": "Parameter",
                    "shape": [1, "$seq", "$dim"],
                    "init": "normal",
                    "std": 0.02,
                },
                {"name": "embedded", "type": "Add", "inputs": ["x", "pos_embedding"]},
                {"name": "ln", "type": "LayerNorm", "normalized_shape": ["$dim"]},
            ],
        }
    },
    "layers": [
        {"name": "conv_proj", "type": "Conv2d", "out_channels": "$dim", "kernel_size": "$patch", "stride": "$patch"},
        {"type": "Flatten", "start_dim": 2},
        {"name": "tokens", "type": "Transpose", "dim0": 1, "dim1": 2},
        {"name": "class_token", "type": "Parameter", "shape": [1, 1, "$dim"]},
        {"name": "cls", "type": "Expand", "inputs": ["class_token", "tokens"]},
        {"name": "seq", "type": "Concat", "inputs": ["cls", "tokens"], "dim": 1},
        {"name": "encoder", "type": "Encoder", "seq": 17, "dim": "$dim"},
        {"type": "Select", "dim": 1, "index": 0},
        {"name": "head", "type": "Linear", "out_features": 10},
    ],
}


def _check(data):
    return archcheck.check(json.loads(json.dumps(data)))


def test_vit_style_model_matches_torch():
    res = _check(VIT)
    assert res.ok, [d.message for d in res.diagnostics]
    model = archcheck.build(archcheck.load("vit.json", text=json.dumps(VIT)))
    sd = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sd["class_token"] == (1, 1, 32)
    assert sd["encoder.pos_embedding"] == (1, 17, 32)
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    names = {n.path for n in res.nodes if n.params}
    assert {"class_token", "encoder.pos_embedding"} <= names
    for n in (1, 3):
        out = model(torch.randn(n, 3, 16, 16))
        assert tuple(out.shape) == (n, 10)
    # the class token starts at zeros, the position embedding at normal(0, 0.02)
    assert torch.count_nonzero(model.class_token) == 0
    assert 0.005 < float(model.encoder.pos_embedding.std()) < 0.05


@pytest.mark.parametrize(
    ("init", "extra", "check"),
    [
        ("zeros", {}, lambda t: bool((t == 0).all())),
        ("ones", {}, lambda t: bool((t == 1).all())),
        ("constant", {"value": 1e-6}, lambda t: bool((t == 1e-6).all())),
        ("uniform", {"a": -0.5, "b": 0.25}, lambda t: float(t.min()) >= -0.5 and float(t.max()) <= 0.25),
        ("trunc_normal", {"std": 0.02}, lambda t: float(t.abs().max()) <= 0.04),
        ("normal", {"mean": 3.0, "std": 0.1}, lambda t: 2.5 < float(t.mean()) < 3.5),
    ],
)
def test_init(init, extra, check):
    spec = {
        "name": "P",
        "input": {"shape": ["N", 64, 4, 4]},
        "layers": [
            {"name": "layer_scale", "type": "Parameter", "shape": [64, 1, 1], "init": init, **extra},
            {"name": "scaled", "type": "Multiply", "inputs": ["x", "layer_scale"]},
        ],
    }
    res = _check(spec)
    assert res.ok, [d.message for d in res.diagnostics]
    assert res.total_params == 64
    model = archcheck.build(archcheck.load("p.json", text=json.dumps(spec)))
    assert check(model.layer_scale.detach())
    assert tuple(model(torch.randn(2, 64, 4, 4)).shape) == (2, 64, 4, 4)


def test_parameter_takes_no_input_in_a_sequential():
    res = _check(
        {
            "name": "S",
            "input": {"shape": ["N", 4]},
            "layers": [{"type": "Sequential", "layers": [{"type": "Parameter", "shape": [4]}]}],
        }
    )
    assert not res.ok
    assert "AC104" in {d.code for d in res.diagnostics}


def test_parameter_shape_must_be_positive():
    res = _check({"name": "S", "input": {"shape": [2, 4]}, "layers": [{"type": "Parameter", "shape": [4, 0]}]})
    assert not res.ok


sizes = st.lists(st.integers(1, 4), min_size=0, max_size=3)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3),
    st.lists(st.sampled_from([-1, 1, 2, 3, 4]), min_size=1, max_size=5),
)
def test_expand_agrees_with_torch(shape, size):
    ac = ac_run("Expand", {"size": size}, tuple(shape))
    try:
        want = tuple(torch.zeros(*shape).expand(*size).shape)
    except RuntimeError:
        want = None
    if want is None:
        assert ac.errors, f"torch refuses expand{tuple(size)} of {shape}, archcheck gives {ac.shape}"
    else:
        assert not ac.errors, ac.messages
        assert ac.shape == want


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=4).flatmap(
        lambda s: st.tuples(
            st.just(s),
            st.lists(st.sampled_from([1, 2, 3]), min_size=len(s), max_size=len(s)),
            st.lists(st.integers(-len(s), len(s) - 1), min_size=1, max_size=len(s), unique=True),
        )
    )
)
def test_expand_to_a_second_input_agrees_with_torch(case):
    shape, like, dims = case
    ac = ac_run("Expand", {"inputs": ["x", "y"], "dims": dims}, tuple(shape), extra={"y": tuple(like)})
    norm = {d % len(shape) for d in dims}
    try:
        want = tuple(torch.zeros(*shape).expand([n if i in norm else -1 for i, n in enumerate(like)]).shape)
    except RuntimeError:
        want = None
    if want is None:
        assert ac.errors
        return
    assert not ac.errors, ac.messages
    assert ac.shape == want
    # the generated expression gives the same shape: the checked layer's names each size (it knows the
    # rank: like.shape[i] or -1, as torchvision writes it), an unchecked one's works for any rank
    from archcheck.layers.base import REGISTRY

    checked = ac.layer.emit_call(None, ["a", "b"])
    sizes = [f"b.shape[{i}]" if i in norm else "-1" for i in range(len(shape))]
    assert checked == f"a.expand({', '.join(sizes)})"
    for expr in (checked, REGISTRY["Expand"](inputs=["x", "y"], dims=dims).emit_call(None, ["a", "b"])):
        scope = {"torch": torch, "a": torch.zeros(*shape), "b": torch.zeros(*like)}
        got = eval(expr, scope)  # archcheck's generated expression, not spec text
        assert tuple(got.shape) == want


def test_vit_class_token_expands_as_torchvision_writes_it():
    """specs/vit_b_16.yaml's generated forward: ``class_token.expand(x.shape[0], -1, -1)`` (torchvision's
    ``self.class_token.expand(n, -1, -1)``), so torch.fx traces the model (``*x.shape[1:]`` would not)."""
    import torch.fx

    from archcheck.emit.verify import module_from_result

    res = archcheck.check(Path(__file__).resolve().parents[1] / "specs" / "vit_b_16.yaml")
    src = archcheck.generate(res)
    assert "class_token.expand(x.shape[0], -1, -1)" in src and "*class_token.shape" not in src
    with torch.device("meta"):
        model = module_from_result(res)
    graph = torch.fx.symbolic_trace(model).graph
    expands = [n for n in graph.nodes if n.op == "call_method" and n.target == "expand"]
    assert len(expands) == 1 and expands[0].args[2:] == (-1, -1)
