"""Building the generated module with torch, and checking it against the static result.

``build`` executes the source that ``archcheck generate`` prints, in a fresh
module namespace. That is safe because the generator only emits validated
identifiers and checked literals and audits its output (see ``codegen``).

``verify`` runs the built module on the meta device only (no memory, no
compute: a 65536 x 65536 Linear costs nothing) with the free dims set to small
values, and compares every module's output shape (forward hooks keyed by
module path) and the parameter counts with what archcheck computed. Weights are
never materialised: where torch cannot run a model on the meta device, verify
says so rather than rebuilding it on the CPU.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ..diagnostics.text import escape
from ..engine.result import CheckResult
from ..engine.walk import check
from ..layers.base import Tensor
from ..shapes import dims as D
from ..spec.schema import DimRange, Spec, load_spec
from .codegen import CodegenError, GeneratedCodeBug, generate_module

N_DEFAULT = 2
MAX_SEARCH = 512


def module_from_result(res: CheckResult) -> Any:
    """The generated model class's instance for an ok result."""
    src, cls = generate_module(res)
    mod = types.ModuleType(f"archcheck_generated_{res.name}")
    code = compile(src, f"<archcheck generated {res.name}>", "exec")
    exec(code, mod.__dict__)  # noqa: S102 - audited generated code, see codegen.audit
    return getattr(mod, cls)()


def build(spec_or_path: Spec | str | FsPath, dims: dict[str, int] | None = None) -> Any:
    """The spec as an ``nn.Module`` (by the same path as ``archcheck generate``).

    Raises ``CodegenError`` (with the diagnostics) when the spec has errors.
    """
    res = check(spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path), dims)
    if not res.ok:
        msgs = "; ".join(d.message for d in res.diagnostics if d.severity == "error")
        raise CodegenError(f"the spec has errors: {msgs}")
    return module_from_result(res)


# ------------------------------------------------------------------ verify


def free_dims(spec: Spec) -> list[str]:
    """Names of the free dims of the model inputs, in order of appearance."""
    out: list[str] = []
    for inp in spec.inputs.values():
        for d in inp.shape if isinstance(inp.shape, list) else []:
            if isinstance(d, str) and d not in out:
                out.append(d)
    return out


def concrete_dims(spec: Spec, given: dict[str, int] | None = None) -> tuple[dict[str, int], CheckResult]:
    """Small values for every free dim: N=2 unless given, the others the smallest that check ok.

    The dims without a value are tried together (1, 2, 3, ...) up to MAX_SEARCH,
    then one by one from there downwards; the first result that checks ok wins.
    """
    values = dict(given or {})
    model_dims = spec.model.dims if spec.model is not None and isinstance(spec.model.dims, dict) else {}
    names = [n for n in free_dims(spec) if n not in values and not isinstance(model_dims.get(n), int)]
    if "N" in names:
        values["N"] = N_DEFAULT
        names.remove("N")
    if not names:
        return values, check(spec, values)
    symbolic = check(spec, values)
    if any(d.severity == "error" and not d.bindings for d in symbolic.diagnostics):
        # An error that involves no free dim: no size mends it, so no search (on a large spec
        # MAX_SEARCH checks would take minutes to find nothing).
        return values, symbolic
    lo = {n: (d.min if isinstance(d := model_dims.get(n), DimRange) else 1) for n in names}
    for v in range(1, MAX_SEARCH + 1):
        trial = {**values, **{n: max(v, lo[n]) for n in names}}
        res = check(spec, trial)
        if res.ok:
            # Lower each dim on its own while the spec stays ok (H and W may differ).
            for n in names:
                for w in range(lo[n], trial[n]):
                    r2 = check(spec, {**trial, n: w})
                    if r2.ok:
                        trial[n], res = w, r2
                        break
            return trial, res
    return {**values, **{n: lo[n] for n in names}}, check(spec, {**values, **{n: lo[n] for n in names}})


@dataclass
class Verdict:
    ok: bool
    modules: int = 0
    params: int = 0
    trainable: int = 0
    modes: str = ""  # "eval and training mode" when outputs marked training_only were checked in both
    dims: dict[str, int] = field(default_factory=dict)
    device: str = "meta"
    problems: list[str] = field(default_factory=list)

    def text(self, file: str) -> str:
        file = escape(file)
        dims = ", ".join(f"{k}={v}" for k, v in self.dims.items())
        at = f" ({dims}, {self.device})" if dims else f" ({self.device})"
        if self.ok:
            frozen = f" ({self.params - self.trainable:,} non-trainable)" if self.trainable != self.params else ""
            modes = f" in {self.modes}" if self.modes else ""
            return (
                f"{file}: verify: {self.modules} modules, shapes and {self.params:,} params{frozen} agree with "
                f"torch{modes}{at}"
            )
        lines = [f"{file}: verify: {escape(p)}" for p in self.problems]
        n = len(self.problems)
        lines.append(f"{file}: verify: {n} disagreement{'s' * (n != 1)} with torch{at}")
        return "\n".join(lines)


