"""The Python API the CLI is a shell over: load, check, generate, render (and build, lazily)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import archcheck

SIMPLE = str(Path(__file__).parents[1] / "specs" / "simple_cnn.yaml")


def test_check_with_dims_gives_the_design_doc_numbers():
    res = archcheck.check(SIMPLE, dims={"N": 4})
    assert res.ok and res.total_params == 215370 and res.total_macs == 12097536
    assert res.layers[0].path == "conv1" and res.layers[0].output.shape == (4, 16, 28, 28)


def test_generate_and_render_in_process(tmp_path):
    src = archcheck.generate(SIMPLE)
    assert "class SimpleCNN(nn.Module):" in src and "import torch" not in src.replace("from torch import nn", "")
    out = archcheck.render(SIMPLE, tmp_path / "net.dot")
    assert out.read_text().startswith("digraph")


def test_importing_archcheck_does_not_import_torch():
    code = f"import sys, archcheck; archcheck.check({SIMPLE!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_check_accepts_a_spec_as_a_dict():
    import pytest
    import yaml

    spec = yaml.safe_load(open(SIMPLE, encoding="utf-8"))
    res = archcheck.check(spec, dims={"N": 4})
    assert res.ok and res.total_params == 215370
    spec["layers"][7]["in_features"] = 512  # fc1
    [d] = archcheck.check(spec).diagnostics
    assert d.code == "AC202" and d.path == "fc1" and d.file == "<dict>.json" and d.line is not None
    assert archcheck.generate(archcheck.check({**spec, "layers": spec["layers"][:7]})).startswith('"""')
    with pytest.raises(TypeError, match="JSON values"):
        archcheck.check({"name": object()})
