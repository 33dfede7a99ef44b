"""`archcheck import`: PyTorch modules written as specs (issue 14).

* The seed tutorial's SimpleCNN (tests/models/simple_cnn.py, written exactly as
  in the tutorial: ``x.view(-1, 32 * 7 * 7)``, ``F.relu``) imports and checks
  to the same result as specs/simple_cnn.yaml; with ``nn.Linear(512, 128)``
  the imported spec has archcheck's AC202 naming 1568, located, with the
  Python line of ``self.fc1`` in a note and in the spec line's comment.
* Round trip: every valid spec in specs/, generated, imported and checked,
  has the same outputs, parameters and state_dict as the spec.
* A ResNet-18/50 in plain torch with torchvision's structure
  (tests/models/resnet.py) imports as blocks with torchvision's state_dict
  keys, recorded from torchvision in tests/data/torchvision_keys.
* What archcheck cannot express fails with a list, and writes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SPECS, run_cli

import archcheck
from archcheck.cli.importer import check_written, import_model, parse_input_shape
from archcheck.emit.verify import concrete_dims, module_from_result

torch = pytest.importorskip("torch")

MODELS = Path(__file__).resolve().parent / "models"
TV_DATA = Path(__file__).resolve().parent / "data" / "torchvision_keys"


def _import(target: str, *shapes: str, dims: dict[str, int] | None = None, **kwargs):
    imp = import_model(target, kwargs, [parse_input_shape(s) for s in shapes], dims or {})
    res, problems = check_written(imp, "imported.yaml")
    assert problems == []
    return imp, res


def _state_dict(res) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        m = module_from_result(res)
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def _shapes(res) -> dict[str, tuple]:
    return {n.path: tuple(n.output.shape) for n in res.nodes if n.output is not None}


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ---------------------------------------------------------------- the seed tutorial's SimpleCNN


def test_simple_cnn_imports_to_the_same_result_as_the_spec() -> None:
    imp, res = _import(f"{MODELS / 'simple_cnn.py'}:SimpleCNN", "N,1,28,28")
    ref = archcheck.check(SPECS / "simple_cnn.yaml")
    assert res.ok and ref.ok
    assert imp.data["input"] == {"shape": ["N", 1, 28, 28]}
    assert res.total_params == ref.total_params == 215_370
    assert res.total_macs == ref.total_macs
    assert [t.shape for t in res.outputs.values()] == [t.shape for t in ref.outputs.values()] == [("N", 10)]
    mine, theirs = _shapes(res), _shapes(ref)
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2"):  # torch's module names, kept
        assert mine[name] == theirs[name], name
    ref_n4 = archcheck.check(SPECS / "simple_cnn.yaml", dims={"N": 4})
    assert _state_dict(archcheck.check(archcheck.load("i.yaml", text=imp.text), {"N": 4})) == _state_dict(ref_n4)
    # the tutorial's x.view(-1, 32 * 7 * 7) and F.relu became layers
    types = [(e["name"], e["type"]) for e in imp.data["layers"]]
    assert ("view", "Reshape") in types and types.count(("relu", "ReLU")) == 1
    assert next(e for e in imp.data["layers"] if e["name"] == "view")["shape"] == [-1, 1568]


def test_each_layer_carries_its_python_line() -> None:
    src = MODELS / "simple_cnn.py"
    imp, _ = _import(f"{src}:SimpleCNN", "N,1,28,28")
    lines = {ln.split("name: ")[1].split(",")[0]: ln for ln in imp.text.splitlines() if "{name: " in ln}
    assert lines["fc1"].endswith(f"simple_cnn.py:{_line_of(src, 'self.fc1 =')}")
    assert lines["conv2"].endswith(f"simple_cnn.py:{_line_of(src, 'self.conv2 =')}")
    assert lines["view"].endswith(f"simple_cnn.py:{_line_of(src, 'x = x.view(')}")  # a call: its forward line
    assert imp.sites["fc1"].endswith(f"simple_cnn.py:{_line_of(src, 'self.fc1 =')}")


def test_wrong_fc1_gives_the_located_ac202_and_the_python_line(tmp_path: Path) -> None:
    src = (MODELS / "simple_cnn.py").read_text()
    bad = src.replace("nn.Linear(in_features=32 * 7 * 7, out_features=128)", "nn.Linear(512, 128)")
    assert bad != src
    model = tmp_path / "model.py"
    model.write_text(bad)
    fc1_line = _line_of(model, "self.fc1 =")
    r = run_cli("import", "model.py:SimpleCNN", "--input-shape", "N,1,28,28", "-o", "spec.yaml", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert "AC202" in r.stderr and "1568" in r.stderr
    assert f"fc1 is defined at model.py:{fc1_line}: self.fc1 = nn.Linear(512, 128)" in r.stderr
    spec = tmp_path / "spec.yaml"
    assert spec.exists()  # written, and the errors said
    v = run_cli("validate", "--format", "pretty", "spec.yaml", cwd=tmp_path)
    assert v.exit_code == 1
    fc1_spec_line = _line_of(spec, "name: fc1")
    assert f"spec.yaml:{fc1_spec_line}:" in v.stdout and "AC202" in v.stdout and "1568" in v.stdout
    assert f"# model.py:{fc1_line}" in v.stdout  # the source line shown carries the Python line
    j = run_cli("validate", "--format", "json", "spec.yaml", cwd=tmp_path).json()[0]
    (d,) = j["diagnostics"]
    assert (d["code"], d["path"], d["line"]) == ("AC202", "fc1", fc1_spec_line)


def test_cli_writes_stdout_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = f"{MODELS / 'simple_cnn.py'}:SimpleCNN"
    r = run_cli("import", target, "--input-shape", "N,1,28,28")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout)["name"] == "SimpleCNN"
    out = tmp_path / "s.yaml"
    out.write_text("keep")
    r = run_cli("import", target, "--input-shape", "N,1,28,28", "-o", str(out))
    assert r.exit_code == 2 and "use --force" in r.stderr and out.read_text() == "keep"
    r = run_cli("import", target, "--input-shape", "N,1,28,28", "-o", str(out), "--force")
    assert r.exit_code == 0 and archcheck.check(out).ok
    r = run_cli("import", target, "--input-shape", "N,1,28,28", "-o", str(MODELS / "simple_cnn.py"), "--force")
    assert r.exit_code == 2 and "it is the input" in r.stderr
    (tmp_path / "pkg_for_import_test.py").write_text((MODELS / "simple_cnn.py").read_text())
    r = run_cli(
        "import",
        "pkg_for_import_test:SimpleCNN",
        "--input-shape",
        "N,1,28,28",
        "-o",
        "pkg_for_import_test.py",
        "--force",
        cwd=tmp_path,
    )
    assert r.exit_code == 2 and "it is the input" in r.stderr, r.output  # a module target's file too
    assert "class SimpleCNN" in (tmp_path / "pkg_for_import_test.py").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing_here.py:M", "--input-shape", "1,2"], "no such file"),
        (["simple_cnn.py:Nope", "--input-shape", "1,2"], "SimpleCNN"),
        (["simple_cnn.py", "--input-shape", "1,2"], "FILE.py:Class"),
        (["simple_cnn.py:SimpleCNN"], "--input-shape"),
        (["simple_cnn.py:SimpleCNN", "--input-shape", "N,x-1"], "--input-shape"),
        (["simple_cnn.py:SimpleCNN", "--input-shape", "N,1,H,28"], "--dim H="),
        (["simple_cnn.py:SimpleCNN", "--input-shape", "img=N,1,28,28"], "forward() takes x"),
        (["simple_cnn.py:SimpleCNN", "--input-shape", "N,1,28,28", "--kwargs", "[1]"], "JSON object"),
        (["simple_cnn.py:SimpleCNN", "--input-shape", "N,1,28,28", "--kwargs", "{"], "not JSON"),
        (["no_such_pkg_xyz.mod:M", "--input-shape", "1,2"], "no module named"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    r = run_cli("import", *args, cwd=MODELS)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_a_model_that_raises_is_reported_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self, width):\n"
        "        super().__init__()\n        raise ValueError('width must be even')\n"
    )
    r = run_cli("import", "m.py:M", "--input-shape", "1,2", "--kwargs", '{"width": 3}', cwd=tmp_path)
    assert r.exit_code == 1
    assert "ValueError: width must be even (at m.py:6)" in r.stderr and "Traceback" not in r.output


# ---------------------------------------------------------------- what archcheck cannot express


UNSUPPORTED = """
import torch
import torch.nn as nn


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.register_buffer("scale", torch.ones(1))
        self.frac = nn.FractionalMaxPool2d(2, output_size=4)  # no archcheck layer (random windows)

    def forward(self, x):
        x = self.conv(x)
        a, b = torch.unbind(x, dim=1)[:2]
        y = x * self.scale
        z = torch.sort(x, dim=1).values
        w = self.frac(x)
        return z + w + y
