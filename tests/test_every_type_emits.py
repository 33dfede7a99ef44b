"""Every registered layer type goes through generate, render (DOT) and summary.

For each type's first valid example, a one-layer spec is generated as PyTorch code,
built and run (CPU, tiny tensors): its output shape must be archcheck's and its
parameter count archcheck's. The DOT text and the summary table must name the layer.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from torch_util import extra_dtypes, make_tensor, spec_text, split_extra  # noqa: E402

from archcheck import api  # noqa: E402
from archcheck.emit.diagram import to_dot  # noqa: E402
from archcheck.emit.summary import render as summary_render  # noqa: E402
from archcheck.emit.verify import module_from_result  # noqa: E402
from archcheck.layers.base import REGISTRY  # noqa: E402


def _first_valid(cls):
    return next((ex for ex in cls.examples if ex.error is None), None)


NAMES = [n for n, c in sorted(REGISTRY.items()) if _first_valid(c) is not None]


@pytest.mark.parametrize("name", NAMES)
def test_generate_render_summary(name):
    ex = _first_valid(REGISTRY[name])
    src = api.load(json.loads(spec_text(name, ex.fields, ex.input, ex.extra)))
    res = api.check(src)
    assert res.ok, [d.message for d in res.diagnostics]
    code = api.generate(res)
    assert (REGISTRY[name].torch_name or "") in code  # the torch module is constructed
    model = module_from_result(res)
    dtype = ex.extra.get("dtype", "float32")
    _, shapes = split_extra(ex.extra)
    dts = extra_dtypes(ex.extra)
    xs = [make_tensor(tuple(ex.input), dtype)] + [make_tensor(v, dts.get(k, "float32")) for k, v in shapes.items()]
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        y = model(*xs)
    y = y[0] if isinstance(y, tuple) else y
    assert tuple(y.shape) == tuple(ex.output)
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    dot = to_dot(res)
    assert "l0" in dot
    table = summary_render(res)
    assert "l0" in table and name in table
