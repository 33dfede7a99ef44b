"""`archcheck import` of issue 13's vocabulary: Parameter, Expand, items of several outputs
(Split/Chunk, ``lstm.1.0``, blocks with several outputs), a module called again (``use:``),
tied weights (``tie:``) and frozen parameters (``trainable: false``).

Each import is compared with the model by ``check_written`` (every module's output shape on
the meta device, every state_dict key and shape); here also parameters() as torch counts
them (a shared or tied Parameter once), the trainable count, and what the spec says.
Specs of the other vocabulary tests (tests/test_reuse.py, test_multi_outputs.py,
test_trainable.py) go through generate -> import -> check and give the same model back.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

import archcheck
from archcheck.cli.importer import check_written, import_model, parse_input_shape
from archcheck.emit.verify import module_from_result

torch = pytest.importorskip("torch")

MODELS = Path(__file__).resolve().parent / "models"
VOCAB = MODELS / "vocab.py"


def _import(target: str, *shapes: str, **kwargs: Any) -> tuple[Any, Any]:
    imp = import_model(target, kwargs, [parse_input_shape(s) for s in shapes], {})
    res, problems = check_written(imp, "imported.yaml")
    assert problems == []
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    return imp, res


def _counts(model: Any) -> tuple[int, int]:
    """(parameters, trainable parameters) as torch counts them: a shared Parameter once."""
    ps = list(model.parameters())
    return sum(p.numel() for p in ps), sum(p.numel() for p in ps if p.requires_grad)


def _by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries if "name" in e}


def test_a_module_called_twice_is_use() -> None:
    imp, res = _import(f"{VOCAB}:Siamese", "a=N,3,12,12", "b=N,3,12,12")
    assert (res.total_params, res.trainable_params) == _counts(imp.model) == (8 * 3 * 9 + 8 + 72 + 9, 305)
    top = _by_name(imp.data["layers"])
    assert top["tower_call"] == {"name": "tower_call", "use": "tower", "inputs": ["b"]}
    assert top["add"]["inputs"] == ["tower", "tower_call"]
    tower = _by_name(imp.data["blocks"]["Tower"]["layers"])
    assert tower["act_call"] == {"name": "act_call", "use": "act"}  # a ReLU called again: one module
    gen = archcheck.generate(res)
    assert "self.tower(b)" in gen and gen.count("Tower()") == 1


def test_tied_weights_split_items_and_a_parameter() -> None:
    imp, res = _import(f"{VOCAB}:TinyLM", "idx=N,12:long")
    total, trainable = _counts(imp.model)
    assert res.total_params == total == 50 * 16 + 12 * 16 + 32 + (16 * 48 + 48) + (16 * 16 + 16)  # lm_head: tied
    assert res.trainable_params == trainable
    by = _by_name(imp.data["layers"])
    assert by["lm_head"]["tie"] == {"weight": "wte.weight"}
    assert by["wpe"] == {"name": "wpe", "type": "Parameter", "shape": [1, 12, 16]}
    assert by["split"]["split_size_or_sections"] == 16 and by["split"]["dim"] == 2
    assert by["add_1"]["inputs"] == ["split.0", "split.1"] and by["add_2"]["inputs"] == ["add_1", "split.2"]
    assert "vocab.py:39 · init unknown: values not imported" in imp.text  # wpe's line, and what is missing
    assert any("wpe: a Parameter of shape [1, 12, 16]; its values are not imported" in n for n in imp.notes)


def test_class_token_expanded_to_the_batch() -> None:
    imp, res = _import(f"{VOCAB}:ClassToken", "N,3,16,16")
    assert res.total_params == _counts(imp.model)[0]
    by = _by_name(imp.data["layers"])
    assert by["class_token"]["shape"] == [1, 1, 32] and by["pos_embedding"]["shape"] == [1, 17, 32]
    assert by["expand"] == {"name": "expand", "type": "Expand", "inputs": ["class_token", "permute"]}
    assert by["cat"]["inputs"] == ["expand", "permute"]
    # torch.Size slices unpacked in a call (*t.shape[1:]) are traced too: the form archcheck generates
    shapes = {n.path: n.output.shape for n in res.nodes if n.output is not None}
    assert shapes["expand"] == ("N", 1, 32) and shapes["head"] == ("N", 10)


def test_items_of_tuples_blocks_with_two_outputs_and_a_frozen_layer() -> None:
    imp, res = _import(f"{VOCAB}:Items", "N,3,8,8")
    assert (res.total_params, res.trainable_params) == _counts(imp.model)
    assert res.total_params - res.trainable_params == 3 * 8 * 9 + 8  # the stem
    by = _by_name(imp.data["layers"])
    assert by["stem"]["trainable"] is False
    assert imp.data["blocks"]["Halves"]["outputs"] == ["chunk.0", "chunk.1"]
    assert by["mul"]["inputs"] == ["halves.0", "halves.1"]
    assert by["select"]["inputs"] == ["lstm.1.0"]  # out, (h, c) = self.lstm(s); h[-1]
    assert by["split"]["inputs"] == ["lstm"] and by["mean"]["inputs"] == ["split.1"]
    assert imp.data["outputs"] == ["fc", "split.0"]
    assert [t.shape for t in res.outputs.values()] == [("N", 4), ("N", 10, 6)]


# ---------------------------------------------------------------- what stays refused, with the reason


def test_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Part(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n"
        "        self.fc.bias.requires_grad_(False)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n\n\n"
        "class Token(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.tok = nn.Parameter(torch.zeros(1, 4))\n\n"
        "    def forward(self, x):\n        return self.tok.expand(x.shape[0] * 2, -1)\n\n\n"
        "class Outside(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.a = nn.Sequential(nn.Linear(4, 4))\n"
        "        self.inner = Part()\n        self.inner.fc.weight = self.a[0].weight\n\n"
        "    def forward(self, x):\n        return self.inner(self.a(x))\n"
    )
    for cls, want in [
        ("Part", "some parameters frozen (bias) and others not"),
        ("Token", "size 0 (mul) is computed in forward()"),
        ("Outside", "weight is the Parameter a.0.weight, outside inner"),
    ]:
        r = run_cli("import", f"m.py:{cls}", "--input-shape", "N,4", "-o", "s.yaml", cwd=tmp_path)
        assert r.exit_code == 1, r.output
        assert want in r.stderr, r.stderr
        assert "Traceback" not in r.output and not (tmp_path / "s.yaml").exists()


def test_cli_notes_the_parameters_whose_values_are_not_imported(tmp_path: Path) -> None:
    r = run_cli("import", f"{VOCAB}:ClassToken", "--input-shape", "N,3,16,16", "-o", "s.yaml", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert "note: class_token: a Parameter of shape [1, 1, 32]; its values are not imported" in r.stderr
    assert archcheck.check(tmp_path / "s.yaml").ok


# ---------------------------------------------------------------- round trip of the vocabulary tests' specs


def _specs() -> dict[str, Any]:
    from test_multi_outputs import QKV
    from test_reuse import GPT, SIAMESE
    from test_trainable import FROZEN

    qkv = copy.deepcopy(QKV)
    qkv["blocks"]["Heads"]["layers"][0]["out_features"] = 16  # as test_multi_outputs makes it check ok
    return {"siamese": SIAMESE, "gpt_tied": GPT, "qkv_items": qkv, "frozen": yaml.safe_load(FROZEN)}


@pytest.mark.parametrize("name", ["siamese", "gpt_tied", "qkv_items", "frozen"])
def test_generate_then_import_gives_the_same_model(name: str, tmp_path: Path) -> None:
    ref = archcheck.check(_specs()[name])
    assert ref.ok
    model = tmp_path / "model.py"
    model.write_text(archcheck.generate(ref))
    shapes = []
    for k, inp in ref.spec.inputs.items():
        dt = "" if inp.dtype == "float32" else f":{inp.dtype}"
        shapes.append(f"{k}=" + ",".join(map(str, inp.shape)) + dt)
    imp, res = _import(f"{model}:{ref.name}", *shapes)
    assert (res.total_params, res.trainable_params) == (ref.total_params, ref.trainable_params)
    # outputs in order (a tensor operation's name is made from the call: split, not qkv)
    assert [t.shape for t in res.outputs.values()] == [t.shape for t in ref.outputs.values()]
    dims = {"N": 2}
    with torch.device("meta"):
        a = module_from_result(archcheck.check(archcheck.load("i.yaml", text=imp.text), dims))
        b = module_from_result(archcheck.check(_specs()[name], dims))
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]
    assert [(k, p.requires_grad) for k, p in a.named_parameters()] == [
        (k, p.requires_grad) for k, p in b.named_parameters()
    ]


def test_arithmetic_and_hand_written_attention() -> None:
    imp, res = _import(f"{VOCAB}:Arithmetic", "N,6,8")
    types = [(e["name"], e["type"]) for e in imp.data["layers"]]
    assert [t for _, t in types] == [
        "Linear", "Linear", "Transpose", "MatMul", "Arith", "Softmax", "MatMul", "Arith", "Subtract",
        "Arith", "Sum", "Squeeze", "Unsqueeze",
    ]  # fmt: skip
    arith = [e for e in imp.data["layers"] if e["type"] == "Arith"]
    assert [(e["op"], e["value"]) for e in arith] == [("div", 8.0), ("mul", 0.5), ("pow", 2)]
    (total,) = (e for e in imp.data["layers"] if e["type"] == "Sum")
    assert (total["dim"], total["keepdim"]) == (-1, True)
    assert [t.shape for t in res.outputs.values()] == [("N", 1, 6)]


def test_a_number_before_a_tensor_is_refused_where_it_does_not_commute(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import torch.nn as nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n        return 1.0 - x\n"
    )
    r = run_cli("import", "m.py:M", "--input-shape", "N,4", cwd=tmp_path)
    assert r.exit_code == 1, r.output
    assert "- with the operands (1.0, x) has no archcheck layer" in r.stderr and "m.py:6" in r.stderr


ZOO = sorted((Path(__file__).resolve().parent / "data" / "zoo").glob("*.yaml"))


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_zoo_round_trip(path: Path, tmp_path: Path) -> None:
    """tests/data/zoo (Inception's training-only aux head, BERT's hand-written attention, ...) come back."""
    from archcheck.emit.verify import concrete_dims

    ref = archcheck.check(path)
    assert ref.ok
    dims, ref_c = concrete_dims(ref.spec)
    dims = {**ref.bindings, **dims}
    model = tmp_path / "model.py"
    model.write_text(archcheck.generate(ref))
    shapes = []
    for k, inp in ref.spec.inputs.items():
        dt = "" if inp.dtype == "float32" else f":{inp.dtype}"
        shapes.append(f"{k}=" + ",".join(map(str, inp.shape)) + dt)
    imp = import_model(
        f"{model}:{ref.name}", {}, [parse_input_shape(s) for s in shapes], {k: v for k, v in dims.items() if k != "N"}
    )
    res, problems = check_written(imp, "imported.yaml")
    assert problems == [] and res.ok
    assert (res.total_params, res.trainable_params) == (ref.total_params, ref.trainable_params)
    got = archcheck.check(archcheck.load("i.yaml", text=imp.text), dims)
    assert [t.shape for t in got.outputs.values()] == [t.shape for t in ref_c.outputs.values()]
    assert list(got.spec.training_only) == list(ref.spec.training_only)  # Inception's AuxLogits
