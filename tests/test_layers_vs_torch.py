"""Property tests: archcheck's shape rules against real torch modules.

For generated layer fields and input shapes (valid and invalid ones alike),
archcheck must report an error exactly when torch raises (at construction or
in a forward pass on a tiny CPU tensor, in train mode), and otherwise give the
same output shape and parameter count. See ``torch_util.agree``.

Set HYPOTHESIS_PROFILE=archcheck-thorough for more examples; the default
profile is derandomized so CI runs are reproducible.
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch_util import ac_run, agree, agree_symbolic  # noqa: E402

settings.register_profile(
    "archcheck-ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "archcheck-thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "archcheck-ci"))


def prop(n: int = 1):
    """settings for a property test; ``n`` scales the example count of the profile."""
    return settings(PROFILE, max_examples=max(1, int(PROFILE.max_examples * n)))


MAX_SPATIAL = {1: 12, 2: 8, 3: 5}


# ------------------------------------------------------------------ strategies


def int_or_list(draw, nd: int, lo: int, hi: int):
    """torch's ``int or tuple``: an int, or a list of ``nd`` ints (as specs write it)."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(nd)]


@st.composite
def input_shape(draw, nd: int, channels: int | None = None, *, max_spatial: int | None = None):
    """A shape for a layer with ``nd`` spatial dims: batched [N, C, *S], unbatched [C, *S],
    and sometimes a wrong rank (one too few or too many dims)."""
    hi = max_spatial or MAX_SPATIAL[nd]
    c = channels if channels is not None else draw(st.integers(1, 8))
    spatial = [draw(st.integers(1, hi)) for _ in range(nd)]
    kind = draw(st.sampled_from(["batched"] * 4 + ["unbatched"] * 2 + ["short", "long"]))
    if kind == "batched":
        return (draw(st.integers(1, 3)), c, *spatial)
    if kind == "unbatched":
        return (c, *spatial)
    if kind == "short":
        return tuple(spatial) if nd > 1 else (c,)
    return (draw(st.integers(1, 2)), 2, c, *spatial)


def maybe_given(draw, actual: int):
    """An inferred size: left out, given right, or given wrong."""
    how = draw(st.sampled_from(["omit", "omit", "right", "wrong"]))
    if how == "omit":
        return None
    if how == "right":
        return actual
    return draw(st.integers(1, 9).filter(lambda v: v != actual))


def put(fields: dict, key: str, value) -> None:
    if value is not None:
        fields[key] = value


# ------------------------------------------------------------------ convolutions


