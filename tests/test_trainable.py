"""Frozen parts (``trainable: false``) and training-only outputs (issue 13 item 7), against torch.

Each generated module is built on the meta device: every parameter's ``requires_grad`` must be
what archcheck says of the layer that owns it, the trainable count torch's own
(``sum(p.numel() for p in m.parameters() if p.requires_grad)``), and a training-only output is
returned (and its layers run) only while ``self.training``.
"""

from __future__ import annotations

import json
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcheck.api import check, load
from archcheck.emit.codegen import generate
from archcheck.emit.report import to_json as result_json

torch = pytest.importorskip("torch")


def build(text: str) -> tuple[Any, Any, str]:
    res = check(load("spec.yaml", text=text))
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    src = generate(res)
    mod = types.ModuleType("generated")
    exec(compile(src, "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output, audited
    with torch.device("meta"):
        model = getattr(mod, res.name)()
    return res, model, src


def owner(res: Any, key: str) -> Any:
    """The leaf layer a parameter's key belongs to (the longest node path that prefixes it)."""
    best = None
    for n in res.layers:
        if key.startswith(n.path + ".") and (best is None or len(n.path) > len(best.path)):
            best = n
    assert best is not None, key
    return best


def assert_grads_match(res: Any, model: Any) -> None:
    for key, p in model.named_parameters():
        assert p.requires_grad == owner(res, key).trainable, key
    torch_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert torch_trainable == res.trainable_params
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    modules = dict(model.named_modules())
    for n in res.nodes:
        if n.path in modules:
            want = sum(p.numel() for p in modules[n.path].parameters() if p.requires_grad)
            assert n.trainable_params == want, n.path


FROZEN = """\
name: Frozen
params: {freeze_head: false}
input: {shape: [N, 3, 16, 16]}
blocks:
  Stem:
    params: {train_bn: true}
    layers:
      - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1, trainable: false}
      - {name: bn, type: BatchNorm2d, trainable: $train_bn}
layers:
  - {name: stem, type: Stem}
  - {name: stem2, type: Stem, train_bn: false}
  - {name: frozen, type: Stem, trainable: false}
  - name: body
    type: Sequential
    layers:
      - {type: Conv2d, out_channels: 16, kernel_size: 3, trainable: false}
      - ReLU
      - {name: bn, type: BatchNorm2d}
  - {name: stages, type: Sequential, repeat: 2, trainable: false, layers: [{type: Conv2d, out_channels: 16, kernel_size: 1}]}
  - {name: pool, type: AdaptiveAvgPool2d, output_size: 1}
  - Flatten
  - {name: fc, type: Linear, out_features: 10, trainable: $freeze_head}
"""


def test_frozen_layers_blocks_sequentials_and_repeats_match_torch() -> None:
    res, model, src = build(FROZEN)
    assert_grads_match(res, model)
    assert "self.frozen.requires_grad_(False)" in src
    assert "self.body[0].requires_grad_(False)" in src and "self.stages.requires_grad_(False)" in src
    assert "self.conv.requires_grad_(False)" in src  # inside the block class
    by = {n.path: n for n in res.nodes}
    assert not by["fc"].trainable and by["fc"].params == 170
    assert by["stem.bn"].trainable and not by["stem2.bn"].trainable and not by["frozen.bn"].trainable
    assert by["body"].trainable and not by["body.0"].trainable and by["body.bn"].trainable
    # stem.conv (3 -> 8), stem2 and frozen (conv 8 -> 8, bn), body.0, the two stages, fc
    frozen = 224 + (584 + 16) + (584 + 16) + 1168 + 2 * 272 + 170
    assert res.trainable_params == res.total_params - frozen == 16 + 32  # stem.bn and body.bn
    j = result_json(res)
    assert j["trainable_params"] == res.trainable_params and j["non_trainable_params"] == frozen
    assert {r["path"]: r["trainable"] for r in j["layers"]}["body.bn"] is True


def test_verify_and_summary_report_non_trainable(tmp_path: Any) -> None:
    from archcheck.emit.summary import render
    from archcheck.emit.verify import verify

    res = check(load("f.yaml", text=FROZEN))
    frozen = res.total_params - res.trainable_params
    line = next(ln for ln in render(res).splitlines() if ln.startswith("Non-trainable params:"))
    assert line.split()[-1] == f"{frozen:,}"
    p = tmp_path / "f.yaml"
    p.write_text(FROZEN)
    v, _ = verify(str(p))
    assert v.ok, v.problems
    assert f"({frozen:,} non-trainable)" in v.text(str(p))


def test_trainable_mistakes() -> None:
    text = """\
input: {shape: [N, 4]}
layers:
  - {type: Linear, out_features: 4, trainable: 0}
  - {type: ReLU, trainable: false}
  - {type: Linear, out_features: 4, trainable: $nope}
"""
    res = check(load("t.yaml", text=text))
    got = [(d.line, d.code, d.severity) for d in res.diagnostics]
    assert got == [(3, "AC103", "error"), (4, "AC230", "warning"), (5, "AC109", "error")]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=4, max_size=4))
