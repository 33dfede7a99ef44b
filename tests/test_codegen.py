"""Generated code: goldens, ruff-clean, runs, state_dict keys follow the spec; the CLI's generate/verify/summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

import archcheck
from archcheck.emit.codegen import generate

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
CASES = {"simple_cnn": SPECS / "simple_cnn.yaml", "resnet_branch": HERE / "specs" / "resnet_branch.yaml"}


def _source(spec: Path) -> str:
    return generate(archcheck.check(spec))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, update_goldens: bool) -> None:
    src = _source(CASES[name])
    golden = GOLDEN / f"codegen_{name}.py"
    if update_goldens:
        golden.write_text(src, encoding="utf-8")
    assert golden.exists(), f"no {golden.name}: run pytest --update-goldens to write it"
    assert src == golden.read_text(encoding="utf-8"), (
        f"run pytest --update-goldens if the change to {golden.name} is intended"
    )


def _ruff(args: list[str], src: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    f = tmp_path / "model.py"
    f.write_text(src, encoding="utf-8")
    return subprocess.run([shutil.which("ruff") or "ruff", *args, "--isolated", str(f)], capture_output=True, text=True)


def _valid_specs() -> list[Path]:
    return sorted(p for p in SPECS.glob("*.y*ml") if not p.name.startswith("broken_")) + [CASES["resnet_branch"]]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
@pytest.mark.parametrize("spec", _valid_specs(), ids=lambda p: p.stem)
def test_ruff_clean(spec: Path, tmp_path: Path) -> None:
    src = _source(spec)
    lint = _ruff(["check", "--select", "E,F,W,I,B,UP", "--ignore", "E501"], src, tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _ruff(["format", "--check", "--diff"], src, tmp_path)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert max(len(line) for line in src.splitlines()) <= 88


def test_deterministic() -> None:
    """The same source in processes with different string hashing (set and dict orders could differ)."""
    code = "import sys, archcheck; sys.stdout.write(archcheck.generate(archcheck.check(sys.argv[1])))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code, str(CASES["resnet_branch"])],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert outs == {_source(CASES["resnet_branch"])}


def test_simple_cnn_runs() -> None:
    torch = pytest.importorskip("torch")
    ns: dict = {}
    exec(compile(_source(CASES["simple_cnn"]), "simple_cnn_generated", "exec"), ns)
    model = ns["SimpleCNN"]()
    out = model(torch.randn(4, 1, 28, 28))
    assert tuple(out.shape) == (4, 10)
    assert sum(p.numel() for p in model.parameters()) == 215370
    assert list(model.state_dict()) == [
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]


def test_build_state_dict_follows_spec_paths() -> None:
    pytest.importorskip("torch")
    model = archcheck.build(CASES["resnet_branch"])
    res = archcheck.check(CASES["resnet_branch"])
    keys = set(model.state_dict())
    modules = dict(model.named_modules())
    for n in res.nodes:
        if n.kind != "layer" or type(n.layer).torch_name is not None or type(n.layer).module_source is not None:
            assert n.path in modules, n.path
    assert "layer2.0.downsample.0.weight" in keys and "stem.conv.weight" in keys and "layer1.1.bn2.running_mean" in keys
    assert type(modules["layer1.0"]).__name__ == "BasicBlock" and type(modules["layer2.1"]).__name__ == "BasicBlock"


def test_block_class_takes_varying_params() -> None:
    src = _source(CASES["resnet_branch"])
    assert "def __init__(self, planes):" in src
    assert "BasicBlock(planes=16)" in src and "BasicBlock(planes=32)" in src
    assert src.count("class BasicBlock(") == 1


def test_generate_cli(cli, tmp_path: Path) -> None:
    r = cli("generate", "specs/simple_cnn.yaml")
    assert r.exit_code == 0 and "class SimpleCNN(nn.Module):" in r.stdout
    out = tmp_path / "m.py"
    assert cli("generate", "specs/simple_cnn.yaml", "-o", str(out)).exit_code == 0
    assert out.read_text() == r.stdout
    again = cli("generate", "specs/simple_cnn.yaml", "-o", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    assert cli("generate", "specs/simple_cnn.yaml", "-o", str(out), "--force").exit_code == 0


def test_generate_refuses_broken_spec(cli, tmp_path: Path) -> None:
    out = tmp_path / "m.py"
    r = cli("generate", "specs/broken_fc1_in_features.yaml", "-o", str(out))
    assert r.exit_code == 1 and "AC202" in r.output and not out.exists()
    assert "class " not in r.stdout


@pytest.mark.parametrize("spec", _valid_specs(), ids=lambda p: p.stem)
def test_verify_specs(cli, spec: Path) -> None:
    pytest.importorskip("torch")
    r = cli("verify", str(spec))
    assert r.exit_code == 0, r.output
    assert "agree with torch" in r.stdout


def test_verify_reports_disagreement(monkeypatch) -> None:
    pytest.importorskip("torch")
    from archcheck.emit import verify as V
    from archcheck.layers.linear import Linear

    monkeypatch.setattr(Linear, "param_count", lambda self: 7)
    v, _ = V.verify(SPECS / "simple_cnn.yaml")
    assert not v.ok and any("fc1" in p and "params" in p for p in v.problems)


def test_summary(cli) -> None:
    r = cli("summary", "specs/simple_cnn.yaml")
    assert r.exit_code == 0
    for text in ("conv1", "[N, 16, 28, 28]", "215,370", "FLOPs", "2 x MACs", "RF", "n/a"):
        assert text in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("pool2"))
    assert row.split()[-2:] == ["16", "4"]  # receptive field 16, cumulative stride 4
    nested = cli("summary", "tests/specs/resnet_branch.yaml", "--depth", "1")
    assert "layer1.0" not in nested.stdout and "  0 " not in nested.stdout
    assert cli("summary", "specs/broken_shapes.yaml").exit_code == 1


def test_summary_torchinfo(cli) -> None:
    pytest.importorskip("torchinfo")
    r = cli("summary", "specs/simple_cnn.yaml", "--torchinfo")
    assert r.exit_code == 0
    # the comparison's rows are torchinfo's totals' labels: "Total params   archcheck   torchinfo"
    line = next(x for x in r.stdout.splitlines() if x.startswith("  Total params"))
    assert line.split()[2:] == ["215,370", "215,370"]


def test_summary_and_generate_do_not_import_torch() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from archcheck.cli import main\n"
        "for cmd in ('summary', 'generate'):\n"
        "    r = CliRunner().invoke(main, [cmd, 'specs/simple_cnn.yaml'])\n"
        "    assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules\n"
        "import archcheck; assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_block_classes_reuse_the_specs_expressions() -> None:
    """ResNet-50's Bottleneck reads like torchvision's: planes only, with `planes * 4` from the spec."""
    from archcheck import generate

    src = generate("specs/resnet50.yaml")
    assert "class Bottleneck(nn.Module):" in src and "def __init__(self, planes):" in src
    assert "out_channels=planes * 4," in src and "nn.BatchNorm2d(num_features=planes * 4)" in src
    assert "Bottleneck(planes=64)," in src


# ------------------------------------------------------------------ inferred sizes: recorded by the engine as data

_INFERRED = """
name: Inf
inputs: {x: {shape: [N, 3, 28, 28]}, y: {shape: [N, 5]}}
layers:
  - {name: conv1, type: Conv2d, out_channels: 8, kernel_size: 3}
  - {name: pool1, type: MaxPool2d, kernel_size: 2}
  - {name: flat, type: Flatten}
  - {name: drop, type: Dropout}
  - {name: fc1, type: Linear, out_features: $width}
  - {name: fc2, type: Linear, in_features: 16, out_features: 4}
  - {name: bil, type: Bilinear, inputs: [fc2, y], out_features: 2}
