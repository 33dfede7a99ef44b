"""Property tests for the layers of issue 13 item 5 against real torch (CPU, tiny tensors).

For generated fields and input shapes (valid and invalid alike), archcheck must
report an error exactly when torch raises, and otherwise give torch's output
shape and ``parameters()`` count. Also: every layer type's fields are its torch
constructor's arguments, with the same names and defaults.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from property_util import SETTINGS, shape_st, transformer_layer  # noqa: E402
from torch_util import ac_run, agree, defined_class, describe, torch_run  # noqa: E402

from archcheck.layers.base import REGISTRY  # noqa: E402


def agree_full(type_: str, fields: dict[str, Any], shape: tuple[int, ...], torch_kw: dict[str, Any], **extra: Any):
    """``agree`` with torch's keyword arguments given (inferred sizes filled from the input by the test)."""
    ac = ac_run(type_, fields, shape, extra=extra or None)
    th = torch_run(type_, torch_kw, shape, extra=extra or None)
    where = describe(type_, fields, shape, ac, th)
    assert ac.failed == th.failed, ("archcheck reports an error" if ac.failed else "torch raised") + where
    if not ac.failed:
        assert ac.shape == th.shape, "output shapes differ" + where
        assert ac.params == th.params, "parameter counts differ" + where
    return ac, th


# ------------------------------------------------------------------ signatures

# Differences from torch's signature that are deliberate or older than this test.
KNOWN = {
    "Hardtanh": {"min_value", "max_value"},  # deprecated aliases of min_val/max_val
    "SyncBatchNorm": {"process_group"},  # a distributed process group: not a value a spec can hold
    "TransformerEncoderLayer": {"activation"},  # torch's default is the function F.relu: "relu" here
    "TransformerDecoderLayer": {"activation"},
}


