"""Every registered layer type's ``examples``: archcheck's answer, and torch's.

Each example states fields, an input shape and the expected output shape or
error code. archcheck must give exactly that; torch, running the real module
(inferred sizes taken from archcheck's resolved layer) on a tiny tensor, must
give the same shape and parameter count, or raise exactly when an error is
expected.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch_util import ac_run, describe, torch_kwargs, torch_run  # noqa: E402

from archcheck.layers.base import REGISTRY  # noqa: E402

CASES = [
    pytest.param(name, i, ex, id=f"{name}-{i}")
    for name, cls in sorted(REGISTRY.items())
    for i, ex in enumerate(cls.examples)
]

# Families whose every torch-backed type should carry at least one example.
OWN_MODULES = {f"archcheck.layers.{m}" for m in ("conv", "pool", "linear", "norm", "elementwise")}


@pytest.mark.parametrize("name,i,ex", CASES)
def test_example(name, i, ex):
    ac = ac_run(name, ex.fields, ex.input, extra=ex.extra)
    if ex.error is not None:
        assert ex.error in ac.errors, f"expected {ex.error}, got {ac.messages}"
        if ex.fixed is None and ex.fixed_extra is None:
            assert ac.shape is None and ac.params is None
        else:
            # A recovered error: the output is the corrected layer's, exactly as torch computes it.
            assert ac.shape is not None, f"expected a recovered output, got none: {ac.messages}"
            fields, extra = {**ex.fields, **(ex.fixed or {})}, {**ex.extra, **(ex.fixed_extra or {})}
            fixed = ac_run(name, fields, ex.input, extra=extra)
            assert not fixed.errors, f"the stated fix {ex.fixed} {ex.fixed_extra} does not fix it: {fixed.messages}"
            kw = torch_kwargs(name, fields, ex.input, fixed.layer)
            kw.update({k: v for k, v in fixed.layer.ctor_args().items() if kw.get(k) is None})  # all inferred sizes
            th = torch_run(name, kw, ex.input, extra=extra)
            if th.failed:  # a fix that makes it an eval-mode-only layer (AC211/AC220 warnings)
                th = torch_run(name, kw, ex.input, train=False, extra=extra)
            assert not th.failed, "torch rejected the fixed example" + describe(name, fields, ex.input, fixed, th)
            assert ac.shape == th.shape, "recovered output differs from torch's for the fixed layer" + describe(
                name, fields, ex.input, ac, th
            )
    else:
        assert not ac.errors, ac.messages
        assert ac.shape == tuple(ex.output), f"expected {ex.output}, got {ac.shape}"

    # A tensor op (torch_name None) runs its generated expression; a module is built and called.
    kw = torch_kwargs(name, ex.fields, ex.input, ac.layer)
    th = torch_run(name, kw, ex.input, extra=ex.extra)
    if th.failed and "AC211" in ac.warnings:
        th = torch_run(name, kw, ex.input, train=False, extra=ex.extra)
    if ex.error is not None:
        if REGISTRY[name].torch_name is None and not th.failed:
            # A tensor op may reject what torch silently does wrong: x.view(-1, 392) mixing up the
            # batch is the case archcheck exists for (DESIGN.md). Modules must match torch exactly.
            return
        assert th.failed, "torch accepted an example archcheck rejects" + describe(name, ex.fields, ex.input, ac, th)
    else:
        assert not th.failed, "torch rejected the example" + describe(name, ex.fields, ex.input, ac, th)
        assert th.shape == tuple(ex.output), describe(name, ex.fields, ex.input, ac, th)
        assert ac.params == th.params, "parameter counts differ" + describe(name, ex.fields, ex.input, ac, th)


@pytest.mark.parametrize(
    "name", sorted(n for n, c in REGISTRY.items() if c.__module__ in OWN_MODULES and c.torch_name is not None)
)
def test_has_examples(name):
    assert REGISTRY[name].examples, f"{name} has no examples for the generic layer test"


def test_some_examples_exist():
    assert len(CASES) >= 40
