"""The lazy layer index matches what @register records, and every type is well-formed."""

from __future__ import annotations

import subprocess
import sys

from archcheck.layers import INDEX, load_all
from archcheck.layers.base import REGISTRY, Layer


def test_index_lists_every_registered_type_in_its_module():
    load_all()
    actual = {t: cls.__module__.rsplit(".", 1)[1] for t, cls in dict.items(REGISTRY)}
    missing = {t: m for t, m in actual.items() if INDEX.get(t) != m}
    assert not missing, "add to archcheck/layers/__init__.py INDEX: " + ", ".join(
        f'"{t}": "{m}"' for t, m in missing.items()
    )
    assert set(INDEX) == set(actual)


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