@pytest.mark.parametrize("name", sorted(n for n, c in REGISTRY.items() if c.torch_name))
def test_fields_are_torch_constructor_arguments(name):
    cls = REGISTRY[name]
    tcls = getattr(torch.nn, cls.torch_name.split(".", 1)[1])
    sig = inspect.signature(tcls.__init__)
    params = {
        k: p
        for k, p in sig.parameters.items()
        if k not in ("self", "device", "dtype")
        and not k.startswith("_")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    if not params:
        return  # torch takes *args, **kwargs (LSTM, GRU, RNN): nothing to compare
    ours = {k: f for k, f in cls.model_fields.items() if k not in cls.meta_fields}
    skip = KNOWN.get(name, set())
    assert set(params) - skip == set(ours) - skip, f"{name}: torch {sorted(params)}, archcheck {sorted(ours)}"
    for k, p in params.items():
        if k in skip or p.default is inspect.Parameter.empty:
            continue
        assert ours[k].default == p.default, f"{name}.{k}: default {ours[k].default!r}, torch's {p.default!r}"


# ------------------------------------------------------------------ activations

ACTIVATIONS: dict[str, dict[str, Any]] = {
    "CELU": {"alpha": st.floats(0.1, 3.0)},
    "RReLU": {"lower": st.just(0.1), "upper": st.just(0.3)},
    "Threshold": {"threshold": st.floats(-1, 1), "value": st.floats(-2, 2)},
    "Hardshrink": {"lambd": st.floats(0.0, 1.0)},
    "Softshrink": {"lambd": st.floats(0.0, 1.0)},
    "Softsign": {},
    "Tanhshrink": {},
    "LogSigmoid": {},
    "Softmax2d": {},
}


@SETTINGS
@given(st.data(), st.sampled_from(sorted(ACTIVATIONS)), shape_st(0, 5))
def test_activations(data, type_, shape):
    fields = {
        k: data.draw(v) for k, v in ACTIVATIONS[type_].items() if data.draw(st.booleans()) or type_ == "Threshold"
    }
    dtype = data.draw(st.sampled_from(["float32"] * 4 + ["long", "int32", "bool", "float64"]))
    agree(type_, fields, shape, dtype=dtype)


@SETTINGS
@given(st.data(), shape_st(0, 5))
def test_prelu(data, shape):
    fields: dict[str, Any] = {}
    kind = data.draw(st.sampled_from(["one", "channels", "wrong"]))
    if kind == "channels" and len(shape) >= 2:
        fields["num_parameters"] = shape[1]
    elif kind == "wrong":
        fields["num_parameters"] = data.draw(st.integers(1, 6))
    if data.draw(st.booleans()):
        fields["init"] = data.draw(st.floats(0.0, 1.0))
    dtype = data.draw(st.sampled_from(["float32"] * 4 + ["long", "float64"]))
    agree("PReLU", fields, shape, dtype=dtype)


@SETTINGS
@given(st.data(), shape_st(0, 4, hi=6))
def test_glu_and_softmin(data, shape):
    d = data.draw(st.integers(-5, 4))
    agree("GLU", {"dim": d} if d != -1 or data.draw(st.booleans()) else {}, shape)
    agree("Softmin", {"dim": d}, shape)


@SETTINGS
@given(st.data(), st.sampled_from(["none", "tanh"]), shape_st(0, 4))
def test_gelu_approximate(data, approximate, shape):
    agree("GELU", {"approximate": approximate}, shape, dtype=data.draw(st.sampled_from(["float32", "long"])))


# ------------------------------------------------------------------ normalization


@SETTINGS
@given(st.data(), shape_st(0, 4))
def test_rmsnorm(data, shape):
    fields: dict[str, Any] = {}
    k = data.draw(st.integers(0, 3))
    ns: Any = None
    how = data.draw(st.sampled_from(["omit", "int", "list", "wrong"]))
    if how == "int" and shape:
        ns = shape[-1]
    elif how == "list" and k and len(shape) >= k:
        ns = list(shape[len(shape) - k :])
    elif how == "wrong":
        ns = data.draw(st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    if ns is not None:
        fields["normalized_shape"] = ns
    if data.draw(st.booleans()):
        fields["elementwise_affine"] = data.draw(st.booleans())
    if data.draw(st.booleans()):
        fields["eps"] = data.draw(st.one_of(st.none(), st.floats(1e-8, 1e-3)))
    dtype = data.draw(st.sampled_from(["float32"] * 3 + ["long"]))
    kw = {**fields, "normalized_shape": ns if ns is not None else (shape[-1] if shape else 1)}
    agree_full("RMSNorm", fields, shape, kw, dtype=dtype)


@SETTINGS
@given(st.data(), shape_st(2, 6, hi=3))
def test_instancenorm3d(data, shape):
    fields: dict[str, Any] = {}
    c = shape[-4] if len(shape) >= 4 else 1
    nf = data.draw(st.sampled_from([None, c, c + 1]))
    if nf is not None:
        fields["num_features"] = nf
    for f in ("affine", "track_running_stats"):
        if data.draw(st.booleans()):
            fields[f] = data.draw(st.booleans())
    kw = {**fields, "num_features": nf or c}
    ac = ac_run("InstanceNorm3d", fields, shape)
    th = torch_run("InstanceNorm3d", kw, shape)
    if th.failed and not ac.failed and "AC220" in ac.warnings:
        th = torch_run("InstanceNorm3d", kw, shape, train=False)
    where = describe("InstanceNorm3d", fields, shape, ac, th)
    assert ac.failed == th.failed, where
    if not ac.failed:
        assert (ac.shape, ac.params) == (th.shape, th.params), where


# ------------------------------------------------------------------ recurrent cells


@SETTINGS
@given(st.data(), st.sampled_from(["LSTMCell", "GRUCell", "RNNCell"]))
def test_cells(data, type_):
    """Input [N, H_in] or [H_in] (sometimes another rank), with or without a state, right or wrong."""
    h_in, hid = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    shape = data.draw(st.sampled_from([(data.draw(st.integers(1, 3)), h_in), (h_in,), (), (2, 2, h_in)]))
    fields: dict[str, Any] = {"hidden_size": hid}
    given_in = data.draw(st.sampled_from([None, h_in, h_in + 1]))
    if given_in is not None:
        fields["input_size"] = given_in
    if data.draw(st.booleans()):
        fields["bias"] = data.draw(st.booleans())
    if type_ == "RNNCell" and data.draw(st.booleans()):
        fields["nonlinearity"] = data.draw(st.sampled_from(["tanh", "relu"]))
    names = ("h", "c") if type_ == "LSTMCell" else ("hx",)
    extra: dict[str, Any] = {}
    if data.draw(st.booleans()):
        for nm in names:
            right = tuple(shape[:-1]) + (hid,)
            extra[nm] = data.draw(st.sampled_from([right, right, (hid,), (3, hid), tuple(shape[:-1]) + (hid + 1,)]))
    kw = {**fields, "input_size": given_in or (shape[-1] if shape else 1)}
    agree_full(type_, fields, shape, kw, **extra)


# ------------------------------------------------------------------ transformer stacks


@SETTINGS
@given(st.data(), st.sampled_from(["TransformerEncoder", "TransformerDecoder"]))
def test_transformer_stacks(data, type_):
    """A stack of num_layers copies of a generated layer, with or without a final norm (LayerNorm or RMSNorm)."""
    bf, e, shape, layer, give = transformer_layer(data, 1, 3)
    key = "encoder_layer" if type_ == "TransformerEncoder" else "decoder_layer"
    fields: dict[str, Any] = {key: layer, "num_layers": data.draw(st.integers(1, 3))}
    torch_kw: dict[str, Any] = {key: {**layer, "d_model": give or e}, "num_layers": fields["num_layers"]}
    norm = data.draw(st.sampled_from([None, "LayerNorm", "RMSNorm"]))
    if norm is not None:
        ns = data.draw(st.sampled_from([None, give or e]))
        nf: dict[str, Any] = {"type": norm} | ({"normalized_shape": ns} if ns is not None else {})
        if data.draw(st.booleans()):
            nf["elementwise_affine"] = data.draw(st.booleans())
        fields["norm"] = nf
        torch_kw["norm"] = {**nf, "normalized_shape": ns or give or e}
    if type_ == "TransformerEncoder" and data.draw(st.booleans()):
        fields["enable_nested_tensor"] = torch_kw["enable_nested_tensor"] = data.draw(st.booleans())
    extra: dict[str, Any] = {}
    if type_ == "TransformerDecoder":
        mem = list(shape)
        mem[-1] = data.draw(st.sampled_from([e, e, 3]))
        if len(mem) == 3 and data.draw(st.booleans()):
            mem[1 if bf else 0] = data.draw(st.integers(1, 3))  # another memory length
        if data.draw(st.integers(0, 4)) == 0 and len(mem) > 1:
            mem = mem[1:]
        extra["memory"] = tuple(mem)
    agree_full(type_, fields, shape, torch_kw, **extra)


def test_stack_state_dict_and_codegen_match_torch():
    """The generated stack has torch's state_dict keys and shapes, and the norm is checked against d_model."""
    import json

    from archcheck import api
    from archcheck.emit.verify import module_from_result

    spec = {
        "name": "Enc",
        "input": {"shape": ["N", 7, 16]},
        "layers": [
            {
                "name": "encoder",
                "type": "TransformerEncoder",
                "num_layers": 3,
                "encoder_layer": {"nhead": 4, "dim_feedforward": 32, "batch_first": True, "norm_first": True},
                "norm": {"type": "LayerNorm", "eps": 1e-6},
            }
        ],
    }
    res = api.check(json.loads(json.dumps(spec)))
    assert res.ok, [d.message for d in res.diagnostics]
    got = module_from_result(res).state_dict()
    ref = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=True), 3, torch.nn.LayerNorm(16)
    ).state_dict()
    assert {k: tuple(v.shape) for k, v in got.items()} == {"encoder." + k: tuple(v.shape) for k, v in ref.items()}
    assert "encoder.layers.2.self_attn.in_proj_weight" in got and "encoder.norm.weight" in got
    assert res.total_params == sum(v.numel() for v in ref.values())

    spec["layers"][0]["norm"] = {"normalized_shape": 8}
    res = api.check(spec)
    codes = [d.code for d in res.diagnostics if d.severity == "error"]
    assert codes == ["AC213"] and res.diagnostics[0].line is not None, [d.message for d in res.diagnostics]