params: {width: 16}
"""


def _load_text(text: str) -> archcheck.Spec:
    return archcheck.load("inf.yaml", text=text)


def test_the_engine_records_inferred_sizes_with_where_they_came_from() -> None:
    res = archcheck.check(_load_text(_INFERRED))
    assert res.ok, [d.message for d in res.diagnostics]
    by = {n.path: n for n in res.nodes}
    conv = by["conv1"].inferred
    assert list(conv) == ["in_channels"] and conv["in_channels"].value == 3
    assert (conv["in_channels"].input, conv["in_channels"].axis) == (0, 1)
    assert conv["in_channels"].tensor is not None and conv["in_channels"].tensor.producer == ""
    fc1 = by["fc1"].inferred["in_features"]
    assert (fc1.value, fc1.input, fc1.axis) == (8 * 13 * 13, 0, 1)  # axis -1 of [N, 1352], made non-negative
    assert fc1.tensor is not None and fc1.tensor.product is not None  # through the Dropout: Flatten's product
    assert (fc1.tensor.product.axis, fc1.tensor.product.factors, fc1.tensor.product.source) == (1, (8, 13, 13), "pool1")
    assert by["fc2"].inferred == {}  # written in the spec: not inferred
    bil = by["bil"].inferred
    assert [(k, v.value, v.input) for k, v in bil.items()] == [("in1_features", 4, 0), ("in2_features", 5, 1)]
    assert by["fc1"].exprs == {"out_features": "$width"} and by["conv1"].exprs == {}


def test_codegen_comments_every_inferred_size_from_the_engines_record() -> None:
    src = generate(archcheck.check(_load_text(_INFERRED)))
    assert "in_channels 3 from the input" in src
    assert "in_features 8 * 13 * 13 from pool1" in src
    assert "in1_features 4 from fc2; in2_features 5 from the input" in src  # no fixed list of field names
    assert "in_features 16" not in src  # fc2's is written in the spec


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_a_long_operation_call_is_laid_out_as_ruff_formats_it(tmp_path: Path) -> None:
    """A layer's call that does not fit in 88 columns (GPT's attention with dropout) is split one
    argument per line, as ruff would write it, not left as one long line."""
    text = (SPECS / "gpt2_tiny.yaml").read_text(encoding="utf-8")
    assert "dropout: 0.0" in text
    spec = tmp_path / "gpt_dropout.yaml"
    spec.write_text(text.replace("dropout: 0.0", "dropout: 0.1"), encoding="utf-8")
    src = _source(spec)
    assert "dropout_p=0.1 if self.training else 0.0," in src
    fmt = _ruff(["format", "--check", "--diff"], src, tmp_path)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert max(len(line) for line in src.splitlines()) <= 88
    compile(src, "model.py", "exec")
