"""Property tests for the normalization, resample, recurrent, attention and tensor-op layers.

For generated fields and tiny input shapes (valid and invalid alike), archcheck
must report an error exactly when torch (2.13, CPU, train mode) raises at
construction or forward, and otherwise give the same output shape and
parameter count. Runs in well under a minute.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from property_util import SETTINGS, shape_st, transformer_layer  # noqa: E402

import archcheck.engine.walk  # noqa: E402
import archcheck.spec.loader  # noqa: E402
import archcheck.spec.schema  # noqa: E402

TORCH_DTYPE = {"float32": torch.float32, "long": torch.long, "int32": torch.int32}
# Fields archcheck infers: torch needs them, computed here from the input independently.
TUPLE_FIELDS = {"scale_factor", "size", "padding", "unflattened_size"}
WARN_EVAL = {"AC211", "AC220"}  # warnings meaning "fails in training, works in eval"


def ac_check(type_: str, fields: dict[str, Any], shapes: list[tuple[int, ...]], dtype: str = "float32"):
    if len(shapes) == 1:
        spec = {"name": "T", "input": {"shape": list(shapes[0]), "dtype": dtype}}
        layer = {"name": "l0", "type": type_, **fields}
    else:
        spec = {"name": "T", "inputs": {f"i{k}": {"shape": list(s), "dtype": dtype} for k, s in enumerate(shapes)}}
        layer = {"name": "l0", "type": type_, "inputs": [f"i{k}" for k in range(len(shapes))], **fields}
    spec["layers"] = [layer]
    src = archcheck.spec.loader.load_text(json.dumps(spec), "t.json")
    res = archcheck.engine.walk.check(archcheck.spec.schema.parse_spec(src))
    lr = res.layers[0] if res.layers else None
    errs = [d.code for d in res.diagnostics if d.severity == "error"]
    warns = {d.code for d in res.diagnostics if d.severity == "warning"}
    out = lr.output.shape if lr is not None and lr.output is not None else None
    msgs = [f"{d.severity} {d.code}: {d.message}" for d in res.diagnostics]
    return errs, warns, (tuple(out) if out is not None else None), (lr.params if lr else None), msgs


def torch_call(
    type_: str, kw: dict[str, Any], shapes: list[tuple[int, ...]], dtype: str = "float32", train=True, fn=None
):
    torch.manual_seed(0)
    kw = {k: (tuple(v) if k in TUPLE_FIELDS and isinstance(v, list) else v) for k, v in kw.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if fn is not None:
                m, params = None, 0
            else:
                m = getattr(torch.nn, type_)(**kw)
                m.train(train)
                params = sum(p.numel() for p in m.parameters())
        except Exception as e:  # noqa: BLE001
            return e, None, None
        if dtype == "float32":
            xs = [torch.randn(tuple(s)) for s in shapes]
        else:
            xs = [torch.randint(0, 3, s, dtype=TORCH_DTYPE[dtype]) for s in shapes]
        try:
            with torch.no_grad():
                if fn is not None:
                    y = fn(xs[0])
                elif type_ == "MultiheadAttention":
                    y = m(*(xs * 3 if len(xs) == 1 else xs))
                else:
                    y = m(*xs)
        except Exception as e:  # noqa: BLE001
            return e, None, params
    if isinstance(y, tuple):
        y = y[0]
    if 0 in y.shape:
        return ValueError(f"empty output {tuple(y.shape)}"), None, params
    return None, tuple(y.shape), params


def agree(type_, fields, shapes, torch_kw=None, dtype="float32", fn=None):
    shapes = [tuple(s) for s in shapes]
    errs, warns, shape, params, msgs = ac_check(type_, fields, shapes, dtype)
    exc, tshape, tparams = torch_call(type_, torch_kw if torch_kw is not None else fields, shapes, dtype, fn=fn)
    if exc is not None and not errs and warns & WARN_EVAL:
        exc, tshape, tparams = torch_call(type_, torch_kw if torch_kw is not None else fields, shapes, dtype, False, fn)
    where = f"\n  {type_}({fields}) on {shapes} {dtype}\n  archcheck: {shape} params {params} {msgs}\n  torch: {exc!r} {tshape} params {tparams}"
    assert bool(errs) == (exc is not None), where
    if not errs:
        assert shape == tshape, "shapes differ" + where
        if fn is None:
            assert params == tparams, "parameter counts differ" + where
    return errs


def opt(inner, actual):
    """An inferred size: left out, right, or (sometimes) wrong."""
    return st.sampled_from([None, actual, actual + 1]) if inner is None else inner


# ------------------------------------------------------------------ normalization


@SETTINGS
@given(st.data())
def test_layernorm(data):
    shape = data.draw(shape_st(1, 4))
    kind = data.draw(st.sampled_from(["omit", "int", "list", "wrong"]))
    k = data.draw(st.integers(1, len(shape) + 1))
    fields: dict[str, Any] = {
        "elementwise_affine": data.draw(st.booleans()),
        "bias": data.draw(st.booleans()),
    }
    if kind == "int":
        fields["normalized_shape"] = shape[-1]
    elif kind == "list":
        fields["normalized_shape"] = list(shape[-k:]) if k <= len(shape) else [2] + list(shape)
    elif kind == "wrong":
        fields["normalized_shape"] = [data.draw(st.integers(1, 5)) for _ in range(k)]
    kw = dict(fields)
    kw.setdefault("normalized_shape", shape[-1])
    agree("LayerNorm", fields, [shape], kw)


@SETTINGS
@given(st.data())
def test_groupnorm(data):
    shape = data.draw(shape_st(1, 4))
    g = data.draw(st.integers(1, 4))
    c = shape[1] if len(shape) > 1 else 1
    nc = data.draw(st.sampled_from([None, c, c + 1]))
    fields: dict[str, Any] = {"num_groups": g, "affine": data.draw(st.booleans()), "bias": data.draw(st.booleans())}
    if nc is not None:
        fields["num_channels"] = nc
    agree("GroupNorm", fields, [shape], {**fields, "num_channels": nc or c})


@SETTINGS
@given(st.data(), st.sampled_from(["InstanceNorm1d", "InstanceNorm2d"]))
def test_instancenorm(data, type_):
    shape = data.draw(shape_st(1, 5, hi=3))
    nd = 1 if type_.endswith("1d") else 2
    ax = len(shape) - nd - 1
    c = shape[ax] if 0 <= ax < len(shape) and len(shape) in (nd + 1, nd + 2) else 1
    nf = data.draw(st.sampled_from([None, c, c + 1]))
    fields: dict[str, Any] = {"affine": data.draw(st.booleans()), "track_running_stats": data.draw(st.booleans())}
    if nf is not None:
        fields["num_features"] = nf
    agree(type_, fields, [shape], {**fields, "num_features": nf or c})


@SETTINGS
@given(shape_st(1, 5), st.integers(1, 4))
def test_local_response_norm(shape, size):
    agree("LocalResponseNorm", {"size": size}, [shape])


# ------------------------------------------------------------------ resample


@SETTINGS
@given(st.data())
def test_upsample(data):
    shape = data.draw(shape_st(2, 5, hi=4))
    mode = data.draw(st.sampled_from(["nearest", "linear", "bilinear", "bicubic", "trilinear"]))
    fields: dict[str, Any] = {"mode": mode}
    nsp = max(len(shape) - 2, 1)
    how = data.draw(st.sampled_from(["scale", "scale", "size", "both", "none"]))
    if how in ("scale", "both"):
        if data.draw(st.booleans()):
            fields["scale_factor"] = data.draw(st.sampled_from([0.3, 0.5, 1.5, 2, 3, 1.1]))
        else:
            fields["scale_factor"] = [
                data.draw(st.sampled_from([0.5, 2.0, 1.7])) for _ in range(data.draw(st.sampled_from([nsp, nsp + 1])))
            ]
    if how in ("size", "both"):
        fields["size"] = data.draw(
            st.one_of(st.integers(1, 6), st.lists(st.integers(1, 6), min_size=nsp, max_size=nsp + 1))
        )
    ac = data.draw(st.sampled_from([None, None, True, False]))
    if ac is not None:
        fields["align_corners"] = ac
    rsf = data.draw(st.sampled_from([None, None, True, False]))
    if rsf is not None:
        fields["recompute_scale_factor"] = rsf
    agree("Upsample", fields, [shape])


@SETTINGS
@given(shape_st(1, 5, hi=8), st.integers(1, 3), st.booleans())
def test_pixel_shuffle(shape, r, up):
    if up:
        agree("PixelShuffle", {"upscale_factor": r}, [shape])
    else:
        agree("PixelUnshuffle", {"downscale_factor": r}, [shape])


@SETTINGS
@given(
    st.data(),
    st.sampled_from(
        [
            "ZeroPad1d",
            "ZeroPad2d",
            "ConstantPad1d",
            "ConstantPad2d",
            "ReflectionPad1d",
            "ReflectionPad2d",
            "ReplicationPad1d",
            "ReplicationPad2d",
        ]
    ),
)
def test_padding(data, type_):
    shape = data.draw(shape_st(1, 5))
    n = 2 if type_.endswith("1d") else 4
    pad = data.draw(st.one_of(st.integers(-3, 5), st.lists(st.integers(-3, 5), min_size=n, max_size=n)))
    fields: dict[str, Any] = {"padding": pad}
    if type_.startswith("Constant"):
        fields["value"] = 0.5
    agree(type_, fields, [shape])


# ------------------------------------------------------------------ recurrent


@SETTINGS
@given(st.data())
def test_embedding(data):
    shape = data.draw(shape_st(0, 3))
    n = data.draw(st.integers(3, 6))
    fields: dict[str, Any] = {"num_embeddings": n, "embedding_dim": data.draw(st.integers(1, 4))}
    pidx = data.draw(st.sampled_from([None, 0, -1, n, -n - 1]))
    if pidx is not None:
        fields["padding_idx"] = pidx
    dtype = data.draw(st.sampled_from(["long", "int32", "float32"]))
    agree("Embedding", fields, [shape], dtype=dtype)


@SETTINGS
@given(st.data(), st.sampled_from(["LSTM", "GRU", "RNN"]))
def test_rnn(data, type_):
    shape = data.draw(shape_st(1, 4, hi=4))
    h = data.draw(st.integers(1, 4))
    fields: dict[str, Any] = {
        "hidden_size": h,
        "num_layers": data.draw(st.integers(1, 3)),
        "bias": data.draw(st.booleans()),
        "batch_first": data.draw(st.booleans()),
        "bidirectional": data.draw(st.booleans()),
        "dropout": data.draw(st.sampled_from([0.0, 0.5])),
    }
    if type_ == "LSTM":
        fields["proj_size"] = data.draw(st.integers(0, 4))
    if type_ == "RNN":
        fields["nonlinearity"] = data.draw(st.sampled_from(["tanh", "relu"]))
    inp = data.draw(st.sampled_from([None, shape[-1], shape[-1] + 1]))
    if inp is not None:
        fields["input_size"] = inp
    agree(type_, fields, [shape], {**fields, "input_size": inp or shape[-1]})


# ------------------------------------------------------------------ attention


@SETTINGS
@given(st.data())
def test_multihead_attention(data):
    bf = data.draw(st.booleans())
    e = data.draw(st.sampled_from([4, 6]))
    heads = data.draw(st.sampled_from([1, 2, 3, 4]))
    kd = data.draw(st.sampled_from([None, None, 3, e]))
    vd = data.draw(st.sampled_from([None, None, 5]))
    batched = data.draw(st.booleans())
    n, lq, s = 2, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))

    def mk(length, last, batch=n):
        if not batched:
            return (length, last)
        return (batch, length, last) if bf else (length, batch, last)

    fields: dict[str, Any] = {
        "num_heads": heads,
        "batch_first": bf,
        "bias": data.draw(st.booleans()),
        "add_bias_kv": data.draw(st.booleans()),
        "add_zero_attn": data.draw(st.booleans()),
    }
    if kd is not None:
        fields["kdim"] = kd
    if vd is not None:
        fields["vdim"] = vd
    give = data.draw(st.sampled_from([None, e, e + 2]))
    if give is not None:
        fields["embed_dim"] = give
    if data.draw(st.booleans()):
        shapes = [mk(lq, e)]
    else:
        kl = data.draw(st.sampled_from([kd or e, 4]))
        vl = data.draw(st.sampled_from([vd or e, 4]))
        vs = data.draw(st.sampled_from([s, s, s + 1]))
        kb = data.draw(st.sampled_from([n, n, n + 1]))
        shapes = [mk(lq, e), mk(s, kl, kb), mk(vs, vl, kb)]
        if data.draw(st.integers(0, 5)) == 0:
            shapes[1] = shapes[1][1:]
    agree("MultiheadAttention", fields, shapes, {**fields, "embed_dim": give or e})


@SETTINGS
@given(st.data(), st.sampled_from(["TransformerEncoderLayer", "TransformerDecoderLayer"]))
def test_transformer_layers(data, type_):
    bf, e, shape, fields, give = transformer_layer(data, 1, 4)
    shapes = [shape]
    if type_ == "TransformerDecoderLayer":
        mem = list(shape)
        mem[-1] = data.draw(st.sampled_from([e, e, 3]))
        if len(mem) >= 2 and data.draw(st.booleans()):
            mem[0 if bf or len(mem) == 2 else 1] += 0  # same batch
            mem[1 if bf and len(mem) == 3 else 0] = data.draw(st.integers(1, 3))  # another length
        if data.draw(st.integers(0, 4)) == 0 and len(mem) > 1:
            mem = mem[1:]
        shapes.append(tuple(mem))
    agree(type_, fields, shapes, {**fields, "d_model": give or e})


# ------------------------------------------------------------------ tensor ops


@SETTINGS
@given(st.data())
def test_unflatten(data):
    shape = data.draw(shape_st(1, 3, hi=8))
    dim = data.draw(st.integers(-4, 3))
    sizes = data.draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4]), min_size=1, max_size=3))
    errs = ac_check("Unflatten", {"dim": dim, "unflattened_size": sizes}, [shape])[0]
    if sizes.count(-1) > 1:
        assert errs  # refused by the schema, as torch refuses it
        return
    agree("Unflatten", {"dim": dim, "unflattened_size": sizes}, [shape])


@SETTINGS
@given(st.data())
def test_reshape(data):
    shape = data.draw(shape_st(1, 4))
    new = data.draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6, shape[0]]), min_size=1, max_size=4))
    if new.count(-1) > 1:
        new = [s if s != -1 else 2 for s in new]
        new[0] = -1
    errs, _, out, _, msgs = ac_check("Reshape", {"shape": new}, [shape])
    exc, tshape, _ = torch_call("Reshape", {}, [shape], fn=lambda x: x.reshape(*new))
    if "AC217" in errs:  # archcheck's own rule: dim 0 must stay the batch
        assert exc is not None or tshape[0] != shape[0], msgs
        return
    assert bool(errs) == (exc is not None), (new, shape, msgs, exc)
    if not errs:
        assert out == tshape


@SETTINGS
@given(shape_st(0, 4), st.lists(st.integers(-4, 4), min_size=0, max_size=4))
def test_permute(shape, dims):
    agree("Permute", {"dims": dims}, [shape], fn=lambda x: x.permute(dims))


@SETTINGS
@given(shape_st(0, 4), st.integers(-4, 4), st.integers(-4, 4))
def test_transpose(shape, a, b):
    agree("Transpose", {"dim0": a, "dim1": b}, [shape], fn=lambda x: x.transpose(a, b))


@SETTINGS
@given(shape_st(0, 4), st.integers(-4, 4), st.integers(-6, 6))
def test_select(shape, d, i):
    agree("Select", {"dim": d, "index": i}, [shape], fn=lambda x: x.select(d, i))


@SETTINGS
@given(
    shape_st(0, 4),
    st.one_of(st.none(), st.integers(-4, 4), st.lists(st.integers(-4, 4), max_size=3)),
    st.booleans(),
    st.sampled_from(["float32", "long"]),
)
def test_mean(shape, dim, keep, dtype):
    fields: dict[str, Any] = {"keepdim": keep}
    if dim is not None:
        fields["dim"] = dim
    agree("Mean", fields, [shape], dtype=dtype, fn=lambda x: x.mean(dim=dim, keepdim=keep))


def test_reshape_batch_rule():
    """The DESIGN bug: view(-1, 392) on [4, 1568] silently makes a batch of 16."""
    errs, _, _, _, msgs = ac_check("Reshape", {"shape": [-1, 392]}, [(4, 1568)])
    assert errs == ["AC217"], msgs
    src = archcheck.spec.loader.load_text(
        json.dumps({"input": {"shape": ["N", 32, 7, 7]}, "layers": [{"type": "Reshape", "shape": ["N", -1]}]}), "t.json"
    )
    res = archcheck.engine.walk.check(archcheck.spec.schema.parse_spec(src))
    assert res.ok and res.layers[0].output.shape == ("N", 1568)
    src = archcheck.spec.loader.load_text(
        json.dumps({"input": {"shape": ["N", 32, 7, 7]}, "layers": [{"type": "Reshape", "shape": [-1, 392]}]}), "t.json"
    )
    res = archcheck.engine.walk.check(archcheck.spec.schema.parse_spec(src))
    assert [d.code for d in res.diagnostics if d.severity == "error"] == ["AC217"]