# ------------------------------------------------------------------ max unpooling


@SETTINGS
@given(st.data(), st.sampled_from([1, 2, 3]))
def test_max_unpool(data, nd):
    """Values and int64 indices of one shape (sometimes another), kernel/stride/padding, and sometimes a
    third input whose size is the output_size (within a stride of the computed size, or not)."""
    hi = {1: 6, 2: 4, 3: 3}[nd]
    spatial = tuple(data.draw(st.integers(1, hi)) for _ in range(nd))
    lead = data.draw(st.sampled_from([(2, 3), (3,), (), (1, 2, 2)]))
    shape = lead + spatial
    k = [data.draw(st.integers(1, 4)) for _ in range(nd)]
    fields: dict[str, Any] = {"kernel_size": k if data.draw(st.booleans()) else k[0]}
    if fields["kernel_size"] == k[0]:
        k = [k[0]] * nd
    s = list(k)
    if data.draw(st.booleans()):
        s = [data.draw(st.integers(1, 3))] * nd
        fields["stride"] = s[0]
    p = [0] * nd
    if data.draw(st.booleans()):
        p = [data.draw(st.integers(0, 2))] * nd
        fields["padding"] = p[0]
    idx = shape if data.draw(st.integers(0, 5)) else shape[:-1] + (shape[-1] + 1,) if shape else (1,)
    extra: dict[str, Any] = {"indices": {"shape": idx, "dtype": data.draw(st.sampled_from(["long"] * 5 + ["int32"]))}}
    if data.draw(st.booleans()):
        default = [(spatial[i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd)]
        target = tuple(max(1, d + data.draw(st.integers(-s[i], s[i]))) for i, d in enumerate(default))
        extra["like"] = lead + target if data.draw(st.booleans()) else target
    agree_full(f"MaxUnpool{nd}d", fields, shape, fields, **extra)


def test_max_unpool_after_max_pool_on_meta():
    """The generated module unpools a MaxPool's output to the pooled tensor's size, on the meta device."""
    import json

    from archcheck import api
    from archcheck.emit.verify import module_from_result

    spec = {
        "name": "Unpool",
        "inputs": {"x": {"shape": [2, 3, 7, 7]}, "idx": {"shape": [2, 3, 3, 3], "dtype": "long"}},
        "layers": [
            {"name": "pool", "type": "MaxPool2d", "kernel_size": 2, "inputs": ["x"]},
            {"name": "up", "type": "MaxUnpool2d", "kernel_size": 2, "inputs": ["pool", "idx", "x"]},
        ],
    }
    res = api.check(json.loads(json.dumps(spec)))
    assert res.ok and res.layers[-1].output.shape == (2, 3, 7, 7), [d.message for d in res.diagnostics]
    with torch.device("meta"):
        m = module_from_result(res)
        y = m(torch.randn(2, 3, 7, 7), torch.zeros(2, 3, 3, 3, dtype=torch.long))
    assert tuple(y.shape) == (2, 3, 7, 7)


# ------------------------------------------------------------------ BatchNorm's bias, SyncBatchNorm, torchvision's


@SETTINGS
@given(st.data(), shape_st(1, 5, hi=3))
def test_batchnorm_bias_and_sync(data, shape):
    type_ = data.draw(st.sampled_from(["SyncBatchNorm", "BatchNorm1d", "BatchNorm2d"]))
    fields: dict[str, Any] = {}
    for f in ("affine", "bias", "track_running_stats"):
        if data.draw(st.booleans()):
            fields[f] = data.draw(st.booleans())
    c = shape[1] if len(shape) > 1 else 1
    ac = ac_run(type_, fields, shape)
    kw = {**fields, "num_features": c}
    th = torch_run(type_, kw, shape)
    if th.failed and not ac.failed and "AC211" in ac.warnings:
        th = torch_run(type_, kw, shape, train=False)
    where = describe(type_, fields, shape, ac, th)
    assert ac.failed == th.failed, where
    if not ac.failed:
        assert (ac.shape, ac.params) == (th.shape, th.params), where


@SETTINGS
@given(st.data(), shape_st(2, 5, hi=4))
def test_layernorm2d_is_torchvisions(data, shape):
    """LayerNorm2d = nn.LayerNorm over dim 1 of [N, C, H, W] (torchvision's, computed here by hand)."""
    c = shape[1]
    ns = data.draw(st.sampled_from([None, c, c + 1, [c]]))
    fields: dict[str, Any] = {} if ns is None else {"normalized_shape": ns}
    if data.draw(st.booleans()):
        fields["bias"] = data.draw(st.booleans())
    agree_full("LayerNorm2d", fields, shape, {**fields, "normalized_shape": ns or c})


@SETTINGS
@given(st.data(), shape_st(0, 4))
def test_stochastic_depth(data, shape):
    """Shape and dtype pass through, and the generated module runs where torchvision's does."""
    p = data.draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    mode = data.draw(st.sampled_from(["row", "batch"]))
    fields = {"p": p, "mode": mode}
    for train in (True, False):
        ac = ac_run("StochasticDepth", fields, shape)
        th = torch_run("StochasticDepth", fields, shape, train=train)
        if mode == "row" and not shape and train and p > 0:
            assert th.failed  # torchvision fails the same way: input.shape[0] of a scalar
            continue
        assert not ac.failed and not th.failed and ac.shape == th.shape, describe(
            "StochasticDepth", fields, shape, ac, th
        )


def _torchvision_stochastic_depth(input, p: float, mode: str, training: bool = True):
    """torchvision.ops.stochastic_depth as torchvision 0.29.1 writes it (its checks of p and mode left out)."""
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


@SETTINGS
@given(
    st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    st.sampled_from(["row", "batch"]),
    st.booleans(),
    shape_st(1, 4, hi=6),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_stochastic_depth_values_are_torchvisions(p, mode, train, shape, dtype):
    """The module the generated file defines gives torchvision's values from the same random state:
    the same noise draw, the same scaling (inf and nan included), and the input itself in eval mode."""
    cls = defined_class(REGISTRY["StochasticDepth"].module_source)
    m = cls(p=p, mode=mode).train(train)
    x = torch.randn(shape, dtype=dtype)
    x.view(-1)[0] = float("inf")
    torch.manual_seed(0)
    y = m(x)
    torch.manual_seed(0)
    want = _torchvision_stochastic_depth(x, p, mode, train)
    assert y.dtype == want.dtype and y.shape == want.shape
    assert torch.equal(y.isnan(), want.isnan()) and torch.equal(y.nan_to_num(), want.nan_to_num())
    assert (y is x) == (want is x)
    assert list(m.parameters()) == [] and m.state_dict() == {}


def test_stochastic_depth_drops_whole_rows() -> None:
    sd = defined_class(REGISTRY["StochasticDepth"].module_source)(p=0.5, mode="row")
    x = torch.ones(64, 3)
    torch.manual_seed(0)
    y = sd.train()(x)
    rows = set(y[:, 0].tolist())
    assert rows <= {0.0, 2.0} and len(rows) == 2 and bool((y == y[:, :1]).all())  # whole rows, rescaled by 1/(1-p)
    y = sd.eval()(x)
    assert y is x


# ------------------------------------------------------------------ 3-D and circular padding

PADS = [
    "ZeroPad3d",
    "ConstantPad3d",
    "ReflectionPad3d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
]


@SETTINGS
@given(st.data(), st.sampled_from(PADS))
def test_padding_3d_and_circular(data, type_):
    shape = data.draw(shape_st(1, 6, hi=4))
    n = 2 * int(type_[-2])
    pad = data.draw(st.one_of(st.integers(-3, 5), st.lists(st.integers(-3, 5), min_size=n, max_size=n)))
    fields: dict[str, Any] = {"padding": pad}
    if type_.startswith("Constant"):
        fields["value"] = 0.5
    torch_kw = {**fields, "padding": tuple(pad) if isinstance(pad, list) else pad}
    agree_full(type_, fields, shape, torch_kw)


@SETTINGS
@given(st.data(), st.sampled_from(["UpsamplingNearest2d", "UpsamplingBilinear2d"]), shape_st(2, 6, hi=4))
def test_upsampling_2d(data, type_, shape):
    fields: dict[str, Any] = {}
    nsp = max(len(shape) - 2, 1)
    how = data.draw(st.sampled_from(["size", "scale", "both", "none"]))
    if how in ("size", "both"):
        fields["size"] = data.draw(
            st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=nsp, max_size=nsp))
        )
    if how in ("scale", "both"):
        fields["scale_factor"] = data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    agree_full(type_, fields, shape, kw)


