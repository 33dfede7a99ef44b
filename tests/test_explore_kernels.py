"""explore's size kernels (emit/explore_kernels.py) against the layers' own shape rules.

The plan uses a layer's kernel only for an input whose signature (fields, dtype, roles, rank) the
layer's rule already passed with nothing to report; so for any such "reference" input and any other
input of that signature, the kernel must either decline (None) or give exactly what the rule gives:
the output shape, the parameter count and the MACs, with nothing reported. And on inputs of plain
positive ints that the rule passes, the kernel must not decline (else it is useless).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from archcheck.emit.explore import _FastCtx
from archcheck.emit.explore_kernels import kernel_for
from archcheck.layers import roles as R
from archcheck.layers.base import REGISTRY, Tensor

ROLES = [R.BATCH, R.CHANNELS, R.SPATIAL, R.SEQUENCE, R.FEATURES, R.UNKNOWN]
DTYPES = ["float32", "float16", "int64", "int32", "bool"]


def ints_or_list(nd: int, lo: int = 1, hi: int = 4) -> Any:
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=nd, max_size=nd))


def conv_fields(nd: int) -> Any:
    return st.fixed_dictionaries(
        {"out_channels": st.integers(1, 6), "kernel_size": ints_or_list(nd)},
        optional={
            "in_channels": st.integers(1, 6),
            "stride": ints_or_list(nd, 1, 3),
            "dilation": ints_or_list(nd, 1, 3),
            "groups": st.integers(1, 3),
            "bias": st.booleans(),
            "padding": st.one_of(ints_or_list(nd, 0, 3), st.sampled_from(["same", "valid"])),
            "padding_mode": st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
        },
    )


def pool_fields(nd: int, dilation: bool) -> Any:
    optional = {
        "stride": ints_or_list(nd, 1, 3),
        "padding": ints_or_list(nd, 0, 2),
        "ceil_mode": st.booleans(),
    }
    if dilation:
        optional["dilation"] = ints_or_list(nd, 1, 3)
        optional["return_indices"] = st.booleans()
    return st.fixed_dictionaries({"kernel_size": ints_or_list(nd)}, optional=optional)


CASES: dict[str, Any] = {
    **{f"Conv{n}d": conv_fields(n) for n in (1, 2, 3)},
    **{f"MaxPool{n}d": pool_fields(n, True) for n in (1, 2, 3)},
    "AvgPool1d": pool_fields(1, False),
    "AvgPool2d": pool_fields(2, False),
    "ReLU": st.just({}),
    "GELU": st.just({}),
    "Sigmoid": st.just({}),
    "Dropout": st.fixed_dictionaries({}, optional={"p": st.sampled_from([0.0, 0.1, 1.0])}),
    "Dropout2d": st.fixed_dictionaries({}, optional={"p": st.sampled_from([0.0, 0.5])}),
    "Flatten": st.fixed_dictionaries({}, optional={"start_dim": st.integers(-4, 4), "end_dim": st.integers(-4, 4)}),
    "Linear": st.fixed_dictionaries(
        {"out_features": st.integers(1, 6)}, optional={"in_features": st.integers(1, 6), "bias": st.booleans()}
    ),
    **{
        f"BatchNorm{n}d": st.fixed_dictionaries(
            {},
            optional={
                "num_features": st.integers(1, 6),
                "affine": st.booleans(),
                "track_running_stats": st.booleans(),
                "bias": st.booleans(),
            },
        )
        for n in (1, 2, 3)
    },
}


def rule(layer: Any, shape: tuple[Any, ...], dtype: str, roles: Any) -> Any:
    """What the plan's generic step takes from the layer's own rule: (output shape, params, MACs), the
    output's roles and dtype; None when the rule reports anything (or the input has a 0-size dim)."""
    x = Tensor(shape, dtype, "x", roles=roles)
    if 0 in shape and not layer.accepts_empty():
        return None
    ctx = _FastCtx({}, "l", frozenset(layer.model_fields_set), "x")
    try:
        out = layer.infer(ctx, [x])
        if out is None or ctx.bailed:
            return None
        out_roles = layer.roles(ctx, [x], out)
    except Exception:
        return None
    if ctx.bailed:
        return None
    resolved = layer.model_copy(update=ctx.filled)
    return (out.shape, resolved.param_count(), resolved.macs([x], out)), out_roles, out.dtype


