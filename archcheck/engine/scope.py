"""How a name resolves in a spec's scopes, in one place.

The walker applies these rules (and reports where a name does not resolve); the emitters that follow
names through the checked tree (the diagram's edges, summary's receptive fields, codegen's variables)
read the same functions instead of restating them:

- A layer's ``inputs:`` names a model input (or, in a block, one of the block's ``inputs``) or an
  earlier entry of its own scope: the model's layers, one block's layers, one Sequential's children.
- A module name never holds a '.': in ``qkv.1`` (``lstm.1.0``) what follows the first '.' indexes
  the several outputs of ``qkv`` (``split_ref``, ``pick``); ``ref_base`` is the entry named.
- A Sequential's children and a repeat's copies form a chain: the first takes the container's input,
  named ``""`` in their scope; a block's layers see the instance's inputs under the block's ``inputs``
  names (``bind_inputs``).
- A container returns its last child's output (Sequential, repeat); a block returns its ``outputs:``
  (a tuple), its ``output:``, or its last layer's output (``result_refs``).
- ``use:`` names an earlier entry of the same scope (``Scope.siblings`` in the walker).
"""

from __future__ import annotations

from typing import TypeVar

from ..layers.base import Tensor
from ..spec.schema import Spec
from .result import Node

T = TypeVar("T")


def split_ref(ref: str) -> tuple[str, tuple[int, ...]] | None:
    """``'qkv.1'`` -> ``('qkv', (1,))``, ``'lstm.1.0'`` -> ``('lstm', (1, 0))``, a name -> ``(name, ())``.

    A module name never holds a '.', so what follows the first one is an output index. None: an index
    that is not a plain non-negative int (``conv1.weight``, ``qkv.01``).
    """
    base, *rest = ref.split(".")
    if not all(r.isascii() and r.isdigit() and (r == "0" or r[0] != "0") for r in rest):
        return None
    return base, tuple(int(r) for r in rest)


def ref_base(ref: str) -> str:
    """The entry a reference names: ``qkv`` for ``qkv.1`` (and for ``qkv``)."""
    return ref.split(".", 1)[0]


def pick(
    t: Tensor, base: str, index: tuple[int, ...], whole: bool = False
) -> tuple[Tensor | None, str | None, str | None]:
    """The item ``index`` of ``t`` (the output of ``base``): ``(tensor, None, None)`` or ``(None, code, message)``.

    ``whole``: several outputs may be taken together (what a block or the model returns).
    """
    cur, at = t, base
    for i in index:
        if cur.parts is None:
            return None, "AC121", f"'{at}' gives one tensor {cur.describe()}: it has no output {at}.{i}"
        if i >= len(cur.parts):
            n = len(cur.parts)
            return (
                None,
                "AC121",
                f"'{at}' has {n} output{'s' * (n != 1)} {items_text(cur)}: {at}.{i} is not one of them",
            )
        cur, at = cur.parts[i], f"{at}.{i}"
    if cur.indexed and cur.parts is not None and not whole:
        return (
            None,
            "AC120",
            f"'{at}' gives {len(cur.parts)} outputs {cur.describe_all()}, not one tensor: take one by its index",
        )
    return cur, None, None


def items_text(t: Tensor) -> str:
    """How the items of a tuple are written: ``(.0 to .2)``."""
    n = len(t.parts or ())
    return f"(.0 to .{n - 1})" if n > 1 else "(.0)"


def lookup(env: dict[str, Tensor | None], ref: str) -> Tensor | None:
    """The tensor ``ref`` names in ``env`` (``qkv.1``: an item of qkv's outputs); None when unknown or invalid."""
    sr = split_ref(ref)
    if sr is None or (t := env.get(sr[0])) is None:
        return None
    return pick(t, *sr)[0]


def bind_inputs(node: Node, spec: Spec, values: list[T]) -> dict[str, T]:
    """The names a container's children see for its inputs, bound to ``values`` (one per input of ``node``):
    a block's ``inputs`` names; ``""`` for a Sequential's or a repeat's chain. Fewer values (an input
    that failed) bind fewer names."""
    if node.kind == "block":
        bdef = spec.blocks.get(node.type)
        return dict(zip(bdef.inputs, values)) if bdef is not None else {}
    return {"": values[0]} if values else {}


def result_refs(node: Node, spec: Spec) -> list[str]:
    """What a container returns, as references in its children's scope: a block's ``outputs:`` (or
    ``output:``, or its last layer), a Sequential's or a repeat's last child."""
    last = node.children[-1].name if node.children else None
    if node.kind == "block":
        bdef = spec.blocks.get(node.type)
        if bdef is not None:
            return bdef.result_names(last)
    return [last] if last is not None else []
