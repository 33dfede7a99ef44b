"""The layer index is derived from the layer modules' source (no list to keep), and every type is well-formed."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_types_are_layers_with_torch_defaults_declared():
    for t, cls in REGISTRY.items():
        assert issubclass(cls, Layer) and cls.type_name() == t
        assert cls.family, t


def test_lookup_imports_only_the_family_needed():
    code = (
        "import sys; from archcheck.layers.base import REGISTRY; assert 'Conv2d' in REGISTRY; "
        "print(sorted(m for m in sys.modules if m.startswith('archcheck.layers.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "archcheck.layers.conv" in out
    assert "archcheck.layers.recurrent" not in out and "archcheck.layers.attention" not in out