# ------------------------------------------------------------------ two inputs


def _second(data, shape):
    """A second input: the same shape, a broadcastable one, or one that does not fit."""
    kind = data.draw(st.sampled_from(["same", "same", "ones", "drop", "other"]))
    if kind == "same" or not shape:
        return shape
    if kind == "ones":
        return tuple(1 if data.draw(st.booleans()) else d for d in shape)
    if kind == "drop":
        return shape[data.draw(st.integers(1, len(shape))) :]
    i = data.draw(st.integers(0, len(shape) - 1))
    return shape[:i] + (shape[i] + data.draw(st.integers(1, 2)),) + shape[i + 1 :]


@SETTINGS
@given(st.data(), shape_st(0, 4))
def test_cosine_similarity_and_pairwise_distance(data, shape):
    x2 = _second(data, shape)
    d = data.draw(st.integers(-4, 3))
    agree_full("CosineSimilarity", {"dim": d}, shape, {"dim": d}, x2=x2)
    kd = data.draw(st.booleans())
    agree_full("PairwiseDistance", {"keepdim": kd}, shape, {"keepdim": kd}, x2=x2)


@SETTINGS
@given(st.data(), shape_st(1, 4))
def test_bilinear(data, shape):
    in1 = shape[-1]
    x2 = _second(data, shape[:-1]) + (data.draw(st.integers(1, 4)),)
    fields: dict[str, Any] = {"out_features": data.draw(st.integers(1, 4))}
    g1, g2 = data.draw(st.sampled_from([None, in1, in1 + 1])), data.draw(st.sampled_from([None, x2[-1], x2[-1] + 1]))
    if g1 is not None:
        fields["in1_features"] = g1
    if g2 is not None:
        fields["in2_features"] = g2
    if data.draw(st.booleans()):
        fields["bias"] = data.draw(st.booleans())
    kw = {**fields, "in1_features": g1 or in1, "in2_features": g2 or x2[-1]}
    agree_full("Bilinear", fields, shape, kw, x2=x2)