def _inputs(torch: Any, res: CheckResult, device: str) -> list[Any]:
    dtypes = {
        "float32": torch.float32,
        "float64": torch.float64,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "long": torch.long,
        "int64": torch.long,
        "int32": torch.int32,
        "bool": torch.bool,
    }
    out = []
    for t in res.inputs.values():
        shape = tuple(int(d) for d in t.shape)
        dt = dtypes.get(t.dtype, torch.float32)
        if dt.is_floating_point:
            out.append(torch.randn(shape, dtype=dt, device=device))
        else:  # indices: 0 is valid for every Embedding
            out.append(torch.zeros(shape, dtype=dt, device=device))
    return out


class MetaUnsupported(Exception):
    """torch has no meta-device kernel for an operation of the model: archcheck will not run it for real."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def meta_model(torch: Any, res: CheckResult) -> Any:
    """The generated model built on the meta device: its parameters take no memory."""
    with torch.device("meta"):
        return module_from_result(res)


def _is_missing_meta_kernel(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, NotImplementedError) or ("'Meta' backend" in text or "meta tensor" in text.lower())


def run_on_meta(torch: Any, res: CheckResult) -> tuple[Any, dict[str, Any]]:
    """Build and run the model on the meta device; raise MetaUnsupported where torch cannot.

    There is no CPU fallback: a model that meta cannot run would have to
    materialise its weights (17 GB for one 65536 x 65536 Linear).
    """
    try:
        return _run(torch, res, "meta")
    except Exception as e:
        if _is_missing_meta_kernel(e):
            raise MetaUnsupported(
                f"torch cannot run this model on the meta device ({type(e).__name__}: {_first_line(e)}); "
                "archcheck runs models only on the meta device, so that no weights are materialised, "
                "and does not fall back to the CPU"
            ) from e
        raise


def _run(torch: Any, res: CheckResult, device: str = "meta", train: bool = False) -> tuple[Any, dict[str, Any]]:
    """Build and run the model on ``device`` (verify passes only "meta"); outputs by module path.

    In eval mode, or with ``train`` in training mode (where outputs marked training_only exist).
    """
    with torch.device(device):
        model = module_from_result(res)
    model.train(train)
    seen: dict[str, Any] = {}
    hooks = []
    for name, m in model.named_modules():
        if not name:
            continue

        def hook(mod: Any, args: Any, out: Any, name: str = name) -> None:
            seen.setdefault(name, []).append(_shapes(out))  # every call: a module used again (use:) runs twice

        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        out = model(*_inputs(torch, res, device))
    for h in hooks:
        h.remove()
    return model, {"__out__": out, **seen}


def _shapes(out: Any) -> Any:
    """A module's output as shapes: a tuple of ints, a list for a tuple of outputs (nested), None for None."""
    if isinstance(out, (tuple, list)):
        return [_shapes(o) for o in out]
    return tuple(out.shape) if hasattr(out, "shape") else None


def _want(t: Tensor | None, values: dict[str, int]) -> Any:
    """archcheck's shapes in ``_shapes``' form: every item of a tuple output (Split, LSTM's (h_n, c_n))."""
    if t is None:
        return None
    if t.parts is not None:
        return [_want(p, values) for p in t.parts]
    return tuple(D.substitute(d, values) for d in t.shape)


