"""The spec schema: pydantic v2 models, strict, with located "did you mean" errors.

The top level is one model; each layer is validated on its own against its
type's model (found in the registry by its ``type``), so that every layer's
problems are reported in one run and each points at its own field.
"""

from __future__ import annotations

import json
import keyword
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..diagnostics.codes import Diagnostic, did_you_mean
from ..layers.base import REGISTRY
from ..layers.roles import LAYOUT_LETTERS
from .loader import Path, Source, load_file, load_text

DTYPES = ("float32", "float64", "float16", "bfloat16", "long", "int64", "int32", "bool")

# Attributes of nn.Module (and names the generated code uses): a layer so named
# would shadow them. Names starting with "_" are refused as a whole.
RESERVED = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad self torch nn F super""".split()
)
# The names in RESERVED that only the generated code uses (no nn.Module attribute): a layer may have them.
CODE_NAMES = frozenset({"self", "torch", "nn", "F", "super"})


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a module attribute, or None if it can."""
    if not name.isidentifier() or not name.isascii():
        return f"'{name}' is not a Python identifier (letters, digits and _, not starting with a digit)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    if name.startswith("_"):
        return f"'{name}' starts with '_', which is kept for nn.Module's internals"
    if name in RESERVED:
        return f"'{name}' would shadow nn.Module.{name} or a name the generated code uses"
    return None