"""


def test_what_cannot_be_expressed_is_listed_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "odd.py").write_text(UNSUPPORTED)
    r = run_cli("import", "odd.py:Odd", "--input-shape", "1,3,8,8", "-o", "odd.yaml", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert not (tmp_path / "odd.yaml").exists()
    err = r.stderr
    assert "nothing written" in err
    assert "torch.unbind() has no archcheck layer" in err and "odd.py:15" in err  # each with its Python line
    assert "self.scale" in err and "odd.py:16" in err and "constant tensors" in err  # a buffer used directly
    assert "torch.sort() has no archcheck layer" in err and "odd.py:17" in err
    assert "nn.FractionalMaxPool2d has no archcheck layer" in err
    assert "Traceback" not in r.output


def test_invalid_names_are_refused_and_a_second_call_is_use(tmp_path: Path) -> None:
    # Issue 13 added `use:`: a module called twice (shared weights) was refused before, and is now written.
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n        setattr(self, 'bad\\nname: x', nn.ReLU())\n\n"
        "    def forward(self, x):\n        return getattr(self, 'bad\\nname: x')(x), self.fc(self.fc(x))\n"
    )
    r = run_cli("import", "m.py:M", "--input-shape", "N,4", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert "cannot be a spec layer name" in r.stderr
    (tmp_path / "m.py").write_text((tmp_path / "m.py").read_text().replace("bad\\nname: x", "act"))
    r = run_cli("import", "m.py:M", "--input-shape", "N,4", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    layers = yaml.safe_load(r.stdout)["layers"]
    assert {"name": "fc_call", "use": "fc"} in layers


def test_without_torch_says_what_to_install(tmp_path: Path) -> None:
    code = "import sys; sys.modules['torch'] = None; from archcheck.cli import main; main()"
    p = subprocess.run(
        [sys.executable, "-c", code, "import", "m.py:M", "--input-shape", "1,2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert "`import` needs torch" in p.stderr and "pip install" in p.stderr


# ---------------------------------------------------------------- round trip: specs/ -> generate -> import


VALID = sorted(p.name for p in SPECS.glob("*.yaml") if not p.name.startswith("broken"))
# Specs whose generated module `import` cannot read back, with the reason import gives (none now: Swin-T's
# ShiftedWindowAttention class and patch_merging_pad function, which generated code defines, import as their types).
NOT_IMPORTABLE: dict[str, str] = {}


@pytest.mark.parametrize("name", VALID)
def test_round_trip(name: str, tmp_path: Path) -> None:
    ref = archcheck.check(SPECS / name)
    assert ref.ok
    dims, ref_c = concrete_dims(ref.spec)
    dims = {**ref.bindings, **dims}  # sizes the spec fixes in its own dims: (specs/mobilenet_v3_large.yaml) too
    model = tmp_path / "model.py"
    model.write_text(archcheck.generate(ref))
    shapes = []
    for k, inp in ref.spec.inputs.items():
        dt = "" if inp.dtype == "float32" else f":{inp.dtype}"
        shapes.append(f"{k}=" + ",".join(map(str, inp.shape)) + dt)
    if name in NOT_IMPORTABLE:  # import says why, without a traceback
        from archcheck.cli.importer import ImportFailed

        with pytest.raises(ImportFailed, match=NOT_IMPORTABLE[name]):
            _import(f"{model}:{ref.name}", *shapes, dims={k: v for k, v in dims.items() if k != "N"})
        return
    imp, res = _import(f"{model}:{ref.name}", *shapes, dims={k: v for k, v in dims.items() if k != "N"})
    assert res.ok, [d.message for d in res.diagnostics]
    assert res.total_params == ref.total_params
    got = archcheck.check(archcheck.load("i.yaml", text=imp.text), dims)
    assert {k: t.shape for k, t in got.outputs.items()} == {k: t.shape for k, t in ref_c.outputs.items()}
    assert list(_state_dict(got).items()) == list(_state_dict(ref_c).items())  # keys, shapes and order
    mine, theirs = _shapes(got), _shapes(ref_c)
    modules = {n.path for n in ref_c.nodes if n.params}
    assert {p: mine.get(p) for p in modules} == {p: theirs[p] for p in modules}


# ---------------------------------------------------------------- ResNet in plain torch, torchvision's structure


@pytest.mark.parametrize(("cls", "data"), [("ResNet18", "resnet18"), ("ResNet50", "resnet50")])
def test_resnet_imports_as_blocks_with_torchvision_keys(cls: str, data: str) -> None:
    want = json.loads((TV_DATA / f"{data}.json").read_text())
    n = want["input"][0]
    imp, res = _import(f"{MODELS / 'resnet.py'}:{cls}", "N,3,224,224")
    assert res.ok
    assert res.total_params == want["params"]
    checked = archcheck.check(archcheck.load("i.yaml", text=imp.text), {"N": n})
    sd = _state_dict(checked)
    assert list(sd) == list(want["state_dict"])  # torchvision's keys, in its order
    assert {k: list(v) for k, v in sd.items()} == want["state_dict"]
    shapes = _shapes(checked)
    assert {k: list(shapes[k]) for k in want["outputs"]} == want["outputs"]
    # blocks, not a flat list: each stage is a Sequential (or a repeat) of block instances
    blocks = imp.data["blocks"]
    assert blocks and all(b.startswith(("BasicBlock", "Bottleneck")) for b in blocks)
    assert len(imp.data["layers"]) < 15
    stages = {e["name"]: e for e in imp.data["layers"] if e["name"].startswith("layer")}
    assert list(stages) == ["layer1", "layer2", "layer3", "layer4"]
    for e in stages.values():
        items = e.get("layers", [e])
        assert all(i["type"] in blocks for i in items)
    kinds = {x.path: x.kind for x in checked.nodes}
    assert kinds["layer1.0"] == kinds["layer4.1"] == "block"


def test_resnet18_blocks_have_params_named_after_init_arguments() -> None:
    imp, _ = _import(f"{MODELS / 'resnet.py'}:ResNet18", "1,3,224,224")
    blocks = imp.data["blocks"]
    assert set(blocks) == {"BasicBlock", "BasicBlock_downsample"}
    assert set(blocks["BasicBlock_downsample"]["params"]) == {"inplanes", "planes"}
    down = next(e for e in blocks["BasicBlock_downsample"]["layers"] if e["name"] == "downsample")
    assert down["type"] == "Sequential" and down["inputs"] == ["x"]
    assert {"name": "layer1", "type": "BasicBlock", "inplanes": 64, "repeat": 2} == imp.data["layers"][4]


# ---------------------------------------------------------------- where torch.fx cannot trace: forward hooks


def test_control_flow_on_shapes_falls_back_to_hooks() -> None:
    src = MODELS / "shape_checks.py"
    imp, res = _import(f"{src}:Net", "N,3,H,W", dims={"H": 32, "W": 32})
    assert res.ok
    assert imp.data["blocks"]["Stage"]["params"] == {"cin": None, "cout": None}
    assert [(e["name"], e["type"]) for e in imp.data["layers"]] == [
        ("s1", "Stage"),
        ("s2", "Stage"),
        ("pool", "AdaptiveAvgPool2d"),
        ("flat", "Flatten"),
        ("fc", "Linear"),
    ]
    assert imp.sites["s2.conv"].endswith(f"shape_checks.py:{_line_of(src, 'self.conv = ')}")


def test_hooks_do_not_guess_what_forward_computes(tmp_path: Path) -> None:
    src = (MODELS / "shape_checks.py").read_text()
    (tmp_path / "m.py").write_text(src.replace("return self.act(self.conv(x))", "return self.act(self.conv(x)) * 2"))
    r = run_cli("import", "m.py:Net", "--input-shape", "N,3,32,32", "-o", "s.yaml", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert "cannot be traced by torch.fx" in r.stderr and "(mul)" in r.stderr
    assert not (tmp_path / "s.yaml").exists()


def test_functional_calls_and_tensor_methods_become_layers() -> None:
    imp, res = _import(f"{MODELS / 'functional.py'}:V", "N,3,16,16", n_cls=5)
    assert res.ok  # and check_written compared every module's output shape with torch's
    assert [(e["name"], e["type"]) for e in imp.data["layers"]] == [
        ("conv", "Conv2d"),
        ("relu", "ReLU"),
        ("max_pool2d", "MaxPool2d"),
        ("view", "Reshape"),
        ("permute", "Permute"),
        ("lstm", "LSTM"),
        ("select", "Select"),
        ("mean", "Mean"),
        ("cat", "Concat"),
        ("head", "Linear"),
        ("softmax", "Softmax"),
    ]
    by = {e["name"]: e for e in imp.data["layers"]}
    assert by["view"]["shape"] == ["N", 8, -1]  # x.size(0) is the batch dim
    assert by["conv"]["padding"] == "same"
    assert (by["select"]["dim"], by["select"]["index"]) == (1, -1)
    assert by["cat"]["inputs"] == ["select", "mean"] and by["head"]["inputs"] == ["select"]
    assert [t.shape for t in res.outputs.values()] == [("N", 5)]


def test_created_order_becomes_init_order_and_a_same_named_user_function_is_traced(tmp_path: Path) -> None:
    """A block whose __init__ creates reduction before norm, which forward calls after it, is written with
    ``init_order: [reduction]`` (the state_dict order); a user's own ``patch_merging_pad`` (not in a file
    archcheck generated) is no PatchMergingPad: it is traced into."""
    src = tmp_path / "merge.py"
    src.write_text(
        "import torch\n"
        "from torch import nn\n\n\n"
        "def patch_merging_pad(x):\n"
        "    return torch.cat([x, x], -1)\n\n\n"
        "class Merge(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.reduction = nn.Linear(8, 4, bias=False)\n"
        "        self.norm = nn.LayerNorm(8)\n\n"
        "    def forward(self, x):\n"
        "        return self.reduction(self.norm(patch_merging_pad(x)))\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.merge = Merge()\n\n"
        "    def forward(self, x):\n"
        "        return self.merge(x)\n"
    )
    imp, res = _import(f"{src}:Net", "N,3,4")
    data = yaml.safe_load(imp.text)
    (block,) = data["blocks"].values()
    assert block["init_order"] == ["reduction"]
    assert [e["type"] for e in block["layers"]] == ["Concat", "LayerNorm", "Linear"], imp.text
    assert list(_state_dict(res)) == ["merge.reduction.weight", "merge.norm.weight", "merge.norm.bias"]