# the ranks each type takes (others are drawn now and then: the rule must refuse them, the kernel too)
RANKS = {
    **{f"{t}{n}d": (n + 1, n + 2) for t in ("Conv", "MaxPool", "AvgPool") for n in (1, 2, 3)},
    "BatchNorm1d": (2, 3),
    "BatchNorm2d": (4,),
    "BatchNorm3d": (5,),
}


def channel_axis(name: str, rank: int) -> int | None:
    if name.startswith("BatchNorm"):
        return 1 if rank > 1 else None
    if name.startswith("Conv"):
        return rank - int(name[-2]) - 1 if rank > int(name[-2]) else None
    return rank - 1 if name == "Linear" and rank else None


@st.composite
def example(draw: Any, name: str) -> Any:
    """Fields, an input's dtype and roles, a reference input the rule is likely to pass, and another input
    of the same rank, mostly with the same channels, sizes from 0 up (where the rules fail)."""
    fields = dict(draw(CASES[name]))
    g = fields.get("groups", 1)
    if g > 1 and draw(st.integers(0, 3)):  # groups that mostly divide the channels
        fields["out_channels"] = g * draw(st.integers(1, 3))
        if "in_channels" in fields:
            fields["in_channels"] = g * draw(st.integers(1, 3))
    rank = draw(st.sampled_from(RANKS.get(name, (1, 2, 3, 4)) * 8 + (0, 1, 2, 3, 4, 5)))
    dtype = draw(st.sampled_from(["float32"] * 20 + DTYPES))
    roles = draw(
        st.one_of(
            st.none(),
            st.just(R.of_input(("N",) + (1,) * (rank - 1), "float32") if rank else None),
            st.lists(st.sampled_from(ROLES), min_size=rank, max_size=rank).map(tuple),
        )
    )
    c = channel_axis(name, rank)
    chans = fields.get("in_channels", fields.get("num_features", fields.get("in_features")))
    if chans is None:
        chans = fields.get("groups", 1) * draw(st.integers(1, 3))
    big = draw(st.integers(1, 3)) * 24 if name[:4] in ("Conv", "MaxP", "AvgP") else draw(st.integers(1, 4))
    ref = tuple(chans if i == c else draw(st.integers(2, 3)) if i < (c or 0) else big for i in range(rank))
    # each dim mostly near the reference's (so the rest of the rule passes), now and then small, 0 or free
    size = st.one_of(st.integers(0, 9), st.just(1), st.just("N"))
    other = tuple(draw(st.one_of(st.just(r), st.just(r), st.integers(max(r - 3, 1), r + 3), size)) for r in ref)
    return fields, dtype, roles, ref, other


def compare(
    name: str, fields: dict[str, Any], dtype: str, roles: Any, ref: tuple[Any, ...], other: tuple[Any, ...]
) -> int:
    """The kernel of ``name`` against its rule on ``other``, given that the rule passed ``ref`` (of the same
    signature); how many of the two inputs the kernel answered."""
    cls = REGISTRY[name]
    try:
        layer = cls.model_validate(fields)
    except ValidationError:
        return 0
    base = rule(layer, ref, dtype, roles)
    if base is None:
        return 0  # the signature never passed: the plan would not use the kernel
    make = kernel_for(cls)
    assert make is not None, name
    fn = make(layer)
    if fn is None:  # only a BatchNorm without weights or stats (num_features unchecked) has no kernel
        assert name.startswith("BatchNorm") and not layer.affine and not layer.track_running_stats, fields
        return 0
    used = 0
    for shape in (ref, other):
        got = None if 0 in shape else fn(shape)
        want = rule(layer, shape, dtype, roles)
        if got is not None:
            used += 1
            assert want is not None, (fields, shape, got)
            assert want[0] == got, (fields, shape)
            assert want[1:] == base[1:]  # roles and dtype: as for the reference input
        elif want is not None and all(type(d) is int and d > 0 for d in shape):
            pytest.fail(f"the kernel declined {name} {fields} on {shape}, which its rule passes: {want}")
    return used


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_kernel_declines_or_gives_what_the_rule_gives(name):
    seen = [0]

    @settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(example(name))
    def check(ex):
        seen[0] += compare(name, *ex)

    check()
    assert seen[0] >= 25, seen  # the examples exercise the kernel, not only the declines


