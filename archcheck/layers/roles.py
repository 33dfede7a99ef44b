"""Dim roles: what each dim of a tensor is (batch, channels, spatial, sequence, features).

A tensor's ``roles`` is a tuple of short strings, one per dim, or None when
nothing is known. ``""`` is an unknown role: roles are inferred, and an
unknown role never leads to a warning, so that a layout archcheck cannot read
is never reported as a mistake.

Where roles come from:

* the model inputs: the dim names (``N``/``B``/``batch`` is the batch,
  ``C`` the channels, ``H``/``W`` spatial, ``L``/``T``/``S`` a sequence,
  ``E``/``F``/``D`` features), else the convention for the rank: a 4-D or 5-D
  float input is ``[N, C, H, W]`` / ``[N, C, D, H, W]``, a 2-D input whose
  dim 0 is named as a batch is ``[N, features]`` (``[N, sequence]`` for
  integer token ids); an input's ``layout: NHWC`` states them explicitly;
* then each layer's ``roles`` method (``registry.Layer.roles``): a layer that
  keeps the rank keeps its input's roles by default; convolutions set the
  channels and spatial dims, Linear the features, Flatten merges, Permute and
  Transpose move, Reshape and Unflatten keep what they can match and leave the
  rest unknown.

This module only handles tuples of strings: no sympy, so roles cost next to
nothing on a 2,000-layer chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..shapes.dims import fmt  # sympy is imported by dims only when arithmetic needs it

BATCH = "batch"
CHANNELS = "channels"
SPATIAL = "spatial"
SEQUENCE = "sequence"
FEATURES = "features"
UNKNOWN = ""

Roles = Optional[tuple[str, ...]]

_BY_NAME = {
    "N": BATCH,
    "B": BATCH,
    "batch": BATCH,
    "batch_size": BATCH,
    "bs": BATCH,
    "C": CHANNELS,
    "channels": CHANNELS,
    "H": SPATIAL,
    "W": SPATIAL,
    "height": SPATIAL,
    "width": SPATIAL,
    "L": SEQUENCE,
    "T": SEQUENCE,
    "S": SEQUENCE,
    "seq": SEQUENCE,
    "seq_len": SEQUENCE,
    "time": SEQUENCE,
    "E": FEATURES,
    "F": FEATURES,
    "features": FEATURES,
    "d_model": FEATURES,
}

# `layout:` letters of an input (NCHW, NHWC, NLC, LNE, ...); `_` for a dim of no particular role.
LAYOUT_LETTERS = {
    "N": BATCH,
    "B": BATCH,
    "C": CHANNELS,
    "H": SPATIAL,
    "W": SPATIAL,
    "D": SPATIAL,
    "L": SEQUENCE,
    "T": SEQUENCE,
    "S": SEQUENCE,
    "E": FEATURES,
    "F": FEATURES,
    "_": UNKNOWN,
}


def of_input(shape: tuple[object, ...], dtype: str, layout: str | None = None) -> Roles:
    """The roles of a model input's dims (see the module docstring)."""
    if layout is not None:
        return tuple(LAYOUT_LETTERS.get(c, UNKNOWN) for c in layout) if len(layout) == len(shape) else None
    rank = len(shape)
    named = [_BY_NAME.get(d, UNKNOWN) if isinstance(d, str) else UNKNOWN for d in shape]
    if rank == 0:
        return None
    if named.count(BATCH) > 1:  # [B, N, C] (ViT's tokens): the first is the batch, N the tokens
        first = named.index(BATCH)
        named = [UNKNOWN if r == BATCH and i != first else r for i, r in enumerate(named)]
    if rank < 4:  # H, W name image dims; in [N, L, H] H is a hidden size
        named = [UNKNOWN if r == SPATIAL else r for r in named]
    if rank in (4, 5) and dtype.startswith(("float", "bfloat")) and not any(r for r in named[1:]):
        if named[0] in (BATCH, UNKNOWN):  # [N, C, H, W]: torch's convention for images (a named or fixed batch)
            return (BATCH, CHANNELS) + (SPATIAL,) * (rank - 2)
        return None
    if named[0] == BATCH and rank == 2 and not named[1]:
        return (BATCH, FEATURES if dtype.startswith(("float", "bfloat")) else SEQUENCE)
    if rank == 3 and named[0] == BATCH and named[1] == SEQUENCE and not named[2]:
        return (BATCH, SEQUENCE, FEATURES)  # [N, L, 64]: tokens' features
    if rank == 3 and named[0] == SEQUENCE and named[1] == BATCH and not named[2]:
        return (SEQUENCE, BATCH, FEATURES)  # [L, N, 64]: sequence first
    if "D" in shape:  # D: the depth of a volume beside H and W, else a feature size ([N, L, D])
        d_role = SPATIAL if "H" in shape else FEATURES
        named = [d_role if d == "D" else r for d, r in zip(shape, named)]
    return tuple(named) if any(named) else None


