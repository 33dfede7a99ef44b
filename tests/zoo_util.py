"""The harness test_modern_zoo and test_famous_zoo share: run a built model on meta tensors and record
the output shape of every module at the given paths."""

from __future__ import annotations

from typing import Any


def hooked_run(model: Any, paths: Any, inputs: list[Any]) -> tuple[dict[str, list[int]], list[int]]:
    """The output shapes of the modules at ``paths`` (a tuple's first item) and of the model, in eval mode."""
    import torch

    seen: dict[str, list[int]] = {}

    def hook(path: str) -> Any:
        def f(mod: Any, args: Any, out: Any) -> None:  # returns None: the output is kept
            seen.setdefault(path, list((out[0] if isinstance(out, tuple) else out).shape))

        return f

    for path, mod in model.named_modules():
        if path in paths:
            mod.register_forward_hook(hook(path))
    model.eval()
    with torch.no_grad():
        y = model(*inputs)
    y = y[0] if isinstance(y, tuple) else y
    return seen, list(y.shape)
