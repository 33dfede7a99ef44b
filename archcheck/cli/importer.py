"""`archcheck import`: an existing PyTorch ``nn.Module`` written as an archcheck spec.

The model class is loaded (which runs its module's code: importing Python does),
instantiated on the meta device, and each module whose ``forward`` archcheck
cannot read as one layer is traced with ``torch.fx`` with its children kept as
leaves. Every traced graph becomes a list of layers:

* a call of a torch.nn module archcheck knows: that layer type, named as the
  attribute (so the ``state_dict`` keys stay the same), its constructor
  arguments read back from the module (defaults left out) and checked by
  rebuilding the module from them and comparing ``repr`` and ``state_dict``;
* ``nn.Sequential``: a ``Sequential`` with the same items;
* a user-defined module: an instance of a block; the instances of one class
  that have the same structure share one block whose params are the values
  that differ between them (named after the class's ``__init__`` arguments
  where these match);
* functional calls and tensor methods (``F.relu``, ``+``, ``torch.cat``,
  ``x.view``, ``torch.flatten``, ``x.permute``, ``x.mean``, ...): the matching
  layer (``ReLU``, ``Add``, ``Concat``, ``Reshape``, ``Flatten``, ...);
* an ``nn.Parameter`` attribute used in ``forward`` (``self.class_token``): a
  ``Parameter`` layer of its shape (its values are not imported: the entry's
  comment and a note say so); ``x.expand(...)``: ``Expand`` (sizes, or the
  ``{inputs: [x, like]}`` form when a size is ``like.shape[0]``);
  ``x.chunk``/``x.split``: ``Chunk``/``Split``, whose items and those of any
  tuple output (an LSTM's ``(h, c)``, a block returning two values) are
  referenced as ``name.i`` (``lstm.1.0``);
* a module called again: ``{use: name}``; one Parameter under two paths
  (``lm_head.weight = wte.weight``): ``tie:``; a module whose parameters all
  have ``requires_grad`` False: ``trainable: false``.

Each written layer carries the Python line that defines its module (or makes
the call) as a YAML comment, and ``Imported.sites`` maps layer paths to them, so
a diagnostic leads back to the Python source. Anything archcheck cannot express
is collected and the import fails with that list (``ImportFailed``), rather than
writing a spec that says something else than the model. The written text is
read back with archcheck's own loader and compared with what was meant, checked,
and (when it checks ok) built and compared with the model: every module's
output shape on the meta device and every ``state_dict`` key and shape.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import linecache
import math
import operator
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ..layers.base import REGISTRY, Layer
from ..spec.schema import module_name_problem, name_problem

DTYPES = ("float32", "float64", "float16", "bfloat16", "long", "int64", "int32", "bool")
_SITE = "__site__"  # the key of an entry's source location (removed when written)
_NOTE = "__note__"  # a remark written after the source location in the entry's comment
_OUTPUTS = "__outputs__"  # how many outputs a block instance's entry has (while converting)
_HIDDEN = (_SITE, _NOTE, _OUTPUTS)


class ImportFailed(Exception):
    """The model cannot be imported: ``problems`` says why (``code`` 2: a usage error)."""

    def __init__(self, problems: list[str], code: int = 1) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.code = code


@dataclass
class InputArg:
    """One ``--input-shape``: ``[NAME=]D,D,...[:DTYPE]``."""

    name: str | None
    shape: list[int | str]
    dtype: str = "float32"


def parse_input_shape(text: str) -> InputArg:
    """``N,1,28,28``, ``image=N,3,224,224`` or ``tokens=N,32:long``."""
    name: str | None = None
    body = text.strip()
    if "=" in body:
        name, _, body = body.partition("=")
        name = name.strip()
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not an argument name of forward()")
    dtype = "float32"
    if ":" in body:
        body, _, dtype = body.rpartition(":")
        dtype = dtype.strip()
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    shape: list[int | str] = []
    for part in body.split(","):
        p = part.strip()
        if re.fullmatch(r"[0-9]+", p) and int(p) >= 1:
            shape.append(int(p))
        elif p.isidentifier() and p.isascii():
            shape.append(p)
        else:
            raise ValueError(f"{p!r} in {text!r} is neither a size >= 1 nor a dim name such as N")
    return InputArg(name, shape, dtype)


# ------------------------------------------------------------------ loading the class


def load_class(target: str) -> tuple[Any, str | None]:
    """The class named by ``path/model.py:Class`` or ``package.module:Class``, and its file."""
    import torch.nn as nn

    mod_part, sep, cls_part = target.rpartition(":")
    if not sep or not mod_part or not cls_part:
        raise ImportFailed([f"expected FILE.py:Class or package.module:Class, got {target!r}"], 2)
    is_file = mod_part.endswith(".py") or os.sep in mod_part or "/" in mod_part
    if is_file:
        path = FsPath(mod_part)
        if not path.is_file():
            raise ImportFailed([f"{mod_part}: no such file"], 2)
        modname = "archcheck_import_" + re.sub(r"\W", "_", path.stem)
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            raise ImportFailed([f"{mod_part}: not a Python file"], 2)
        module = importlib.util.module_from_spec(spec)
        folder = str(path.resolve().parent)
        sys.path.insert(0, folder)  # the model's sibling modules import as they would when run
        sys.modules[modname] = module
        try:
            loader = spec.loader
            _user(lambda: loader.exec_module(module), f"importing {mod_part}")
        finally:
            if folder in sys.path:
                sys.path.remove(folder)
    else:
        if not all(p.isidentifier() for p in mod_part.split(".")):
            raise ImportFailed([f"{mod_part!r} is not a module name (or give a path ending in .py)"], 2)
        cwd = os.getcwd()
        added = cwd not in sys.path and "" not in sys.path
        if added:  # as `python -m` would: the current directory first
            sys.path.insert(0, cwd)
        try:
            module = _user(lambda: importlib.import_module(mod_part), f"importing {mod_part}")
        except ImportFailed as e:
            if f"No module named '{mod_part.split('.')[0]}'" in str(e):
                raise ImportFailed([f"no module named {mod_part!r} (is it installed, or on PYTHONPATH?)"], 2) from e
            raise
        finally:
            if added and cwd in sys.path:
                sys.path.remove(cwd)
    obj: Any = module
    for part in cls_part.split("."):
        if not hasattr(obj, part):
            where = getattr(module, "__file__", mod_part)
            found = sorted(
                n
                for n, v in vars(module).items()
                if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__
            )
            hint = f" (nn.Module classes there: {', '.join(found)})" if found else ""
            raise ImportFailed([f"{where} has no {cls_part!r}{hint}"], 2)
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ImportFailed([f"{cls_part} is not an nn.Module class"], 2)
    return obj, getattr(module, "__file__", None)


def _user(fn: Any, what: str) -> Any:
    """Run user code; an exception becomes a problem naming the user's line."""
    try:
        return fn()
    except ImportFailed:
        raise
    except Exception as e:
        raise ImportFailed([f"{what} raised {type(e).__name__}: {_one_line(str(e))}{_user_frame(e)}"]) from e


def _one_line(s: str, limit: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _user_frame(e: BaseException) -> str:
    """' (at model.py:12)': the innermost traceback frame outside torch and archcheck."""
    import traceback

    here = os.path.dirname(os.path.abspath(__file__))
    best = None
    for fr in traceback.extract_tb(e.__traceback__):
        f = os.path.abspath(fr.filename)
        if f.startswith((here, "<")) or "/torch/" in f:
            continue
        best = fr
    return f" (at {show_path(best.filename)}:{best.lineno})" if best is not None else ""


def _printable(s: str) -> str:
    return s if all(c.isprintable() for c in s) else json.dumps(s, ensure_ascii=True)[1:-1]


def show_path(path: str) -> str:
    """A path for a comment or a message: relative to the current directory when under it; printable."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    p = rel if not rel.startswith("..") else path
    if not all(c.isprintable() for c in p) or "#" in p:
        p = json.dumps(p, ensure_ascii=True)[1:-1]
    return p


# ------------------------------------------------------------------ where modules are made


@dataclass
class _Made:
    site: tuple[str, int] | None = None  # the line that constructs the module
    args: dict[str, Any] = field(default_factory=dict)  # the user class's __init__ arguments


@contextmanager
def _record_construction(made: dict[int, _Made]) -> Iterator[None]:
    """While active, every nn.Module made records its construction line and its __init__ arguments."""
    import torch.nn as nn

    orig = nn.Module.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        rec = made.setdefault(id(self), _Made())
        f = sys._getframe(1)
        init_frame = None
        while f is not None and f.f_code.co_name == "__init__" and f.f_locals.get("self") is self:
            init_frame = f
            f = f.f_back  # type: ignore[assignment]
        if init_frame is not None:
            info = inspect.getargvalues(init_frame)
            for n in info.args[1:]:
                v = info.locals.get(n)
                if isinstance(v, (bool, int, float, str)):
                    rec.args[n] = v
        if f is not None:
            rec.site = (f.f_code.co_filename, f.f_lineno)

    nn.Module.__init__ = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.__init__ = orig  # type: ignore[method-assign]


def instantiate(cls: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[int, _Made]]:
    """``cls(**kwargs)`` on the meta device (no memory for weights, never the CPU), with construction sites."""
    import torch

    made: dict[int, _Made] = {}

    def make() -> Any:
        with torch.device("meta"):
            return cls(**kwargs)

    with _record_construction(made):
        model = _user(make, f"{cls.__name__}(**{kwargs!r}) on the meta device")
    return model.eval(), made


# ------------------------------------------------------------------ fields of a known module


def _norm(v: Any) -> Any:
    """torch's attribute value as a spec value: tuples as lists, a tuple of one repeated int as the int."""
    import torch

    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, (tuple, list)):
        items = [_norm(x) for x in v]
        return items
    if isinstance(v, torch.dtype):
        return None
    return v


def _collapsed(v: Any) -> Any:
    if (
        isinstance(v, list)
        and v
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        and len(set(v)) == 1
    ):
        return v[0]
    return v


def _extract(m: Any, fname: str) -> tuple[bool, Any]:
    """(found, value) of constructor argument ``fname`` of module ``m``."""
    import torch
    import torch.nn.functional as F

    t = type(m).__name__
    if t.startswith("Transformer") and t.endswith("Layer"):
        mapping = {
            "d_model": lambda: m.linear1.in_features,
            "nhead": lambda: m.self_attn.num_heads,
            "dim_feedforward": lambda: m.linear1.out_features,
            "dropout": lambda: m.dropout.p,
            "layer_norm_eps": lambda: m.norm1.eps,
            "batch_first": lambda: m.self_attn.batch_first,
            "norm_first": lambda: m.norm_first,
            "bias": lambda: m.linear1.bias is not None,
            "activation": lambda: {F.relu: "relu", F.gelu: "gelu"}.get(m.activation, m.activation),
        }
        if fname in mapping:
            return True, mapping[fname]()
    if t == "ShiftedWindowAttention":  # its biases are its Linears'; dim is their size (archcheck infers it)
        mapping = {
            "dim": lambda: m.qkv.in_features,
            "qkv_bias": lambda: m.qkv.bias is not None,
            "proj_bias": lambda: m.proj.bias is not None,
        }
        if fname in mapping:
            return True, mapping[fname]()
    if t == "MultiheadAttention":
        if fname == "bias":
            return True, m.in_proj_bias is not None
        if fname == "add_bias_kv":
            return True, m.bias_k is not None
        if fname in ("kdim", "vdim"):
            return True, getattr(m, fname)
    if not hasattr(m, fname):
        return False, None
    v = getattr(m, fname)
    if fname == "bias" and (v is None or isinstance(v, torch.Tensor)):
        return True, v is not None
    if isinstance(v, (torch.Tensor, torch.nn.Module)) or callable(v):
        return False, None
    return True, _norm(v)


