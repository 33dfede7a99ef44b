"""Hostile inputs for generate, verify and summary --torchinfo: bounded memory, code that compiles.

Each CLI case runs the real CLI in a subprocess and checks the exit code, the
time, the child's peak memory (its own rusage) and that no traceback was printed.
Generated code is also built: executed as a module, instantiated and run on
the meta device.
"""

from __future__ import annotations

import time
import types
from pathlib import Path
from typing import Any

import pytest
from hostile_util import Result, run_cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archcheck.api import check, load

ROOT = Path(__file__).resolve().parents[1]
MAX_MB = 500
# Seconds. These commands import torch (about 2 s alone, three times that on a loaded machine) or
# check a 100,000-node spec; the 5 s bound of the hostile suite is for commands that do neither.
TIMEOUT = 60


def cli(*args: str) -> Result:
    """``archcheck ARGS`` in a subprocess (tests/hostile_util.py): exit code, time, the child's peak memory."""
    out = run_cli(*args, timeout=TIMEOUT)
    assert "Traceback" not in out.output, out.describe()
    assert out.peak_mb < MAX_MB, out.describe()
    return out


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ------------------------------------------------------------------ verify / summary --torchinfo: meta only

# 2**20 x 2**20 weights: 4 TiB at fp32. Built on the CPU it fails at once (no memory is touched), so a
# regression shows as an error here instead of paging out the machine (65536 x 65536, 17 GB, would).
HUGE_LINEAR = "name: Huge\ninput: {shape: [N, 1048576]}\nlayers:\n  - {type: Linear, out_features: 1048576}\n"
HUGE_PARAMS = 1048576 * 1048576 + 1048576


def test_verify_huge_linear_runs_on_meta_only(tmp_path: Path) -> None:
    out = cli("verify", str(write(tmp_path, HUGE_LINEAR)))
    assert out.code == 0, out.describe()
    assert f"{HUGE_PARAMS:,} params agree with torch" in out.stdout
    assert "meta)" in out.stdout


def test_summary_torchinfo_huge_linear_runs_on_meta_only(tmp_path: Path) -> None:
    out = cli("summary", "--torchinfo", str(write(tmp_path, HUGE_LINEAR)))
    assert out.code == 0, out.describe()
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("  Total params"))
    assert line.split()[2:] == [f"{HUGE_PARAMS:,}", f"{HUGE_PARAMS:,}"], line  # archcheck, torchinfo


@pytest.mark.parametrize("command", [["verify"], ["summary", "--torchinfo"]], ids=["verify", "torchinfo"])
def test_resnet50_stays_small(command: list[str]) -> None:
    out = cli(*command, "specs/resnet50.yaml")
    assert out.code == 0, out.describe()
    assert "25,557,032" in out.stdout


def _no_meta_kernel(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(
        "Could not run 'aten::_fancy_op' with arguments from the 'Meta' backend. This could be because ..."
    )


def test_verify_says_when_meta_cannot_run_and_does_not_use_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from archcheck.emit import verify

    calls: list[int] = []

    def run(torch: Any, res: Any, device: str) -> Any:
        assert device == "meta"
        calls.append(1)
        _no_meta_kernel()

    monkeypatch.setattr(verify, "_run", run)
    v, res = verify.verify(ROOT / "specs" / "lenet5.yaml")
    assert res.ok and not v.ok and len(calls) == 1  # one attempt, on meta; nothing rebuilt on the CPU
    (problem,) = v.problems
    assert "torch cannot run this model on the meta device" in problem
    assert "aten::_fancy_op" in problem and "does not fall back to the CPU" in problem
    assert v.device == "meta"


def test_verify_reports_a_torch_error_on_meta_as_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from archcheck.emit import verify

    def run(torch: Any, res: Any, device: str) -> Any:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x400 and 401x120)\nmore text")

    monkeypatch.setattr(verify, "_run", run)
    v, _ = verify.verify(ROOT / "specs" / "lenet5.yaml")
    assert v.problems == ["torch raised RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x400 and 401x120)"]


def test_torchinfo_says_when_meta_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from archcheck.emit import summary

    def fake(*args: Any, **kwargs: Any) -> Any:
        assert kwargs["device"] == "meta"
        try:
            _no_meta_kernel()
        except NotImplementedError as e:
            raise RuntimeError("Failed to run torchinfo. See above stack traces for more details.") from e

    monkeypatch.setattr(torchinfo, "summary", fake)
    text, got = summary.torchinfo_totals(check(ROOT / "specs" / "lenet5.yaml"), {})
    assert got == {}
    assert text.startswith("torchinfo: not run: torch cannot run this model on the meta device (NotImplementedError")
    assert "does not fall back to the CPU" in text