def _agree(got: Any, want: Any) -> bool:
    """Torch's shapes against archcheck's; an item torch leaves out (None: MHA without weights) is not compared.

    A module whose tuple archcheck does not itemize (its output stands for the first item) compares that one,
    and so does a module that returns only its first item (the wrapper generated for nn.Sequential).
    """
    if isinstance(got, list) and not isinstance(want, list):
        return bool(got) and _agree(got[0], want)
    if isinstance(want, list) and not isinstance(got, list):  # in nn.Sequential: a wrapper gives the first item
        return bool(want) and _agree(got, want[0])
    if isinstance(got, list):
        return len(got) == len(want) and all(g is None or _agree(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want)


def _show(s: Any) -> str:
    if isinstance(s, list):
        return "(" + ", ".join(_show(x) for x in s) + ")"
    return D.fmt_shape(s) if s is not None else "?"


def verify(spec_or_path: Spec | str | FsPath, dims: dict[str, int] | None = None) -> tuple[Verdict, CheckResult]:
    """Build and run the model; compare shapes and parameter counts with the static result."""
    import torch

    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    values, res = concrete_dims(spec, dims)
    if not res.ok:
        return Verdict(False, dims=values, problems=["the spec has errors: run archcheck validate"]), res
    try:
        model, seen = run_on_meta(torch, res)
        train_seen: dict[str, Any] = {}
        if res.training_only_outputs:  # the aux heads run only in training mode: run that too
            _, train_seen = _run(torch, res, "meta", train=True)
    except MetaUnsupported as e:
        return Verdict(False, dims=values, problems=[str(e)]), res
    except (GeneratedCodeBug, CodegenError):
        raise  # archcheck's own failure, not torch's verdict
    except Exception as e:  # torch refused the model: the disagreement verify exists to find
        return Verdict(False, dims=values, problems=[f"torch raised {type(e).__name__}: {_first_line(e)}"]), res
    v = Verdict(True, dims=values)
    modules = dict(model.named_modules())
    problems = v.problems
    count = 0
    tensors = dict(model.named_parameters())
    calls: dict[str, int] = {}  # a module's calls, in order: its node, then the nodes that use it again
    for node in res.nodes:
        if node.layer is not None and hasattr(node.layer, "init_expr"):  # an nn.Parameter, not a module
            p = tensors.get(node.path)
            want = tuple(D.substitute(d, values) for d in node.output.shape) if node.output is not None else None
            if p is None:
                problems.append(f"{node.path}: no parameter at this path in the built model")
            elif tuple(p.shape) != want:
                problems.append(f"{node.path}: the parameter is {list(p.shape)} in torch, archcheck says {want}")
            continue
        if node.kind == "use":
            if node.target is None or node.target.path not in modules:
                continue
            k = calls[node.target.path] = calls.get(node.target.path, 0) + 1
            got_all = seen.get(node.target.path, [])
            want = _want(node.output, values)
            if k >= len(got_all):
                problems.append(f"{node.path}: {node.target.path} did not run again here")
            elif not _agree(got_all[k], want):
                problems.append(
                    f"{node.path} ({node.target.path} used again): output shape is {_show(got_all[k])} in torch, "
                    f"archcheck says {_show(want)}"
                )
            continue
        if node.path not in modules:
            lt = type(node.layer) if node.layer is not None else None
            if node.kind != "layer" or (lt is not None and (lt.torch_name or lt.module_source) is not None):
                problems.append(f"{node.path}: no module at this path in the built model")
            continue
        count += 1
        calls.setdefault(node.path, 0)
        want = _want(node.output, values)
        ran = train_seen if node.training_only else seen
        got = ran[node.path][0] if ran.get(node.path) else None
        if got is None and node.path not in ran:
            problems.append(f"{node.path}: the module did not run")
        elif not _agree(got, want):
            problems.append(f"{node.path}: output shape is {_show(got)} in torch, archcheck says {_show(want)}")
        n_params = sum(p.numel() for p in modules[node.path].parameters())
        if n_params != (node.params or 0):
            problems.append(f"{node.path}: {n_params:,} params in torch, archcheck says {node.params or 0:,}")
        n_train = sum(p.numel() for p in modules[node.path].parameters() if p.requires_grad)
        if n_train != node.trainable_params:
            problems.append(
                f"{node.path}: {n_train:,} trainable params in torch, archcheck says {node.trainable_params:,}"
            )
    paths = {n.path for n in res.nodes}
    leaves = tuple(n.path + "." for n in res.layers)
    for name in modules:
        if name and name not in paths and not name.startswith(leaves):  # a torch layer's own parts
            problems.append(f"{name}: a module archcheck does not know")
    total = sum(p.numel() for p in model.parameters())
    if total != res.total_params:
        problems.append(f"total params: {total:,} in torch, archcheck says {res.total_params:,}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable != res.trainable_params:
        problems.append(f"trainable params: {trainable:,} in torch, archcheck says {res.trainable_params:,}")
    modes = [("", seen, [n for n in res.outputs if n not in res.training_only_outputs])]
    if res.training_only_outputs:
        modes = [(" in eval mode", seen, modes[0][2]), (" in training mode", train_seen, list(res.outputs))]
    for mode, ran, names in modes:
        outs = ran["__out__"]
        outs = outs if isinstance(outs, tuple) else (outs,)
        if len(outs) != len(names):
            problems.append(f"forward returns {len(outs)} outputs{mode}, archcheck says {len(names)}")
        for name, o in zip(names, outs, strict=False):
            t = res.outputs[name]
            want = tuple(D.substitute(d, values) for d in t.shape) if t is not None else None
            if want != tuple(o.shape):
                problems.append(
                    f"output {name}{mode}: {list(o.shape)} in torch, archcheck says {D.fmt_shape(want or ())}"
                )
    v.modules = count
    v.params = total
    v.trainable = trainable
    v.modes = "eval and training mode" if res.training_only_outputs else ""
    v.ok = not problems
    return v, res


__all__ = ["CodegenError", "build", "verify"]