# ------------------------------------------------------------------ sliding blocks


def _block_fields(data):
    f: dict[str, Any] = {
        "kernel_size": data.draw(st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2)))
    }
    for name, lo, hi in (("dilation", 1, 2), ("padding", 0, 2), ("stride", 1, 3)):
        if data.draw(st.booleans()):
            f[name] = data.draw(st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=2, max_size=2)))
    return f


def _tuples(f: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in f.items()}


@SETTINGS
@given(st.data(), shape_st(2, 5, hi=6))
def test_unfold(data, shape):
    fields = _block_fields(data)
    agree_full("Unfold", fields, shape, _tuples(fields))


@SETTINGS
@given(st.data())
def test_fold_undoes_unfold(data):
    """Fold of an Unfold's output (sizes right, or one of them off) against torch."""
    fields = _block_fields(data)
    c, h, w = (data.draw(st.integers(1, 3)) for _ in range(3))
    h, w = h + 3, w + 3
    ac = ac_run("Unfold", fields, (2, c, h, w))
    if ac.failed:
        return
    shape = ac.shape
    out: Any = [h, w]
    how = data.draw(st.sampled_from(["right", "right", "size", "channels", "unbatched"]))
    if how == "size":
        out = [h + data.draw(st.integers(-2, 2)), w]
        out[0] = max(out[0], 1)
    elif how == "channels":
        shape = (shape[0], shape[1] + 1, shape[2])
    elif how == "unbatched":
        shape = shape[1:]
    f = {**fields, "output_size": out}
    agree_full("Fold", f, shape, _tuples(f))


