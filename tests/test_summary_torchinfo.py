"""summary beside torchinfo, as a user meets them: every number both print agrees on the zoo.

The zoo specs that check ok are summarised by ``archcheck summary --columns all`` and by
torchinfo.summary (torchinfo's own table and totals) on the same model; every per-layer cell
both print (params, param %, input and output shapes, kernel shape, mult-adds in torchinfo's
convention, trainable) and every total (params, trainable, non-trainable, total mult-adds,
input / forward-backward / params / total size in MB) must be the same text. torchinfo's
master (PR #318) counts a Linear's mult-adds per row: a patched torchinfo that does so must be
detected and followed. Every layer type's examples agree too, so a new type's ``torch_leaves``
is checked the day it is added.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from click.testing import CliRunner  # noqa: E402
from torch_util import spec_text  # noqa: E402

import archcheck.spec.loader  # noqa: E402
import archcheck.spec.schema  # noqa: E402
from archcheck.api import load  # noqa: E402
from archcheck.cli import main  # noqa: E402
from archcheck.emit.summary import compare_torchinfo, probe_convention, torchinfo_mult_adds  # noqa: E402
from archcheck.emit.verify import _inputs, module_from_result  # noqa: E402
from archcheck.engine.walk import check  # noqa: E402
from archcheck.layers.base import REGISTRY  # noqa: E402

ROOT = Path(__file__).parents[1]
SPECS = sorted(p for p in (ROOT / "specs").glob("*.yaml") if not p.name.startswith("broken_"))
DIMS = {"N": 1, "H": 64, "W": 64, "L": 12, "B": 1, "T": 12}  # B, T: GPT-2's tokens [B, T]
# Known differences, each a strict xfail (it fails the suite once fixed, so the mark goes).
TORCHINFO_GAPS: dict[str, str] = {}


def _dims(path: Path, **over: int) -> dict[str, int]:
    """DIMS, except the sizes a spec fixes in its own dims: (ViT-B/16 takes only its image_size)."""
    fixed = {k: v for k, v in check(load(path)).bindings.items() if k != "N"}
    return {**DIMS, **fixed, **over}


TOTALS = (
    "Total params",
    "Trainable params",
    "Non-trainable params",
    "Total mult-adds",
    "Input size (MB)",
    "Forward/backward pass size (MB)",
    "Params size (MB)",
    "Estimated Total Size (MB)",
)


def _torchinfo(res, dtype: str = "float32", frozen: tuple[str, ...] = ()):
    """torchinfo.summary of the generated model on the meta device, at ``dtype``; ``frozen`` modules' params frozen."""
    tdt = getattr(torch, dtype)
    with torch.device("meta"):
        model = module_from_result(res).to(tdt)
    for path in frozen:
        model.get_submodule(path).requires_grad_(False)
    xs = [x.to(tdt) if x.is_floating_point() else x for x in _inputs(torch, res, "meta")]
    cols = ("input_size", "output_size", "num_params", "params_percent", "kernel_size", "mult_adds", "trainable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torchinfo.summary(model, input_data=xs, device="meta", verbose=0, depth=99, col_names=cols)


def _totals(text: str) -> dict[str, str]:
    """The totals lines of a summary (torchinfo's or archcheck's): label -> the printed value."""
    out = {}
    # torchinfo 1.8.0 on Python >= 3.11 prints its unit enum: "Total mult-adds (Units.MEGABYTES)" for (M)
    text = text.replace("Units.MEGABYTES", "M").replace("Units.GIGABYTES", "G").replace("Units.TERABYTES", "T")
    for line in text.splitlines():
        m = re.match(r"^(Total mult-adds|[A-Z][\w /-]*(?:\(MB\))?)(?: \(([MGT])\))?:\s+(\S+)", line)
        if m and m.group(1).strip() in TOTALS:
            out[m.group(1).strip()] = (f"({m.group(2)}) " if m.group(2) else "") + m.group(3)
    return out


def _path(li) -> str:
    names = []
    while li is not None and li.depth > 0:
        names.append(li.var_name)
        li = li.parent_info
    return ".".join(reversed(names))


def _archcheck(path: Path, dims: dict[str, int], *args: str):
    """archcheck summary's text (--columns all) and its JSON rows, by path, with each row's table cells."""
    dim_args = [a for k, v in dims.items() for a in ("--dim", f"{k}={v}")]
    r = CliRunner().invoke(main, ["summary", str(path), *dim_args, "--columns", "all", *args])
    assert r.exit_code == 0, r.output
    j = CliRunner().invoke(main, ["summary", str(path), *dim_args, "--format", "json", *args])
    assert j.exit_code == 0, j.output
    rows = json.loads(j.output)["rows"]
    lines = r.output.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("Layer (path)"))
    head = re.split(r"\s{2,}", lines[start].strip())
    body = lines[start + 2 : start + 2 + len(rows)]
    cells = {
        row["path"]: dict(zip(head[1:], re.split(r"\s{2,}", line.strip())[1:], strict=True))
        for row, line in zip(rows, body, strict=True)
    }
    return r.output, cells


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=TORCHINFO_GAPS[p.name]))
        if p.name in TORCHINFO_GAPS
        else p
        for p in SPECS
    ],
    ids=lambda p: p.stem,
)
def test_zoo_beside_torchinfo(path: Path, dtype: str) -> None:
    dims = _dims(path, N=2, B=2)  # a batch of 2: torchinfo's mult-adds and sizes count the batch
    res = check(load(path), dims)
    assert res.ok, [d.message for d in res.diagnostics]
    info = _torchinfo(res, dtype)
    text, cells = _archcheck(path, dims, "--dtype", dtype)
    ours, theirs = _totals(text), _totals(str(info))
    assert set(theirs) == set(TOTALS), str(info)
    assert ours == theirs
    compared = 0
    for li in info.summary_list:
        p = _path(li)
        if not p or p not in cells or li.is_recursive:
            continue
        compared += 1
        c = cells[p]
        want = {
            "Param #": li.num_params_to_str(True),  # as torchinfo prints a row it does not open
            "Param %": li.params_percent(info.total_params, True).strip(),
            "Output Shape": str(li.output_size),
            "Input Shape": str(li.input_size),
            "Kernel Shape": str(li.kernel_size) if li.kernel_size else "--",
            "Mult-Adds": li.macs_to_str(True) if li.macs or not li.is_leaf_layer else "--",
            "Trainable": li.trainable,
        }
        got = {k: c[k] for k in want}
        assert got == want, p
    assert compared >= 4


