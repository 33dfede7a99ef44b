"""Famous models written as a user writes them, exact against torchvision 0.29.1.

Each ``tests/data/zoo/<name>.yaml`` was written from the paper and torchvision's
source the way DESIGN.md and the README teach (bare names in expressions,
``repeat`` with torch's own numbering, ...), not tuned to archcheck.
``tests/data/zoo/<name>.json`` holds torchvision's facts, recorded by
``tests/data/make_reference.py zoo`` (torch 2.14.1, torchvision 0.29.1, on the
meta device). Per spec and per recorded run (two input sizes):

* the static result: no diagnostics, the parameter count, the MACs (torch's
  FlopCounterMode / 2) that round to torchvision's published GFLOPS, the output
  shape, and every module's output shape at the same path;
* the module archcheck builds (the generate path) on the meta device: every
  state_dict key and shape in torch's order, the parameter count, the output
  shape and every module's output shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import archcheck
from archcheck.engine.result import CheckResult
from archcheck.engine.walk import check

ZOO = Path(__file__).resolve().parent / "data" / "zoo"
NAMES = sorted(p.stem for p in ZOO.glob("*.yaml") if (ZOO / f"{p.stem}.json").exists())


def _ref(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ZOO / f"{name}.json").read_text())
    return data


def _check(name: str, run: dict[str, Any]) -> CheckResult:
    spec = archcheck.load(ZOO / f"{name}.yaml")
    inp = next(iter(spec.inputs.values()))  # several (BERT's ids, token types, positions): one shape
    assert all(len(i.shape) == len(run["input"]) for i in spec.inputs.values())
    dims = {d: v for d, v in zip(inp.shape, run["input"]) if isinstance(d, str)}
    return check(spec, dims)


def _shape(s: Any) -> list[Any]:
    return [d if isinstance(d, int) else str(d) for d in s]


# Where a natural spelling differs from torchvision's forward in what a module returns (never in
# parameters, MACs or the model's output): model -> torchvision class -> why. Those modules' outputs
# are compared in every dim but the channels.
REWRITTEN: dict[str, dict[str, str]] = {
    "densenet121": {
        "_DenseLayer": "the spec's DenseLayer returns cat([input, new]) (a chain); torchvision's returns the new "
        "32 channels and its _DenseBlock concatenates them all",
    },
}


def _compare(name: str, got: dict[str, Any], want: dict[str, Any], modules: dict[str, str]) -> None:
    rewritten = REWRITTEN.get(name, {})
    loose = {p for p in want if modules[p] in rewritten}
    assert {p: got.get(p) for p in want if p not in loose} == {p: v for p, v in want.items() if p not in loose}
    for p in loose:
        g, w = got.get(p), want[p]
        assert g is not None and len(g) == len(w) and g[:1] + g[2:] == w[:1] + w[2:], (p, g, w)


# Warnings that are right: model -> (code, path) per run at batch 1.
WARNINGS: dict[str, list[tuple[str, str]]] = {
    # the aux head's last BatchNorm sees one value per channel: training inception_v3 on a batch of 1 raises
    "inception_v3": [("AC211", "AuxLogits.conv1.bn")],
}


# Outputs after the first that the reference's forward does not return (BERT's pooler_output).
EXTRA_OUTPUTS: dict[str, int] = {"bert_base": 1}


CASES = [(name, i) for name in NAMES for i in range(len(_ref(name)["runs"]))]


def test_the_zoo_is_there() -> None:
    """Every spec has its facts and every facts file its spec (a spec left out would be untested)."""
    assert sorted(p.stem for p in ZOO.glob("*.json")) == sorted(p.stem for p in ZOO.glob("*.yaml")) == NAMES
    assert len(NAMES) >= 1


@pytest.mark.parametrize(("name", "i"), CASES)
def test_static_facts(name: str, i: int) -> None:
    data = _ref(name)
    run = data["runs"][i]
    res = _check(name, run)
    assert [d.severity for d in res.diagnostics if d.severity == "error"] == []
    warned = WARNINGS.get(name, []) if run["input"][0] == 1 else []
    assert [(d.code, d.path) for d in res.diagnostics] == warned
    assert res.total_params == data["params"]
    assert res.total_macs == run["macs"]
    evals = [t for n, t in res.outputs.items() if n not in res.training_only_outputs]  # eval mode's
    assert [_shape(t.shape) for t in evals if t is not None][: len(evals) - EXTRA_OUTPUTS.get(name, 0)] == [
        run["output"]
    ]
    shapes = {n.path: _shape(n.output.shape) for n in res.nodes if n.output is not None}
    _compare(name, shapes, run["outputs"], data["modules"])


@pytest.mark.parametrize("name", NAMES)
def test_published_figures(name: str) -> None:
    data = _ref(name)
    res = _check(name, data["runs"][0])
    assert res.total_macs is not None
    if "GFLOPS" in data["published"]:
        assert round(res.total_macs / 1e9, 3) == data["published"]["GFLOPS"]
    assert res.total_params == data["published"]["num_params"]


def test_specs_say_what_they_are() -> None:
    """Each spec starts with a comment saying what it is and where it comes from."""
    for name in NAMES:
        head = (ZOO / f"{name}.yaml").read_text().splitlines()[:2]
        assert all(line.startswith("# ") for line in head), name


torch = pytest.importorskip("torch")  # the [torch] extra, installed in CI
from zoo_util import hooked_run  # noqa: E402

from archcheck.emit.verify import module_from_result  # noqa: E402


@pytest.mark.parametrize(("name", "i"), CASES)
def test_built_module(name: str, i: int) -> None:
    data = _ref(name)
    run = data["runs"][i]
    res = _check(name, run)
    assert res.ok
    with torch.device("meta"):
        model = module_from_result(res)  # archcheck.build's path
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == list(data["state_dict"].items())
    assert sum(p.numel() for p in model.parameters()) == data["params"]
    if len(res.spec.inputs) > 1:  # token ids
        inputs = [torch.empty(*run["input"], dtype=torch.long, device="meta") for _ in res.spec.inputs]
    else:
        inputs = [torch.empty(*run["input"], device="meta")]
    seen, y_shape = hooked_run(model, run["outputs"], inputs)
    assert y_shape == run["output"]
    # every module torch ran is at its path and ran (torchvision's StochasticDepth too: the generated file
    # defines it as a module)
    assert set(seen) == set(run["outputs"])
    _compare(name, seen, run["outputs"], data["modules"])
