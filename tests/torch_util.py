"""Shared helpers for comparing archcheck's shape rules with real torch modules.

``ac_run`` checks a one-layer spec with archcheck; ``torch_run`` builds the
``torch.nn`` module and runs it on a tiny real tensor; ``agree`` asserts they
agree: an error exactly when torch raises, otherwise the same output shape and
parameter count. Not a conftest: import it explicitly (``from torch_util import ...``).
"""

from __future__ import annotations

import json
import types
import warnings
from dataclasses import dataclass, field
from typing import Any

import archcheck.engine.walk
import archcheck.spec.loader
import archcheck.spec.schema
from archcheck.layers.base import REGISTRY

# Sizes that a spec may leave out and archcheck infers, with the input axis torch takes them from.
INFERRED = ("in_channels", "in_features", "num_features")


@dataclass
class AcOutcome:
    shape: tuple[int, ...] | None
    params: int | None
    errors: list[str]  # codes of error diagnostics
    warnings: list[str]  # codes of warnings
    layer: Any  # the resolved layer (inferred fields filled), or None
    messages: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


class EmptyOutput(Exception):
    """torch ran, but its output has a dim of size 0."""


@dataclass
class TorchOutcome:
    shape: tuple[int, ...] | None
    params: int | None
    exc: BaseException | None
    stage: str = ""  # "construct" or "forward" when exc is set

    @property
    def failed(self) -> bool:
        return self.exc is not None


def split_extra(extra: dict[str, Any] | None) -> tuple[str, dict[str, tuple[int, ...]]]:
    """An Example's ``extra``: ``dtype`` of the input, and further named inputs (``memory: shape``).

    A further input is a shape, or ``{"shape": ..., "dtype": ...}`` for another dtype than float32
    (MaxUnpool's int64 indices); ``extra_dtypes`` gives those dtypes.
    """
    extra = dict(extra or {})
    dtype = extra.pop("dtype", "float32")
    return dtype, {k: tuple(v["shape"] if isinstance(v, dict) else v) for k, v in extra.items()}


def extra_dtypes(extra: dict[str, Any] | None) -> dict[str, str]:
    return {k: v["dtype"] for k, v in (extra or {}).items() if isinstance(v, dict) and "dtype" in v}


def spec_text(type_: str, fields: dict[str, Any], shape: tuple[Any, ...], extra: dict[str, Any] | None = None) -> str:
    dtype, more = split_extra(extra)
    layer = {"name": "l0", "type": type_, **fields}
    if more:
        dts = extra_dtypes(extra)
        inputs = {"x": {"shape": list(shape), "dtype": dtype}} | {
            k: {"shape": list(v), **({"dtype": dts[k]} if k in dts else {})} for k, v in more.items()
        }
        data = {"name": "T", "inputs": inputs, "layers": [{**layer, "inputs": list(inputs)}]}
    else:
        data = {"name": "T", "input": {"shape": list(shape), "dtype": dtype}, "layers": [layer]}
    return json.dumps(data)


def ac_run(
    type_: str,
    fields: dict[str, Any],
    shape: tuple[Any, ...],
    *,
    symbolic: bool = False,
    extra: dict[str, Any] | None = None,
) -> AcOutcome:
    """Check a one-layer spec ``type_(**fields)`` on input ``shape`` with archcheck.

    ``shape`` may name free dims (``("N", 3, "H", "W")``) when ``symbolic``; ``extra`` is an
    Example's: the input's ``dtype`` and further named inputs.
    """
    src = archcheck.spec.loader.load_text(spec_text(type_, fields, shape, extra), "t.json")
    res = archcheck.engine.walk.check(archcheck.spec.schema.parse_spec(src))
    errs = [d.code for d in res.diagnostics if d.severity == "error"]
    warns = [d.code for d in res.diagnostics if d.severity == "warning"]
    msgs = [f"{d.severity} {d.code}: {d.message}" for d in res.diagnostics]
    lr = res.layers[0] if res.layers else None
    out = lr.output if lr is not None else None
    shp = tuple(out.shape) if out is not None else None
    if shp is not None and not symbolic:
        assert all(isinstance(d, int) for d in shp), f"symbolic output for a concrete input: {shp}"
    return AcOutcome(shp, lr.params if lr else None, errs, warns, lr.layer if lr else None, msgs)