def test_totals_equal_torchinfo_at_batch_one() -> None:
    for path in SPECS:
        if path.name in TORCHINFO_GAPS:  # xfail in test_zoo_beside_torchinfo
            continue
        res = check(load(path), _dims(path))
        info = _torchinfo(res)
        assert info.total_params == res.total_params + res.shared_params  # torchinfo counts a tied weight twice
        assert info.total_mult_adds == torchinfo_mult_adds(res)


def test_frozen_params_are_counted_not_zero() -> None:
    """A layer frozen with trainable: false: its params are non-trainable, as torchinfo counts requires_grad=False."""
    res = check(load(ROOT / "specs" / "simple_cnn.yaml"), {"N": 1})
    frozen = next(n for n in res.nodes if n.path == "conv2")
    frozen.trainable = False  # what `trainable: false` sets (issue 13 item 7)
    from archcheck.emit.summary import render, totals

    t = totals(res)
    assert (t.params, t.trainable, t.non_trainable) == (215_370, 215_370 - 12_832, 12_832)
    info = _torchinfo(res, frozen=("conv2",))
    assert (info.total_params, info.trainable_params) == (t.params, t.trainable)
    text = render(res, columns=("num_params", "trainable"))
    assert _totals(text) | {} == {k: v for k, v in _totals(str(info)).items() if k in _totals(text)}
    row = next(x for x in text.splitlines() if x.startswith("conv2"))
    assert row.split()[1:] == ["(12,832)", "False"]  # torchinfo's way: a frozen layer's count in parentheses
    assert res.trainable_params == 215_370 - 12_832


