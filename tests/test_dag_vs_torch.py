"""Hypothesis-generated DAGs (branches, merges, blocks) against torch itself.

Each generated network is written as a spec and, separately, evaluated op by
op in torch on tiny real tensors. archcheck must report an error on exactly the
layers where torch raises (later layers that depend on a failed one are not
checked: their input is unknown on both sides), and give every other layer
torch's output shape.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from archcheck.engine.walk import check  # noqa: E402
from archcheck.spec.loader import load_text  # noqa: E402
from archcheck.spec.schema import parse_spec  # noqa: E402

OPS = ["conv", "conv", "maxpool", "avgpool", "relu", "bn", "add", "concat", "block", "seq"]


@st.composite
def dags(draw):
    shape = [2, draw(st.integers(1, 4)), draw(st.integers(1, 10)), draw(st.integers(1, 10))]
    names = ["x"]
    layers = []
    for i in range(draw(st.integers(1, 7))):
        op = draw(st.sampled_from(OPS))
        name = f"n{i}"
        src = draw(st.sampled_from(names))
        if op == "conv":
            layer = {
                "type": "Conv2d",
                "out_channels": draw(st.integers(1, 6)),
                "kernel_size": draw(st.integers(1, 4)),
                "stride": draw(st.integers(1, 3)),
                "padding": draw(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"]))),
                "dilation": draw(st.integers(1, 2)),
                "groups": draw(st.sampled_from([1, 1, 2])),
            }
        elif op in ("maxpool", "avgpool"):
            layer = {
                "type": "MaxPool2d" if op == "maxpool" else "AvgPool2d",
                "kernel_size": draw(st.integers(1, 3)),
                "stride": draw(st.integers(1, 3)),
                "padding": draw(st.integers(0, 2)),
                "ceil_mode": draw(st.booleans()),
            }
        elif op == "relu":
            layer = {"type": "ReLU"}
        elif op == "bn":
            layer = {"type": "BatchNorm2d"}
        elif op in ("add", "concat"):
            other = draw(st.sampled_from(names))
            layer = {"type": "Add"} if op == "add" else {"type": "Concat", "dim": draw(st.sampled_from([1, 2, -1]))}
            layer["inputs"] = [src, other]
        elif op == "block":
            layer = {"type": "Res", "c": draw(st.integers(1, 4))}
        else:
            layer = {"type": "Sequential", "layers": [{"type": "Conv2d", "out_channels": 3, "kernel_size": 2}, "ReLU"]}
        layer.setdefault("inputs", [src])
        layer["name"] = name
        layers.append(layer)
        names.append(name)
    return shape, layers


BLOCKS = {
    "Res": {
        "params": {"c": None},
        "layers": [
            {"name": "conv", "type": "Conv2d", "out_channels": "$c", "kernel_size": 3, "padding": 1},
            {"name": "add", "type": "Add", "inputs": ["conv", "x"]},
        ],
    }
}


def torch_eval(shape, layers):
    """Run each layer in torch; returns {name: shape or None (raised) or 'skip' (input failed)}
    and {name: shape} of the layers that raised but run once fixed (their output is recovered)."""
    env = {"x": torch.zeros(shape)}
    out = {}
    recovered = {}
    for layer in layers:
        name = layer["name"]
        ins = [env.get(n) for n in layer["inputs"]]
        if any(t is None for t in ins):
            env[name] = None
            out[name] = "skip"
            continue
        try:
            y = _apply(layer, ins)
            env[name] = y
            out[name] = tuple(y.shape)
        except Exception:
            env[name] = None
            out[name] = None
            fixed = _fixed(layer)
            if fixed is not None:
                try:
                    y = _apply(fixed, ins)
                except Exception:
                    continue
                env[name] = y
                recovered[name] = tuple(y.shape)
    return out, recovered


def _fixed(layer):
    """The layer with its recoverable mistake fixed (archcheck keeps the output of such a layer):
    a groups that does not divide the channels does not shape a conv's output."""
    if layer["type"] == "Conv2d" and layer.get("groups", 1) != 1:
        return {**layer, "groups": 1}
    return None


def _apply(layer, ins):
    t = layer["type"]
    x = ins[0]
    if t == "Conv2d":
        kw = {k: layer[k] for k in ("kernel_size", "stride", "padding", "dilation", "groups")}
        return nn.Conv2d(x.shape[1] if x.dim() == 4 else x.shape[0], layer["out_channels"], **kw)(x)
    if t == "MaxPool2d":
        return nn.MaxPool2d(layer["kernel_size"], layer["stride"], layer["padding"], ceil_mode=layer["ceil_mode"])(x)
    if t == "AvgPool2d":
        return nn.AvgPool2d(layer["kernel_size"], layer["stride"], layer["padding"], ceil_mode=layer["ceil_mode"])(x)
    if t == "ReLU":
        return torch.relu(x)
    if t == "BatchNorm2d":
        return nn.BatchNorm2d(x.shape[1])(x)
    if t == "Add":
        return ins[0] + ins[1]
    if t == "Concat":
        return torch.cat(ins, dim=layer["dim"])
    if t == "Res":
        y = nn.Conv2d(x.shape[1], layer["c"], 3, padding=1)(x)
        return y + x
    if t == "Sequential":
        return torch.relu(nn.Conv2d(x.shape[1], 3, 2)(x))
    raise AssertionError(t)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(dags())
def test_dag_agrees_with_torch(dag):
    shape, layers = dag
    spec = {
        "name": "Dag",
        "input": {"shape": shape},
        "blocks": BLOCKS,
        "layers": layers,
        "outputs": [layers[-1]["name"]],
    }
    res = check(parse_spec(load_text(json.dumps(spec), "dag.json")))
    want, recovered = torch_eval(shape, layers)
    failed = {d.path.split(".")[0] for d in res.diagnostics if d.severity == "error" and d.path}
    assert not [d for d in res.diagnostics if d.severity == "error" and not d.path], res.diagnostics
    by_name = {n.name: n for n in res.root}
    for layer in layers:
        name = layer["name"]
        w = want[name]
        if w == "skip":
            assert by_name[name].output is None
            continue
        if w is None:
            assert name in failed, (name, layer, [str(d) for d in res.diagnostics])
            # Recovered exactly when the fixed layer runs, with the fixed layer's output.
            got = by_name[name].output
            assert (tuple(got.shape) if got is not None else None) == recovered.get(name), (name, layer)
            continue
        assert name not in failed, (name, layer, [d.message for d in res.diagnostics])
        assert by_name[name].output is not None
        assert tuple(by_name[name].output.shape) == w, (name, layer)