@st.composite
def conv_case(draw, nd: int):
    c = draw(st.integers(1, 8))
    shape = draw(input_shape(nd, c))
    f: dict = {"out_channels": draw(st.integers(1, 8)), "kernel_size": int_or_list(draw, nd, 1, 5)}
    put(f, "in_channels", maybe_given(draw, c))
    if draw(st.booleans()):
        f["stride"] = int_or_list(draw, nd, 1, 3)
    pad = draw(st.sampled_from(["int", "list", "same", "valid", "none"]))
    if pad == "int":
        f["padding"] = draw(st.integers(0, 4))
    elif pad == "list":
        f["padding"] = [draw(st.integers(0, 4)) for _ in range(nd)]
    elif pad in ("same", "valid"):
        f["padding"] = pad
    if draw(st.booleans()):
        f["dilation"] = int_or_list(draw, nd, 1, 3)
    if draw(st.booleans()):
        f["groups"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        f["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if draw(st.booleans()):
        f["bias"] = draw(st.booleans())
    return f, shape


@pytest.mark.parametrize("nd", [1, 2, 3])
@prop()
@given(data=st.data())
def test_conv(nd, data):
    fields, shape = data.draw(conv_case(nd))
    agree(f"Conv{nd}d", fields, shape)


@st.composite
def conv_transpose_case(draw, nd: int):
    c = draw(st.integers(1, 8))
    shape = draw(input_shape(nd, c, max_spatial=6))
    f: dict = {"out_channels": draw(st.integers(1, 8)), "kernel_size": int_or_list(draw, nd, 1, 4)}
    put(f, "in_channels", maybe_given(draw, c))
    if draw(st.booleans()):
        f["stride"] = int_or_list(draw, nd, 1, 3)
    if draw(st.booleans()):
        f["padding"] = int_or_list(draw, nd, 0, 4)
    if draw(st.booleans()):
        f["output_padding"] = int_or_list(draw, nd, 0, 3)
    if draw(st.booleans()):
        f["dilation"] = int_or_list(draw, nd, 1, 3)
    if draw(st.booleans()):
        f["groups"] = draw(st.integers(1, 4))
    if draw(st.integers(0, 5)) == 0:
        f["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if draw(st.booleans()):
        f["bias"] = draw(st.booleans())
    return f, shape


@pytest.mark.parametrize("nd", [1, 2, 3])
@prop()
@given(data=st.data())
def test_conv_transpose(nd, data):
    fields, shape = data.draw(conv_transpose_case(nd))
    agree(f"ConvTranspose{nd}d", fields, shape)


# ------------------------------------------------------------------ pooling


@st.composite
def pool_case(draw, nd: int, kind: str):
    shape = draw(input_shape(nd))
    f: dict = {"kernel_size": int_or_list(draw, nd, 1, 5)}
    if draw(st.booleans()):
        f["stride"] = int_or_list(draw, nd, 1, 3)
    if draw(st.booleans()):
        f["padding"] = int_or_list(draw, nd, 0, 3)
    if draw(st.booleans()):
        f["ceil_mode"] = draw(st.booleans())
    if kind == "Max":
        if draw(st.booleans()):
            f["dilation"] = int_or_list(draw, nd, 1, 3)
        if draw(st.integers(0, 5)) == 0:
            f["return_indices"] = True  # torch returns (values, indices): values are compared
    else:
        if draw(st.booleans()):
            f["count_include_pad"] = draw(st.booleans())
        if nd > 1 and draw(st.booleans()):
            f["divisor_override"] = draw(st.integers(1, 5))
    return f, shape


@pytest.mark.parametrize("kind", ["Max", "Avg"])
@pytest.mark.parametrize("nd", [1, 2, 3])
@prop()
@given(data=st.data())
def test_pool(nd, kind, data):
    fields, shape = data.draw(pool_case(nd, kind))
    agree(f"{kind}Pool{nd}d", fields, shape)


@st.composite
def adaptive_case(draw, nd: int, kind: str):
    shape = draw(input_shape(nd))
    if draw(st.booleans()):
        out = draw(st.integers(1, 6))
    else:
        out = [draw(st.one_of(st.none(), st.integers(1, 6))) for _ in range(nd)]
    f = {"output_size": out}
    if kind == "Max" and draw(st.integers(0, 5)) == 0:
        f["return_indices"] = True
    return f, shape


@pytest.mark.parametrize("kind", ["Max", "Avg"])
@pytest.mark.parametrize("nd", [1, 2, 3])
@prop(0.5)
@given(data=st.data())
def test_adaptive_pool(nd, kind, data):
    fields, shape = data.draw(adaptive_case(nd, kind))
    agree(f"Adaptive{kind}Pool{nd}d", fields, shape)


# ------------------------------------------------------------------ symbolic rules


@pytest.mark.parametrize("family", ["Conv", "ConvTranspose", "MaxPool", "AvgPool"])
@pytest.mark.parametrize("nd", [1, 2, 3])
@prop(0.5)
@given(data=st.data())
def test_symbolic_matches_concrete(family, nd, data):
    """With free spatial dims, the rule's formula evaluates to the concrete answer."""
    if family == "Conv":
        fields, shape = data.draw(conv_case(nd))
    elif family == "ConvTranspose":
        fields, shape = data.draw(conv_transpose_case(nd))
    else:
        fields, shape = data.draw(pool_case(nd, family[:3]))
    agree_symbolic(f"{family}{nd}d", fields, shape, nd)


@pytest.mark.parametrize(
    "type_,fields,shape",
    [
        # ceil_mode drops a last window that would start in the right padding: 1, not 2.
        ("MaxPool1d", {"kernel_size": 3, "stride": 3, "padding": 1, "ceil_mode": True}, (1, 2, 2)),
        ("AvgPool2d", {"kernel_size": 2, "stride": 3, "padding": 1, "ceil_mode": True}, (1, 2, 4, 7)),
        ("MaxPool3d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 5, 5, 6)),
    ],
)
def test_symbolic_ceil_mode(type_, fields, shape):
    agree(type_, fields, shape)
    agree_symbolic(type_, fields, shape, int(type_[-2]))


# ------------------------------------------------------------------ normalization


@st.composite
def any_shape(draw, min_rank: int = 0, max_rank: int = 5, hi: int = 4):
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(1, hi)) for _ in range(rank))


@st.composite
def bn_case(draw):
    # Ranks 1..6, with batch and spatial sizes of 1 often (one value per channel).
    rank = draw(st.integers(1, 6))
    shape = tuple(draw(st.sampled_from([1, 1, 2, 3])) if i != 1 else draw(st.integers(1, 6)) for i in range(rank))
    f: dict = {}
    put(f, "num_features", maybe_given(draw, shape[1] if rank >= 2 else shape[0]))
    for k in ("affine", "track_running_stats"):
        if draw(st.booleans()):
            f[k] = draw(st.booleans())
    return f, shape


@pytest.mark.parametrize("nd", [1, 2, 3])
@prop()
@given(data=st.data())
def test_batchnorm(nd, data):
    fields, shape = data.draw(bn_case())
    agree(f"BatchNorm{nd}d", fields, shape)


# ------------------------------------------------------------------ linear, flatten


@prop()
@given(data=st.data())
def test_linear(data):
    shape = data.draw(any_shape(0, 4, hi=6))
    f: dict = {"out_features": data.draw(st.integers(1, 8))}
    put(f, "in_features", maybe_given(data.draw, shape[-1] if shape else 1))
    if data.draw(st.booleans()):
        f["bias"] = data.draw(st.booleans())
    agree("Linear", f, shape)


@prop()
@given(data=st.data())
def test_flatten(data):
    shape = data.draw(any_shape(0, 5))
    f: dict = {}
    for k in ("start_dim", "end_dim"):
        if data.draw(st.booleans()):
            f[k] = data.draw(st.integers(-6, 6))
    agree("Flatten", f, shape)


# ------------------------------------------------------------------ elementwise


@pytest.mark.parametrize("type_", ["Softmax", "LogSoftmax"])
@prop(0.5)
@given(data=st.data())
def test_softmax(type_, data):
    shape = data.draw(any_shape(0, 4))
    f: dict = {}
    if data.draw(st.integers(0, 4)):
        f["dim"] = data.draw(st.integers(-5, 5))
    agree(type_, f, shape)


@pytest.mark.parametrize(
    "type_", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
)
@prop(0.5)
@given(data=st.data())
def test_dropout(type_, data):
    shape = data.draw(any_shape(0, 6, hi=3))
    f: dict = {}
    if data.draw(st.booleans()):
        f["p"] = data.draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    agree(type_, f, shape)


ACTIVATIONS = {
    "ReLU": {},
    "ReLU6": {},
    "LeakyReLU": {"negative_slope": st.floats(-1, 1)},
    "ELU": {"alpha": st.floats(0.1, 2)},
    "SELU": {},
    "GELU": {"approximate": st.sampled_from(["none", "tanh"])},
    "SiLU": {},
    "Mish": {},
    "Sigmoid": {},
    "Tanh": {},
    "Hardswish": {},
    "Hardsigmoid": {},
    "Hardtanh": {"min_val": st.floats(-2, -0.5), "max_val": st.floats(0.5, 2)},
    "Softplus": {"beta": st.floats(0.5, 2), "threshold": st.floats(1, 30)},
    "Identity": {},
}


@pytest.mark.parametrize("type_", sorted(ACTIVATIONS))
@prop(0.15)
@given(data=st.data())
def test_activation(type_, data):
    shape = data.draw(any_shape(0, 5))
    f = {k: data.draw(s) for k, s in ACTIVATIONS[type_].items() if data.draw(st.booleans())}
    agree(type_, f, shape)


# ------------------------------------------------------------------ dtypes

# Integer and bool inputs (which fail in every float-only kernel, on every device) and float64
# with the module cast to it. float16/bfloat16 are left out on purpose: which kernels take them
# depends on the device (CPU has no half avg_pool3d), and archcheck does not judge precision.
DTYPES = ["float32", "float64", "long", "int32", "bool"]
DTYPE_CASES = {
    **{f"Conv{n}d": lambda d, n=n: d(conv_case(n)) for n in (1, 2)},
    "ConvTranspose1d": lambda d: d(conv_transpose_case(1)),
    **{f"{k}Pool{n}d": lambda d, n=n, k=k: d(pool_case(n, k)) for n in (1, 2, 3) for k in ("Max", "Avg")},
    **{f"Adaptive{k}Pool{n}d": lambda d, n=n, k=k: d(adaptive_case(n, k)) for n in (1, 2) for k in ("Max", "Avg")},
    **{f"BatchNorm{n}d": lambda d: d(bn_case()) for n in (1, 2)},
    "Linear": lambda d: ({"out_features": 3}, d(any_shape(1, 3))),
    "Flatten": lambda d: ({}, d(any_shape(0, 4))),
    "Softmax": lambda d: ({"dim": -1}, d(any_shape(1, 3))),
    **{
        t: lambda d: ({"p": d(st.sampled_from([0.0, 0.5, 1.0]))}, d(any_shape(0, 5, hi=3)))
        for t in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
    },
    **{t: lambda d, t=t: ({}, d(any_shape(0, 3))) for t in ACTIVATIONS},
}


@pytest.mark.parametrize("type_", sorted(DTYPE_CASES))
@prop(0.1)
@given(data=st.data())
def test_dtype(type_, data):
    fields, shape = DTYPE_CASES[type_](data.draw)
    agree(type_, fields, shape, data.draw(st.sampled_from(DTYPES)))


# ------------------------------------------------------------------ schema: sizes < 1


ZERO_NEG = [
    ("Conv2d", {"out_channels": 0, "kernel_size": 3}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 0}),
    ("Conv2d", {"out_channels": 4, "kernel_size": [3, -1]}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 0}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": -1}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 0}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 0}),
    ("Conv2d", {"in_channels": 0, "out_channels": 4, "kernel_size": 3}),
    ("Conv1d", {"out_channels": -2, "kernel_size": 3}),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "output_padding": -1}),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": [1, 0]}),
    ("MaxPool2d", {"kernel_size": 0}),
    ("MaxPool2d", {"kernel_size": 2, "stride": 0}),
    ("MaxPool2d", {"kernel_size": 2, "padding": -1}),
    ("MaxPool2d", {"kernel_size": 2, "dilation": 0}),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 0}),
    ("AvgPool1d", {"kernel_size": -3}),
    ("AdaptiveAvgPool2d", {"output_size": 0}),
    ("AdaptiveAvgPool2d", {"output_size": [2, -1]}),
    ("Linear", {"out_features": 0}),
    ("Linear", {"in_features": -4, "out_features": 2}),
    ("BatchNorm2d", {"num_features": 0}),
    ("BatchNorm2d", {"eps": 0.0}),
    ("Dropout", {"p": -0.1}),
    ("Dropout", {"p": 1.5}),
]


@pytest.mark.parametrize("type_,fields", ZERO_NEG, ids=[f"{t}-{sorted(f.items())}" for t, f in ZERO_NEG])
def test_nonpositive_sizes_are_schema_errors(type_, fields):
    ac = ac_run(type_, fields, (2, 4, 6, 6) if "2d" in type_ else (2, 4, 6))
    assert ac.errors and all(c.startswith("AC1") for c in ac.errors), ac.messages
    assert ac.shape is None


@pytest.mark.parametrize("shape", [(2, 0, 6, 6), (2, 4, -1, 6)])
def test_nonpositive_input_dims_are_schema_errors(shape):
    ac = ac_run("Conv2d", {"out_channels": 4, "kernel_size": 3}, shape)
    assert ac.errors and all(c.startswith("AC1") for c in ac.errors), ac.messages
