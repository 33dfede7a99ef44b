"""The JSON Schema of the spec format, for editors (``archcheck schema``).

Draft-07, the draft the YAML language server (the redhat.vscode-yaml
extension) supports best. It is built from the same pydantic models that
validate specs: the top level from ``schema.SpecModel``, each layer type from
its registered model's ``model_json_schema()``. A layer is

* a bare type name (``- ReLU``): an enum of the known types, or a block name;
* a mapping, one ``oneOf`` branch per known type, discriminated by
  ``type: {const: Conv2d}`` and closed with ``additionalProperties: false`` so
  that a typo'd field is flagged in the editor; plus ``Sequential`` (with
  ``layers``) and block instances (any other identifier as ``type``; their
  params are defined by the spec, so any further field is allowed).

Every field that is not a plain string also accepts a ``$`` expression string
(``$width * 2``), as the engine evaluates those before validating; inside
lists too. ``repeat`` is accepted on every layer.

In a spec without ``blocks:`` every type must be a known one (an ``if``/``then``
on the top level), so ``type: NotALayer`` is flagged there. What JSON Schema
cannot see, archcheck still checks: whether a block type is defined in the
spec's ``blocks:``, names and references, shapes. One
approximation: a block whose name equals a known type's up to case
(``BatchNorm2D``) is flagged by the schema, because it is far more often a
typo of the type than a block.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

from pydantic import BaseModel

from ..layers.base import REGISTRY, Layer
from .schema import SpecModel

SCHEMA_URI = "http://json-schema.org/draft-07/schema#"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
EXPR_DEF: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\$",
    "description": "A $ expression over the spec's params, e.g. $width * 2",
}
EXPR: dict[str, Any] = {"$ref": "#/definitions/expr"}
REPEAT: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        EXPR,
        {
            "type": "object",
            "properties": {
                "count": {"anyOf": [{"type": "integer", "minimum": 1}, EXPR], "description": "How many copies."},
                "name": {
                    "type": "string",
                    "pattern": r"\{i\}",
                    "description": "The copies' names: {i} is the copy's number (denselayer{i}, block1-{i}). "
                    "On an entry without a name of its own, the copies are placed in the enclosing list.",
                },
                "start": {
                    "anyOf": [{"type": "integer", "minimum": 0}, EXPR],
                    "description": "The first copy's number (default 0); needs name.",
                },
            },
            "required": ["count"],
            "additionalProperties": False,
        },
    ],
    "description": "Copies of this layer: k makes an nn.Sequential of k copies named 0..k-1; "
    '{count: 6, name: "denselayer{i}", start: 1} names them denselayer1..denselayer6.',
}
TRAINABLE: dict[str, Any] = {
    "anyOf": [{"type": "boolean"}, EXPR],
    "description": "false freezes the parameters of this layer (or Sequential, block instance, repeat) "
    "and of everything in it: requires_grad_(False); counted as non-trainable.",
}
WHEN: dict[str, Any] = {
    "anyOf": [{"type": "boolean"}, EXPR],
    "description": 'A condition over params ($downsample, "$stride == 1 and inp == oup"): when false, the '
    "entry is an nn.Identity of the same name that passes its first input on.",
}
NAME: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "pattern": r"^[^.]*$",
    "description": "The module's name in its parent (its state_dict key part): an identifier such as conv1, "
    "or any text torch's add_module takes, without a dot (block1-0); made up if left out.",
}
EXPECT_DEF: dict[str, Any] = {
    "type": "array",
    "items": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
    "description": "The expected output shape, checked: ints, free dim names (N, H), $ expressions, "
    "_ (any size), ... (any number of dims). On a Sequential, block or repeat: the output of the whole.",
}
EXPECT: dict[str, Any] = {"$ref": "#/definitions/expect"}
NOQA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    "description": "Warning codes silenced on this layer (and inside it), as ruff's noqa: [AC401].",
}
_NON_EXPR_FIELDS = frozenset({"name", "inputs", "noqa", "tie"})  # the engine passes these through unevaluated


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


# ------------------------------------------------------------ $ expressions


def _plain_string(s: dict[str, Any]) -> bool:
    """A schema every string satisfies (so "$..." already is)."""
    return s.get("type") == "string" and not (
        {"enum", "const", "pattern", "minLength", "maxLength", "format"} & s.keys()
    )


def _with_expr(s: dict[str, Any]) -> dict[str, Any]:
    """``s``, also accepting a ``$`` expression (and list items that are)."""
    s = dict(s)
    if "items" in s and isinstance(s["items"], dict):
        s["items"] = _with_expr(s["items"])
    if "anyOf" in s:
        branches = [_with_expr(b) if "anyOf" in b else _items_expr(b) for b in s["anyOf"]]
        if not any(_plain_string(b) or b == EXPR for b in branches) and any(b.get("type") != "null" for b in branches):
            branches.append(EXPR)
        s["anyOf"] = branches
        return s
    if s.get("type") == "null" or _plain_string(s) or "$ref" in s or s == {} or s == EXPR:
        return s
    keep: dict[str, Any] = {k: s.pop(k) for k in ("title", "description", "default") if k in s}
    return {**keep, "anyOf": [s, EXPR]}


def _items_expr(s: dict[str, Any]) -> dict[str, Any]:
    if "items" in s and isinstance(s["items"], dict):
        s = dict(s)
        s["items"] = _with_expr(s["items"])
    return s


# ------------------------------------------------------------ layer types


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _describe(cls: type[Layer]) -> str:
    own = cls.__dict__.get("__doc__")
    parts = [_first_line(own)] if own else []
    if (cls.module_source or cls.function_source) is not None:
        parts.append("Not in torch: generated code defines it (no torchvision import), with the same state_dict keys.")
    elif cls.torch_name:
        full = f"torch.{cls.torch_name}"
        parts.append(
            f"{full}: the same arguments, names and defaults. https://pytorch.org/docs/stable/generated/{full}.html"
        )
    else:
        parts.append("A tensor operation (no nn module): emitted as a torch function call.")
    mod = _first_line(sys.modules[cls.__module__].__doc__)
    if mod:
        parts.append(f"Family: {mod}")
    return " ".join(parts)


def _layer_schema(tname: str, cls: type[Layer]) -> dict[str, Any]:
    raw = cls.model_json_schema(ref_template="#/definitions/{model}")
    if "$defs" in raw:  # a layer written inside a field (TransformerEncoder's encoder_layer): inline it
        raw = _inline(raw, raw.pop("$defs"))
    props: dict[str, Any] = {
        "type": {"const": tname, "description": f"The layer type {tname}."},
        "repeat": REPEAT,
        "expect": EXPECT,
    }
    for fname, fs in raw.get("properties", {}).items():
        fs = dict(fs)
        info = cls.model_fields.get(fname)
        if info is not None and info.description and "description" not in fs:
            fs["description"] = info.description
        props[fname] = fs if fname in _NON_EXPR_FIELDS else _with_expr(fs)
    props["name"] = NAME
    props["trainable"] = TRAINABLE
    props["when"] = WHEN
    props["inputs"]["description"] = (
        "Earlier layers (or model inputs) this layer takes; default: the previous layer. One output of a "
        "layer with several (Split, LSTM's (output, (h_n, c_n)), a block's outputs) is name.0, name.1, name.1.0."
    )
    props["noqa"] = NOQA
    if "tie" in props:
        props["tie"]["description"] = (
            "Tied weights: {weight: wte.weight} makes this layer's parameter that module's (one Parameter, "
            "counted once); the path is read from this layer's scope."
        )
    return {
        "title": tname,
        "description": _describe(cls),
        "type": "object",
        "properties": props,
        "required": ["type", *[r for r in raw.get("required", []) if r != "type"]],
        "additionalProperties": False,
    }


def _inline(s: Any, defs: dict[str, Any]) -> Any:
    """``s`` with each ``$ref`` to a nested model replaced by that model's object schema.

    Its fields accept ``$`` expressions like a layer's; its meta fields (name, inputs, noqa) are left
    out, and ``type`` names the nested type (optional).
    """
    if isinstance(s, list):
        return [_inline(v, defs) for v in s]
    if not isinstance(s, dict):
        return s
    if "$ref" in s and s["$ref"].rsplit("/", 1)[-1] in defs:
        d = defs[s["$ref"].rsplit("/", 1)[-1]]
        props = {
            k: (_with_expr(_inline(v, defs)) if k != "type" else v)
            for k, v in d.get("properties", {}).items()
            if k not in _NON_EXPR_FIELDS
        }
        out = {k: v for k, v in d.items() if k not in ("properties", "required")}
        out.update(properties=props, additionalProperties=False)
        req = [r for r in d.get("required", []) if r in props]
        if req:
            out["required"] = req
        return out
    out = {k: _inline(v, defs) for k, v in s.items()}
    if "discriminator" in out:  # pydantic's OpenAPI-style discriminator: not a draft-07 keyword
        del out["discriminator"]
    tags = [b.get("properties", {}).get("type", {}).get("const") for b in out.get("oneOf", [])]
    if tags and all(isinstance(t, str) for t in tags):  # a bare type name stands for {type: name}
        out["oneOf"].append({"enum": tags, "description": "A type with its default arguments."})
    return out


def _ci_pattern(names: list[str]) -> str:
    """A pattern matching any of ``names`` regardless of case (ECMA regex has no (?i))."""

    def one(n: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in n)

    return "^(?:" + "|".join(one(n) for n in names) + ")$"


# ------------------------------------------------------------ the whole schema


def _defs_of(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    raw = model.model_json_schema(ref_template="#/definitions/{model}")
    defs = raw.pop("$defs", {})
    return raw, defs


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of archcheck specs, as a dict; deterministic."""
    types = sorted(REGISTRY)
    known = [*types, "Sequential"]
    block_type = {
        "type": "string",
        "pattern": IDENT,
        "not": {"pattern": _ci_pattern(sorted(known))},
        "description": "A block defined under the spec's blocks:",
    }
    defs: dict[str, Any] = {}

    top, model_defs = _defs_of(SpecModel)
    for k, v in model_defs.items():
        defs[k] = v
    layer_list = {"type": "array", "items": _ref("layer")}
    top["properties"]["layers"] = {
        **layer_list,
        "description": "The layers; each takes the previous one's output unless 'inputs' says otherwise.",
    }
    defs["BlockDef"]["properties"]["layers"] = {**layer_list, "description": "The block's layers; its input is x."}
    defs["BlockDef"]["properties"]["outputs"]["description"] = (
        "Several outputs, returned as a tuple: an instance named blk is used as blk.0, blk.1 (instead of output)."
    )

    descriptions = {
        "name": "The model's name: the generated nn.Module class name.",
        "input": "The model's one input, referred to as x (or its name).",
        "inputs": "Several named model inputs.",
        "output": "The model's one output, with its expected shape: {shape: [N, 1, H, W]} (checked).",
        "outputs": "The layers whose outputs are the model's outputs (default: the last layer), or one output "
        "of a layer with several (qkv.0, lstm.1.0); an entry may give the expected shape: {name: fc2, shape: [N, 10]}, or a mapping {fc2: {shape: [N, 10]}}.",
        "dims": "Values (or ranges) of free dims such as N, H, W.",
        "params": "Spec parameters used in $ expressions, e.g. width: 16.",
        "blocks": "Named, parameterised blocks, used as a layer {type: BlockName, param: value}.",
        "noqa": "Warning codes silenced in the whole file, as ruff's noqa: [AC408].",
    }
    top["properties"]["outputs"] = {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, _ref("OutputSpec")]}, "minItems": 1},
            {
                "type": "object",
                "additionalProperties": {"anyOf": [_ref("OutputSpec"), {"type": "null"}]},
                "minProperties": 1,
            },
        ]
    }
    for k, d in descriptions.items():
        top["properties"][k].setdefault("description", d)
    defs["InputSpec"]["properties"]["shape"].setdefault("description", "Ints, or names (N, H, W, ...) for free dims.")

    layer_defs = {f"layer.{t}": _layer_schema(t, REGISTRY[t]) for t in types}
    defs.update(layer_defs)
    defs["layer.Sequential"] = {
        "title": "Sequential",
        "description": "nn.Sequential: nested layers forming a chain; unnamed children are numbered 0, 1, ...",
        "type": "object",
        "properties": {
            "type": {"const": "Sequential"},
            "name": NAME,
            "inputs": {"type": "array", "items": {"type": "string"}},
            "repeat": REPEAT,
            "expect": EXPECT,
            "noqa": NOQA,
            "trainable": TRAINABLE,
            "when": WHEN,
            "layers": {**layer_list, "minItems": 1},
        },
        "required": ["type", "layers"],
        "additionalProperties": False,
    }
    defs["layer.block"] = {
        "title": "block instance",
        "description": "An instance of a block defined under blocks:; the other fields are the block's params.",
        "type": "object",
        "properties": {
            "type": _ref("blockType"),
            "name": NAME,
            "inputs": {"type": "array", "items": {"type": "string"}},
            "repeat": REPEAT,
            "expect": EXPECT,
            "noqa": NOQA,
            "trainable": TRAINABLE,
            "when": WHEN,
        },
        "required": ["type"],
        "additionalProperties": True,
    }
    defs["layer.use"] = {
        "title": "use",
        "description": "An earlier module of the same scope called again (shared weights, counted once): "
        "{use: tower, inputs: [b]}.",
        "type": "object",
        "required": ["use"],
        # the fields only apply to an entry that says use (so a typo in another layer's type gets no noise from here)
        "if": {"required": ["use"]},
        "then": {
            "properties": {
                "use": {"type": "string", "description": "The name of an earlier layer, Sequential or block instance."},
                "name": {"type": "string"},
                "inputs": {"type": "array", "items": {"type": "string"}},
                "expect": EXPECT,
                "noqa": NOQA,
            },
            "additionalProperties": False,
        },
    }
    defs["expr"] = EXPR_DEF
    defs["expect"] = EXPECT_DEF
    defs["blockType"] = block_type
    defs["layer"] = {
        "description": "A layer: a mapping with 'type', or a bare type name (ReLU for {type: ReLU}).",
        "oneOf": [
            {"title": "type name", "type": "string", "enum": types},
            {**_ref("blockType"), "title": "block name"},
            *[_ref(f"layer.{t}") for t in known],
            _ref("layer.block"),
            _ref("layer.use"),
        ],
    }
    # A spec without `blocks:` can name no block, so there every type must be a known one: the same
    # layer schema without the block branches (Sequential's children included), applied by if/then.
    defs["layer.Sequential.noBlocks"] = {
        **defs["layer.Sequential"],
        "properties": {
            **defs["layer.Sequential"]["properties"],
            "layers": {"type": "array", "items": _ref("layer.noBlocks"), "minItems": 1},
        },
    }
    defs["layer.noBlocks"] = {
        "description": "A layer of a spec without blocks: a known type (a mapping with 'type', or its bare name).",
        "oneOf": [
            {"title": "type name", "type": "string", "enum": types},
            *[_ref(f"layer.{t}") for t in types],
            _ref("layer.Sequential.noBlocks"),
            _ref("layer.use"),
        ],
    }
    no_blocks = {
        "if": {"not": {"required": ["blocks"]}},
        "then": {"properties": {"layers": {"type": "array", "items": _ref("layer.noBlocks")}}},
    }
    return {
        "$schema": SCHEMA_URI,
        "title": "archcheck spec",
        "description": "A declarative neural-network spec checked by archcheck (see its README).",
        **{k: v for k, v in top.items() if k not in ("title",)},
        **no_blocks,
        "definitions": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    """The schema as it is written to docs/archcheck.schema.json."""
    return json.dumps(copy.deepcopy(build_schema()), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
