"""The reference facts in tests/data/reference/ agree with themselves and with torchvision's published figures.

tests/data/make_reference.py recorded them with torch 2.14.1 and torchvision
0.29.1 (not importable beside archcheck's torch); the zoo tests compare the
specs with them. These checks catch a hand-edited or truncated file: the
parameter count is the sum of the state_dict's parameter shapes (buffers and
the second key of a tied weight left out), the computed MACs round to
torchvision's published GFLOPS, every run's output is the last module's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

REF = Path(__file__).resolve().parent / "data" / "reference"
TORCHVISION = ["vit_b_16", "convnext_tiny", "swin_t", "mobilenet_v3_large", "regnet_y_400mf"]
GPT = ["gpt2", "gpt2_tiny"]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REF / f"{name}.json").read_text())
    return data


def test_the_files_are_there() -> None:
    assert sorted(p.stem for p in REF.glob("*.json")) == sorted(TORCHVISION + GPT)


@pytest.mark.parametrize("name", TORCHVISION + GPT)
def test_params_are_the_state_dicts_parameters(name: str) -> None:
    data = _load(name)
    persistent = {k for k, b in data["buffers"].items() if b["persistent"]}
    assert persistent <= set(data["state_dict"])
    params = sum(math.prod(s) for k, s in data["state_dict"].items() if k not in persistent and k not in data["tied"])
    assert params == data["params"] == data["trainable_params"]
    for k, v in data["tied"].items():
        assert data["state_dict"][k] == data["state_dict"][v]
    assert len(data["runs"]) == 2
    for run in data["runs"]:
        assert run["macs"] == sum(run["macs_by_op"].values())
        assert run["output"][0] == run["input"][0]


@pytest.mark.parametrize("name", TORCHVISION)
def test_macs_are_torchvisions_published_gflops(name: str) -> None:
    data = _load(name)
    pub = data["published"]
    assert data["params"] == pub["num_params"]
    first = data["runs"][0]
    assert first["input"] == [1, 3, 224, 224] and first["output"] == [1, 1000]
    assert round(first["macs"] / 1e9, 3) == pub["GFLOPS"]
    lo, hi = pub["macs_range"]
    assert lo <= first["macs"] <= hi
    # the last module that ran is the classifier: its output is the model's
    assert list(first["outputs"].values())[-1] == first["output"] or name == "vit_b_16"


def test_vit_at_384_is_torchvisions_384_model() -> None:
    data = _load("vit_b_16")
    run = data["runs"][1]
    assert run["model_kwargs"] == {"image_size": 384}
    assert run["state_dict_changes"] == {"encoder.pos_embedding": [1, 577, 768]}  # 1 + (384 / 16)**2 tokens
    assert run["params"] == run["published"]["num_params"] == data["params"] + (577 - 197) * 768
    per_image = run["macs"] // run["input"][0]
    assert round(per_image / 1e9, 3) == run["published"]["GFLOPS"]


def test_gpt2_is_the_124m_model_with_tied_embeddings() -> None:
    data = _load("gpt2")
    assert data["params"] == 124_439_808
    assert data["tied"] == {"lm_head.weight": "transformer.wte.weight"}
    keys = list(data["state_dict"])
    assert keys[0] == "transformer.wte.weight" and keys[-1] == "lm_head.weight"
    assert data["state_dict"]["lm_head.weight"] == [50257, 768]
    assert data["buffers"] == {}
    assert [r["output"] for r in data["runs"]] == [[1, 1024, 50257], [2, 64, 50257]]