@SETTINGS
@given(st.data())
def test_embedding_bag(data):
    n, d = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    fields: dict[str, Any] = {"num_embeddings": n, "embedding_dim": d}
    if data.draw(st.booleans()):
        fields["mode"] = data.draw(st.sampled_from(["sum", "mean", "max"]))
    if data.draw(st.booleans()):
        fields["include_last_offset"] = data.draw(st.booleans())
    if data.draw(st.integers(0, 3)) == 0:
        fields["padding_idx"] = data.draw(st.integers(-n - 1, n))
    shape = data.draw(st.sampled_from([(2, 3), (5,), (), (2, 2, 2), (1, 4)]))
    extra: dict[str, Any] = {"dtype": data.draw(st.sampled_from(["long", "long", "int32", "float32"]))}
    if data.draw(st.booleans()):
        extra["offsets"] = {"shape": data.draw(st.sampled_from([(1,), (2,), (3,), (2, 2)])), "dtype": extra["dtype"]}
    ac = ac_run("EmbeddingBag", fields, shape, extra=extra)
    th = torch_run("EmbeddingBag", fields, shape, extra=extra)
    where = describe("EmbeddingBag", fields, shape, ac, th)
    assert ac.failed == th.failed, where
    if not ac.failed:
        assert (ac.shape, ac.params) == (th.shape, th.params), where