def _pr318_calculate_macs(self) -> None:
    """torchinfo's LayerInfo.calculate_macs after PR #318 (TylerYep/torchinfo): a Linear counts every row."""
    from torchinfo.layer_info import prod

    for name, param in self.module.named_parameters():
        cur_params, name = self.get_param_count(self.module, name, param)
        if name in ("weight", "bias"):
            if "Conv" in self.class_name:
                self.macs += int(cur_params * prod(self.output_size[:1] + self.output_size[2:]))
            elif "Linear" in self.class_name:
                self.macs += int(cur_params * prod(self.output_size[:-1]))
            else:
                self.macs += self.output_size[0] * cur_params
        elif "weight" in name or "bias" in name:
            self.macs += prod(self.output_size[:2]) * cur_params


def test_follows_the_torchinfo_it_runs_beside(monkeypatch) -> None:
    """torchinfo's master counts a Linear on [N, L, E] for every row: --torchinfo probes and follows it."""
    assert probe_convention(torch, torchinfo) == "torchinfo-1.8"
    path = ROOT / "specs" / "transformer_text.yaml"
    res = check(load(path), DIMS)
    before = compare_torchinfo(res, DIMS)
    assert before.agree and before.convention == "torchinfo-1.8", before.text
    monkeypatch.setattr(torchinfo.layer_info.LayerInfo, "calculate_macs", _pr318_calculate_macs)
    assert probe_convention(torch, torchinfo) == "torchinfo-pr318"
    after = compare_torchinfo(res, DIMS)
    assert after.agree and after.convention == "torchinfo-pr318", after.text
    a, b = (int(c.totals["Total mult-adds"][1].replace(",", "")) for c in (before, after))
    assert b > a  # the Linears inside the encoder layers now count L = 12 rows
    assert torchinfo_mult_adds(res, "torchinfo-pr318") == b
    r = CliRunner().invoke(main, ["summary", str(path), "--dim", "L=12", "--torchinfo", "--columns", "mult_adds"])
    assert r.exit_code == 0 and "torchinfo-pr318's convention" in r.output and "PR #318" in r.output, r.output
    assert _totals(r.output)["Total mult-adds"] == f"(M) {b / 1e6:.2f}"


EXAMPLES = [
    pytest.param(name, i, ex, id=f"{name}-{i}")
    for name, cls in sorted(REGISTRY.items())
    for i, ex in enumerate(cls.examples)
    if ex.error is None
]


@pytest.mark.parametrize("name,i,ex", EXAMPLES)
def test_layer_examples_beside_torchinfo(name, i, ex) -> None:
    """Each type's torch_leaves, kernel_shape and counts agree with torchinfo on the real module."""
    res = check(
        archcheck.spec.schema.parse_spec(
            archcheck.spec.loader.load_text(spec_text(name, ex.fields, ex.input, ex.extra), "t.json")
        )
    )
    assert res.ok, [d.message for d in res.diagnostics]
    c = compare_torchinfo(res, {})
    if not c.totals and "torch failed" in c.text:
        # torchinfo's own bug where torch runs the module: PReLU on a 0-dim input (output_size[0])
        with torch.device("meta"):
            model = module_from_result(res)
        model(*_inputs(torch, res, "meta"))
        pytest.skip(f"torchinfo itself fails on it: {c.text}")
    assert c.totals, c.text
    assert c.agree, c.text
    info = _torchinfo(res)
    node = res.layers[0]
    li = next((x for x in info.summary_list if _path(x) == node.path), None)
    if li is not None and node.layer is not None:
        assert (node.layer.kernel_shape() or None) == (li.kernel_size or None)
        g = getattr(li.module, "groups", None)
        assert node.layer.groups_count() == (g if isinstance(g, int) else None)