def known_layer(m: Any) -> type[Layer] | None:
    """The archcheck layer type of a torch.nn module, if it is one archcheck knows (exactly that class)."""
    import torch.nn as nn

    name = type(m).__name__
    if name not in REGISTRY:
        return None
    if getattr(nn, name, None) is type(m):
        return REGISTRY[name]
    if getattr(nn, name, None) is None and _borrowed(type(m)):
        return REGISTRY[name]  # torchvision's LayerNorm2d, StochasticDepth (or archcheck's generated copy)
    return None


def _defined_functions(mod: Any) -> list[Any]:
    """The functions archcheck's generated file defines (``Layer.function_source``: ``patch_merging_pad``)
    that ``mod``'s forward can call: torch.fx keeps them as calls (its leaves), not traced into."""
    from ..emit.codegen.names import class_name

    fn_globals = getattr(type(mod).forward, "__globals__", {})
    out = []
    for cls in REGISTRY.values():
        if cls.function_source is None:
            continue
        f = fn_globals.get(class_name(cls.function_source))
        if inspect.isfunction(f) and _defined_function_op(f) is not None:
            out.append(f)
    return out


def _defined_function_op(f: Any) -> _Op | None:
    """The layer of a function named as a ``Layer.function_source`` defines, in a file archcheck generated."""
    from ..emit.codegen.names import class_name

    if not inspect.isfunction(f):
        return None
    for cls in REGISTRY.values():
        if cls.function_source is not None and f.__name__ == class_name(cls.function_source):
            doc = getattr(sys.modules.get(f.__module__ or ""), "__doc__", None) or ""
            if "generated by archcheck" in doc:
                return _Op(cls.type_name())
    return None


def _borrowed(cls: type) -> bool:
    """Whether a class named as an archcheck type that torch.nn lacks is that type: torchvision's own,
    or the copy archcheck's generated code defines (its module says it was generated by archcheck)."""
    mod = cls.__module__ or ""
    if mod.startswith("torchvision."):
        return True
    doc = getattr(sys.modules.get(mod), "__doc__", None) or ""
    return "generated by archcheck" in doc


def module_fields(m: Any, cls: type[Layer]) -> tuple[dict[str, Any] | None, str | None]:
    """The spec fields of module ``m`` (defaults left out), or None and why not."""
    import torch

    values: dict[str, Any] = {}
    for fname in cls.field_order():
        if fname in cls.meta_fields:
            continue
        found, v = _extract(m, fname)
        if not found:
            if cls.model_fields[fname].is_required():
                return None, f"its constructor argument {fname!r} cannot be read back from the module"
            continue
        values[fname] = v
    tried: list[str] = []
    for layer in _candidates(cls, values):
        args = layer.ctor_args()
        # Rebuilt from these arguments, the module must be the same one.
        try:
            with torch.device("meta"):
                rebuilt = type(m)(**args)
        except Exception as e:
            tried.append(f"rebuilding it from {_short(args)} failed ({type(e).__name__}: {_one_line(str(e), 120)})")
            continue
        if _module_state(rebuilt) == _module_state(m):
            return args, None
        tried.append(f"rebuilt from {_short(args)} it is {_one_line(repr(rebuilt), 120)}")
    if not tried:
        return None, f"its arguments {_short(values)} are not valid archcheck values"
    return None, f"its arguments cannot be read back exactly ({tried[-1]})"


def _module_state(m: Any) -> Any:
    """What makes two modules the same: types, plain attributes (1 and (1, 1) alike), state_dict shapes."""
    out: list[Any] = []
    for name, sub in m.named_modules():
        attrs = {
            k: _collapsed(_norm(v))
            for k, v in vars(sub).items()
            if not k.startswith("_")
            and k != "training"
            and isinstance(v, (bool, int, float, str, tuple, list, type(None)))
        }
        out.append((name, type(sub).__name__, sorted(attrs.items(), key=lambda kv: kv[0])))
    out.append(sorted((k, tuple(v.shape)) for k, v in m.state_dict().items()))
    return repr(out)


def _candidates(cls: type[Layer], values: dict[str, Any]) -> Iterator[Layer]:
    """The layer with these values: (5, 5) collapsed to 5 first, then as given."""
    from pydantic import ValidationError

    seen = []
    for attempt in ({k: _collapsed(v) for k, v in values.items()}, values):
        if attempt in seen:
            continue
        seen.append(attempt)
        try:
            yield cls.model_validate(attempt)
        except ValidationError:
            continue
    layer = _validated(cls, values)
    if layer is not None:
        yield layer


def _validated(cls: type[Layer], values: dict[str, Any]) -> Layer | None:
    """The layer with these values, collapsing (5, 5) to 5 where the field takes an int."""
    from pydantic import ValidationError

    for attempt in (
        {k: _collapsed(v) for k, v in values.items()},
        values,
    ):
        try:
            return cls.model_validate(attempt)
        except ValidationError:
            continue
    # field by field: collapse only where that validates
    out = dict(values)
    for k, v in values.items():
        c = _collapsed(v)
        if c is not v:
            try:
                cls.model_validate({**out, k: c})
                out[k] = c
            except ValidationError:
                pass
    try:
        return cls.model_validate(out)
    except ValidationError:
        return None


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


# ------------------------------------------------------------------ functional calls and tensor methods


@dataclass(frozen=True)
class _Op:
    type: str
    args: tuple[str, ...] = ()  # positional names after the input
    ignore: tuple[str, ...] = ()  # accepted arguments that are not fields (training, inplace, ...)
    defaults: tuple[tuple[str, Any], ...] = ()  # the function's defaults where they differ from the layer's
    merge: bool = False  # all tensor arguments are inputs (Add, Multiply)


def _op_table() -> tuple[dict[Any, _Op], dict[str, _Op]]:
    import torch
    import torch.nn.functional as F

    act = {
        "relu": ("ReLU", ("inplace",)),
        "relu6": ("ReLU6", ("inplace",)),
        "elu": ("ELU", ("alpha", "inplace")),
        "selu": ("SELU", ("inplace",)),
        "gelu": ("GELU", ("approximate",)),
        "silu": ("SiLU", ("inplace",)),
        "mish": ("Mish", ("inplace",)),
        "hardswish": ("Hardswish", ("inplace",)),
        "hardsigmoid": ("Hardsigmoid", ("inplace",)),
        "hardtanh": ("Hardtanh", ("min_val", "max_val", "inplace")),
        "leaky_relu": ("LeakyReLU", ("negative_slope", "inplace")),
        "softplus": ("Softplus", ("beta", "threshold")),
        "sigmoid": ("Sigmoid", ()),
        "tanh": ("Tanh", ()),
        "softmax": ("Softmax", ("dim", "_stacklevel", "dtype")),
        "log_softmax": ("LogSoftmax", ("dim", "_stacklevel", "dtype")),
    }
    funcs: dict[Any, _Op] = {}
    for fname, (t, args) in act.items():
        op = _Op(t, args, ignore=("_stacklevel",))
        if hasattr(F, fname):
            funcs[getattr(F, fname)] = op
        if hasattr(torch, fname):
            funcs[getattr(torch, fname)] = _Op(t, tuple(a for a in args if a in ("dim",)))
    for d in ("", "1d", "2d", "3d"):
        if hasattr(F, f"dropout{d}"):
            funcs[getattr(F, f"dropout{d}")] = _Op(f"Dropout{d}", ("p", "training", "inplace"), ignore=("training",))
    for n in ("1d", "2d", "3d"):
        funcs[getattr(F, f"max_pool{n}")] = _Op(
            f"MaxPool{n}", ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        )
        funcs[getattr(F, f"avg_pool{n}")] = _Op(
            f"AvgPool{n}",
            ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")[
                : 6 if n != "1d" else 5
            ],
        )
        funcs[getattr(F, f"adaptive_avg_pool{n}")] = _Op(f"AdaptiveAvgPool{n}", ("output_size",))
        funcs[getattr(F, f"adaptive_max_pool{n}")] = _Op(f"AdaptiveMaxPool{n}", ("output_size", "return_indices"))
    funcs[F.pixel_shuffle] = _Op("PixelShuffle", ("upscale_factor",))
    funcs[F.pixel_unshuffle] = _Op("PixelUnshuffle", ("downscale_factor",))
    funcs[F.interpolate] = _Op(
        "Upsample",
        ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
        ignore=("recompute_scale_factor", "antialias"),
    )
    flat = _Op("Flatten", ("start_dim", "end_dim"), defaults=(("start_dim", 0),))
    funcs[torch.flatten] = flat
    for f in (operator.add, operator.iadd, torch.add):
        funcs[f] = _Op("Add", merge=True)
    for f in (operator.mul, operator.imul, torch.mul):
        funcs[f] = _Op("Multiply", merge=True)
    for f in (operator.sub, operator.isub, torch.sub):
        funcs[f] = _Op("Subtract", merge=True)
    for f in (operator.truediv, operator.itruediv, torch.div):
        funcs[f] = _Op("Divide", merge=True)
    for f in (operator.matmul, torch.matmul):
        funcs[f] = _Op("MatMul", merge=True)
    for f in (operator.pow, torch.pow):
        funcs[f] = _Op("Arith", merge=True)
    funcs[torch.sum] = _Op("Sum", ("dim", "keepdim"))
    funcs[torch.squeeze] = _Op("Squeeze", ("dim",))
    funcs[torch.unsqueeze] = _Op("Unsqueeze", ("dim",))
    for f in (torch.cat, torch.concat, torch.concatenate):
        funcs[f] = _Op("Concat", ("dim",))
    funcs[torch.permute] = _Op("Permute", ("dims",))
    funcs[torch.transpose] = _Op("Transpose", ("dim0", "dim1"))
    funcs[torch.mean] = _Op("Mean", ("dim", "keepdim"))
    funcs[torch.select] = _Op("Select", ("dim", "index"))
    funcs[torch.reshape] = _Op("Reshape", ("shape",))
    methods: dict[str, _Op] = {
        "relu": _Op("ReLU"),
        "relu_": _Op("ReLU"),
        "sigmoid": _Op("Sigmoid"),
        "tanh": _Op("Tanh"),
        "softmax": _Op("Softmax", ("dim",)),
        "log_softmax": _Op("LogSoftmax", ("dim",)),
        "flatten": flat,
        "add": _Op("Add", merge=True),
        "add_": _Op("Add", merge=True),
        "mul": _Op("Multiply", merge=True),
        "mul_": _Op("Multiply", merge=True),
        "sub": _Op("Subtract", merge=True),
        "div": _Op("Divide", merge=True),
        "matmul": _Op("MatMul", merge=True),
        "pow": _Op("Arith", merge=True),
        "sum": _Op("Sum", ("dim", "keepdim")),
        "squeeze": _Op("Squeeze", ("dim",)),
        "unsqueeze": _Op("Unsqueeze", ("dim",)),
        "permute": _Op("Permute", ("dims",)),
        "transpose": _Op("Transpose", ("dim0", "dim1")),
        "mean": _Op("Mean", ("dim", "keepdim")),
        "select": _Op("Select", ("dim", "index")),
        "unflatten": _Op("Unflatten", ("dim", "unflattened_size")),
        "view": _Op("Reshape", ("shape",)),
        "reshape": _Op("Reshape", ("shape",)),
    }
    return funcs, methods


