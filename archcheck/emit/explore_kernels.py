"""Size kernels: the arithmetic of a few common layer types on concrete sizes, for explore's ``Plan``.

A sweep over input sizes and widths gives every layer a new input shape in every variant, so the
plan's per-layer cache cannot skip the shape rules, and a rule spends most of its time on what a
passing variant never needs (messages, provenance, roles, helper calls per dim). A kernel here is
that rule reduced to its sizes: the output shape, the parameter count and the MACs of one layer,
computed from the validated layer and the input's shape alone, or ``None`` whenever the rule could
have anything to say about these sizes (a channel mismatch, a window larger than its input, groups
that do not divide, reflect padding too wide, one value per channel). ``None`` is always safe: the
plan then runs the layer's own rule.

What a rule reports *independently of the sizes* (dtype, rank, roles warnings, fields) the kernel
does not repeat: the plan uses a kernel only for an input whose signature (the layer's fields, the
input's dtype, roles and rank) already went through the layer's own rule with nothing reported, and
takes the output's roles from that run. So a kernel must decline every report its rule makes that
depends on the sizes; ``tests/test_explore_fast.py`` compares kernels with the rules (hypothesis, on
random fields and shapes, passing and failing) and whole sweeps with ``check``.

A kernel is used for a class only when the methods it reproduces are that family's own (a subclass
that overrides ``infer``, ``param_count`` or ``macs`` gets none), see ``kernel_for``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

from ..layers.base import numel_per

# (output shape, params, MACs) of one layer on one input shape
Result = tuple[tuple[Any, ...], int, "int | None"]
# A kernel: for one validated layer, the function of input shapes (None: no kernel for these fields)
Kernel = Callable[[Any], "Callable[[tuple[Any, ...]], Result | None] | None"]


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if type(v) is int else tuple(v)


def conv(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """Conv1d/2d/3d (conv._ConvNd.infer, _common, param_count, macs)."""
    nd = layer.nd
    given, g, cout = layer.in_channels, layer.groups, layer.out_channels
    k, s, d = _tuple(layer.kernel_size, nd), _tuple(layer.stride, nd), _tuple(layer.dilation, nd)
    padding, mode = layer.padding, layer.padding_mode
    same = padding == "same"
    if cout % g or (same and any(v != 1 for v in s)):
        return None  # AC205, AC108 whatever the input
    if same:
        pads = [(t // 2, t - t // 2) for t in (di * (ki - 1) for ki, di in zip(k, d))]
    elif padding == "valid":
        pads = [(0, 0)] * nd
    else:
        pads = [(p, p) for p in _tuple(padding, nd)]
    # per spatial dim: the smallest input the padding mode allows (reflect/circular), and the window
    # arithmetic as window_out does it: (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1
    least = [
        (max(lo, hi) + (1 if mode == "reflect" else 0)) if mode in ("reflect", "circular") and (lo or hi) else 1
        for lo, hi in pads
    ]
    dims = tuple((least[i], None if same else pads[i][0] + pads[i][1] - d[i] * (k[i] - 1) - 1, s[i]) for i in range(nd))
    per = math.prod(k)
    bias = cout if layer.bias else 0

    def run(shape: tuple[Any, ...]) -> Result | None:
        rank = len(shape)
        if rank != nd + 1 and rank != nd + 2:
            return None
        axis = rank - nd - 1
        cin = shape[axis]
        if type(cin) is not int or (given is not None and given != cin) or cin % g:
            return None
        out = [*shape[:axis], cout]
        j = axis
        for lo, off, st in dims:
            j += 1
            size = shape[j]
            if type(size) is not int or size < lo:
                return None
            if off is None:
                out.append(size)
                continue
            o = (size + off) // st + 1
            if o < 1:
                return None
            out.append(o)
        res = tuple(out)
        n = numel_per(res)
        w = (cin // g) * per
        return res, cout * w + bias, None if n is None else n * w

    return run


def window_pool(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """MaxPool1d/2d/3d, AvgPool1d/2d (pool._WindowPool.infer; no params, no MACs)."""
    nd = layer.nd
    ranks = layer._ranks()
    k = _tuple(layer.kernel_size, nd)
    s = _tuple(layer.stride, nd) if layer.stride is not None else k
    p = _tuple(layer.padding, nd)
    d = layer._dilation()
    if any(2 * p[i] > k[i] for i in range(nd)):
        return None  # AC206 whatever the input
    ceil = layer.ceil_mode
    # window_out with ceil_mode: the last window must start inside the input or the left padding
    dims = tuple((2 * p[i] - d[i] * (k[i] - 1) - 1 + (s[i] - 1 if ceil else 0), s[i], p[i]) for i in range(nd))

    def run(shape: tuple[Any, ...]) -> Result | None:
        rank = len(shape)
        if rank not in ranks:
            return None
        axis = rank - nd
        out = list(shape[:axis])
        j = axis
        for off, st, left in dims:
            size = shape[j]
            j += 1
            if type(size) is not int:
                return None
            o = (size + off) // st + 1
            if ceil and (o - 1) * st >= size + left:
                o -= 1
            if o < 1:
                return None
            out.append(o)
        return tuple(out), 0, 0

    return run


def _same(shape: tuple[Any, ...]) -> Result | None:
    return shape, 0, 0


def same_shape(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """Activations and dropouts (elementwise._Elementwise.infer, _Dropout.infer): the input's shape,
    whatever its sizes (their checks are on dtype, rank and fields only)."""
    return _same


def flatten(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """Flatten (linear.Flatten.infer): merges start_dim..end_dim; its checks are on the rank only."""
    start, end = layer.start_dim, layer.end_dim

    def run(shape: tuple[Any, ...]) -> Result | None:
        r = len(shape)
        if r == 0:
            return (1,), 0, 0
        if not (-r <= start < r and -r <= end < r):
            return None
        s, e = start % r, end % r
        if s > e:
            return None
        n = 1
        for v in shape[s : e + 1]:
            if type(v) is not int:
                return None
            n *= v
        return (*shape[:s], n, *shape[e + 1 :]), 0, 0

    return run


def linear(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """Linear (linear.Linear.infer, param_count, macs)."""
    given, fout = layer.in_features, layer.out_features
    bias = fout if layer.bias else 0

    def run(shape: tuple[Any, ...]) -> Result | None:
        if not shape:
            return None
        fin = shape[-1]
        if type(fin) is not int or (given is not None and given != fin):
            return None
        res = (*shape[:-1], fout)
        n = numel_per(res)
        return res, fin * fout + bias, None if n is None else n * fin

    return run


def batch_norm(layer: Any) -> Callable[[tuple[Any, ...]], Result | None] | None:
    """BatchNorm1d/2d/3d, SyncBatchNorm (norm._BatchNorm.infer, param_count; no MACs)."""
    if not (layer.affine or layer.track_running_stats):
        return None  # num_features is not checked then (a warning when it differs)
    given = layer.num_features
    factor = (2 if layer.bias else 1) if layer.affine else 0

    def run(shape: tuple[Any, ...]) -> Result | None:
        if len(shape) < 2:
            return None
        c = shape[1]
        if type(c) is not int or (given is not None and given != c):
            return None
        if type(shape[0]) is int and numel_per(shape[:1] + shape[2:]) == 1:
            return None  # one value per channel: AC211
        return shape, c * factor, 0

    return run


# (module, base class, kernel, the methods the kernel reproduces and the class of the family that defines
# each, None for the base Layer's): a class that overrides one of them gets no kernel.
_TABLE: tuple[tuple[str, str, Kernel, dict[str, str | None]], ...] = (
    (
        "conv",
        "_ConvNd",
        conv,
        {"infer": "_ConvNd", "_common": "_ConvBase", "param_count": "_ConvBase", "macs": "_ConvNd"},
    ),
    ("pool", "_WindowPool", window_pool, {"infer": "_WindowPool", "_check_input_size": "_WindowPool"}),
    ("elementwise", "_Elementwise", same_shape, {"infer": "_Elementwise"}),
    ("elementwise", "_Dropout", same_shape, {"infer": "_Dropout"}),
    ("linear", "Flatten", flatten, {"infer": "Flatten"}),
    ("linear", "Linear", linear, {"infer": "Linear", "param_count": "Linear", "macs": "Linear"}),
    ("norm", "_BatchNorm", batch_norm, {"infer": "_BatchNorm", "param_count": "_BatchNorm", "macs": "_BatchNorm"}),
)


def kernel_for(cls: type) -> Kernel | None:
    """The kernel of layer class ``cls``, or None (its rule then runs for every new input)."""
    from ..layers.base import Layer

    for modname, basename, fn, owners in _TABLE:
        mod = sys.modules.get(f"archcheck.layers.{modname}")  # loaded when one of its types is used
        base = getattr(mod, basename, None) if mod is not None else None
        if base is None or not issubclass(cls, base):
            continue
        methods = {"param_count": None, "macs": None, **owners}
        if all(getattr(cls, m) is getattr(getattr(mod, o) if o else Layer, m) for m, o in methods.items()):
            return fn
    return None