# Fields that hold a layer (a module passed to the constructor), with the type they hold when the spec
# writes no ``type:`` in the mapping.
NESTED = {"encoder_layer": "TransformerEncoderLayer", "decoder_layer": "TransformerDecoderLayer", "norm": "LayerNorm"}


def _module_arg(key: str, v: Any) -> Any:
    """A nested layer (a spec mapping or a resolved layer) as the torch module it stands for."""
    from archcheck.layers.base import Layer

    if isinstance(v, Layer):
        return torch_module(type(v).__name__ if type(v).torch_name is None else type(v).torch_name[3:], v.ctor_args())
    if key in NESTED and isinstance(v, dict):
        rest = {k: w for k, w in v.items() if k != "type"}
        return torch_module(v.get("type", NESTED[key]), rest)
    return v


def torch_module(type_: str, kwargs: dict[str, Any]):
    import torch.nn as nn

    cls = REGISTRY.get(type_)
    if cls is not None and cls.module_source is not None:  # a class the generated file defines (StochasticDepth)
        return defined_class(cls.module_source)(**kwargs)
    name = cls.torch_name[3:] if cls is not None and cls.torch_name else type_
    return getattr(nn, name)(**{k: _module_arg(k, v) for k, v in kwargs.items()})


def defined_class(module_source: str):
    """The class a ``Layer.module_source`` defines (or the function a ``function_source`` does), as the
    generated file defines it (with torch and nn)."""
    import torch

    env: dict[str, Any] = {"torch": torch, "nn": torch.nn}
    exec(module_source, env)  # archcheck's own source text, as generated code holds it
    (name,) = (k for k in env if k not in ("torch", "nn", "__builtins__"))
    return env[name]


TORCH_DTYPES = {"long": "long", "int64": "long", "int32": "int32", "bool": "bool"}


def make_tensor(shape: tuple[int, ...], dtype: str = "float32"):
    """A real tensor: random floats, or zeros for integer dtypes (a valid index everywhere)."""
    import torch

    if dtype in TORCH_DTYPES:
        return torch.zeros(shape, dtype=getattr(torch, TORCH_DTYPES[dtype]))
    return torch.randn(shape, dtype=getattr(torch, dtype))