def dim_label(roles: tuple[str, ...], i: int) -> str:
    """A person's name for dim ``i``: 'W' for the last spatial dim of an image, 'C', 'N', 'L'."""
    r = roles[i]
    if r == SPATIAL:
        spatial = [j for j, q in enumerate(roles) if q == SPATIAL]
        names = {1: "L", 2: "HW", 3: "DHW"}.get(len(spatial), "")
        k = spatial.index(i)
        return names[k] if k < len(names) else f"dim {i}"
    return {BATCH: "N", CHANNELS: "C", SEQUENCE: "L", FEATURES: "F"}.get(r, f"dim {i}")


def keep(roles: Roles, rank: int) -> Roles:
    """``roles`` if they fit a tensor of ``rank`` dims (a rank-preserving layer), else None."""
    return roles if roles is not None and len(roles) == rank else None


def merged(parts: tuple[str, ...]) -> str:
    """The role of one dim made by merging dims of roles ``parts`` (Flatten, Reshape)."""
    if len(parts) == 1:
        return parts[0]
    if not all(parts) or BATCH in parts:
        return UNKNOWN
    if all(p == SPATIAL for p in parts):
        return SEQUENCE  # H*W positions: a sequence of patches (ViT's flatten(2))
    return FEATURES


def permuted(roles: Roles, order: list[int]) -> Roles:
    return tuple(roles[i] for i in order) if roles is not None and len(roles) == len(order) else None


def batch_axis(roles: Roles) -> int | None:
    """The index of the batch dim, if exactly one dim is known to be the batch."""
    if roles is None or roles.count(BATCH) != 1:
        return None
    return roles.index(BATCH)


def joined(all_roles: list[Roles], rank: int) -> Roles:
    """The roles of a merge's output (Add, Concat): dim by dim, the role the inputs agree on."""
    fitting = [r for r in all_roles if r is not None and len(r) == rank]
    if not fitting:
        return None
    out = []
    for i in range(rank):
        known = {r[i] for r in fitting if r[i]}
        out.append(known.pop() if len(known) == 1 else UNKNOWN)
    return tuple(out) if any(out) else None


# ---------------------------------------------------------------- layout warnings (AC401-AC408)
# Each takes the layer's ctx and reports through ctx.warn; a warning needs every role it uses known.

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx, Tensor


def _of(x: Tensor) -> tuple[str, ...] | None:
    r = x.roles
    return r if r is not None and len(r) == x.rank else None


def _sizes(ctx: Ctx, x: Tensor) -> str:
    """'[N, 8, 98] (batch, channels, spatial; output of c1)'."""
    r = _of(x)
    roles = ", ".join(q or "?" for q in r) + "; " if r is not None else ""
    return f"{x.describe()} ({roles}{ctx.source(x)})"