def test_verify_does_not_search_sizes_for_an_error_no_size_mends(tmp_path: Path) -> None:
    # resnet50 with free H, W and num_classes 0: the error involves no free dim. It used to try
    # H = W = 1 .. 512 (513 checks, seconds for resnet50, minutes for a large spec).
    from archcheck.emit import verify

    text = (ROOT / "specs" / "resnet50.yaml").read_text()
    text = text.replace("num_classes: 1000", "num_classes: 0").replace("[1, 3, 224, 224]", "[N, 3, H, W]")
    spec = load(write(tmp_path, text))
    calls: list[int] = []
    real = verify.check

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verify, "check", counting)
        values, res = verify.concrete_dims(spec)
    assert not res.ok and [d.code for d in res.diagnostics if d.severity == "error"] == ["AC104"]
    assert len(calls) == 1, len(calls)
    assert values == {"N": 2}


def test_verify_still_finds_sizes_for_an_error_that_depends_on_them(tmp_path: Path) -> None:
    # Flatten -> Linear(in_features=100): ok only for some H, W (4*(H-2)*(W-2) == 100).
    from archcheck.emit.verify import verify

    p = write(
        tmp_path,
        "input: {shape: [N, 3, H, W]}\nlayers:\n  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n"
        "  - {type: Flatten}\n  - {type: Linear, in_features: 100, out_features: 3}\n",
    )
    v, res = verify(p)
    assert v.ok and res.ok, v.problems
    assert 4 * (v.dims["H"] - 2) * (v.dims["W"] - 2) == 100


# ------------------------------------------------------------------ generate: the largest allowed specs


def _tree(depth: int) -> str:
    """Blocks nested ``depth`` deep, each instance with its own param: 2**(depth+1) Linear layers."""
    lines = [
        "name: Tree",
        "input: {shape: [N, 4]}",
        "blocks:",
        "  B0:",
        "    params: {p: 1}",
        "    layers:",
        "      - {type: Linear, out_features: $p}",
        "      - {type: Linear, out_features: 4}",
    ]
    for k in range(1, depth + 1):
        lines += [
            f"  B{k}:",
            "    params: {p: 1}",
            "    layers:",
            f"      - {{type: B{k - 1}, p: $p}}",
            f"      - {{type: B{k - 1}, p: $p + 1}}",
        ]
    return "\n".join([*lines, "layers:", f"  - {{type: B{depth}, p: 1}}", ""])


LARGEST = {
    # 65,535 nodes (the engine's limit is 100,000): block nesting makes codegen walk instances in instances
    "nested_blocks": _tree(14),
    # 99,981 nodes: one repeat of 49,990 copies (each a Sequential around the layer)
    "repeat": "name: Rep\ninput: {shape: [N, 8]}\nlayers:\n"
    "  - {type: Sequential, repeat: 49990, layers: [{type: Linear, out_features: 8}]}\n",
}


@pytest.mark.parametrize("name", sorted(LARGEST))
def test_generate_largest_specs_stay_small(tmp_path: Path, name: str) -> None:
    p = write(tmp_path, LARGEST[name])
    out = cli("generate", str(p), "-o", str(tmp_path / "model.py"))
    assert out.code == 0, out.describe()
    compile((tmp_path / "model.py").read_text(), "model.py", "exec")


def test_generate_of_nested_blocks_is_linear_not_quadratic() -> None:
    # It walked every block instance's whole subtree once per ancestor (and per type): 6.8 s of CPU
    # for depth 14; now about as long as checking the spec. CPU time, so that a loaded machine counts less.
    from archcheck.emit.codegen import generate

    res = check(load("tree.yaml", text=LARGEST["nested_blocks"]))
    assert res.ok
    t = time.process_time()
    src = generate(res)
    assert time.process_time() - t < 5.0
    assert src.count("class B") == 15


# ------------------------------------------------------------------ helpers for built code