def torch_run(
    type_: str,
    kwargs: dict[str, Any],
    shape: tuple[int, ...],
    *,
    train: bool = True,
    extra: dict[str, Any] | None = None,
    device: str = "cpu",
) -> TorchOutcome:
    """Build ``nn.<type_>(**kwargs)`` and run it on a real tensor of ``shape`` (plus ``extra`` inputs).

    The module is called the way generated code calls it (the layer's ``emit_call``), so
    MultiheadAttention gets (x, x, x) and tuple outputs give their first item; a tensor
    operation (no torch module) is evaluated from its ``emit_call`` expression.
    """
    import torch
    import torch.nn.functional as F

    cls = REGISTRY[type_]
    dtype, more = split_extra(extra)
    names = list(kwargs.get("inputs") or ["x", *more])
    # ``self`` is the module whose forward the expression is in (an expression may read self.training)
    env: dict[str, Any] = {"torch": torch, "F": F, "nn": torch.nn, "self": types.SimpleNamespace(training=train)}
    if cls.function_source is not None:  # an operation torch lacks: the function the generated file defines
        fn = defined_class(cls.function_source)
        env[fn.__name__] = fn
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.device(device):
        warnings.simplefilter("ignore")
        params = 0
        if cls.torch_name is not None or cls.module_source is not None:
            try:
                m = torch_module(type_, {k: v for k, v in kwargs.items() if k not in cls.meta_fields})
            except Exception as e:  # noqa: BLE001 - any refusal counts
                return TorchOutcome(None, None, e, "construct")
            m.train(train)
            if dtype in ("float64", "float16", "bfloat16"):
                m.to(getattr(torch, dtype))  # a model run at that precision: model.double() etc.
            params = sum(p.numel() for p in m.parameters())
            env["m"] = m
        expr = cls.model_construct(**kwargs).emit_call("m" if "m" in env else None, names)
        env["x"] = make_tensor(shape, dtype)
        dts = extra_dtypes(extra)
        for k, v in more.items():
            env[k] = make_tensor(v, dts.get(k, "float32"))
        try:
            with torch.no_grad():
                y = eval(expr, env)  # generated-code expression, e.g. "m(x)" or "x.permute(0, 2, 1)"
        except Exception as e:  # noqa: BLE001
            return TorchOutcome(None, params, e, "forward")
    if isinstance(y, tuple):  # return_indices=True, RNNs: generated code keeps the first item
        y = y[0]
    if 0 in y.shape:
        # torch returns an empty tensor (e.g. ConvTranspose whose padding eats the whole output).
        # archcheck's dims are >= 1, so it reports this as an error: count it as a failure.
        shape = tuple(y.shape)  # kept: a test of empty tensors (AC222, AC224) compares it
        return TorchOutcome(shape, params, EmptyOutput(f"torch returned an empty tensor {shape}"), "empty")
    return TorchOutcome(tuple(y.shape), params, None)


def channel_axis(type_: str, shape: tuple[int, ...]) -> int | None:
    """The axis torch reads an inferred size from, computed independently of archcheck."""
    cls = REGISTRY[type_]
    if type_.startswith(("Conv", "ConvTranspose")):
        nd = cls.nd  # type: ignore[attr-defined]
        return len(shape) - nd - 1 if len(shape) in (nd + 1, nd + 2) else None
    if type_ == "Linear":
        return -1 if shape else None
    if type_.startswith("BatchNorm"):
        return 1 if len(shape) >= 2 else None
    return None


def torch_kwargs(type_: str, fields: dict[str, Any], shape: tuple[int, ...], layer: Any = None) -> dict[str, Any]:
    """``fields`` plus the inferred sizes torch needs: from the resolved layer when given,
    else from the input shape (or 1 when the input cannot supply one; torch then fails on rank)."""
    kw = dict(fields)
    cls = REGISTRY[type_]
    for f in INFERRED:
        if f in cls.model_fields and kw.get(f) is None:
            v = getattr(layer, f, None) if layer is not None else None
            if v is None:
                ax = channel_axis(type_, shape)
                v = shape[ax] if ax is not None else 1
            kw[f] = v
    if layer is not None:  # any other size the resolved layer inferred (input_size, normalized_shape, ...)
        from archcheck.layers.base import Layer

        for f, info in cls.model_fields.items():
            v = getattr(layer, f, None)
            if f not in kw and f not in cls.meta_fields and v is not None and info.default is None:
                kw[f] = v
            elif isinstance(v, Layer):  # a nested layer, with the sizes inferred inside it
                kw[f] = v
    return kw


def describe(
    type_: str, fields: dict[str, Any], shape: tuple[int, ...], ac: AcOutcome, th: TorchOutcome, dtype: str = "float32"
) -> str:
    t = f"raised at {th.stage}: {th.exc!r}" if th.exc else f"-> {th.shape}, params {th.params}"
    return (
        f"\n  layer: {type_}({fields}) on input {shape}{'' if dtype == 'float32' else ' of ' + dtype}"
        f"\n  archcheck: {ac.shape}, params {ac.params}, diagnostics {ac.messages}"
        f"\n  torch: {t}"
    )


