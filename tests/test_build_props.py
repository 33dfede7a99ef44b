"""Property: the built module behaves as archcheck's static propagation says.

Hypothesis draws valid chain/branch specs (conv, pool, batch norm, ReLU,
Sequential, a block with a param, repeat, Add/Concat branches, flatten +
linear); every module's real output shape (forward hooks by module path) and
the parameter counts must equal the static result.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcheck

torch = pytest.importorskip("torch")
from archcheck.emit.verify import verify  # noqa: E402

BLOCK = {
    "params": {"c": None},
    "layers": [
        {"name": "conv", "type": "Conv2d", "out_channels": "$c", "kernel_size": 3, "padding": 1, "bias": False},
        {"name": "bn", "type": "BatchNorm2d"},
        {"name": "act", "type": "ReLU"},
        {"name": "skip", "type": "Conv2d", "out_channels": "$c", "kernel_size": 1, "inputs": ["x"]},
        {"name": "add", "type": "Add", "inputs": ["act", "skip"]},
    ],
}


@st.composite
def step(draw, i: int) -> list[dict]:
    kind = draw(st.sampled_from(["conv", "pool", "bn", "relu", "seq", "block", "branch"]))
    ch = draw(st.integers(1, 6))
    if kind == "conv":
        return [
            {
                "name": f"conv{i}",
                "type": "Conv2d",
                "out_channels": ch,
                "kernel_size": draw(st.integers(1, 3)),
                "stride": draw(st.integers(1, 2)),
                "padding": draw(st.integers(0, 1)),
            }
        ]
    if kind == "pool":
        return [{"name": f"pool{i}", "type": draw(st.sampled_from(["MaxPool2d", "AvgPool2d"])), "kernel_size": 2}]
    if kind == "bn":
        return [{"name": f"bn{i}", "type": "BatchNorm2d"}]
    if kind == "relu":
        return ["ReLU"]
    if kind == "seq":
        return [
            {
                "name": f"seq{i}",
                "type": "Sequential",
                "layers": [{"type": "Conv2d", "out_channels": ch, "kernel_size": 3, "padding": 1}, "ReLU"],
            }
        ]
    if kind == "block":
        item = {"name": f"unit{i}", "type": "Unit", "c": ch}
        reps = draw(st.integers(1, 3))
        if reps > 1:
            item["repeat"] = reps
        return [item]
    merge = draw(st.sampled_from(["Add", "Concat"]))
    k = draw(st.sampled_from([1, 3]))
    prev = f"pre{i}"
    return [
        {"name": prev, "type": "Identity"},
        {"name": f"a{i}", "type": "Conv2d", "out_channels": ch, "kernel_size": k, "padding": k // 2, "inputs": [prev]},
        {"name": f"b{i}", "type": "Conv2d", "out_channels": ch, "kernel_size": 1, "inputs": [prev]},
        {"name": f"m{i}", "type": merge, "inputs": [f"a{i}", f"b{i}"], **({"dim": 1} if merge == "Concat" else {})},
    ]


@st.composite
def specs(draw) -> dict:
    n = draw(st.integers(1, 5))
    layers: list = []
    for i in range(n):
        layers += draw(step(i))
    if draw(st.booleans()):
        layers += ["Flatten", {"name": "fc", "type": "Linear", "out_features": draw(st.integers(1, 5))}]
    size = draw(st.integers(6, 16))
    return {
        "name": "Prop",
        "input": {"shape": ["N", draw(st.integers(1, 4)), size, size]},
        "blocks": {"Unit": BLOCK},
        "layers": layers,
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(specs())
def test_built_module_matches_static_result(data: dict) -> None:
    spec = archcheck.load("prop.json", text=json.dumps(data))
    res = archcheck.check(spec, {"N": 2})
    assume(res.ok)
    v, _ = verify(spec, {"N": 2})
    assert v.ok, "\n".join(v.problems) + "\n" + json.dumps(data)
    assert v.params == res.total_params
    assert v.modules == sum(1 for n in res.nodes if n.kind != "layer" or type(n.layer).torch_name is not None)