@SETTINGS
@given(st.data(), st.sampled_from([1, 2, 3]))
def test_lp_pool(data, nd):
    hi = {1: 9, 2: 6, 3: 4}[nd]
    shape = data.draw(st.sampled_from([(2, 3), (3,), (), (1, 1, 2)])) + tuple(
        data.draw(st.integers(1, hi)) for _ in range(nd)
    )
    k = data.draw(st.one_of(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    fields: dict[str, Any] = {"norm_type": data.draw(st.sampled_from([1.0, 1.5, 2.0, 3.0])), "kernel_size": k}
    if data.draw(st.booleans()):
        fields["stride"] = data.draw(
            st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
        )
    if data.draw(st.booleans()):
        fields["ceil_mode"] = data.draw(st.booleans())
    kw = {k2: tuple(v) if isinstance(v, list) else v for k2, v in fields.items()}
    agree_full(f"LPPool{nd}d", fields, shape, kw)


# ------------------------------------------------------------------ StochasticDepth in generated code

SD_SPEC = """\
name: {name}
input: {{shape: [N, 8, 4, 4]}}
blocks:
  {block}:
    layers:
      - {{name: conv, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}}
      - {{name: stochastic_depth, type: StochasticDepth, p: 0.2, mode: row}}
      - {{type: Add, inputs: [stochastic_depth, x]}}
layers:
  - {{name: stem, type: Sequential, layers: [{{type: StochasticDepth, p: 0.5, mode: batch}}, {{type: Permute, dims: [0, 1, 3, 2]}}]}}
  - {{name: b, type: {block}}}
  - {{name: shared, type: StochasticDepth, p: 0.1, mode: row}}
  - {{name: again, use: shared}}
"""


@pytest.mark.parametrize(
    ("name", "block"),
    [("Net", "Block"), ("x", "p"), ("noise", "survival_rate"), ("StochasticDepth", "size")],
)
def test_stochastic_depth_is_one_module_class_in_the_generated_file(name, block, tmp_path):
    """The generated file defines StochasticDepth once and builds it at each path (in a Sequential, in a
    block, used again); a model or block named like a name the class's code binds (p, x, noise, ...)
    takes another class name rather than being shadowed; the module verifies against torch."""
    import archcheck
    from archcheck.emit.verify import module_from_result, verify

    spec = tmp_path / "sd.yaml"
    spec.write_text(SD_SPEC.format(name=name, block=block))
    res = archcheck.check(spec)
    assert res.ok, [d.message for d in res.diagnostics]
    src = archcheck.generate(res)
    assert src.count("class StochasticDepth(nn.Module):") == 1
    assert 'StochasticDepth(p=0.5, mode="batch")' in src and src.count("self.shared(") == 2
    v, _ = verify(archcheck.load(spec), {"N": 2})
    assert v.ok, v.problems
    model = module_from_result(res)
    modules = dict(model.named_modules())
    assert {p: type(modules[p]).__name__ for p in ("stem.0", "b.stochastic_depth", "shared")} == dict.fromkeys(
        ("stem.0", "b.stochastic_depth", "shared"), "StochasticDepth"
    )
    x = torch.randn(2, 8, 4, 4)
    model.eval()
    assert model(x).shape == (2, 8, 4, 4)
