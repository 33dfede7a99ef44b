"""Write tests/data/torchvision_keys/<model>.json: torchvision's state_dict keys and shapes.

tests/test_zoo.py compares them with what archcheck derives from the zoo specs
(specs/alexnet.yaml, ...), which use torchvision's module names. torchvision is
not installed beside archcheck's torch, so run this with a separate environment:

    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tv/bin/python tests/data/make_torchvision_keys.py

Models are built and run on the meta device (no weights are downloaded or
allocated) on a 1x3x224x224 input; besides the state_dict, the output shape of
every module that holds parameters is recorded (forward hooks).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torchvision
from torchvision import models

OUT = Path(__file__).resolve().parent / "torchvision_keys"
MODELS = ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2")


def dumps(data: dict[str, object]) -> str:
    """JSON with one key per line in the nested mappings (readable diffs)."""
    lines = []
    for k, v in data.items():
        if isinstance(v, dict):
            inner = ",\n".join(f"  {json.dumps(a)}: {json.dumps(b)}" for a, b in v.items())
            lines.append(f"{json.dumps(k)}: {{\n{inner}\n }}")
        else:
            lines.append(f"{json.dumps(k)}: {json.dumps(v)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name in MODELS:
        with torch.device("meta"):
            model = getattr(models, name)(weights=None)
        keys = {k: list(v.shape) for k, v in model.state_dict().items()}
        outputs: dict[str, list[int]] = {}

        for path, mod in model.named_modules():
            if next(mod.children(), None) is None and next(mod.parameters(recurse=False), None) is not None:
                mod.register_forward_hook(
                    lambda m, a, o, path=path, outputs=outputs: outputs.__setitem__(path, list(o.shape))
                )
        model.eval()
        model(torch.empty(1, 3, 224, 224, device="meta"))
        data = {
            "model": f"torchvision.models.{name}",
            "torchvision": torchvision.__version__,
            "torch": torch.__version__,
            "params": sum(p.numel() for p in model.parameters()),
            "input": [1, 3, 224, 224],
            "state_dict": keys,
            "outputs": outputs,
        }
        (OUT / f"{name}.json").write_text(dumps(data))
        print(f"{name}: {len(keys)} keys, {data['params']:,} params")


if __name__ == "__main__":
    main()