def warn_time_axis(ctx: Ctx, what: str, x: Tensor, batch_first: bool) -> None:
    """A recurrent or attention layer whose time axis is the batch (AC403) or a conv's channels (AC402)."""
    r = _of(x)
    if r is None or x.rank != 3:
        return
    t = 1 if batch_first else 0
    layout = "[N, L, H_in]" if batch_first else "[L, N, H_in]"
    if r[t] == BATCH:
        fix = (
            "set batch_first: true (the input is batch-first)"
            if not batch_first
            else "set batch_first: false, or Transpose the input to [N, L, ...]"
        )
        ctx.warn(
            "AC403",
            f"{what} reads its input {_sizes(ctx, x)} as {layout}"
            f"{' (batch_first)' if batch_first else ' (batch_first is false)'}: dim {t}, the batch, becomes its "
            "time axis, so it runs across the samples of the batch",
            field="batch_first",
            hint=fix,
        )
    elif r[t] == CHANNELS or (r[-1] == SPATIAL and r[t] != SEQUENCE):
        ctx.warn(
            "AC402",
            f"{what} reads its input {_sizes(ctx, x)} as {layout}: it runs over the "
            f"{fmt(x.shape[t])} {'channels' if r[t] == CHANNELS else 'positions of dim ' + str(t)} as time "
            f"steps, and reads the length ({fmt(x.shape[-1])}) as each step's features",
            field="type",
            hint="put the time axis where the layer expects it: add {type: Transpose, dim0: 1, dim1: 2} "
            "before it (then input_size is the channel count)",
        )


def warn_conv_over_features(ctx: Ctx, what: str, x: Tensor, nd: int) -> None:
    """A Conv1d on [N, L, E] token features: it takes the L positions as channels (AC411)."""
    r = _of(x)
    if r is None or nd != 1 or x.rank not in (2, 3):
        return
    c = x.rank - 2
    if r[c] == SEQUENCE and r[-1] == FEATURES:
        ctx.warn(
            "AC411",
            f"{what} reads its input {_sizes(ctx, x)} as [N, C, L]: it takes the {fmt(x.shape[c])} sequence "
            f"positions as channels and slides along the {fmt(x.shape[-1])} features",
            field="type",
            hint="Transpose to [N, E, L] first: add {type: Transpose, dim0: 1, dim1: 2} before it (and back after it)",
        )


def warn_batch_dims(ctx: Ctx, what: str, x: Tensor, dims: list[int], field: str, code: str) -> None:
    """``what`` reduces (AC405) or merges (AC406) dims ``dims`` of ``x``; warn if the batch is among them."""
    r = _of(x)
    if r is None or not any(r[d] == BATCH for d in dims):
        return
    b = r.index(BATCH)
    if code == "AC405":
        effect = "keeps one sample of the batch" if what == "Select" else "mixes the samples"
        msg = f"{what} acts along dim {b}, the batch, of its input {_sizes(ctx, x)}: it {effect}"
        hint = (
            "select along a dim of each sample (dim: 1 or more)"
            if what == "Select"
            else "act along the dims of one sample (usually dim: -1, or dim: 1 for channels)"
        )
    else:
        msg = (
            f"{what} merges the batch (dim {b}) with other dims of its input {_sizes(ctx, x)}: "
            "the samples are no longer separate"
        )
        hint = "keep the batch: use start_dim: 1 (Flatten's default), or Reshape to [N, -1]"
    ctx.warn(code, msg, field=field, hint=hint)


def warn_moved_batch(ctx: Ctx, what: str, x: Tensor, order: list[int], field: str) -> None:
    """A Permute/Transpose that puts the batch dim behind the others (AC407)."""
    r = _of(x)
    b = batch_axis(r)
    if r is None or b is None or len(order) != len(r):
        return
    to = order.index(b)
    if to < 2 or to == b:  # dim 0, or dim 1 for a sequence-first [L, N, E] layout
        return
    ctx.warn(
        "AC407",
        f"{what} moves the batch from dim {b} to dim {to} of its input {_sizes(ctx, x)}: the next layers would "
        "treat another dim as the batch",
        field=field,
        hint="keep dim 0 in place (Permute [0, ...], Transpose dims >= 1); "
        "dims count the batch: [N, C, H, W] to channels-last is [0, 2, 3, 1]",
    )