NCHW = (R.BATCH, R.CHANNELS, R.SPATIAL, R.SPATIAL)


@pytest.mark.parametrize(
    "name, fields, ref, other, answered",
    [
        # what each rule refuses by the sizes alone: the kernel declines it (answers the reference only)
        (
            "Conv2d",
            {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
            (1, 3, 9, 9),
            (1, 3, 2, 9),
            1,
        ),
        (
            "Conv2d",
            {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
            (1, 3, 9, 9),
            (1, 3, 3, 9),
            2,
        ),
        (
            "Conv2d",
            {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "circular"},
            (1, 3, 9, 9),
            (1, 3, 9, 1),
            1,
        ),
        (
            "Conv2d",
            {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "circular"},
            (1, 3, 9, 9),
            (1, 3, 9, 2),
            2,
        ),
        (
            "Conv2d",
            {"out_channels": 4, "kernel_size": 3, "padding": "same", "padding_mode": "reflect"},
            (1, 3, 9, 9),
            (1, 3, 1, 9),
            1,
        ),
        ("Conv1d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, (1, 4, 9), (1, 3, 9), 1),
        ("Conv2d", {"out_channels": 4, "kernel_size": 3, "in_channels": 3}, (1, 3, 9, 9), (1, 4, 9, 9), 1),
        ("Conv2d", {"out_channels": 4, "kernel_size": 5}, (1, 3, 9, 9), (1, 3, 9, 4), 1),
        ("Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 2}, (1, 3, 9, 9), (1, 3, 9, 4), 1),
        ("Conv2d", {"out_channels": 4, "kernel_size": 3, "in_channels": 3}, (1, 3, 9, 9), ("N", 3, 9, "H"), 1),
        ("MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 1, 8, 8), (1, 1, 5, 5), 2),
        ("MaxPool2d", {"kernel_size": 3}, (1, 1, 8, 8), (1, 1, 2, 8), 1),
        ("BatchNorm2d", {}, (2, 3, 4, 4), (1, 3, 1, 1), 1),
        ("BatchNorm2d", {}, (2, 3, 4, 4), ("N", 3, 1, 1), 2),
        ("BatchNorm1d", {"track_running_stats": False}, (2, 3), (1, 3), 1),
        ("BatchNorm2d", {"num_features": 3}, (2, 3, 4, 4), (2, 4, 4, 4), 1),
        ("BatchNorm2d", {}, (2, 3, 4, 4), (2, "N", 4, 4), 1),
        ("Linear", {"in_features": 3, "out_features": 2}, (2, 3), (2, 4), 1),
        ("Linear", {"out_features": 2}, (2, 3), (2, "N"), 1),
        ("Flatten", {}, (2, 3, 4), (2, "N", 4), 1),
    ],
)
def test_size_failures_each_kernel_declines(name, fields, ref, other, answered):
    roles = NCHW[: len(ref)] if len(ref) == 4 else None
    assert compare(name, fields, "float32", roles, ref, other) == answered


def test_kernels_only_for_classes_that_keep_the_family_methods():
    assert kernel_for(REGISTRY["Conv2d"]) is not None
    assert kernel_for(REGISTRY["Softmax"]) is None  # its own infer (dim checks)
    assert kernel_for(REGISTRY["AvgPool3d"]) is None  # its own input-size check
    assert kernel_for(REGISTRY["ConvTranspose2d"]) is None
    assert kernel_for(REGISTRY["AdaptiveAvgPool2d"]) is None
    assert kernel_for(REGISTRY["Dropout"]) is not None