_PASS_METHODS = {"contiguous", "clone", "detach"}


# ------------------------------------------------------------------ the conversion


@dataclass
class _Instance:
    """One user-defined module, converted; its entries in parents get the block's type and params."""

    cls: type
    path: str
    module: Any
    body: dict[str, Any]  # {"inputs": [...], "output": name | None, "layers": [...]}
    entries: list[dict[str, Any]] = field(default_factory=list)  # the entries that instantiate it
    block: str | None = None


@dataclass
class Imported:
    """What ``import_model`` made: the spec's text and data, and where each layer comes from."""

    text: str
    data: dict[str, Any]
    sites: dict[str, str]  # layer path -> "model.py:27"
    model: Any
    input_values: list[dict[str, int]]  # the free dims' values of the trial runs
    run_error: str | None = None  # torch's error running the model, if it has one
    file: str | None = None  # the model's Python file
    notes: list[str] = field(default_factory=list)  # what the spec leaves out (a Parameter's values)


class _Converter:
    def __init__(self, model: Any, made: dict[int, _Made], inputs: list[InputArg], dims: dict[str, int]) -> None:
        self.model = model
        self.made = made
        self.problems: list[str] = []
        self.notes: list[str] = []  # what the spec cannot say (a Parameter's values), told but not refused
        self.params_seen: list[tuple[str, list[int]]] = []  # (path, shape) of every Parameter layer written
        self.instances: list[_Instance] = []
        self.sites: dict[str, str] = {}
        self.funcs, self.methods = _op_table()
        self.inputs = inputs
        self.dims = dims
        self.calls: dict[int, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}  # id(module) -> [(args, kwargs)]
        self.runs: list[dict[str, int]] = []
        self.run_error: str | None = None
        self.root_args: list[tuple[Any, ...]] = []
        self.qualname = {id(m): n for n, m in model.named_modules(remove_duplicate=False)}
        # Tied weights: one Parameter under several paths; each later path is tied to the first (as torch counts it).
        holders: dict[int, list[str]] = {}
        for pname, p in model.named_parameters(remove_duplicate=False):
            holders.setdefault(id(p), []).append(pname)
        self.tied = {q: paths[0] for paths in holders.values() for q in paths[1:]}
        self.scope: list[str] = []  # the paths of the user modules being traced (a tie's path is relative to it)
        self.training_only = 0  # how many of the model's last outputs it returns only in training

    # ---- problems and sites

    def problem(self, where: str, what: str) -> None:
        msg = f"{where}: {what}" if where else what
        if msg not in self.problems:
            self.problems.append(msg)

    def module_site(self, m: Any) -> str | None:
        rec = self.made.get(id(m))
        if rec is None or rec.site is None:
            return None
        return f"{show_path(rec.site[0])}:{rec.site[1]}"

    @staticmethod
    def node_site(node: Any) -> str | None:
        st = getattr(node, "stack_trace", None) or ""
        found = re.findall(r'File "([^"]+)", line (\d+)', st)
        for fname, line in reversed(found):
            if "/torch/" not in fname:
                return f"{show_path(fname)}:{line}"
        return None

    # ---- trial runs: the inputs of every module call, for the values of x.size(0) and the like

    def trial_runs(self, placeholders: list[str]) -> None:
        import torch

        by_name = {a.name: a for a in self.inputs if a.name}
        unnamed = [a for a in self.inputs if not a.name]
        chosen: dict[str, InputArg] = {}
        for p in placeholders:
            if p in by_name:
                chosen[p] = by_name.pop(p)
            elif unnamed:
                chosen[p] = unnamed.pop(0)
        if by_name:
            raise ImportFailed(
                [f"--input-shape names {', '.join(sorted(by_name))}, but forward() takes {', '.join(placeholders)}"], 2
            )
        missing = [p for p in placeholders if p not in chosen]
        if missing:
            raise ImportFailed(
                [
                    f"forward() takes {', '.join(placeholders)}: give a shape for {', '.join(missing)} "
                    f"with --input-shape {missing[0]}=N,..."
                ],
                2,
            )
        self.chosen = chosen
        free = []
        for a in chosen.values():
            for d in a.shape:
                if isinstance(d, str) and d not in free:
                    free.append(d)
        base = {d: self.dims.get(d, 2 if d == "N" else 0) for d in free}
        lacking = [d for d, v in base.items() if not v]
        if lacking:
            raise ImportFailed(
                [
                    f"give the free dim{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} a size the model accepts "
                    f"for the trial run, e.g. --dim {lacking[0]}=224"
                ],
                2,
            )
        second = {d: (v + 1 if d == "N" else 2 * v) for d, v in base.items()}
        dtypes = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                  "bfloat16": torch.bfloat16, "long": torch.long, "int64": torch.long, "int32": torch.int32,
                  "bool": torch.bool}  # fmt: skip
        for values in (base, second) if free else (base,):
            args = tuple(
                torch.zeros(
                    [values[d] if isinstance(d, str) else d for d in a.shape], dtype=dtypes[a.dtype], device="meta"
                )
                for a in chosen.values()
            )
            calls: dict[int, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}

            def pre(mod: Any, a: tuple[Any, ...], kw: dict[str, Any], calls: Any = calls) -> None:
                calls.setdefault(id(mod), []).append((a, kw))

            handles = [m.register_forward_pre_hook(pre, with_kwargs=True) for m in self.model.modules()]
            try:
                with torch.no_grad():
                    self.model(*args)
            except Exception as e:
                if values is not base:
                    break  # the second run (other sizes) is optional
                # A model with a shape error: the spec will show it (the run's values stop there).
                self.run_error = (
                    f"torch raised {type(e).__name__} running the model with inputs {_shapes(args)}: "
                    f"{_one_line(str(e))}{_user_frame(e)}"
                )
                self.runs.append(values)
                self.root_args.append(args)
                for k, v in calls.items():
                    self.calls.setdefault(k, []).append(v[0])
                break
            finally:
                for h in handles:
                    h.remove()
            self.runs.append(values)
            self.root_args.append(args)
            for k, v in calls.items():
                self.calls.setdefault(k, []).append(v[0])  # the first call of each module, per run

    # ---- one module

    def convert_root(self) -> dict[str, Any]:
        placeholders = [
            p.name
            for p in inspect.signature(self.model.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is inspect.Parameter.empty
        ]
        self.trial_runs(placeholders)
        body = self.trace(self.model, "", list(self.chosen))
        return body

    def trace(self, mod: Any, path: str, arg_names: list[str] | None = None) -> dict[str, Any]:
        """The body ({inputs, layers, output(s)}) of a user-defined module, traced with torch.fx."""
        import torch.fx as fx

        conv = self

        class Tracer(fx.Tracer):
            def is_leaf_module(self, m: Any, qualname: str) -> bool:
                return True

            def proxy(self, node: Any) -> Any:
                return _SizedProxy(node, self)

            def iter(self, obj: Any) -> Iterator[Any]:
                # `*x.shape[1:]`: fx cannot know the length; the first trial run's value tells it
                n = conv.length_in_run(mod, self.graph, obj.node)
                if n is None:
                    return super().iter(obj)
                return (obj[i] for i in range(n))

        class _SizedProxy(fx.Proxy):
            def __len__(self) -> int:
                n = conv.length_in_run(mod, self.tracer.graph, self.node)
                if n is None:
                    return super().__len__()
                return n

        tracer = Tracer(autowrap_functions=tuple(_defined_functions(mod)))
        tracer.record_stack_traces = True
        where = path or type(mod).__name__
        concrete: dict[str, Any] = {}
        sig = inspect.signature(mod.forward)
        n_pos = 0
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                self.problem(where, f"forward() takes *{p.name}: archcheck needs named inputs")
                return {"inputs": [], "layers": []}
            if p.default is not inspect.Parameter.empty:
                concrete[p.name] = p.default
            else:
                n_pos += 1
        self.scope.append(path)
        try:
            return self._trace(mod, path, tracer, concrete)
        finally:
            self.scope.pop()

    def _trace(self, mod: Any, path: str, tracer: Any, concrete: dict[str, Any]) -> dict[str, Any]:
        import torch.fx as fx

        try:
            graph = tracer.trace(mod, concrete_args=concrete or None)
            if not path:
                graph = self.training_graph(mod, tracer, concrete, graph)
        except Exception as e:
            reason = (
                f"{type(mod).__name__}.forward cannot be traced by torch.fx ({type(e).__name__}: "
                f"{_one_line(str(e), 200)}){_user_frame(e)}"
            )
            return self.trace_by_hooks(mod, path, reason)
        try:
            gm = fx.GraphModule(mod, graph)
        except Exception:  # fx cannot write the graph as Python (e.g. a module named "a\nb"): no values
            values: list[dict[Any, Any]] = []
        else:
            values = self.evaluate(gm, mod)
        return _GraphConverter(self, mod, path, graph, values).convert()

    def training_graph(self, mod: Any, tracer: Any, concrete: dict[str, Any], graph: Any) -> Any:
        """The root traced in training mode when it returns more there (GoogLeNet's, Inception's aux heads).

        The eval-mode outputs must come first; the others are written ``training_only: true``.
        Only the root's own ``self.training`` is set: its modules stay as they are.
        """
        try:
            src = inspect.getsource(type(mod).forward)
        except (OSError, TypeError):
            return graph
        if "self.training" not in src:
            return graph
        mod.training = True
        try:
            train = tracer.trace(mod, concrete_args=concrete or None)
        except Exception:
            return graph
        finally:
            mod.training = False

        def outs(g: Any) -> list[str]:
            out = next(n for n in g.nodes if n.op == "output").args[0]
            return [str(o) for o in (out if isinstance(out, (tuple, list)) else [out])]

        e, t = outs(graph), outs(train)
        if len(t) <= len(e):
            return graph
        if t[: len(e)] != e:
            self.problem(
                type(mod).__name__,
                f"forward() returns ({', '.join(e)}) in eval mode but ({', '.join(t)}) in training: archcheck's "
                "training-only outputs come after the others",
            )
            return graph
        self.training_only = len(t) - len(e)
        return train

    def length_in_run(self, mod: Any, graph: Any, target: Any) -> int | None:
        """The length of ``target``'s value (a shape, a tuple) in the first trial run, from the graph so far."""
        import torch
        import torch.fx as fx

        calls = self.calls.get(id(mod), [])
        if not calls:
            return None
        args, kwargs = calls[0]
        part = fx.Graph()
        env: dict[Any, Any] = {}
        for n in graph.nodes:
            env[n] = part.node_copy(n, lambda a: env[a])
            if n is target:
                break
        part.output(env[target])
        # Run outside the tracing in progress: fx patches nn.Module.__call__ while it traces.
        st = fx._symbolic_trace
        patcher, flag = getattr(st, "CURRENT_PATCHER", None), getattr(st, "_is_fx_tracing_flag", False)
        if patcher is not None:
            patcher.revert_all_patches()
        st._is_fx_tracing_flag = False
        try:
            with torch.no_grad():
                v = fx.Interpreter(fx.GraphModule(mod, part)).run(*args, *kwargs.values())
        except Exception:
            return None
        finally:
            st._is_fx_tracing_flag = flag
            if patcher is not None:
                patcher.reapply_all_patches()
        return len(v) if isinstance(v, (tuple, list)) else None

    def trace_by_hooks(self, mod: Any, path: str, reason: str) -> dict[str, Any]:
        """Where torch.fx fails (control flow on shapes, say): a meta-device run with forward hooks.

        The children's calls are wired by tensor identity. That is exact only when
        ``forward`` computes nothing itself between its modules, so any torch
        operation outside the children (seen by a TorchFunctionMode) fails the
        import with the fx error and the operations' names.
        """
        import torch
        from torch.overrides import TorchFunctionMode

        where = path or type(mod).__name__
        calls = self.calls.get(id(mod), [])
        if not calls:
            self.problem(where, reason)
            return {"inputs": [], "layers": []}
        args, kwargs = calls[0]
        depth = [0]
        ops: list[str] = []
        seen: list[tuple[str, Any, list[Any], Any]] = []
        harmless = {"size", "dim", "__get__", "numel", "__len__", "ndimension"}

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, a: Any = (), kw: Any = None) -> Any:
                if depth[0] == 0:
                    name = getattr(func, "__name__", str(func))
                    if name not in harmless and name not in ops:
                        ops.append(name)
                return func(*a, **(kw or {}))

        def pre(m: Any, a: Any, name: str = "") -> None:
            if depth[0] == 0:
                seen.append((name, m, [x for x in a if isinstance(x, torch.Tensor)], None))
            depth[0] += 1

        def post(m: Any, a: Any, out: Any, name: str = "") -> None:
            depth[0] -= 1
            if depth[0] == 0:
                for i in range(len(seen) - 1, -1, -1):
                    if seen[i][1] is m and seen[i][3] is None:
                        seen[i] = (seen[i][0], m, seen[i][2], out)
                        break

        handles = []
        for name, child in mod.named_children():
            handles.append(child.register_forward_pre_hook(lambda m, a, name=name: pre(m, a, name)))
            handles.append(child.register_forward_hook(lambda m, a, o, name=name: post(m, a, o, name)))
        try:
            with torch.no_grad(), Mode():
                result = mod(*args, **kwargs)
        except Exception as e:
            self.problem(where, f"{reason}; running it raised {type(e).__name__}: {_one_line(str(e), 120)}")
            return {"inputs": [], "layers": []}
        finally:
            for h in handles:
                h.remove()
        if ops:
            self.problem(
                where,
                f"{reason}; and a run shows operations in forward() between its modules "
                f"({', '.join(ops[:8])}) that module hooks cannot place",
            )
            return {"inputs": [], "layers": []}
        params = [
            p.name
            for p in inspect.signature(mod.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ][: len(args)]
        producer: dict[int, str] = {}
        inputs: list[str] = []
        for pname, a in zip(params, args):
            if isinstance(a, torch.Tensor):
                producer[id(a)] = pname
                inputs.append(pname)
        layers: list[dict[str, Any]] = []
        prefix = path + "." if path else ""
        last = inputs[0] if inputs else None
        used: set[str] = set()
        taken = set(dict(mod.named_children())) | set(inputs)
        for name, child, ins, out in seen:
            if any(id(x) not in producer for x in ins):
                self.problem(where, f"{reason}; and self.{name}'s input is not the output of a module or an input")
                return {"inputs": inputs, "layers": []}
            in_names = [producer[id(x)] for x in ins]
            lname = name
            if name in used:  # called again: `use:` (one module, its weights shared)
                i = 1
                while f"{name}_call{i}" in taken:
                    i += 1
                lname = f"{name}_call{i}"
                taken.add(lname)
                again: dict[str, Any] = {"name": lname, "use": name}
                if not (len(in_names) == 1 and in_names[0] == last):
                    again["inputs"] = in_names
                layers.append(again)
                first = out[0] if isinstance(out, (tuple, list)) and out else out
                if isinstance(first, torch.Tensor):
                    producer[id(first)] = lname
                last = lname
                continue
            elif module_name_problem(name) is not None:
                self.problem(
                    where, f"the module name {name!r} cannot be a spec layer name ({module_name_problem(name)})"
                )
                return {"inputs": inputs, "layers": []}
            used.add(name)
            entry = self.entry_for_module(child, prefix + lname, n_inputs=len(in_names))
            if entry is None:
                return {"inputs": inputs, "layers": []}
            n_out = entry.pop(_OUTPUTS, 1)
            new = {"name": lname, **entry}
            self.rebind(entry, new)
            if not (len(in_names) == 1 and in_names[0] == last):
                new["inputs"] = in_names
            site = self.module_site(child)
            if site:
                new[_SITE] = site
                self.sites[prefix + lname] = site
            layers.append(new)
            first = out[0] if isinstance(out, (tuple, list)) and out else out
            if not isinstance(first, torch.Tensor):
                self.problem(where, f"self.{name} returns {type(out).__name__}, not a tensor")
                return {"inputs": inputs, "layers": []}
            producer[id(first)] = lname if n_out == 1 else f"{lname}.0"
            if isinstance(out, (tuple, list)):  # items of a tuple output: name.1, name.1.0 (LSTM's h)
                for idx, item in _items(out):
                    if idx != (0,) or n_out > 1:
                        producer.setdefault(id(item), ".".join([lname, *map(str, idx)]))
            last = lname
        res = result if isinstance(result, (tuple, list)) else [result]
        if not all(isinstance(r, torch.Tensor) and id(r) in producer for r in res):
            self.problem(where, f"{reason}; and forward() returns something that is not a module's output")
            return {"inputs": inputs, "layers": []}
        return {"inputs": inputs, "layers": layers, "outputs": [producer[id(r)] for r in res]}

    def evaluate(self, gm: Any, mod: Any) -> list[dict[Any, Any]]:
        """Each node's value in each trial run (meta tensors, ints for sizes)."""
        import torch
        import torch.fx as fx

        out: list[dict[Any, Any]] = []
        calls = self.calls.get(id(mod), [])
        for args, kwargs in calls:
            env: dict[Any, Any] = {}

            class Rec(fx.Interpreter):
                seen: dict[Any, Any]

                def run_node(self, n: Any) -> Any:
                    v = super().run_node(n)
                    self.seen[n] = v
                    return v

            rec = Rec(gm)
            rec.seen = env
            try:
                with torch.no_grad():
                    rec.run(*args, *kwargs.values())
            except Exception:
                out.append(env)  # the values up to the failing node
                break
            out.append(env)
        return out

    def entry_for_module(self, m: Any, path: str, n_inputs: int = 1) -> dict[str, Any] | None:
        return _entry_for_module(self, m, path, n_inputs)

    def rebind(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """``new`` replaces the entry ``old`` (a block instance's entry, filled in later)."""
        for inst in self.instances:
            inst.entries = [new if e is old else e for e in inst.entries]

    def value_of(self, values: list[dict[Any, Any]], node: Any) -> list[Any]:
        return [env.get(node) for env in values]

    def symbolic_int(self, values: list[dict[Any, Any]], node: Any) -> int | str | None:
        """An int-valued node (``x.size(0)``) as an int, or the free dim it follows, or None."""
        vs = self.value_of(values, node)
        if not vs or any(not isinstance(v, int) or isinstance(v, bool) for v in vs):
            return None
        if len(set(vs)) == 1 and len(vs) == len(self.runs):
            return int(vs[0]) if len(self.runs) > 1 or not self.free_dims() else None
        for d in self.free_dims():
            if [r[d] for r in self.runs] == vs:
                return d
        return None

    def free_dims(self) -> list[str]:
        return list(self.runs[0]) if self.runs else []


def _shapes(args: tuple[Any, ...]) -> str:
    return ", ".join(str(list(a.shape)) for a in args)


class _GraphConverter:
    """One traced graph to a list of spec entries."""

    def __init__(self, conv: _Converter, mod: Any, path: str, graph: Any, values: list[dict[Any, Any]]) -> None:
        self.c = conv
        self.mod = mod
        self.path = path
        self.prefix = path + "." if path else ""
        self.graph = graph
        self.values = values
        self.name_of: dict[Any, str] = {}  # fx node -> the spec name of its value
        self.tuple_layer: set[Any] = set()  # nodes of layers whose forward returns a tuple (LSTM)
        self.indexed: set[Any] = set()  # of those, the ones whose item 0 is written name.0 (Split, Chunk, blocks)
        self.layers: list[dict[str, Any]] = []
        self.taken: set[str] = set()
        self.called: set[str] = set()
        self.first_call: dict[str, Any] = {}  # module attribute -> the node of its first call
        self.last: str | None = None
        self.where = path or type(mod).__name__
        self.failed: set[Any] = set()

    def fail(self, node: Any, what: str) -> None:
        self.failed.add(node)
        if any(_is_node(a) and a in self.failed for a in node.all_input_nodes):
            return  # follows from a problem already reported
        site = _Converter.node_site(node)
        self.c.problem(f"{self.where}" + (f" ({site})" if site else ""), what)

    def fresh(self, base: str) -> str:
        base = re.sub(r"\W", "_", base).strip("_") or "op"
        if name_problem(base) is not None:
            base = "op_" + base
        cand, i = base, 1
        while cand in self.taken or name_problem(cand) is not None:
            i += 1
            cand = f"{base}_{i}"
        self.taken.add(cand)
        return cand

    def convert(self) -> dict[str, Any]:
        g = self.graph
        for n in g.nodes:
            if n.op == "call_module":
                self.taken.add(str(n.target).split(".")[0])
        inputs: list[str] = []
        output: Any = None
        for n in g.nodes:
            if n.op == "placeholder":
                name = str(n.target)
                if name_problem(name) is not None or name in self.taken:
                    name = self.fresh("x_" + name)
                self.taken.add(name)
                self.name_of[n] = name
                inputs.append(name)
                if self.last is None:
                    self.last = name
            elif n.op == "output":
                output = n.args[0]
            elif n.op == "get_attr":
                self.get_attr(n)
            elif n.op == "call_module" and any(a in self.failed for a in n.all_input_nodes):
                self.failed.add(n)
            elif n.op == "call_module":
                self.call_module(n)
            elif n.op in ("call_function", "call_method"):
                self.call_op(n)
        body: dict[str, Any] = {"inputs": inputs, "layers": self.layers}
        outs = list(output) if isinstance(output, (tuple, list)) else [output]
        names = []
        for o in outs:
            if o in self.failed:
                return body
            if o not in self.name_of:
                self.c.problem(
                    self.where, f"forward() returns {_short(o)}, which archcheck cannot express as a layer's output"
                )
                return body
            names.append(self.name_of[o])
        body["outputs"] = names
        return body

    # ---- helpers

    def tensor_inputs(self, node: Any, args: list[Any]) -> list[str] | None:
        names = []
        for a in args:
            if a not in self.name_of:
                return None
            names.append(self.name_of[a])
        return names

    def add(self, node: Any, entry: dict[str, Any], ins: list[str], site: str | None, name: str) -> None:
        new = {"name": name, **entry}
        self.c.rebind(entry, new)
        entry = new
        if not (len(ins) == 1 and ins[0] == self.last):
            entry["inputs"] = ins
        if site:
            entry[_SITE] = site
            self.c.sites[self.prefix + name] = site
        self.layers.append(entry)
        self.name_of[node] = name
        self.last = name

    # ---- get_attr: a learnable tensor of this module

    def get_attr(self, n: Any) -> None:
        import torch.nn as nn

        target = str(n.target)
        value = _attr_at(self.mod, target)
        if "." in target or not isinstance(value, nn.Parameter):
            what = "parameter" if isinstance(value, nn.Parameter) else "buffer or attribute"
            why = (
                "a Parameter of another module: archcheck's layers own their weights (tie: shares one)"
                if "." in target
                else "archcheck writes learnable tensors (Parameter), not constant tensors"
            )
            self.fail(n, f"uses the {what} self.{target} directly in forward(): {why}")
            return
        if module_name_problem(target) is not None:
            self.fail(n, f"the parameter name {target!r} cannot be a spec layer name ({module_name_problem(target)})")
            return
        if self.prefix + target in self.c.tied:
            self.fail(
                n,
                f"self.{target} is the Parameter {self.c.tied[self.prefix + target]}: a Parameter layer cannot be tied",
            )
            return
        entry: dict[str, Any] = {"type": "Parameter", "shape": [int(d) for d in value.shape]}
        if not value.requires_grad:
            entry["trainable"] = False
        site = _assignment_site(type(self.mod), target) or _Converter.node_site(n)
        self.taken.add(target)
        self.c.params_seen.append((self.prefix + target, list(value.shape)))
        self.add(n, entry, [], site, target)
        self.layers[-1].pop("inputs", None)
        self.layers[-1][_NOTE] = "init unknown: values not imported"

    # ---- call_module

    def call_module(self, n: Any) -> None:
        import torch.nn as nn

        target = str(n.target)
        sub = self.mod.get_submodule(target)
        kwargs = dict(n.kwargs)
        if isinstance(sub, nn.MultiheadAttention) and kwargs.get("need_weights", True) in (True, False):
            kwargs.pop("need_weights", None)  # the weights are item 1 either way (None when not asked for)
        if kwargs:
            self.fail(n, f"self.{target} is called with keyword arguments {', '.join(kwargs)}")
            return
        args = list(n.args)
        if isinstance(sub, nn.MultiheadAttention) and len(args) == 3 and args[0] is args[1] is args[2]:
            args = args[:1]  # self-attention: one input
        ins = self.tensor_inputs(n, args)
        if ins is None:
            self.fail(n, f"self.{target} is called with arguments that are not tensors of the model: {_short(n.args)}")
            return
        if "." in target:
            self.fail(
                n,
                f"self.{target} is an item of a {type(self.mod.get_submodule(target.rpartition('.')[0])).__name__} "
                "called on its own: archcheck names a module by its attribute (use nn.Sequential for a chain)",
            )
            return
        name = target
        if target in self.called:
            # the same module called again: `use:` (its weights shared, counted once, as torch does)
            name = self.fresh(f"{target}_call")
            self.add(n, {"use": target}, ins, _Converter.node_site(n), name)
            if n in self.tuple_layer or self.first_call.get(target) in self.tuple_layer:
                self.tuple_layer.add(n)
                if self.first_call.get(target) in self.indexed:
                    self.indexed.add(n)
            return
        elif module_name_problem(target) is not None:
            self.fail(n, f"the module name {target!r} cannot be a spec layer name ({module_name_problem(target)})")
            return
        self.called.add(target)
        self.first_call[target] = n
        entry = self.c.entry_for_module(sub, self.prefix + name, n_inputs=len(ins))
        if entry is None:
            self.failed.add(n)
            return
        if isinstance(sub, nn.RNNBase) or (
            entry.get("type") in REGISTRY and getattr(REGISTRY[entry["type"]], "tuple_output", False)
        ):
            self.tuple_layer.add(n)
        if entry.get(_OUTPUTS, 1) > 1:  # a block with several outputs: items addressed name.0, name.1
            self.tuple_layer.add(n)
            self.indexed.add(n)
        entry.pop(_OUTPUTS, None)
        site = self.c.module_site(sub)
        self.add(n, entry, ins, site, name)

    # ---- call_function / call_method

    def call_op(self, n: Any) -> None:
        import torch

        vals = [v for v in self.c.value_of(self.values, n) if v is not None]
        is_tensor = all(isinstance(v, torch.Tensor) for v in vals) if vals else _static_tensor(n)
        target = n.target
        # getitem: the first item of a tuple-returning layer, or x[:, i] (Select)
        if n.op == "call_function" and target is operator.getitem:
            src, idx = n.args
            if src in self.tuple_layer:
                self.item(n, src, idx)
                return
            if src in self.name_of and is_tensor:
                self.select(n, src, idx)
                return
            if not is_tensor:
                return  # a size or shape entry: read where it is used
            self.fail(n, f"indexing {_short(idx)} is not expressible")
            return
        if not is_tensor:
            if not any(_has_tensor(v) for v in vals):
                return  # sizes and other non-tensor values: read where they are used
        if n.op == "call_method" and target in _PASS_METHODS and n.args and n.args[0] in self.name_of:
            self.name_of[n] = self.name_of[n.args[0]]
            return
        if (n.op == "call_method" and target == "expand") or target is getattr(torch.Tensor, "expand", None):
            self.expand(n)
            return
        if target is getattr(torch.nn.functional, "scaled_dot_product_attention", None) and (
            "ScaledDotProductAttention" in REGISTRY
        ):
            self.sdpa(n)
            return
        if target is torch.arange and "Arange" in REGISTRY:
            self.arange(n)
            return
        if (n.op == "call_method" and target in ("chunk", "split")) or target in (torch.chunk, torch.split):
            self.split(n, "Chunk" if target in ("chunk", torch.chunk) else "Split")
            return
        op = self.c.funcs.get(target) if n.op == "call_function" else self.c.methods.get(str(target))
        if op is None and n.op == "call_function":
            op = _defined_function_op(target)
        if op is None:
            self.fail(n, f"{_call_name(n)} has no archcheck layer (see `archcheck types`)")
            return
        if op.merge and op.type in REGISTRY:
            tensors = [a for a in n.args if a in self.name_of]
            consts = [a for a in n.args if isinstance(a, (int, float)) and not isinstance(a, bool)]
            arith = {"Add": "add", "Multiply": "mul", "Subtract": "sub", "Divide": "div", "Arith": "pow"}
            commutes = op.type in ("Add", "Multiply")
            if (
                len(n.args) == 2
                and len(tensors) == 1
                and len(consts) == 1
                and not n.kwargs
                and (n.args[0] in self.name_of or commutes)
                and op.type in arith
                and "Arith" in REGISTRY
            ):
                # x * 0.5, x / 8.0, 1.0 + x, x ** 2: Arith with the constant
                entry = {"type": "Arith", "op": arith[op.type], "value": consts[0]}
                self.add(n, entry, [self.name_of[tensors[0]]], _Converter.node_site(n), self.fresh(n.name))
                return
            if (
                len(tensors) != len(n.args)
                or op.type == "Arith"
                or set(n.kwargs) - {"alpha"}
                or n.kwargs.get("alpha", 1) != 1
            ):
                self.fail(
                    n,
                    f"{_call_name(n)} with the operands {_short(n.args)} has no archcheck layer: "
                    "Add, Subtract, Multiply, Divide, MatMul take tensors, and Arith one tensor and a number after it",
                )
                return
            ins = [self.name_of[a] for a in tensors]
            self.add(n, {"type": op.type}, ins, _Converter.node_site(n), self.fresh(n.name))
            return
        if op.type == "Concat":
            seq = n.args[0] if n.args else n.kwargs.get("tensors")
            if not isinstance(seq, (list, tuple)) or any(a not in self.name_of for a in seq):
                self.fail(n, f"{_call_name(n)} of {_short(seq)}: archcheck's Concat joins a list of layers' outputs")
                return
            fields = self.bind(n, op, list(n.args[1:]))
            if fields is None:
                return
            self.add(
                n,
                {"type": "Concat", **fields},
                [self.name_of[a] for a in seq],
                _Converter.node_site(n),
                self.fresh(n.name),
            )
            return
        if not n.args or n.args[0] not in self.name_of:
            self.fail(n, f"{_call_name(n)} is applied to {_short(n.args[:1])}, which is not a tensor of the model")
            return
        x = n.args[0]
        rest = list(n.args[1:])
        if op.type == "Reshape":
            if n.op == "call_function" or (len(rest) == 1 and isinstance(rest[0], (list, tuple))):
                sizes: Any = rest[0] if rest else n.kwargs.get("shape")
            else:
                sizes = rest
            shape = self.reshape_sizes(n, sizes)
            if shape is None:
                return
            fields = {"shape": shape}
        elif (
            op.type == "Permute"
            and n.op == "call_method"
            and not (len(rest) == 1 and isinstance(rest[0], (list, tuple)))
        ):
            fields = self.bind(n, op, [list(rest)])  # x.permute(0, 2, 1)
        else:
            fields = self.bind(n, op, rest)
        if fields is None:
            return
        self.add(n, {"type": op.type, **fields}, [self.name_of[x]], _Converter.node_site(n), self.fresh(n.name))

    # ---- several outputs: items of a tuple, Split and Chunk, Expand

    def item(self, n: Any, src: Any, idx: Any) -> None:
        """``out[i]`` of a layer (or block) with several outputs: the name ``out.i`` (``lstm.1.0``)."""
        vals = [v for v in self.c.value_of(self.values, src) if v is not None]
        if not isinstance(idx, int) or isinstance(idx, bool):
            if not n.users:
                return
            self.fail(n, f"{self.name_of.get(src)}[{_short(idx)}]: archcheck addresses one item by its index")
            return
        size = len(vals[0]) if vals and isinstance(vals[0], (tuple, list)) else None
        if idx < 0 and size is not None:
            idx += size
        if idx < 0 or (size is not None and idx >= size):
            self.fail(n, f"item {idx} of {self.name_of.get(src)}'s {size} outputs")
            return
        base = self.name_of[src]
        first_is_name = src in self.tuple_layer and src not in self.indexed
        self.name_of[n] = base if (idx == 0 and first_is_name) else f"{base}.{idx}"
        mine = [v for v in self.c.value_of(self.values, n) if v is not None]
        if mine and isinstance(mine[0], (tuple, list)):
            self.tuple_layer.add(n)  # (h, c) of an LSTM: items again
            self.indexed.add(n)

    def split(self, n: Any, kind: str) -> None:
        """``x.chunk(3, dim=-1)``, ``torch.split(x, [2, 6], 1)``: a Chunk or Split whose items are ``name.i``."""
        if not n.args or n.args[0] not in self.name_of:
            self.fail(n, f"{_call_name(n)} is applied to {_short(n.args[:1])}, which is not a tensor of the model")
            return
        op = _Op(kind, ("chunks", "dim") if kind == "Chunk" else ("split_size_or_sections", "dim"))
        kwargs = dict(n.kwargs)
        if "split_size" in kwargs:
            kwargs["split_size_or_sections"] = kwargs.pop("split_size")
        fields = self.bind(n, op, list(n.args[1:]), kwargs)
        if fields is None:
            return
        self.add(n, {"type": kind, **fields}, [self.name_of[n.args[0]]], _Converter.node_site(n), self.fresh(n.name))
        self.tuple_layer.add(n)
        self.indexed.add(n)

    def sdpa(self, n: Any) -> None:
        """``F.scaled_dot_product_attention(q, k, v, ...)``: ScaledDotProductAttention (no mask)."""
        qkv = list(n.args[:3])
        if len(qkv) != 3 or any(a not in self.name_of for a in qkv):
            self.fail(n, f"{_call_name(n)} takes q, k, v that are not tensors of the model")
            return
        kwargs = dict(n.kwargs)
        if kwargs.pop("attn_mask", None) is not None or "enable_gqa" in kwargs and kwargs.pop("enable_gqa"):
            self.fail(n, f"{_call_name(n)} with attn_mask or enable_gqa has no archcheck layer (is_causal has)")
            return
        kwargs.pop("enable_gqa", None)
        op = _Op("ScaledDotProductAttention", ("attn_mask", "dropout_p", "is_causal", "scale"))
        rest = list(n.args[3:])
        if rest and rest[0] is None:
            rest = rest[1:]
            op = _Op("ScaledDotProductAttention", ("dropout_p", "is_causal", "scale"))
        fields = self.bind(n, op, rest, kwargs)
        if fields is None:
            return
        ins = [self.name_of[a] for a in qkv]
        self.add(n, {"type": "ScaledDotProductAttention", **fields}, ins, _Converter.node_site(n), self.fresh(n.name))

    def arange(self, n: Any) -> None:
        """``torch.arange(start, x.size(d), step, dtype=torch.long)``: Arange of ``x``'s dim ``d``."""
        import torch

        args = list(n.args)
        start, end, step = (0, args[0], 1) if len(args) == 1 else (args + [1])[:3]
        src = self.dim_source(end)
        dtype = n.kwargs.get("dtype")
        if (
            src is None
            or src[0] not in self.name_of
            or not isinstance(start, int)
            or not isinstance(step, int)
            or dtype not in (torch.long, torch.int64)
        ):
            self.fail(
                n,
                f"{_call_name(n)}: archcheck's Arange is torch.arange(start, x.size(d), step, dtype=torch.long) "
                f"(got {_short(n.args)})",
            )
            return
        entry: dict[str, Any] = {"type": "Arange", "dim": src[1]}
        if start:
            entry["start"] = start
        if step != 1:
            entry["step"] = step
        self.add(n, entry, [self.name_of[src[0]]], _Converter.node_site(n), self.fresh(n.name))

    def dim_source(self, v: Any) -> tuple[Any, int] | None:
        """(tensor node, dim) when ``v`` is ``t.shape[d]`` or ``t.size(d)`` (or an item of ``t.shape[a:]``)."""
        if not _is_node(v):
            return None
        if v.op == "call_method" and v.target == "size" and len(v.args) == 2 and isinstance(v.args[1], int):
            return self.wrapped(v.args[0], v.args[1])
        if v.op == "call_function" and v.target is operator.getitem and isinstance(v.args[1], int):
            src, i = v.args
            if not _is_node(src):
                return None
            if (src.op == "call_function" and src.target is getattr and src.args[1] == "shape") or (
                src.op == "call_method" and src.target == "size" and len(src.args) == 1
            ):
                return self.wrapped(src.args[0], i)
            if src.op == "call_function" and src.target is operator.getitem and isinstance(src.args[1], slice):
                sl = src.args[1]
                inner = src.args[0]
                if sl.step not in (None, 1) or not isinstance(sl.start or 0, int) or (sl.start or 0) < 0 or i < 0:
                    return None
                if _is_node(inner) and (
                    (inner.op == "call_function" and inner.target is getattr and inner.args[1] == "shape")
                    or (inner.op == "call_method" and inner.target == "size" and len(inner.args) == 1)
                ):
                    return self.wrapped(inner.args[0], (sl.start or 0) + i)
        return None

    def wrapped(self, t: Any, d: int) -> tuple[Any, int] | None:
        vals = [v for v in self.c.value_of(self.values, t) if v is not None]
        rank = vals[0].dim() if vals and hasattr(vals[0], "dim") else None
        if d < 0:
            if rank is None:
                return None
            d += rank
        return (t, d)

    def expand(self, n: Any) -> None:
        """``x.expand(*sizes)``: Expand with ``size``, or ``{inputs: [x, like]}`` when sizes are ``like``'s dims."""
        if not n.args or n.args[0] not in self.name_of:
            self.fail(n, f"{_call_name(n)} is applied to {_short(n.args[:1])}, which is not a tensor of the model")
            return
        x = n.args[0]
        sizes = list(n.args[1:]) or list(n.kwargs.get("size", ()))
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
            sizes = list(sizes[0])
        vals = [v for v in self.c.value_of(self.values, x) if v is not None]
        if not vals or not sizes:
            self.fail(n, f"{_call_name(n)}: the sizes {_short(sizes)} cannot be read")
            return
        rank = vals[0].dim()
        lead = len(sizes) - rank
        size: list[int] = []
        like: Any = None
        like_dims: list[int] = []
        for i, s in enumerate(sizes):
            if isinstance(s, int) and not isinstance(s, bool):
                size.append(s)
                continue
            src = self.dim_source(s)
            if src is not None and src[0] is x and i >= lead and src[1] == i - lead:
                size.append(-1)  # x's own size: kept
                continue
            if src is not None and src[0] in self.name_of and (like is None or like is src[0]) and src[1] == i:
                like = src[0]
                like_dims.append(i)
                size.append(-1)
                continue
            v = self.c.symbolic_int(self.values, s)
            if isinstance(v, int):
                size.append(v)
                continue
            self.fail(
                n,
                f"{_call_name(n)}: size {i} ({_short(s)}) is computed in forward(); archcheck's Expand takes "
                "constants, -1, or the same dims of a second tensor (x.expand(y.shape[0], -1, -1))",
            )
            return
        site = _Converter.node_site(n)
        if like is None:
            self.add(n, {"type": "Expand", "size": size}, [self.name_of[x]], site, self.fresh(n.name))
            return
        like_vals = [v for v in self.c.value_of(self.values, like) if v is not None]
        keep_own = all(s == -1 for i, s in enumerate(size) if i not in like_dims)
        if lead or not keep_own or not like_vals or like_vals[0].dim() != rank:
            self.fail(
                n,
                f"{_call_name(n)}: archcheck's Expand takes either sizes, or a second tensor of the same rank "
                "whose dims it copies (other sizes -1)",
            )
            return
        entry: dict[str, Any] = {"type": "Expand"}
        if like_dims != [0]:
            entry["dims"] = like_dims
        self.add(n, entry, [self.name_of[x], self.name_of[like]], site, self.fresh(n.name))

    def bind(self, n: Any, op: _Op, args: list[Any], kwargs: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The layer fields of a call's arguments (defaults left out), or None (reported)."""
        from pydantic import ValidationError

        if len(args) > len(op.args):
            self.fail(n, f"{_call_name(n)} has more arguments than archcheck's {op.type} takes")
            return None
        given: dict[str, Any] = dict(op.defaults)
        for k, v in zip(op.args, args):
            given[k] = v
        for k, v in (n.kwargs if kwargs is None else kwargs).items():
            given[k] = v
        cls = REGISTRY[op.type]
        fields: dict[str, Any] = {}
        for k, v in given.items():
            if _has_node(v):
                self.fail(
                    n, f"{_call_name(n)}: its argument {k} is computed in forward() ({_short(v)}), not a constant"
                )
                return None
            v = _norm(v)
            if k in cls.model_fields and k not in cls.meta_fields:
                fields[k] = v
            elif k in op.ignore or k in ("inplace",):
                continue
            elif k in ("return_indices", "dtype") and not v:
                continue
            else:
                self.fail(n, f"{_call_name(n)} with {k}={_short(v)} has no archcheck equivalent")
                return None
        layer = _validated(cls, fields)
        if layer is None:
            try:
                cls.model_validate(fields)
            except ValidationError as e:
                self.fail(n, f"{_call_name(n)}: {_one_line(str(e).splitlines()[-1] if str(e) else '', 160)}")
            return None
        return layer.ctor_args()

    def reshape_sizes(self, n: Any, sizes: Any) -> list[int | str] | None:
        if not isinstance(sizes, (list, tuple)):
            sizes = [sizes]
        out: list[int | str] = []
        unknown = 0
        for i, s in enumerate(sizes):
            if isinstance(s, int) and not isinstance(s, bool):
                out.append(s)
                continue
            v = self.c.symbolic_int(self.values, s) if _is_node(s) else None
            if isinstance(v, int):
                out.append(v)
            elif isinstance(v, str) and i == 0:
                out.append(v)
            else:
                unknown += 1
                out.append(-1)
        if unknown and (unknown > 1 or out.count(-1) > 1):
            self.fail(
                n,
                f"{_call_name(n)}: the sizes {_short(sizes)} depend on the input in a way archcheck's Reshape "
                "cannot write (one -1, or the batch dim's name first)",
            )
            return None
        return out

    def select(self, n: Any, src: Any, idx: Any) -> None:
        items = list(idx) if isinstance(idx, tuple) else [idx]
        ints = [(i, v) for i, v in enumerate(items) if isinstance(v, int) and not isinstance(v, bool)]
        rest_ok = all(
            v == slice(None) for i, v in enumerate(items) if not (isinstance(v, int) and not isinstance(v, bool))
        )
        if len(ints) != 1 or not rest_ok or Ellipsis in items:
            self.fail(n, f"indexing with {_short(idx)} has no archcheck layer (Select takes one int index, x[:, i])")
            return
        dim, index = ints[0]
        self.add(
            n,
            {"type": "Select", "dim": dim, "index": index},
            [self.name_of[src]],
            _Converter.node_site(n),
            self.fresh("select"),
        )


def _items(out: Any, at: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Any]]:
    """(index path, tensor) of every tensor in a nested tuple output."""
    for i, v in enumerate(out):
        if isinstance(v, (tuple, list)):
            yield from _items(v, (*at, i))
        else:
            yield (*at, i), v


def _attr_at(mod: Any, target: str) -> Any:
    obj = mod
    for part in target.split("."):
        obj = getattr(obj, part, None)
    return obj


def _assignment_site(cls: type, attr: str) -> str | None:
    """Where ``self.<attr> = ...`` is written in ``cls.__init__`` (or a base class's): "model.py:12"."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            lines, start = inspect.getsourcelines(init)
            file = inspect.getsourcefile(init)
        except (OSError, TypeError):
            continue
        pat = re.compile(rf"\bself\.{re.escape(attr)}\s*(:[^=]*)?=(?!=)")
        for i, line in enumerate(lines):
            if pat.search(line) and file:
                return f"{show_path(file)}:{start + i}"
    return None


def _static_tensor(n: Any) -> bool:
    """Whether a node without a trial-run value (after a failing layer) makes a tensor."""
    if n.op == "call_method" and n.target in ("size", "dim", "numel"):
        return False
    if n.op == "call_function" and n.target is getattr:
        return False
    if n.op == "call_function" and n.target in (operator.getitem, operator.mul, operator.add, operator.floordiv):
        return any(_is_node(a) and _static_tensor(a) for a in n.args) and all(
            not _is_node(a) or _static_tensor(a) for a in n.args[:1]
        )
    return True


def _is_node(v: Any) -> bool:
    import torch.fx as fx

    return isinstance(v, fx.Node)


def _has_node(v: Any) -> bool:
    if _is_node(v):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_node(x) for x in v)
    if isinstance(v, dict):
        return any(_has_node(x) for x in v.values())
    return False


def _has_tensor(v: Any) -> bool:
    import torch

    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, (list, tuple)):
        return any(_has_tensor(x) for x in v)
    return False


def _call_name(n: Any) -> str:
    if n.op == "call_method":
        return f"x.{n.target}()"
    t = n.target
    mod = getattr(t, "__module__", "") or ""
    name = getattr(t, "__name__", str(t))
    if t in (operator.add, operator.iadd):
        return "+"
    if t in (operator.mul, operator.imul):
        return "*"
    sym = {operator.sub: "-", operator.truediv: "/", operator.matmul: "@", operator.pow: "**"}
    if t in sym:
        return sym[t]
    short = {"torch.nn.functional": "F", "torch": "torch", "_operator": "operator"}.get(mod, mod)
    return f"{short}.{name}()" if short else f"{name}()"


# ------------------------------------------------------------------ modules to entries


def _entry_for_module(self: _Converter, m: Any, path: str, n_inputs: int = 1) -> dict[str, Any] | None:
    """The spec entry for module ``m`` at ``path`` (None: reported as a problem)."""
    import torch.nn as nn

    cls = known_layer(m)
    borrowed = cls is not None and getattr(nn, type(m).__name__, None) is not type(m)
    fields, why = module_fields(m, cls) if cls is not None else (None, None)
    if borrowed and fields is None:
        cls = None  # named as an archcheck type but not built like it (a generated `Permute` helper): traced
    if cls is not None:
        if fields is None:
            self.problem(path, f"nn.{type(m).__name__}: {why}")
            return None
        entry: dict[str, Any] = {"type": cls.type_name(), **fields}
        ties = _ties(self, m, path)
        if ties is None:
            return None
        if ties:
            entry["tie"] = ties
        grads = [p.requires_grad for p in m.parameters()]
        if grads and not any(grads):
            entry["trainable"] = False  # requires_grad_(False)
        elif not all(grads):
            frozen = [n for n, p in m.named_parameters() if not p.requires_grad]
            self.problem(
                path,
                f"nn.{type(m).__name__} has some parameters frozen ({', '.join(frozen)}) and others not: "
                "archcheck's trainable: false freezes a whole layer",
            )
            return None
        return entry
    if type(m) is nn.Sequential or (isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward):
        items = []
        keys = list(m._modules)
        plain = keys == [str(i) for i in range(len(keys))]
        if not keys:
            self.problem(path, "an empty nn.Sequential (write nothing, or nn.Identity)")
            return None
        for i, k in enumerate(keys):
            child = m._modules[k]
            unnamed = plain or k == str(i)  # torch's name of an unnamed item: its index
            if not unnamed and module_name_problem(k) is not None:
                self.problem(
                    f"{path}.{k}", f"the module name {k!r} cannot be a spec layer name ({module_name_problem(k)})"
                )
                continue
            e = self.entry_for_module(child, f"{path}.{k}")
            if e is None:
                continue
            if not unnamed:
                new = {"name": k, **e}
                self.rebind(e, new)
                e = new
            site = self.module_site(child)
            if site:
                e[_SITE] = site
                self.sites[f"{path}.{k}"] = site
            items.append(e)
        return {"type": "Sequential", "layers": items}
    if isinstance(m, (nn.ModuleList, nn.ModuleDict)):
        self.problem(path, f"an {type(m).__name__} is called: it has no forward()")
        return None
    mod_name = type(m).__module__ or ""
    if mod_name.startswith("torch.") and not _own_forward(m):
        self.problem(path, f"{mod_name}.{type(m).__name__} has no archcheck layer (see `archcheck types`)")
        return None
    if mod_name.startswith("torch.nn"):
        self.problem(path, f"nn.{type(m).__name__} has no archcheck layer (see `archcheck types`)")
        return None
    body = self.trace(m, path)
    if not body.get("outputs"):
        return None
    if len(body["inputs"]) != n_inputs:
        self.problem(
            path, f"{type(m).__name__}.forward takes {len(body['inputs'])} inputs but is called with {n_inputs}"
        )
        return None
    entry = {"type": None}
    if len(body["outputs"]) > 1:
        entry[_OUTPUTS] = len(body["outputs"])
    self.instances.append(_Instance(type(m), path, m, body, [entry]))
    return entry


def _ties(self: _Converter, m: Any, path: str) -> dict[str, str] | None:
    """``tie:`` of the module at ``path``: each own Parameter that is another path's (None: reported)."""
    scope = self.scope[-1] if self.scope else ""
    prefix = scope + "." if scope else ""
    out: dict[str, str] = {}
    for pname in m._parameters:
        owner = self.tied.get(f"{path}.{pname}")
        if owner is None:
            continue
        if not owner.startswith(prefix):
            self.problem(
                path,
                f"{pname} is the Parameter {owner}, outside {scope or 'the model'}: tie: names a parameter "
                "of the scope the layer is written in",
            )
            return None
        out[pname] = owner[len(prefix) :]
    return out


def _own_forward(m: Any) -> bool:
    import torch.nn as nn

    return type(m).forward is not nn.Module.forward


# ------------------------------------------------------------------ blocks


def _strip(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in _HIDDEN}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


_STRUCT_KEYS = {"name", "type", "inputs", "layers", "repeat", "output", "outputs", "use", "tie"}


def _positions(x: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """The (position, value) of every scalar field value a block param could stand for."""
    if isinstance(x, dict):
        for k, v in x.items():
            if k in _STRUCT_KEYS or k in _HIDDEN:
                if k == "layers":
                    yield from _positions(v, at + (k,))
                continue
            if isinstance(v, (bool, int, float, str)):
                yield at + (k,), v
            elif k == "shape" and x.get("type") == "Parameter" and isinstance(v, list):
                for i, d in enumerate(v):  # a Parameter's sizes: [$dim, 1, 1] in a block (ConvNeXt's layer_scale)
                    yield at + (k, i), d
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _positions(v, at + (i,))


def _typed(v: Any) -> tuple[str, Any]:
    return (type(v).__name__, v)


def _signature(body: dict[str, Any], variable: set[tuple[Any, ...]]) -> str:
    def walk(x: Any, at: tuple[Any, ...]) -> Any:
        if isinstance(x, dict):
            return {k: ("$" if at + (k,) in variable else walk(v, at + (k,))) for k, v in x.items() if k not in _HIDDEN}
        if isinstance(x, list):
            return [("$" if at + (i,) in variable else walk(v, at + (i,))) for i, v in enumerate(x)]
        return [type(x).__name__, x]

    return json.dumps(walk(body, ()), sort_keys=True, default=str)


def _set_at(x: Any, at: tuple[Any, ...], v: Any) -> None:
    for k in at[:-1]:
        x = x[k]
    x[at[-1]] = v


def make_blocks(conv: _Converter) -> dict[str, dict[str, Any]]:
    """Group the user-defined module instances into blocks; fill in their entries' type and params."""
    import copy

    blocks: dict[str, dict[str, Any]] = {}
    pending = list(conv.instances)
    used_names = set(REGISTRY) | {"Sequential"}

    def resolved(inst: _Instance) -> bool:
        return all(other.block is not None for other in conv.instances if other.path.startswith(inst.path + "."))

    while pending:
        ready = [i for i in pending if resolved(i)]
        if not ready:
            conv.problem("", "modules that contain themselves cannot be written as blocks")
            return blocks
        by_cls: dict[type, list[_Instance]] = {}
        for i in ready:
            by_cls.setdefault(i.cls, []).append(i)
        for cls, insts in by_cls.items():
            # positions whose values differ within the class's instances of one structure
            groups: dict[str, list[_Instance]] = {}
            all_pos = [dict(_positions(i.body["layers"], ("layers",))) for i in insts]
            for i, pos in zip(insts, all_pos):
                groups.setdefault(_signature(i.body, set(pos)), []).append(i)
            variants = list(groups.values())
            for vi, group in enumerate(variants):
                name = _block_name(cls.__name__, vi, group, variants, used_names)
                used_names.add(name)
                poss = [dict(_positions(i.body["layers"], ("layers",))) for i in group]
                vectors = {p: [_typed(ps[p]) for ps in poss] for p in poss[0]}
                varying = {p: vec for p, vec in vectors.items() if len(set(vec)) > 1}
                body = copy.deepcopy(group[0].body)
                params: dict[str, Any] = {}
                param_of_vec: dict[tuple[Any, ...], str] = {}
                for p, vec in varying.items():
                    key = tuple(vec)
                    if key not in param_of_vec:
                        param_of_vec[key] = _param_name(conv, p, vec, group, params, body)
                        params[param_of_vec[key]] = None
                    _set_at(body, p, f"${param_of_vec[key]}")
                bdef: dict[str, Any] = {}
                if params:
                    bdef["params"] = params
                if body["inputs"] != ["x"]:
                    bdef["inputs"] = body["inputs"]
                last = body["layers"][-1]["name"] if body["layers"] else None
                if len(body["outputs"]) > 1:
                    bdef["outputs"] = body["outputs"]
                elif body["outputs"][0] != last:
                    bdef["output"] = body["outputs"][0]
                bdef["layers"] = body["layers"]
                order = _init_order(group[0].module, body["layers"])
                if order:
                    bdef["init_order"] = order
                if not body["layers"]:
                    conv.problem(
                        group[0].path, f"{cls.__name__}.forward returns its input unchanged: write nn.Identity"
                    )
                blocks[name] = bdef
                for inst in group:
                    inst.block = name
                    for entry in inst.entries:
                        entry["type"] = name
                        for key, pname in param_of_vec.items():
                            idx = group.index(inst)
                            entry[pname] = key[idx][1]
            for i in insts:
                pending.remove(i)
    return blocks


def _init_order(mod: Any, layers: list[dict[str, Any]]) -> list[str]:
    """The block's ``init_order``: the fewest of its modules, in the order ``__init__`` created them, that
    put first make the state_dict order (torchvision's PatchMerging creates reduction before norm)."""
    written = [e["name"] for e in layers if isinstance(e, dict) and e.get("name") in mod._modules]
    created = [k for k in mod._modules if k in written]
    for i in range(len(created) + 1):
        first = created[:i]
        if first + [k for k in written if k not in first] == created:
            return first
    return []  # pragma: no cover - all of them always gives the created order


def _block_name(base: str, vi: int, group: list[_Instance], variants: list[list[_Instance]], used: set[str]) -> str:
    if vi > 0:
        mine = {layer.get("name") for layer in group[0].body["layers"]}
        first = {layer.get("name") for layer in variants[0][0].body["layers"]}
        extra = sorted(n for n in mine - first if isinstance(n, str))
        base = f"{base}_{'_'.join(extra)}" if extra else f"{base}_{vi + 1}"
    name = base if base.isidentifier() and base not in used else f"{base}Block"
    i = 1
    while name in used or not name.isidentifier():
        i += 1
        name = f"{base}{i}"
    return name


def _param_name(
    conv: _Converter,
    pos: tuple[Any, ...],
    vec: list[Any],
    group: list[_Instance],
    params: dict[str, Any],
    body: dict[str, Any],
) -> str:
    """A block param's name: the __init__ argument with these values, else the field's name."""
    args = [conv.made.get(id(i.module), _Made()).args for i in group]
    for n in args[0]:
        if n not in params and all(n in a and _typed(a[n]) == t for a, t in zip(args, vec)):
            if name_problem(n) is None and n not in _STRUCT_KEYS:
                return n
    field_name = str(pos[-1])
    layer_name = None
    x: Any = body
    for k in pos[:-1]:
        x = x[k]
        if isinstance(x, dict) and "name" in x:
            layer_name = x["name"]
    cands = [field_name, f"{layer_name}_{field_name}" if layer_name else field_name]
    for c in cands:
        if c not in params and name_problem(c) is None and c not in _STRUCT_KEYS:
            return c
    i = 2
    while f"{cands[-1]}_{i}" in params:
        i += 1
    return f"{cands[-1]}_{i}"


# ------------------------------------------------------------------ writing YAML

_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "~", ""}


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v} cannot be written")
        r = repr(v)
        if "e" in r and "." not in r.split("e")[0]:
            m, e = r.split("e")
            r = f"{m}.0e{e if e[0] in '+-' else '+' + e}"
        return r
    if isinstance(v, str):
        if re.fullmatch(r"\$?[A-Za-z_][A-Za-z0-9_]*", v) and v.lower() not in _YAML_WORDS:
            return v
        return json.dumps(v, ensure_ascii=True)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_scalar(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"{type(v).__name__} cannot be written")


def _entry_lines(e: dict[str, Any], ind: str) -> list[str]:
    site = e.get(_SITE)
    said = " · ".join(str(x) for x in (site, e.get(_NOTE)) if x)
    comment = f"   # {said}" if said else ""
    if e.get("type") == "Sequential" and "layers" in e:
        keys = [k for k in e if k not in ("layers", *_HIDDEN)]
        out = [f"{ind}- {keys[0]}: {_scalar(e[keys[0]])}{comment}"]
        out += [f"{ind}  {k}: {_scalar(e[k])}" for k in keys[1:]]
        out.append(f"{ind}  layers:")
        for item in e["layers"]:
            out.extend(_entry_lines(item, ind + "    "))
        return out
    return [f"{ind}- {_scalar({k: v for k, v in e.items() if k not in _HIDDEN})}{comment}"]


def to_yaml(data: dict[str, Any], header: list[str]) -> str:
    lines = [f"# {h}" for h in header]
    lines.append(f"name: {_scalar(data['name'])}")
    if "input" in data:
        lines.append(f"input: {_scalar(data['input'])}")
    if "inputs" in data:
        lines.append("inputs:")
        for k, v in data["inputs"].items():
            lines.append(f"  {_scalar(k)}: {_scalar(v)}")
    if "outputs" in data:
        lines.append(f"outputs: {_scalar(data['outputs'])}")
    if data.get("blocks"):
        lines.append("")
        lines.append("blocks:")
        for bname, b in data["blocks"].items():
            lines.append(f"  {_scalar(bname)}:")
            for k in ("params", "inputs", "output", "outputs", "init_order"):
                if k in b:
                    lines.append(f"    {k}: {_scalar(b[k])}")
            lines.append("    layers:")
            for e in b["layers"]:
                lines.extend(_entry_lines(e, "      "))
        lines.append("")
    lines.append("layers:")
    for e in data["layers"]:
        lines.extend(_entry_lines(e, "  "))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the whole import


def _repeat_runs(x: Any) -> Any:
    """Sequentials of k identical block instances (no names) become ``{type: B, ..., repeat: k}``."""
    if isinstance(x, list):
        return [_repeat_runs(v) for v in x]
    if not isinstance(x, dict):
        return x
    x = {k: _repeat_runs(v) for k, v in x.items()}
    items = x.get("layers")
    if x.get("type") == "Sequential" and isinstance(items, list) and len(items) >= 2:
        plain = [_strip(i) for i in items]
        if all(p == plain[0] and "name" not in p and p.get("type") != "Sequential" for p in plain):
            rep = {k: v for k, v in x.items() if k not in ("type", "layers")}
            rep.update(plain[0])
            rep["repeat"] = len(items)
            if _SITE in items[0]:
                rep[_SITE] = items[0][_SITE]
            return rep
    return x


def import_model(
    target: str,
    kwargs: dict[str, Any] | None = None,
    inputs: list[InputArg] | None = None,
    dims: dict[str, int] | None = None,
) -> Imported:
    """Import ``target`` (``path/model.py:Class`` or ``package.module:Class``) as a spec.

    Raises ``ImportFailed`` with every problem found when the model cannot be written exactly.
    """
    import torch  # noqa: F401 - the torch extra is needed: a clear message when it is missing

    cls, file = load_class(target)
    model, made = _user(lambda: instantiate(cls, kwargs or {}), f"{cls.__name__}(**{kwargs or {}!r})")
    conv = _Converter(model, made, list(inputs or []), dict(dims or {}))
    body = conv.convert_root()
    if conv.problems:
        raise ImportFailed(conv.problems)
    blocks = make_blocks(conv)
    if conv.problems:
        raise ImportFailed(conv.problems)
    data: dict[str, Any] = {
        "name": cls.__name__ if name_problem(cls.__name__) is None or cls.__name__[0].isupper() else "Model"
    }
    if not cls.__name__.isidentifier():
        data["name"] = "Model"
    ins = {}
    for pname, arg in conv.chosen.items():
        spec_in: dict[str, Any] = {"shape": arg.shape}
        if arg.dtype != "float32":
            spec_in["dtype"] = arg.dtype
        ins[pname] = spec_in
    names = body["inputs"]
    if len(names) == 1:
        only = dict(next(iter(ins.values())))
        if names[0] != "x":
            only["name"] = names[0]
        data["input"] = only
    else:
        data["inputs"] = dict(zip(names, ins.values()))
    outs = body["outputs"]
    last = body["layers"][-1]["name"] if body["layers"] else None
    if conv.training_only:
        k = len(outs) - conv.training_only
        data["outputs"] = [*outs[:k], *({"name": o, "training_only": True} for o in outs[k:])]
    elif outs != [last]:
        data["outputs"] = outs
    if blocks:
        data["blocks"] = {k: {**v, "layers": _repeat_runs(v["layers"])} for k, v in blocks.items()}
    data["layers"] = _repeat_runs(body["layers"])
    data = _drop_names(data)
    header = [
        f"Imported from {_printable(target)} by `archcheck import`.",
        "Each layer's comment is the Python line that defines it.",
    ]
    try:
        text = to_yaml(data, header)
    except ValueError as e:
        raise ImportFailed([f"a value cannot be written in a spec: {e}"]) from e
    return Imported(text, _strip(data), conv.sites, model, conv.runs, conv.run_error, file, _param_notes(conv))


def _param_notes(conv: _Converter) -> list[str]:
    """One note per Parameter name (ConvNeXt's 18 layer_scale: one line): its values are not imported."""
    by: dict[str, list[tuple[str, list[int]]]] = {}
    for path, shape in conv.params_seen:
        by.setdefault(path.rpartition(".")[2], []).append((path, shape))
    notes = list(conv.notes)
    for seen in by.values():
        path, shape = seen[0]
        more = f" (and {len(seen) - 1} more of that name)" if len(seen) > 1 else ""
        notes.append(
            f"{path}{more}: a Parameter of shape {shape}; its values are not imported "
            "(the spec says init: zeros: write the model's init)"
        )
    return notes


def _drop_names(data: dict[str, Any]) -> dict[str, Any]:
    """Keep every name: they are torch's attribute names (the state_dict) or made from the call."""
    return data


# ------------------------------------------------------------------ checking what was written


def check_written(imp: Imported, filename: str) -> tuple[Any, list[str]]:
    """Read the text back with archcheck's loader, check it, and compare with the model.

    Returns the check result and the disagreements (an empty list when the spec
    reproduces the model: same module output shapes and the same state_dict).
    """
    import torch

    from ..api import check, load
    from ..emit.verify import module_from_result

    spec = load(filename, text=imp.text)
    problems: list[str] = []
    if spec.source.data != imp.data:
        problems.append("the written text does not read back as the intended spec (an archcheck bug)")
        return None, problems
    res = check(spec)
    for d in res.diagnostics:
        site = imp.sites.get(d.path or "")
        if site:
            file, _, line = site.rpartition(":")
            text = linecache.getline(file, int(line)).strip() if line.isdigit() else ""
            d.notes.append(f"{d.path} is defined at {site}" + (f": {text}" if text else ""))
    if not res.ok:
        return res, problems
    if imp.run_error:
        problems.append(f"the spec checks ok, but {imp.run_error}")
        return res, problems
    # Compare with the model: module output shapes (meta device) and the state_dict.
    sym = res
    res = check(spec, imp.input_values[0] if imp.input_values else None)
    with torch.device("meta"):
        built = module_from_result(res)
    want = {k: tuple(v.shape) for k, v in imp.model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    if want != got:
        missing = sorted(set(want) - set(got))[:5]
        extra = sorted(set(got) - set(want))[:5]
        shape = sorted(k for k in set(want) & set(got) if want[k] != got[k])[:5]
        problems.append(
            "the spec's state_dict differs from the model's"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; extra {', '.join(extra)}" if extra else "")
            + (f"; other shapes for {', '.join(shape)}" if shape else "")
        )
    static: dict[str, Any] = {n.path: n.output.shape for n in res.layers if n.output is not None}
    shapes: dict[str, Any] = {}

    def hook(m: Any, a: Any, out: Any, name: str = "") -> None:
        if isinstance(out, torch.Tensor):
            shapes.setdefault(name, tuple(out.shape))

    handles = [
        m.register_forward_hook(lambda mod, a, o, name=name: hook(mod, a, o, name))
        for name, m in imp.model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            imp.model(*_inputs_for(res, imp.input_values[0] if imp.input_values else {}))
    finally:
        for h in handles:
            h.remove()
    for path, shape in shapes.items():
        if path in static and list(static[path]) != list(shape):
            problems.append(f"{path}: archcheck's output shape {list(static[path])} differs from torch's {list(shape)}")
    return sym, problems


def _inputs_for(res: Any, values: dict[str, int]) -> list[Any]:
    import torch

    dt = {"long": torch.long, "int64": torch.long, "int32": torch.int32, "bool": torch.bool, "float64": torch.float64,
          "float16": torch.float16, "bfloat16": torch.bfloat16}  # fmt: skip
    out = []
    for inp in res.spec.inputs.values():
        shape = [values[d] if isinstance(d, str) else d for d in inp.shape]
        out.append(torch.zeros(shape, dtype=dt.get(inp.dtype, torch.float32), device="meta"))
    return out