def module_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a layer (a submodule), or None if it can.

    An ASCII identifier follows :func:`name_problem`. Any other text is a name torch's
    ``add_module`` takes (torchvision's RegNet names its blocks ``block1-0``): the generated code
    then writes it as a string literal (``self.add_module("block1-0", ...)``), so that the
    state_dict key keeps it exactly. torch refuses an empty name and one with a '.'; a number is
    the name of an unnamed child of a Sequential, and a name with a control or invisible
    character, or spaces around it, is surely a mistake.
    """
    if name.isidentifier() and name.isascii():
        if name in CODE_NAMES:  # not nn.Module attributes: torch takes them (Hugging Face's BERT: attention.self)
            return None  # the generated code writes them as literals: add_module("self", ...), getattr(self, "self")
        return name_problem(name)
    if not name:
        return "the name is empty"
    if "." in name:
        return f"'{name}' contains '.', which torch's add_module refuses (a dot separates the parts of a module path)"
    if not name.isprintable():
        return f"'{name}' contains a control or invisible character"
    if name != name.strip():
        return f"'{name}' starts or ends with a space"
    if name.isdigit():
        return f"'{name}' is a number: the name torch gives an unnamed child of a Sequential"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


DimSpec = Union[Annotated[int, Field(ge=1)], str]


class InputSpec(_Strict):
    shape: list[DimSpec]

    @field_validator("shape")
    @classmethod
    def _names(cls, v: list[Any]) -> list[Any]:
        for i, d in enumerate(v):
            if isinstance(d, str) and not (d.isidentifier() and d.isascii()):
                hint = " (write it without quotes)" if d.strip().isdigit() else ""
                if d.startswith("$"):  # DCGAN's [N, $nz, 1, 1]: params are per layer, the input is fixed
                    hint = (
                        f", not an expression: write the number {d[1:].strip()} stands for, or a free dim "
                        "with its size in dims: (shape: [N, Z, 1, 1] with dims: {Z: 100})"
                    )
                raise ValueError(f"shape[{i}] = {d!r}: a free dim is a name such as N or H{hint}")
        return v

    dtype: Literal["float32", "float64", "float16", "bfloat16", "long", "int64", "int32", "bool"] = "float32"
    name: Optional[str] = None
    layout: Optional[str] = Field(
        None,
        description="What each dim is, one letter per dim: NCHW, NHWC, NLC, LNE, ... (N/B batch, C channels, "
        "H/W/D spatial, L/T/S sequence, E/F features, _ none in particular). Default: inferred from the dim names.",
    )

    @model_validator(mode="after")
    def _layout(self) -> InputSpec:
        lay = self.layout
        if lay is not None:
            bad = sorted({c for c in lay if c not in LAYOUT_LETTERS})
            if bad:
                raise ValueError(
                    f"layout {lay!r}: unknown letter {', '.join(map(repr, bad))} (use N/B, C, H/W/D, L/T/S, E/F or _)"
                )
            if isinstance(self.shape, list) and len(lay) != len(self.shape):
                raise ValueError(f"layout {lay!r} has {len(lay)} letters, but the shape has {len(self.shape)} dims")
        return self


class DimRange(_Strict):
    min: Annotated[int, Field(ge=1)] = 1
    max: Optional[Annotated[int, Field(ge=1)]] = None


# An expected shape: ints, free dim names, $ expressions, _ (any size), ... (any number of dims).
ExpectSpec = list[Union[Annotated[int, Field(ge=0)], str]]


class OutputSpec(_Strict):
    """``output: {shape: [N, 1, H, W]}``, or an entry of ``outputs`` with its expected shape or
    ``training_only: true`` (GoogLeNet's aux heads: returned only while ``self.training``)."""

    name: Optional[str] = None
    shape: Optional[ExpectSpec] = None
    training_only: bool = False


class BlockDef(_Strict):
    description: Optional[str] = None
    params: dict[str, Any] = {}
    inputs: Annotated[list[str], Field(min_length=1)] = ["x"]  # a block without inputs has nothing to work on
    output: Optional[str] = None
    outputs: Optional[Annotated[list[str], Field(min_length=1)]] = None  # several: used as name.0, name.1
    layers: Annotated[list[Any], Field(min_length=1)]
    init_order: Optional[list[str]] = Field(
        None,
        description="The order in which the block's __init__ creates its named modules, and so the order of "
        "their state_dict keys, where it differs from the order forward calls them (torchvision's "
        "PatchMerging creates reduction before norm): the listed modules first, then the rest as written.",
    )

    def result_names(self, last: str | None) -> list[str]:
        """What the block returns: its ``outputs``, its ``output``, or its last layer."""
        if self.outputs is not None:
            return list(self.outputs)
        name = self.output or last
        return [name] if name is not None else []


ParamValue = Union[int, float, bool, str, None]


class _Top(_Strict):
    """The top level with its nested parts left raw: each is validated on its own, located."""

    name: str = "Model"
    description: Optional[str] = None
    input: Optional[dict[str, Any]] = None
    inputs: Optional[Annotated[dict[str, dict[str, Any]], Field(min_length=1)]] = None
    output: Optional[dict[str, Any]] = None
    outputs: Optional[Union[list[Any], dict[str, Any]]] = None
    dims: Optional[dict[str, Any]] = None
    params: Optional[dict[str, ParamValue]] = None
    blocks: Optional[dict[str, dict[str, Any]]] = None
    noqa: Optional[Union[str, list[str]]] = None
    layers: list[Any]


class SpecModel(_Strict):
    name: str = "Model"
    description: Optional[str] = None
    input: Optional[InputSpec] = None
    inputs: Optional[dict[str, InputSpec]] = None
    output: Optional[OutputSpec] = None
    # Names after parsing; the file may also give shapes ({name: fc2, shape: [...]}, or a mapping), see
    # _outputs and jsonschema.OUTPUTS.
    outputs: Optional[list[str]] = None
    dims: Optional[dict[str, Union[Annotated[int, Field(ge=1)], DimRange]]] = None
    params: Optional[dict[str, ParamValue]] = None
    blocks: Optional[dict[str, BlockDef]] = None
    noqa: Optional[Union[str, list[str]]] = None
    layers: list[Any]


@dataclass
class Spec:
    """A schema-checked spec."""

    source: Source
    model: SpecModel | None
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    input_src: dict[str, Path] = field(default_factory=dict)
    blocks: dict[str, BlockDef] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unknown_inputs: list[str] = field(default_factory=list)  # given but invalid: shapes unknown
    broken_blocks: set[str] = field(default_factory=set)  # defined but invalid: instances are unknown
    # Expected output shapes by output name (None: the default output), with where they are written.
    output_expect: dict[str | None, tuple[Any, Path]] = field(default_factory=dict)
    # Outputs marked training_only: true, with where the mark is written.
    training_only: dict[str, Path] = field(default_factory=dict)

    @property
    def raw_layers(self) -> list[Any]:
        data = self.source.data
        layers = data.get("layers") if isinstance(data, dict) else None
        return layers if isinstance(layers, list) else []

    @property
    def name(self) -> str:
        return self.model.name if self.model else "Model"


# ------------------------------------------------------------ error mapping


def describe_type(ann: Any) -> str:
    """A person's phrase for a field's accepted values: 'an int >= 1 or a list of ints >= 1'."""
    origin = typing.get_origin(ann)
    if origin is Annotated:
        base, *meta = typing.get_args(ann)
        bounds: dict[str, Any] = {}
        for m in meta:
            for c in getattr(m, "metadata", [m]):
                for attr in ("ge", "gt", "le", "lt"):
                    if getattr(c, attr, None) is not None:
                        bounds[attr] = getattr(c, attr)
        text = describe_type(base)
        if "ge" in bounds and "le" in bounds:
            return f"{text} from {bounds['ge']} to {bounds['le']}"
        sym = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        return " ".join([text] + [f"{sym[k]} {v}" for k, v in bounds.items()])
    if origin in (Union, types.UnionType):
        parts = [describe_type(a) for a in typing.get_args(ann) if a is not type(None)]
        if type(None) in typing.get_args(ann):
            parts.append("null")
        return " or ".join(parts)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(ann))
    if origin is list:
        (inner,) = typing.get_args(ann)
        text = describe_type(inner)
        for one, many in (
            ("an int", "ints"),
            ("a number", "numbers"),
            ("a string", "strings"),
            ("true or false", "booleans"),
        ):
            text = text.replace(one, many)
        return f"a list of {text}"
    if origin is dict:
        return "a mapping"
    return {int: "an int", float: "a number", bool: "true or false", str: "a string"}.get(
        ann, getattr(ann, "__name__", str(ann))
    )


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an int"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


_RANGE = {
    "greater_than_equal",
    "greater_than",
    "less_than_equal",
    "less_than",
    "literal_error",
    "too_short",
    "too_long",
    "value_error",
}


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


# The merges of tensors whose torch function also takes a number (torch.div(x, 8.0)), and the names a
# user gives that number: their AC101 points at Arith.
_SCALAR_OPS = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Divide": "div"}
_OP_SIGN = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_SCALAR_FIELDS = frozenset({"other", "value", "scalar", "alpha", "divisor", "factor", "scale", "y"})


def convert_errors(
    err: ValidationError,
    model: type[BaseModel],
    raw: dict[str, Any],
    src: Source,
    base: Path,
    layer_path: str | None,
    what: str,
    ignore: frozenset[str] = frozenset(),
) -> list[Diagnostic]:
    """Turn pydantic's errors into one located diagnostic per offending field (except ``ignore``)."""
    out: list[Diagnostic] = []
    by_field: dict[str, list[Any]] = {}
    for e in err.errors():
        f = e["loc"][0] if e["loc"] else ""
        if f in ignore or any(p[: len(base) + 1] == base + (f,) for p in src.reported):
            continue  # an expression that failed, or a value the loader already reported
        by_field.setdefault(str(f), []).append(e)
    fields = [n for n in model.model_fields if n not in ("inputs",) or "inputs" in raw]
    typo_of = {did_you_mean(f, fields) for f, errs in by_field.items() if errs[0]["type"] == "extra_forbidden"}
    tuples = _python_tuples(raw)
    for f, errs in by_field.items():
        first = errs[0]
        if first["type"] == "missing" and f in typo_of:
            continue  # reported as the unknown field's "did you mean"
        if f in tuples:
            if tuples[f]:  # kernel_size: (3, 3) in a {...} mapping: one mistake, said once
                written = tuples[f]
                at = src.span(base + (f,))
                if at is not None and at.line <= len(src.lines):  # as written: (1, 2, 2) has an int key
                    text = src.lines[at.line - 1][at.column - 1 :]
                    if text.startswith("(") and ")" in text:
                        written = text[: text.index(")") + 1]
                d = Diagnostic(
                    "error",
                    "AC103",
                    f"{f}: {written} is a Python tuple, which YAML reads as the text '{raw[f]}' followed by keys",
                    path=layer_path,
                    hint=f"write a list: {f}: [{written.strip('()')}]",
                )
                out.append(src.locate(d, base + (f,)))
            continue
        nested = _nested_models(model.model_fields[f].annotation) if f in model.model_fields else {}
        if nested and isinstance(raw.get(f), dict):  # a layer written inside a field (encoder_layer, norm)
            out += _convert_nested(errs, nested, raw[f], src, base + (f,), layer_path, f)
            continue
        if first["type"] == "extra_forbidden":
            guess = did_you_mean(f, fields)
            hint = f"did you mean '{guess}'?" if guess else f"{what} fields are: {', '.join(fields)}"
            if what in _SCALAR_OPS and f in _SCALAR_FIELDS:  # torch.div(x, 8.0): a scalar operand
                v = raw.get(f)
                shown = v if isinstance(v, (int, float)) and not isinstance(v, bool) else 8.0
                op = _SCALAR_OPS[what]
                hint = (
                    f"{what} combines the tensors named in inputs; for a number write "
                    f"{{type: Arith, op: {op}, value: {shown}}} (x {_OP_SIGN[op]} {shown})"
                )
            d = Diagnostic("error", "AC101", f"unknown field '{f}' for {what}", path=layer_path, hint=hint)
            out.append(src.locate(d, base + (f,), key=True))
            continue
        if first["type"] == "missing":
            d = Diagnostic("error", "AC105", f"{what} requires '{f}'", path=layer_path, hint=f"add {f}: ...")
            out.append(src.locate(d, base))
            continue
        value = raw.get(f)
        ann = model.model_fields[f].annotation if f in model.model_fields else None
        expected = describe_type(model.model_fields[f].rebuild_annotation()) if ann is not None else "a valid value"
        # Locate at the deepest element pydantic names (a list item), if it exists.
        sub: Path = ()
        key = f
        for e in errs:
            rest = [p for p in e["loc"][1:] if isinstance(p, int)]
            if rest:
                sub = tuple(rest[:1])
        if sub and isinstance(value, list) and 0 <= sub[0] < len(value):
            range_here = [e for e in errs if e["type"] in _RANGE and sub[0] in e["loc"][1:]]
            if range_here:  # name the item: "shape[2] must be >= 1, got 0"
                f, value, errs = f"{f}[{sub[0]}]", value[sub[0]], range_here
        range_errs = [e for e in errs if e["type"] in _RANGE]
        if range_errs and not isinstance(value, bool):
            e = range_errs[0]
            ctx = e.get("ctx", {})
            if e["type"] == "value_error":
                err_text = str(ctx.get("error", e["msg"]))
                msg = err_text if err_text.startswith(f) else f"{f}: {err_text}"
            elif e["type"] == "literal_error":
                msg = f"{f} must be {ctx.get('expected')}, got {_short(value)}"
            elif e["type"] == "too_short":
                msg = f"{f} needs at least {ctx.get('min_length')}, got {ctx.get('actual_length')}"
            elif e["type"] == "too_long":
                msg = f"{f} takes at most {ctx.get('max_length')}, got {ctx.get('actual_length')}"
            else:
                sym = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
                bound = next(iter(ctx.values()), "?")
                msg = f"{f} must be {sym[e['type']]} {bound}, got {_short(value)}"
            d = Diagnostic("error", "AC104", msg, path=layer_path)
            if e["type"] == "literal_error" and isinstance(value, str):
                guess = did_you_mean(value, _literals(model.model_fields[f].annotation))
                d.hint = f"did you mean '{guess}'?" if guess else None
        else:
            d = Diagnostic(
                "error",
                "AC103",
                f"{f} must be {expected}, got {_kind(value)} {_short(value)}",
                path=layer_path,
            )
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                d.hint = f"write {f}: {value.strip()} without quotes"
        out.append(src.locate(d, base + (key,) + sub))
    return out


def _python_tuples(raw: dict[str, Any]) -> dict[str, str]:
    """Python tuples written in a YAML flow mapping: ``{kernel_size: (3, 3)}`` reads as the text '(3' and
    a key '3)' without a value. Field -> the tuple as written (``(3, 3)``); each trailing key -> ''."""
    out: dict[str, str] = {}
    keys = list(raw)
    for i, k in enumerate(keys):
        v = raw[k]
        if not (isinstance(v, str) and v.lstrip().startswith("(") and ")" not in v):
            continue
        parts = [v.strip()]
        for k2 in keys[i + 1 :]:
            if raw[k2] is not None or isinstance(k2, bool) or not isinstance(k2, (str, int, float)):
                break
            parts.append(str(k2).strip())
            out[str(k2)] = ""
            if str(k2).rstrip().endswith(")"):
                out[str(k)] = ", ".join(parts)
                break
    return out


def _nested_models(ann: Any) -> dict[str, type[BaseModel]]:
    """The models a field's annotation holds, by class name (the tags of a discriminated union)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return {ann.__name__: ann}
    out: dict[str, type[BaseModel]] = {}
    for a in typing.get_args(ann):
        out.update(_nested_models(a))
    return out


class _Errors:
    """pydantic's error list for one nested field, with the field (and union tag) taken off each loc."""

    def __init__(self, errs: list[Any]) -> None:
        self._errs = errs

    def errors(self) -> list[Any]:
        return self._errs


def _convert_nested(
    errs: list[Any],
    models: dict[str, type[BaseModel]],
    raw: dict[str, Any],
    src: Source,
    where: Path,
    layer_path: str | None,
    f: str,
) -> list[Diagnostic]:
    bad_tag = next((e for e in errs if e["type"] == "union_tag_invalid"), None)
    if bad_tag is not None:
        tags = ", ".join(repr(t) for t in models)
        d = Diagnostic(
            "error", "AC104", f"{f}'s type must be one of {tags}, got {_short(raw.get('type'))}", path=layer_path
        )
        d.hint = f"use {next(iter(models))}, or leave type out"
        return [src.locate(d, where + ("type",))]
    by_model: dict[str, list[Any]] = {}
    for e in errs:
        loc = tuple(e["loc"][1:])
        name = next(iter(models))
        if loc and loc[0] in models and len(models) > 1:
            name, loc = str(loc[0]), loc[1:]
        by_model.setdefault(name, []).append({**e, "loc": loc})
    out: list[Diagnostic] = []
    for name, sub in by_model.items():
        out += convert_errors(_Errors(sub), models[name], raw, src, where, layer_path, f"{f} ({name})")  # type: ignore[arg-type]
    return out


def _literals(ann: Any) -> list[str]:
    out: list[str] = []
    if typing.get_origin(ann) is Literal:
        return [str(a) for a in typing.get_args(ann)]
    for a in typing.get_args(ann):
        out += _literals(a)
    return out


# ------------------------------------------------------------ spec building


def _sub(model: type[BaseModel], raw: Any, src: Source, where: Path, what: str, diags: list[Diagnostic]) -> Any:
    """Validate one nested part at its own place in the file; None if it is invalid."""
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        diags.extend(convert_errors(e, model, raw if isinstance(raw, dict) else {}, src, where, None, what))
        return None


def _sub_each(
    model: type[BaseModel], raw: dict[str, Any] | None, src: Source, key: str, what: str, diags: list[Diagnostic]
) -> dict[str, Any] | None:
    """``_sub`` for each entry of a mapping (``inputs``, ``blocks``); the valid ones."""
    if raw is None:
        return None
    got = {nm: _sub(model, v, src, (key, nm), f"{what} {nm}", diags) for nm, v in raw.items()}
    return {nm: v for nm, v in got.items() if v is not None}


def _validate_top(raw: dict[str, Any], src: Source, diags: list[Diagnostic]) -> SpecModel | None:
    """The spec's top level, keeping every valid part when another is wrong, so nothing cascades."""
    try:
        top = _Top.model_validate(raw)
    except ValidationError as e:
        diags.extend(convert_errors(e, _Top, raw, src, (), None, "a spec"))
        bad = {err["loc"][0] for err in e.errors() if err["loc"]}
        if "layers" in bad or not isinstance(raw.get("layers"), list):
            return None
        top = _Top.model_construct(**{k: v for k, v in raw.items() if k in _Top.model_fields and k not in bad})
    inp = _sub(InputSpec, top.input, src, ("input",), "input", diags) if top.input is not None else None
    inputs = _sub_each(InputSpec, top.inputs, src, "inputs", "input", diags)
    blocks = _sub_each(BlockDef, top.blocks, src, "blocks", "block", diags)
    dims: dict[str, Any] | None = None
    if top.dims is not None:
        dims = {}
        for nm, v in top.dims.items():
            if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
                dims[nm] = v
            elif isinstance(v, dict):
                got = _sub(DimRange, v, src, ("dims", nm), f"dim {nm}", diags)
                if got is not None and got.max is not None and got.min > got.max:
                    d = Diagnostic(
                        "error",
                        "AC312",
                        f"dim {nm}: min {got.min} is larger than max {got.max}: no size is in the range",
                        hint=f"swap them: {{min: {got.max}, max: {got.min}}}",
                    )
                    diags.append(src.locate(d, ("dims", nm)))
                elif got is not None:
                    dims[nm] = got
            else:
                d = Diagnostic(
                    "error", "AC104", f"dim {nm} must be an int >= 1 or {{min: .., max: ..}}, got {_short(v)}"
                )
                diags.append(src.locate(d, ("dims", nm)))
    return SpecModel.model_construct(
        name=top.name,
        description=top.description,
        input=inp,
        inputs=inputs,
        outputs=_outputs(top, src, diags),
        dims=dims,
        params=top.params,
        blocks=blocks,
        layers=top.layers,
        noqa=top.noqa,
    )


def _outputs(top: _Top, src: Source, diags: list[Diagnostic]) -> list[str] | None:
    """``outputs`` as names (entries with a shape are validated here; their shapes are kept by parse_spec)."""
    raw = top.outputs
    if raw is None:
        if isinstance(top.output, dict) and isinstance(top.output.get("name"), str):
            return [top.output["name"]]
        return None
    if not raw:  # forward would return nothing (torch: None)
        d = Diagnostic(
            "error",
            "AC104",
            "outputs lists no layer: the model would return nothing",
            hint="list the layers whose outputs the model returns (outputs: [fc2]), or leave outputs out "
            "to return the last layer's",
        )
        diags.append(src.locate(d, ("outputs",)))
        return None
    if isinstance(raw, dict):
        return [str(k) for k in raw]
    names: list[str] = []
    for i, e in enumerate(raw):
        if isinstance(e, str):
            names.append(e)
        elif isinstance(e, dict):
            if not isinstance(e.get("name"), str):
                d = Diagnostic(
                    "error",
                    "AC105",
                    "an outputs entry that is a mapping needs a name",
                    hint="write {name: fc2, shape: [...]} or {name: aux1, training_only: true}",
                )
                diags.append(src.locate(d, ("outputs", i)))
                continue
            names.append(e["name"])
        else:
            d = Diagnostic(
                "error",
                "AC103",
                f"outputs[{i}] must be a layer name or {{name: ..., shape: [...]}}, got {_kind(e)} {_short(e)}",
            )
            diags.append(src.locate(d, ("outputs", i)))
    return names


def _output_expect(spec: Spec, raw: dict[str, Any]) -> None:
    """Collect the expected output shapes of ``output:`` and ``outputs:``, validating each at its place."""
    src, diags = spec.source, spec.diagnostics
    out, outs = raw.get("output"), raw.get("outputs")
    if out is not None and outs is not None:
        d = Diagnostic(
            "error",
            "AC108",
            "give either 'output' or 'outputs', not both",
            hint="list each output with its shape: outputs: [{name: fc2, shape: [N, 10]}]",
        )
        diags.append(src.locate(d, ("output",), key=True))
        return
    if isinstance(out, dict):
        got = _sub(OutputSpec, out, src, ("output",), "output", diags)
        if got is not None and got.training_only:
            d = Diagnostic(
                "error",
                "AC117",
                "the model's only output cannot be training-only: in eval mode forward would return nothing",
                hint="list the outputs: outputs: [logits, {name: aux, training_only: true}]",
            )
            diags.append(src.locate(d, ("output", "training_only")))
        if got is not None and got.shape is not None:
            spec.output_expect[got.name] = (out["shape"], ("output", "shape"))
    entries: list[tuple[Any, Path, str | None]] = []
    if isinstance(outs, dict):
        entries = [(v, ("outputs", k), str(k)) for k, v in outs.items()]
    elif isinstance(outs, list):
        entries = [(e, ("outputs", i), None) for i, e in enumerate(outs) if isinstance(e, dict)]
    for v, where, key in entries:
        if isinstance(outs, dict) and v is None:
            continue  # outputs: {fc2: null}: a name without a shape
        got = _sub(OutputSpec, v, src, where, f"output {key or ''}".strip(), diags)
        if got is None:
            continue
        name = key if key is not None else got.name
        if key is not None and got.name is not None and got.name != key:
            d = Diagnostic("error", "AC108", f"outputs: the entry {key} names another layer, {got.name}")
            diags.append(src.locate(d, where + ("name",)))
            continue
        if got.training_only and name is not None:
            spec.training_only[name] = where + ("training_only",)
        if got.shape is not None:
            spec.output_expect[name] = (v["shape"], where + ("shape",))


def parse_spec(src: Source) -> Spec:
    """Schema-check the loaded data; never raises on bad input."""
    spec = Spec(source=src, model=None)
    diags = spec.diagnostics
    raw = src.data
    if src.data is None:
        return spec
    if not isinstance(raw, dict):
        diags.append(
            src.locate(Diagnostic("error", "AC103", f"a spec is a mapping with 'layers', got {_kind(raw)}"), ())
        )
        return spec
    model = _validate_top(raw, src, diags)
    if model is None:
        return spec
    spec.model = model
    _output_expect(spec, raw)
    if isinstance(raw.get("name"), str) and (p := name_problem(raw["name"])) is not None:
        diags.append(
            src.locate(
                Diagnostic("error", "AC107", f"spec name: {p}", hint="use a CamelCase class name like SimpleCNN"),
                ("name",),
            )
        )

    # Model inputs
    if model.input is not None and model.inputs is not None:
        diags.append(
            src.locate(Diagnostic("error", "AC108", "give either 'input' or 'inputs', not both"), ("inputs",), key=True)
        )
    if isinstance(model.input, InputSpec):
        nm = model.input.name or "x"
        spec.inputs[nm] = model.input
        spec.input_src[nm] = ("input",)
    elif isinstance(model.inputs, dict):
        for nm, inp in model.inputs.items():
            if isinstance(inp, InputSpec):
                spec.inputs[nm] = inp
                spec.input_src[nm] = ("inputs", nm)
    raw_in, raw_ins = raw.get("input"), raw.get("inputs")
    if raw_in is not None and model.input is None:
        given = raw_in.get("name") if isinstance(raw_in, dict) else None
        spec.unknown_inputs.append(given if isinstance(given, str) else "x")
    if isinstance(raw_ins, dict):
        spec.unknown_inputs += [k for k in raw_ins if isinstance(k, str) and k not in spec.inputs]
    if model.input is None and model.inputs is None and raw_in is None and raw_ins is None:
        diags.append(
            src.locate(
                Diagnostic("error", "AC105", "the spec has no input", hint="add input: {shape: [N, C, H, W]}"), ()
            )
        )
    for nm, where in spec.input_src.items():
        if (p := name_problem(nm)) is not None:
            diags.append(src.locate(Diagnostic("error", "AC107", f"input name: {p}"), where))

    if isinstance(raw.get("layers"), list) and not raw["layers"]:
        diags.append(src.locate(Diagnostic("error", "AC105", "the spec has no layers"), ("layers",)))
    raw_blocks = raw.get("blocks")
    if isinstance(raw_blocks, dict):
        spec.broken_blocks = {k for k in raw_blocks if isinstance(k, str) and not (model.blocks and k in model.blocks)}
    if isinstance(model.blocks, dict):
        for bname, bdef in model.blocks.items():
            where = ("blocks", bname)
            if not isinstance(bdef, BlockDef):
                continue
            if (p := name_problem(bname)) is not None:
                diags.append(src.locate(Diagnostic("error", "AC107", f"block name: {p}"), where, key=True))
                continue
            if bname in REGISTRY or bname == "Sequential":
                diags.append(
                    src.locate(
                        Diagnostic(
                            "error", "AC107", f"block name '{bname}' is also a layer type", hint="rename the block"
                        ),
                        where,
                        key=True,
                    )
                )
                continue
            for pname in list(bdef.params) + list(bdef.inputs):
                if not isinstance(pname, str) or (p := name_problem(pname)) is not None:
                    diags.append(src.locate(Diagnostic("error", "AC107", f"block {bname}: {p or pname}"), where))
            first: dict[str, int] = {}
            for i, iname in enumerate(bdef.inputs):
                if iname in first:  # forward(self, x, x) is not Python; and which x would a layer get?
                    d = Diagnostic(
                        "error",
                        "AC106",
                        f"block {bname}: the input name '{iname}' is listed twice in inputs",
                        hint="give each input of the block its own name",
                        notes=[f"first listed as inputs[{first[iname]}]"],
                    )
                    diags.append(src.locate(d, (*where, "inputs", i)))
                first.setdefault(iname, i)
            if bdef.output is not None and bdef.outputs is not None:
                d = Diagnostic(
                    "error",
                    "AC124",
                    f"block {bname} gives both output and outputs",
                    hint="use output: NAME for one output, or outputs: [a, b] for several (used as name.0, name.1)",
                )
                diags.append(src.locate(d, (*where, "outputs"), key=True))
                spec.broken_blocks.add(bname)
                continue
            if bdef.init_order is not None:
                diags += _init_order_problems(src, where, bname, bdef, model.blocks)
            spec.blocks[bname] = bdef
    return spec


def _is_operation(cls: Any) -> bool:
    """A tensor operation: no module (torch's or one the generated file defines) is created for it."""
    return cls.torch_name is None and cls.module_source is None


def _init_order_problems(
    src: Source, where: Path, bname: str, bdef: BlockDef, blocks: dict[str, BlockDef]
) -> list[Diagnostic]:
    """``init_order`` must list distinct names of the block's layers that are modules (not operations)."""
    modules: list[str] = []
    others: dict[str, str] = {}  # name -> what it is, for a named layer that creates no module
    for raw in bdef.layers:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        t = raw.get("type")
        if "use" in raw:
            others[raw["name"]] = "which calls an earlier module again (use:) and creates none"
        elif isinstance(t, str) and t not in blocks and t in REGISTRY and _is_operation(REGISTRY[t]):
            others[raw["name"]] = f"which is {t}, a tensor operation with no module"
        else:
            modules.append(raw["name"])  # a module, a Parameter, a Sequential, a block (or a type reported elsewhere)
    out: list[Diagnostic] = []
    seen: set[str] = set()
    assert bdef.init_order is not None
    for i, name in enumerate(bdef.init_order):
        if name in seen:
            msg, hint = f"block {bname}: init_order lists '{name}' twice", "list each module once"
        elif name in others:
            msg, hint = f"block {bname}: init_order lists '{name}', {others[name]}", "list only the block's modules"
        elif name not in modules:
            guess = did_you_mean(name, modules)
            msg = f"block {bname}: init_order lists '{name}', which is not a layer of the block"
            hint = f"did you mean '{guess}'?" if guess else f"the block's named modules are: {', '.join(modules)}"
        else:
            seen.add(name)
            continue
        out.append(src.locate(Diagnostic("error", "AC261", msg, hint=hint), (*where, "init_order", i)))
    return out


def load_spec(spec: str | FsPath | Mapping[str, Any], *, text: str | None = None) -> Spec:
    """Read and schema-check a spec: a file, ``text`` (named ``spec``), or the spec itself as a dict
    (checked as the same spec written in JSON, ``json.dumps(spec, indent=2)``, named ``<dict>``).
    ``archcheck.load`` is this function."""
    if isinstance(spec, Mapping):
        try:
            text = json.dumps(spec, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"a spec given as a dict must hold only JSON values (dict, list, str, int, ...): {e}"
            ) from e
        return parse_spec(load_text(text, "<dict>.json"))
    src: Source = load_text(text, str(spec)) if text is not None else load_file(str(spec))
    return parse_spec(src)