def build_module(src: str) -> types.ModuleType:
    mod = types.ModuleType("generated")
    exec(compile(src, "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output, audited
    return mod


def built(text: str, name: str = "spec.yaml") -> tuple[str, Any]:
    """Generate the spec's code and prove it works: verify builds it (exec, instantiate on meta),
    runs it on meta inputs and compares every module's shape and parameter count with archcheck."""
    from archcheck.emit.codegen import generate
    from archcheck.emit.verify import verify

    spec = load(name, text=text)
    res = check(spec)
    assert res.ok, [d.message for d in res.diagnostics]
    src = generate(res)
    v, _ = verify(spec)
    assert v.ok, v.problems
    return src, res


# ------------------------------------------------------------------ generated code never shadows a name it uses

# A block whose params are named after builtins: `range` is used by the loop a repeat makes in the
# same __init__, and by the $ expression; `len` and `int` are not used by the code, so they stay.
BUILTIN_PARAMS = """\
name: Shadow
input: {shape: [N, 3]}
blocks:
  B:
    params: {range: 4, len: 3, int: 2}
    layers:
      - {type: Linear, in_features: 3, out_features: $range}
      - {type: Sequential, repeat: $int, layers: [{type: Linear, out_features: $len}]}
      - {type: Linear, out_features: 3}
layers:
  - {type: B, range: 4, len: 3, int: 3}
  - {type: B, range: 5, len: 6, int: 3}
"""


def test_block_param_named_like_a_builtin_the_code_uses_is_renamed() -> None:
    src, res = built(BUILTIN_PARAMS)
    # `range` is renamed in Python; `len` is not used by the code, so it stays; `int` is the same in
    # both instances, so it is no parameter at all.
    assert "def __init__(self, range_, len):" in src
    assert "out_features=range_" in src and "B(range_=4, len=3)" in src
    assert "for _ in range(2):" in src  # the builtin, not the param
    assert {n.path for n in res.nodes} >= {"b1.linear1", "b2.sequential1.2.0"}  # the spec's names are kept


def test_block_param_named_like_a_builtin_generates_from_the_cli(tmp_path: Path) -> None:
    p = write(tmp_path, BUILTIN_PARAMS)
    out = cli("generate", str(p), "-o", str(tmp_path / "m.py"))
    assert out.code == 0, out.describe()
    compile((tmp_path / "m.py").read_text(), "m.py", "exec")


def test_names_like_builtins_everywhere() -> None:
    # The model, a block, the model input and the block input are all named `range`; repeats use
    # range() in both __init__ methods. The state_dict keys keep the spec's names.
    text = """\
name: range
inputs: {range: {shape: [N, 4]}}
blocks:
  range:
    inputs: [range]
    layers:
      - {name: fc, type: Linear, out_features: 4, inputs: [range]}
      - {type: Sequential, repeat: 3, layers: [ReLU]}
layers:
  - {name: len, type: range, inputs: [range]}
  - {type: Sequential, repeat: 2, layers: [{type: Linear, out_features: 4}]}
"""
    src, res = built(text)
    mod = build_module(src)
    assert not hasattr(mod, "range")  # nothing at module level shadows the builtin
    assert "class rangeBlock(nn.Module):" in src and "class rangeModel(nn.Module):" in src
    assert "def forward(self, range_):" in src and "range_ = self.fc(range_)" in src
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        m = mod.rangeModel()
    assert set(m.state_dict()) == {
        "len.fc.weight",
        "len.fc.bias",
        *(f"sequential1.{i}.0.{w}" for i in (0, 1) for w in ("weight", "bias")),
    }


def test_a_block_param_named_like_a_class_the_init_builds() -> None:
    # Block A has a param `B` and builds block B: `self.b1 = B(...)` must not call the int.
    text = """\
name: M
input: {shape: [N, 3]}
blocks:
  B:
    params: {w: 2}
    layers: [{type: Linear, out_features: $w}]
  A:
    params: {B: 2}
    layers:
      - {type: B, w: $B}
layers:
  - {type: A, B: 4}
  - {type: A, B: 5}
"""
    src, _ = built(text)
    assert "def __init__(self, B_, in_features):" in src
    assert "self.b1 = B(w=B_, in_features=in_features)" in src


def test_a_layer_named_like_a_class_and_params_colliding_after_renaming() -> None:
    # range -> range_ must not take the name of the param that is already called range_.
    text = """\
name: M
input: {shape: [N, 3]}
blocks:
  B:
    params: {range: 2, range_: 3}
    layers:
      - {type: Linear, in_features: 3, out_features: $range}
      - {type: Sequential, repeat: 2, layers: [{type: Linear, out_features: $range_}]}
      - {type: Linear, out_features: 3}
layers:
  - {type: B, range: 4, range_: 5}
  - {name: B, type: B, range: 6, range_: 7}
"""
    src, _ = built(text)
    assert "def __init__(self, range__, range_):" in src
    assert "self.b1 = B(range__=4, range_=5)" in src and "self.B = B(range__=6, range_=7)" in src


@pytest.mark.parametrize("name", ["super", "torch", "nn", "F", "self"])
def test_names_the_code_cannot_rename_are_refused(name: str, tmp_path: Path) -> None:
    text = f"input: {{shape: [N, 3]}}\nblocks:\n  B:\n    params: {{{name}: 2}}\n    layers: [ReLU]\nlayers: [B]\n"
    out = cli("validate", str(write(tmp_path, text)))
    assert out.code == 1 and "AC107" in out.stdout, out.describe()


# ------------------------------------------------------------------ duplicate inputs, compile()


DUP_INPUTS = """\
input: {shape: [N, 3]}
blocks:
  B:
    inputs: [x, x]
    layers:
      - {type: Add, inputs: [x, x]}
layers:
  - {type: B, inputs: [x, x]}
"""


def test_duplicate_block_input_is_a_located_spec_error(tmp_path: Path) -> None:
    p = write(tmp_path, DUP_INPUTS)
    out = cli("generate", str(p), "-o", str(tmp_path / "m.py"))
    assert out.code == 1, out.describe()
    assert f"{p}:4:17: error AC106 block B: the input name 'x' is listed twice in inputs" in out.stderr
    assert not (tmp_path / "m.py").exists()


def test_audit_compiles_the_module() -> None:
    from archcheck.emit.codegen import GeneratedCodeBug, audit

    src = "from torch import nn\n\n\nclass B(nn.Module):\n    def forward(self, x, x):\n        return x\n"
    with pytest.raises(GeneratedCodeBug, match="does not compile"):
        audit(src)


def test_audit_refuses_a_local_that_shadows_a_global_the_code_uses() -> None:
    from archcheck.emit.codegen import GeneratedCodeBug, audit

    src = (
        "from torch import nn\n\n\nclass B(nn.Module):\n    def __init__(self, range):\n"
        "        super().__init__()\n        for _ in range(2):\n            pass\n"
    )
    with pytest.raises(GeneratedCodeBug, match="'range' shadows"):
        audit(src, {"nn", "super", "range", "B"})
    with pytest.raises(GeneratedCodeBug, match="did not declare"):
        audit(src.replace("range(2)", "len([])").replace("self, range", "self"), {"nn", "super", "B"})


def test_a_generated_code_bug_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exit 3 is right only for archcheck's own bug: simulate one in the audit.
    from conftest import run_cli as run_in_process

    from archcheck.emit import codegen

    def broken(src: str, *args: Any, **kwargs: Any) -> None:  # audit(src, globals, module_names)
        raise codegen.GeneratedCodeBug("the generated code does not compile: duplicate argument 'x'")

    monkeypatch.setattr(codegen, "audit", broken)
    r = run_in_process("generate", "specs/lenet5.yaml")
    assert r.exit_code == 3, r.output
    assert "duplicate argument 'x'" in r.output and "bug in archcheck" in r.output


# ------------------------------------------------------------------ names drawn from what the code uses

# Builtins the code calls, names of the classes it defines, the locals it picks (x, out) and their
# renamed forms: every spec name is drawn from these, so collisions are the rule, not the exception.
POOL = ["range", "range_", "len", "x", "out", "x_", "B", "M", "Linear", "sequential1", "fc"]


@st.composite
def named_specs(draw: Any) -> str:
    def names(k: int) -> list[str]:
        return draw(st.lists(st.sampled_from(POOL), min_size=k, max_size=k, unique=True))

    model, block, inp = names(1)[0], names(1)[0], names(1)[0]
    p1, p2 = names(2)
    bin_ = names(1)[0]
    inner = [n for n in names(2) if n != bin_]
    outer = [n for n in names(2) if n != inp]
    reps = draw(st.integers(2, 3))
    body = [
        f"      - {{name: {inner[0]}, type: Linear, out_features: ${p1}}}"
        if inner
        else "      - {type: Linear, out_features: $" + p1 + "}",
        f"      - {{type: Sequential, repeat: {reps}, layers: [{{type: Linear, out_features: ${p2}}}]}}",
    ]
    if len(inner) > 1:
        body.append(f"      - {{name: {inner[1]}, type: Linear, out_features: 4}}")
    top = [
        f"  - {{{'name: ' + outer[i] + ', ' if i < len(outer) else ''}type: {block}, {p1}: {3 + i}, {p2}: {5 + i}}}"
        for i in range(2)
    ]
    return "\n".join(
        [
            f"name: {model}",
            f"inputs: {{{inp}: {{shape: [N, 4]}}}}",
            "blocks:",
            f"  {block}:",
            f"    params: {{{p1}: 1, {p2}: 1}}",
            f"    inputs: [{bin_}]",
            "    layers:",
            *body,
            "layers:",
            *top,
            "",
        ]
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(named_specs())
def test_generated_code_works_whatever_the_names(text: str) -> None:
    res = check(load("named.yaml", text=text))
    assume(res.ok)  # a block named like a layer type, a layer named like an input: spec errors
    src, _ = built(text)
    compile(src, "named.py", "exec")