def agree(
    type_: str, fields: dict[str, Any], shape: tuple[int, ...], dtype: str = "float32"
) -> tuple[AcOutcome, TorchOutcome]:
    """Assert that archcheck and torch agree on ``type_(**fields)`` applied to ``shape``.

    torch's inferred sizes are computed from the input shape here, not taken
    from archcheck, so a wrongly inferred size shows up as a disagreement.
    """
    extra = {"dtype": dtype}
    ac = ac_run(type_, fields, shape, extra=extra)
    kw = torch_kwargs(type_, fields, shape)
    th = torch_run(type_, kw, shape, extra=extra)
    if th.failed and not ac.failed and "AC211" in ac.warnings:
        # archcheck warned that training mode fails; the layer must then work in eval mode.
        th = torch_run(type_, kw, shape, train=False, extra=extra)
    if not ac.failed and "AC222" in ac.warnings:
        # An empty output: torch's CPU kernels return it for a batch > 1 or with groups; the plain
        # kernel, used for a batch of 1 (or an unbatched input) without groups, raises "too small".
        nd = getattr(REGISTRY[type_], "nd", 0)
        if (len(shape) == nd + 2 and shape[0] > 1) or kw.get("groups", 1) > 1:
            assert th.stage == "empty" and th.shape == ac.shape, "AC222 but not torch's empty output" + describe(
                type_, fields, shape, ac, th, dtype
            )
            assert ac.params == th.params, "parameter counts differ" + describe(type_, fields, shape, ac, th, dtype)
        else:
            assert th.failed and "too small" in str(th.exc), "AC222 for a batch of 1" + describe(
                type_, fields, shape, ac, th, dtype
            )
        return ac, th
    assert ac.failed == th.failed, ("archcheck reports an error" if ac.failed else "torch raised") + describe(
        type_, fields, shape, ac, th, dtype
    )
    if not ac.failed:
        assert ac.shape == th.shape, "output shapes differ" + describe(type_, fields, shape, ac, th, dtype)
        assert ac.params == th.params, "parameter counts differ" + describe(type_, fields, shape, ac, th, dtype)
        for f in INFERRED:
            if f in REGISTRY[type_].model_fields:
                assert getattr(ac.layer, f) == kw[f], f"inferred {f} differs" + describe(type_, fields, shape, ac, th)
    return ac, th


def agree_symbolic(type_: str, fields: dict[str, Any], shape: tuple[int, ...], nd: int) -> None:
    """The symbolic rule, evaluated at ``shape``, equals the concrete rule at ``shape``.

    The last ``nd`` dims (and a leading batch dim, when the input has one) become free
    dims; whenever the concrete check passes, the symbolic one must pass too and give the
    same shape and parameter count once the free dims are substituted.
    """
    from archcheck.shapes import dims as D

    conc = ac_run(type_, fields, shape)
    if conc.failed or len(shape) < nd:
        return
    names = ["D", "H", "W"][3 - nd :] if nd > 1 else ["L"]
    sym = list(shape)
    values = {}
    for i, nm in zip(range(len(shape) - nd, len(shape)), names, strict=True):
        sym[i], values[nm] = nm, shape[i]
    if len(shape) == nd + 2:
        sym[0], values["N"] = "N", shape[0]
    ac = ac_run(type_, fields, tuple(sym), symbolic=True)
    where = f"\n  layer: {type_}({fields}) on {tuple(sym)} with {values}\n  concrete: {conc.shape}\n  symbolic: {ac.shape} {ac.messages}"
    assert not ac.failed, "the symbolic check fails where the concrete one passes" + where
    assert ac.shape is not None
    got = tuple(D.substitute(d, values) for d in ac.shape)
    assert got == conc.shape, "the symbolic shape evaluates to another shape" + where
    assert ac.params == conc.params, "parameter counts differ" + where