def test_cli_torchinfo_reports_agreement() -> None:
    r = CliRunner().invoke(main, ["summary", "specs/resnet18.yaml", "--dim", "H=64", "--dim", "W=64", "--torchinfo"])
    assert r.exit_code == 0, r.output
    assert "every one of the" in r.output and "differs" not in r.output
    j = CliRunner().invoke(main, ["summary", "specs/simple_cnn.yaml", "--torchinfo", "--format", "json"])
    obj = json.loads(j.output)
    assert obj["torchinfo"]["agree"] is True and obj["torchinfo"]["rows_compared"] == 10


# ---------------------------------------------------------------- containers and reused modules, as torchinfo prints them


@pytest.mark.parametrize(
    ("name", "over"), [("vit_b_16.yaml", {}), ("resnet18.yaml", {"H": 64, "W": 64}), ("unet.yaml", {})]
)
def test_torchinfo_preset_prints_containers_as_torchinfo_does(name: str, over: dict[str, int]) -> None:
    """--columns torchinfo,...: an opened container's row is torchinfo's own (its own Parameters, else --)."""
    path = ROOT / "specs" / name
    dims = _dims(path, N=2, **over)
    res = check(load(path), dims)
    info = _torchinfo(res)
    text, cells = _archcheck(path, dims, "--columns", "torchinfo,mult_adds,params_percent")
    compared = containers = 0
    for li in info.summary_list:
        p = _path(li)
        if not p or p not in cells or li.is_recursive:
            continue
        compared += 1
        containers += not li.is_leaf_layer
        want = {
            "Param #": li.num_params_to_str(False),  # as torchinfo prints it at depth 99: every module opened
            "Mult-Adds": li.macs_to_str(False),
            "Param %": li.params_percent(info.total_params, False).strip(),
        }
        assert {k: cells[p][k] for k in want} == want, p
    assert compared >= 10 and containers >= 3
    assert "what torchinfo prints for a module it opens" in text
    if name == "vit_b_16.yaml":  # the Parameter held by encoder: torchinfo's leftover on encoder's row
        assert cells["encoder"]["Param #"] == "151,296" and cells["encoder.layers"]["Param #"] == "--"


def test_a_module_called_again_counts_each_call_as_torchinfo(tmp_path: Path) -> None:
    """use: torchinfo's hooks run at every call: mult-adds and forward/backward bytes per call, params once."""
    from test_reuse import SIAMESE

    spec = tmp_path / "siamese.json"
    spec.write_text(json.dumps(SIAMESE))
    dims = {"N": 2}
    res = check(load(spec), dims)
    info = _torchinfo(res)
    text, cells = _archcheck(spec, dims)
    assert _totals(text) == _totals(str(info))
    once = torchinfo_mult_adds(res)
    assert info.total_mult_adds == once
    # the second call (tower_b) adds the tower's (conv, fc and fc_again) mult-adds again
    fc = int(cells["tower.fc"]["Mult-Adds"].replace(",", ""))
    conv = int(cells["tower.conv"]["Mult-Adds"].replace(",", ""))
    head = int(cells["head"]["Mult-Adds"].replace(",", ""))
    assert once == 2 * (conv + 2 * fc) + head
    assert cells["tower_b"]["Param #"] == "--" and cells["tower_b"]["Mult-Adds"] == f"{conv + 2 * fc:,}"


def test_convnext_modules_agree_with_torchinfo() -> None:
    """ConvNeXt-T's LayerNorm2d is one module (the generated nn.LayerNorm subclass): torchinfo sees its
    [N, C, H, W] output, and ``summary --torchinfo`` finds no per-module difference."""
    path = ROOT / "specs" / "convnext_tiny.yaml"
    r = CliRunner().invoke(main, ["summary", str(path), "--torchinfo"])
    assert r.exit_code == 0, r.output
    assert "per-module difference" not in r.output, r.output
    assert re.search(r"every one of the \d+ torch modules both list agrees", r.output), r.output