def test_any_pattern_of_frozen_layers(flags: list[bool]) -> None:
    layers = "".join(
        f"  - {{type: {t}, out_features: 5, trainable: {str(f).lower()}}}\n"
        for t, f in zip(["Linear", "Linear", "Linear", "Linear"], flags)
    )
    flag = str(flags[0]).lower()
    seq = f"  - {{name: s, type: Sequential, layers: [{{type: Linear, out_features: 5, trainable: {flag}}}, ReLU]}}\n"
    res, model, _ = build(f"name: P\ninput: {{shape: [N, 5]}}\nlayers:\n{layers}{seq}")
    assert_grads_match(res, model)


# ------------------------------------------------------------------ training-only outputs

GOOGLENET_LIKE = """\
name: Aux
input: {shape: [N, 3, 32, 32]}
blocks:
  InceptionAux:
    params: {num_classes: 10}
    layers:
      - {type: AdaptiveAvgPool2d, output_size: 4}
      - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 1}
      - Flatten
      - {name: fc1, type: Linear, out_features: 16}
      - ReLU
      - {name: fc2, type: Linear, out_features: $num_classes}
layers:
  - {name: conv1, type: Conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {name: aux1, type: InceptionAux, inputs: [conv1]}
  - {name: conv2, type: Conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1, inputs: [conv1]}
  - {name: aux2, type: InceptionAux, inputs: [conv2]}
  - {name: avgpool, type: AdaptiveAvgPool2d, output_size: 1, inputs: [conv2]}
  - {name: flatten, type: Flatten}
  - {name: fc, type: Linear, out_features: 10}
outputs: [fc, {name: aux2, training_only: true}, {name: aux1, training_only: true, shape: [N, 10]}]
"""


def test_training_only_outputs_in_both_modes() -> None:
    res, model, src = build(GOOGLENET_LIKE)
    assert res.training_only_outputs == ["aux2", "aux1"]
    assert {n.path for n in res.root if n.training_only} == {"aux1", "aux2"}
    assert "if self.training:" in src
    ran: list[str] = []
    for name, m in model.named_modules():
        if name in ("aux1", "aux2", "fc"):
            m.register_forward_hook(lambda mod, a, o, name=name: ran.append(name))
    x = torch.empty(2, 3, 32, 32, device="meta")
    model.train()
    outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 10), (2, 10), (2, 10)]
    assert sorted(ran) == ["aux1", "aux2", "fc"]
    ran.clear()
    model.eval()
    out = model(x)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 10)
    assert ran == ["fc"]  # the aux heads do not run in eval mode
    # Their params count (torch's parameters() has them); their MACs are not an eval forward's.
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    aux_macs = sum(n.macs or 0 for n in res.layers if n.training_only)
    assert aux_macs > 0 and res.total_macs == sum(n.macs or 0 for n in res.layers) - aux_macs
    j = result_json(res)
    assert j["training_only_outputs"] == ["aux2", "aux1"] and set(j["outputs"]) == {"fc", "aux1", "aux2"}


def test_verify_runs_both_modes(tmp_path: Any) -> None:
    from archcheck.emit.summary import render
    from archcheck.emit.verify import verify

    p = tmp_path / "aux.yaml"
    p.write_text(GOOGLENET_LIKE)
    v, res = verify(str(p))
    assert v.ok, v.problems
    assert "in eval and training mode" in v.text(str(p))
    assert "Training-only outputs: aux2, aux1" in render(res)


def test_a_training_only_output_the_main_path_needs_still_runs_in_eval() -> None:
    text = GOOGLENET_LIKE.replace("outputs: [fc, {name: aux2", "outputs: [fc, {name: conv2").replace(
        ", {name: aux1, training_only: true, shape: [N, 10]}", ""
    )
    res, model, _ = build(text)
    assert not next(n for n in res.root if n.name == "conv2").training_only
    model.eval()
    assert tuple(model(torch.empty(2, 3, 32, 32, device="meta")).shape) == (2, 10)
    model.train()
    assert [tuple(o.shape) for o in model(torch.empty(2, 3, 32, 32, device="meta"))] == [(2, 10), (2, 32, 8, 8)]


def test_only_training_outputs_is_ac117() -> None:
    text = "input: {shape: [N, 4]}\nlayers:\n  - {name: a, type: Linear, out_features: 2}\n"
    res = check(load("t.yaml", text=text + "outputs: [{name: a, training_only: true}]\n"))
    assert [(d.code, d.line) for d in res.diagnostics] == [("AC117", 4)]
    res = check(load("t.yaml", text=text + "output: {shape: [N, 2], training_only: true}\n"))
    assert [d.code for d in res.diagnostics] == ["AC117"]


def test_the_json_schema_takes_trainable_and_training_only() -> None:
    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    from archcheck.spec.jsonschema import build_schema

    v = jsonschema.Draft7Validator(build_schema())
    for text in (FROZEN, GOOGLENET_LIKE):
        assert not list(v.iter_errors(yaml.safe_load(text)))
    assert list(v.iter_errors(yaml.safe_load(FROZEN.replace("trainable: false}", "trainable: 3}"))))
    assert json.dumps(build_schema()).count('"training_only"') >= 1
