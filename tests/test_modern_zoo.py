"""Issue 13's modern models: the specs reproduce the reference implementation's facts exactly.

The facts are tests/data/reference/<model>.json, recorded from torchvision
0.29.1 (and nanoGPT's GPT re-implemented) with torch 2.14.1 by
tests/data/make_reference.py; torchvision is not needed here. Per spec and per
recorded run (two input sizes):

* archcheck's static result: no diagnostics, the parameter count (total and
  trainable), the MACs (torchvision's convention: convolutions, matrix products
  and attention's two products; see docs/modern_models.md), which round to
  torchvision's published GFLOPS, the output shape, and the output shape of
  every module torch ran (forward hooks) at the same path in the spec;
* the module archcheck builds (the generate path) on the meta device: every
  state_dict key and shape in torch's order, the parameter counts, and running
  it gives the same output shape and the same output shape at every module path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import archcheck
from archcheck.emit.report import to_json
from archcheck.engine.result import CheckResult
from archcheck.engine.walk import check
from archcheck.spec.schema import DimRange

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
REF = Path(__file__).resolve().parent / "data" / "reference"

# spec -> reference JSON (tests/data/reference/<name>.json)
MODERN: dict[str, str] = {
    "convnext_tiny.yaml": "convnext_tiny",
    "gpt2.yaml": "gpt2",
    "gpt2_tiny.yaml": "gpt2_tiny",
    "mobilenet_v3_large.yaml": "mobilenet_v3_large",
    "regnet_y_400mf.yaml": "regnet_y_400mf",
    "swin_t.yaml": "swin_t",
    "vit_b_16.yaml": "vit_b_16",
}


def _ref(spec: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REF / f"{MODERN[spec]}.json").read_text())
    return data


def _dims(spec: str, run: dict[str, Any]) -> dict[str, int]:
    """The spec's free input dims for a run's input ([N, 3, H, W] images, [B, T] tokens)."""
    (inp,) = archcheck.load(SPECS / spec).inputs.values()
    assert len(inp.shape) == len(run["input"])
    return {d: v for d, v in zip(inp.shape, run["input"]) if isinstance(d, str)}


def _shape(s: Any) -> list[Any]:
    return [d if isinstance(d, int) else str(d) for d in s]


def _check(spec: str, run: dict[str, Any]) -> CheckResult:
    """The run's model: its constructor arguments (ViT's image_size) are the spec's params."""
    return check(archcheck.load(SPECS / spec), _dims(spec, run), params=run.get("model_kwargs"))


def _runs(spec: str) -> list[tuple[str, int]]:
    return [(spec, i) for i in range(len(_ref(spec)["runs"]))]


CASES = [case for spec in sorted(MODERN) for case in _runs(spec)]


@pytest.mark.parametrize(("spec", "i"), CASES)
def test_static_facts(spec: str, i: int) -> None:
    data = _ref(spec)
    run = data["runs"][i]
    res = _check(spec, run)
    assert [(d.code, d.path, d.message) for d in res.diagnostics] == []
    assert res.total_params == run.get("params", data["params"])
    frozen = data["params"] - data["trainable_params"]  # the same in every run of a model
    assert to_json(res)["trainable_params"] == res.total_params - frozen  # validate --format json's figure
    assert res.total_macs == run["macs"]
    assert [_shape(t.shape) for t in res.outputs.values() if t is not None] == [run["output"]]
    shapes = {n.path: _shape(n.output.shape) for n in res.nodes if n.output is not None}
    want = run["outputs"]
    assert {p: shapes.get(p) for p in want} == want


@pytest.mark.parametrize("spec", sorted(s for s in MODERN if "published" in _ref(s)))  # torchvision's models
def test_published_gflops(spec: str) -> None:
    data = _ref(spec)
    res = _check(spec, data["runs"][0])
    assert res.total_macs is not None
    assert round(res.total_macs / 1e9, 3) == data["published"]["GFLOPS"]
    assert res.total_params == data["published"]["num_params"]


torch = pytest.importorskip("torch")  # the [torch] extra, installed in CI
from zoo_util import hooked_run  # noqa: E402

from archcheck.emit.verify import module_from_result  # noqa: E402


@pytest.mark.parametrize(("spec", "i"), CASES)
def test_built_module(spec: str, i: int) -> None:
    data = _ref(spec)
    run = data["runs"][i]
    res = _check(spec, run)
    assert res.ok
    with torch.device("meta"):
        model = module_from_result(res)  # archcheck.build's path, with the run's params
    want_sd = data["state_dict"] | run.get("state_dict_changes", {})
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == list(want_sd.items())
    assert sum(p.numel() for p in model.parameters()) == run.get("params", data["params"])
    frozen = data["params"] - data["trainable_params"]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == run.get("params", data["params"]) - frozen
    dtype = torch.long if len(run["input"]) == 2 else torch.float32  # token ids or images
    seen, y_shape = hooked_run(model, run["outputs"], [torch.empty(*run["input"], dtype=dtype, device="meta")])
    assert y_shape == run["output"]
    # every module torch ran is at the same path and ran too (StochasticDepth included: the generated
    # file defines it, as torchvision does), with the same class name where torch.nn has none
    modules = dict(model.named_modules())
    assert seen == run["outputs"]
    drop = [p for p, t in data["modules"].items() if t == "StochasticDepth"]
    assert {p: type(modules[p]).__name__ for p in drop} == dict.fromkeys(drop, "StochasticDepth")


MODERN_GPT = ("gpt2.yaml", "gpt2_tiny.yaml")


def test_the_tiny_gpt_is_gpt2_at_another_config() -> None:
    """specs/gpt2_tiny.yaml is specs/gpt2.yaml line for line but for its header, name, params and T's range;
    its params are the reference's config."""
    big, tiny = ([ln for ln in (SPECS / f).read_text().splitlines() if not ln.startswith("# ")] for f in MODERN_GPT)
    assert len(big) == len(tiny)
    assert [a.split(":")[0] for a, b in zip(big, tiny) if a != b] == ["name", "params", "dims"]
    for spec in MODERN_GPT:
        model = archcheck.load(SPECS / spec).model
        config = _ref(spec)["config"]
        assert model is not None and model.params is not None and model.dims is not None
        assert {k: model.params[k] for k in config} == config
        assert model.dims["T"] == DimRange(min=1, max=config["block_size"])  # t <= block_size


def test_specs_have_a_header() -> None:
    """Each spec starts with a comment saying what it is and where it comes from."""
    for name in MODERN:
        head = (SPECS / name).read_text().splitlines()[:3]
        assert all(line.startswith("# ") for line in head), name
