"""The layer index is derived from the layer modules' source (no list to keep), and every type is well-formed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from torch_util import ac_run

from archcheck.layers import index, load_all
from archcheck.layers.base import REGISTRY, Layer, register


def test_index_is_exactly_the_registered_types_each_in_its_module():
    load_all()
    actual = {t: cls.__module__.rsplit(".", 1)[1] for t, cls in dict.items(REGISTRY)}
    assert index() == actual
    assert len(actual) > 50


def test_register_refuses_a_class_the_index_does_not_see():
    class Stray(Layer):  # not written under @register in archcheck/layers/: the index cannot find it
        pass

    with pytest.raises(TypeError, match="write @register on the line above `class Stray`"):
        register(Stray)
    assert "Stray" not in REGISTRY


def test_types_declare_what_the_emitters_read():
    """Each type's class data is well-formed: a module type names a torch.nn class and has examples."""
    wrong = []
    for t, cls in REGISTRY.items():
        if cls.torch_name is not None and not re.fullmatch(r"nn\.[A-Z][A-Za-z0-9]*", cls.torch_name):
            wrong.append(f"{t}: torch_name {cls.torch_name!r} is not a torch.nn class name (nn.Conv2d)")
        if cls.torch_name is not None and cls.arity[0] > 0 and not cls.examples:  # a Parameter takes no input
            wrong.append(f"{t}: no examples (tests/test_layer_examples.py runs them against torch)")
        if cls.drawn_layout not in (None, "cf", "cl"):
            wrong.append(f"{t}: drawn_layout {cls.drawn_layout!r}")
        low, high = cls.arity
        if low < 0 or (high is not None and high < low):
            wrong.append(f"{t}: arity {cls.arity}")
    assert not wrong, "\n".join(wrong)


EXAMPLES = [
    pytest.param(name, ex, id=f"{name}-{i}")
    for name, cls in sorted(REGISTRY.items())
    for i, ex in enumerate(cls.examples)
]


@pytest.mark.parametrize("name,ex", EXAMPLES)
def test_examples_hold_in_archcheck(name, ex):
    """Every type's examples against archcheck alone, so they are checked where torch is not installed too
    (tests/test_layer_examples.py checks them against torch as well)."""
    ac = ac_run(name, ex.fields, ex.input, extra=ex.extra)
    if ex.error is not None:
        assert ex.error in ac.errors, f"expected {ex.error}, got {ac.messages}"
        assert (ac.shape is None) == (ex.fixed is None and ex.fixed_extra is None), ac.messages
    else:
        assert not ac.errors, ac.messages
        assert ac.shape == tuple(ex.output), f"expected {ex.output}, got {ac.shape}"


def test_lookup_imports_only_the_family_needed():
    code = (
        "import sys; from archcheck.layers.base import REGISTRY; assert 'Conv2d' in REGISTRY; "
        "print(sorted(m for m in sys.modules if m.startswith('archcheck.layers.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "archcheck.layers.conv" in out
    assert "archcheck.layers.recurrent" not in out and "archcheck.layers.attention" not in out
