"""Fuzzing: archcheck never crashes, never hangs, and locates every diagnostic.

Three generators (hypothesis), each run through the public API (``load`` with
``text=``, then ``check``) and the CLI in-process (click's CliRunner):

a. arbitrary YAML/JSON trees (and spec-shaped trees with random layers),
b. mutations of the parsed data of the valid specs in specs/ (deleted and
   misspelt keys, values of another type, layers duplicated/removed/reordered,
   other type names, swapped ``inputs``, ``$`` expressions, huge ``repeat``),
   with ``archcheck.build`` on the ok variants of the small specs,
c. raw text and byte mutations of the valid specs (YAML parser edge cases).

Properties: no exception escapes the API; the CLI exits 0, 1 or 2 (never 3,
the internal-error exit) without a traceback; JSON output parses; every
diagnostic's code is in the code table, and its line/column is None or inside
the file; no example takes longer than ``TIMEOUT`` seconds (a hang fails).

The suite runs a few hundred examples (derandomized, so CI is reproducible);
``ARCHCHECK_FUZZ_EXAMPLES=20000`` runs that many per test, with fresh random
seeds (see docs/fuzzing.md). Regressions found by fuzzing are at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import threading
import time
import types
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archcheck.api as api
from archcheck.cli.app import main
from archcheck.diagnostics.codes import CODES
from archcheck.layers.base import REGISTRY
from archcheck.spec import schema  # noqa: F401  (fills the registry)

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
VALID = sorted(p for p in SPECS.glob("*.yaml") if not p.name.startswith("broken_"))
SMALL = [SPECS / "lenet5.yaml", SPECS / "simple_cnn.yaml"]
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in VALID}
DATA = {p.name: yaml.safe_load(t) for p, t in ((p, TEXTS[p.name]) for p in VALID)}

_LONG = os.environ.get("ARCHCHECK_FUZZ_EXAMPLES")
LONG = int(_LONG) if _LONG else None
TIMEOUT = 20  # seconds per example; the slowest valid spec checks in well under 1 s


def fuzz(n: int, build: bool = False) -> Any:
    """Settings: ``n`` derandomized examples, or ARCHCHECK_FUZZ_EXAMPLES random ones."""
    if LONG is not None:
        n = max(1, LONG // 20) if build else LONG
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=LONG is None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# ------------------------------------------------------------------ the properties


@contextmanager
def time_limit(seconds: int = TIMEOUT):
    """Fail an example that hangs: more than ``seconds`` of this process's CPU time.

    CPU time (``ITIMER_PROF``, user + system), not wall time: a long run shares
    the machine, and a loaded machine stretches wall time several-fold without
    archcheck doing more work. A wall-clock alarm at ten times the limit still
    catches a process that blocks without using the CPU. Anything above a
    quarter of the limit is appended, with the spec, to the file named by
    ``ARCHCHECK_FUZZ_SLOW_LOG`` (if set), so that a long run keeps its slow
    examples even when none fails.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def hang(signum: int, frame: Any) -> None:
        what = "CPU" if signum == signal.SIGPROF else "wall-clock"
        raise TimeoutError(f"an example took longer than {seconds} s of {what} time: a hang")

    old_alarm = signal.signal(signal.SIGALRM, hang)
    old_prof = signal.signal(signal.SIGPROF, hang)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.alarm(seconds * 10)
    t0 = time.process_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGPROF, old_prof)
        spent = time.process_time() - t0
        if spent > seconds / 4 and SLOW_LOG:
            with open(SLOW_LOG, "a", encoding="utf-8", errors="backslashreplace") as f:
                f.write(f"=== {spent:.1f} s CPU\n{_CURRENT.get('what', '?')}\n")


SLOW_LOG = os.environ.get("ARCHCHECK_FUZZ_SLOW_LOG")
_CURRENT: dict[str, str] = {}


_BREAKS = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")


def check_locations(diags: list[dict[str, Any]], text: str | None, file: str) -> None:
    """Every code is in the table; line/column None or inside ``text``."""
    for d in diags:
        assert d["code"] in CODES, d
        assert d["severity"] in ("error", "warning", "note"), d
        assert isinstance(d["message"], str) and d["message"], d
        if d.get("file") is not None:
            assert d["file"] == file, d
        if d["line"] is None or text is None:
            continue
        # Lines as YAML counts them (any line break), as Python does, or by
        # "\n" only; the mark after the last character may be one past the end.
        assert any(_inside(d["line"], d["column"], lines) for lines in _line_splits(text)), d


def _line_splits(text: str) -> list[list[str]]:
    return [_BREAKS.split(text), text.split("\n"), text.splitlines() + [""]]


def _inside(line: int, column: int | None, lines: list[str]) -> bool:
    if not 1 <= line <= len(lines):
        return False
    return column is None or 1 <= column <= len(lines[line - 1]) + 1


def check_api(text: str, name: str = "spec.yaml") -> Any:
    """load(text=) and check(): no exception; returns the result."""
    _CURRENT["what"] = f"api.check of {name}:\n{text[:20000]}"
    with time_limit():
        spec = api.load(name, text=text)
        res = api.check(spec)
    ds = [d.to_json() for d in res.diagnostics]
    json.dumps(ds)  # serialisable
    check_locations(ds, text, name)
    if res.ok:
        assert not any(d.severity == "error" for d in res.diagnostics)
    return res


_TMP = Path(tempfile.mkdtemp(prefix="archcheck-fuzz-"))


def write(content: str | bytes, name: str = "spec.yaml") -> Path:
    p = _TMP / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_bytes(content.encode("utf-8", "surrogatepass"))
    return p


def cli(*args: str) -> tuple[int, str, str]:
    """Run `archcheck ARGS` in-process: exit 0, 1 or 2, no traceback, no escaped exception."""
    _CURRENT["what"] = f"archcheck {args!r}\n" + "".join(
        Path(a).read_text(encoding="utf-8", errors="replace")[:20000] for a in args if a.startswith(str(_TMP))
    )
    with time_limit():
        r = CliRunner().invoke(main, list(args), catch_exceptions=True)
    exc = r.exception
    assert exc is None or isinstance(exc, SystemExit), f"archcheck {' '.join(args)} raised {exc!r}"
    out, err = r.stdout, r.stderr
    assert r.exit_code in (0, 1, 2), f"archcheck {' '.join(args)} exited {r.exit_code}: {err.strip()[:500]}"
    assert "Traceback" not in out + err, err
    return r.exit_code, out, err


def check_cli(path: Path, text: str | None, *, all_commands: bool = True) -> list[dict[str, Any]]:
    """validate --format json (parsed, located) and the other commands on one file."""
    code, out, _ = cli("validate", "--format", "json", str(path))
    objs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(objs) == 1, out
    obj = objs[0]
    assert obj["ok"] == (code == 0), (code, obj)
    check_locations(obj["diagnostics"], text, str(path))
    if all_commands:
        cli("validate", "--format", "pretty", str(path))
        cli("validate", "--format", "sarif", str(path))
        cli("generate", str(path))
        cli("summary", str(path))
        cli("render", str(path), "-o", "-")
    return objs


def check_everything(text: str, name: str = "spec.yaml", *, all_commands: bool = True) -> Any:
    res = check_api(text, name)
    check_cli(write(text, name), text, all_commands=all_commands)
    return res


# ------------------------------------------------------------------ a. arbitrary trees

TYPES = sorted(REGISTRY) + ["Sequential"]
FIELDS = sorted({f for c in REGISTRY.values() for f in c.model_fields})
TOP = ["name", "input", "inputs", "outputs", "layers", "params", "blocks", "shape", "dtype", "type", "repeat"]
NAMES = ["x", "conv1", "fc1", "pool1", "a", "b", "N", "H", "W", "L", "width", "depth", "B"]

huge_ints = st.sampled_from([0, 1, -1, 2, 3, 2**31, 2**62, 2**63 - 1, 2**63, -(2**63), 2**64, 10**30, -(10**30)])
ints = st.one_of(st.integers(-4, 64), huge_ints, st.integers())
floats = st.floats(allow_nan=True, allow_infinity=True)
dollar = st.one_of(
    st.sampled_from(
        [
            "$width",
            "$width * 2",
            "$c // $r",
            "$x // 0",
            "$x % 0",
            "min($a, $b)",
            "$",
            "$$",
            "$(",
            "$1 +",
            "$width ** 999",
            "$a * $a * $a * $a * $a * $a",
            "$-1",
            "$max()",
            "$__import__('os')",
            "$" + "(" * 200,
            "$9999999999999999999999 * 99999999999999999999",
            "$N",
            "$H // 2",
            "$ depth",
            "$width.real",
        ]
    ),
    st.builds(lambda s: "$" + s, st.text(max_size=12)),
    st.builds(
        lambda a, op, b: f"${a} {op} {b}",
        st.sampled_from(NAMES),
        st.sampled_from(["+", "-", "*", "//", "%"]),
        st.one_of(st.integers(-3, 10**20).map(str), st.sampled_from(NAMES).map(lambda n: "$" + n)),
    ),
)
strings = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),  # lone surrogates
    st.sampled_from(TYPES),
    st.sampled_from(FIELDS),
    st.sampled_from(NAMES + ["long", "float32", "int64", "zeros", "reflect", "nearest", "-1", "1e-5", "null", "yes"]),
    dollar,
)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, strings)
keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(TOP), st.text(max_size=10))


def trees(leaves: st.SearchStrategy[Any] = scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(keys, kids, max_size=6)),
        max_leaves=30,
    )


small_ints = st.one_of(st.integers(-2, 40), huge_ints)
dims = st.one_of(st.integers(-2, 300), huge_ints, st.sampled_from(NAMES), strings, st.none())
field_values = st.one_of(small_ints, scalars, st.lists(small_ints, max_size=4), trees())
layer = st.one_of(
    st.sampled_from(TYPES),
    st.builds(
        lambda t, fs: {"type": t, **fs},
        st.one_of(st.sampled_from(TYPES), strings),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS + ["repeat", "inputs", "layers"]), keys), field_values, max_size=5
        ),
    ),
)


def _for(ann: Any) -> st.SearchStrategy[Any]:
    """Small values of a field's annotation (ints mostly 1..9, a few 0 and -1)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _for(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_for(a) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_for(args[0]) if args else scalars, min_size=1, max_size=3)
    if ann is type(None):
        return st.none()
    if ann is bool:
        return st.booleans()
    if ann is int:
        return st.one_of(st.integers(1, 9), st.integers(-2, 64))
    if ann is float:
        return st.sampled_from([0.0, 0.1, 0.5, 1e-5, 1.0, 2.0, 3.5, -1.0])
    if ann is str:
        return st.sampled_from(["a", "x", "N", "-1", "relu"])
    return scalars


@st.composite
def plausible_layer(draw: st.DrawFn) -> Any:
    """A registered type with its required fields and a few others, of the right types (reaches the shape rules)."""
    t = draw(st.sampled_from(sorted(REGISTRY)))
    model = REGISTRY[t].model_fields
    fields = [f for f in model if f not in ("name", "inputs")]
    chosen = [f for f in fields if model[f].is_required()]
    chosen += draw(st.lists(st.sampled_from(fields), max_size=3)) if fields else []
    fs = {f: draw(_for(model[f].annotation)) for f in chosen}
    return {"type": t, **fs} if fs or draw(st.booleans()) else t


@st.composite
def plausible_spec(draw: st.DrawFn) -> dict[str, Any]:
    """A chain with a sensible input (rank 2-5, small sizes or free dims) and plausible layers."""
    rank = draw(st.integers(2, 5))
    shape = ["N"] + draw(
        st.lists(
            st.one_of(st.integers(1, 40), st.sampled_from(["H", "W", "L", "C"])), min_size=rank - 1, max_size=rank - 1
        )
    )
    dtype = draw(st.sampled_from([{}, {"dtype": "long"}, {"dtype": "float32"}]))
    layers = draw(st.lists(plausible_layer(), min_size=1, max_size=6))
    if draw(st.integers(0, 3)) == 0:  # a branch and a merge
        layers = [{"name": "a", **(layers[0] if isinstance(layers[0], dict) else {"type": layers[0]})}] + layers[1:]
        layers.append({"type": draw(st.sampled_from(["Add", "Multiply", "Concat"])), "inputs": ["a", "x"]})
    return {"name": "M", "input": {"shape": shape, **dtype}, "layers": layers}


@st.composite
def spec_like(draw: st.DrawFn) -> dict[str, Any]:
    """A tree in the shape of a spec: input, layers (random types and fields), maybe params/blocks/outputs."""
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["name"] = draw(st.one_of(st.sampled_from(["M", "Net", "class", "None", "1x"]), strings))
    if draw(st.booleans()):
        out["params"] = draw(st.dictionaries(st.one_of(st.sampled_from(NAMES), keys), small_ints | scalars, max_size=4))
    shape = draw(st.lists(dims, min_size=0, max_size=6))
    if draw(st.integers(0, 4)) == 0:
        out["inputs"] = {n: {"shape": shape} for n in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))}
    else:
        out["input"] = {
            "shape": shape,
            **draw(st.dictionaries(st.sampled_from(["dtype", "name"]), strings, max_size=1)),
        }
    layers = draw(st.lists(layer, max_size=8))
    for item in layers:  # some references between layers
        if isinstance(item, dict) and draw(st.integers(0, 5)) == 0:
            item["inputs"] = draw(st.lists(st.sampled_from(NAMES), max_size=3))
    out["layers"] = layers
    if draw(st.integers(0, 5)) == 0:
        out["blocks"] = {"B": {"params": {"width": draw(small_ints)}, "layers": draw(st.lists(layer, max_size=4))}}
    if draw(st.integers(0, 5)) == 0:
        out["outputs"] = draw(st.lists(st.sampled_from(NAMES), max_size=3))
    return out


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False)  # NaN/Infinity as Python writes them


@fuzz(60)
@given(trees(), st.booleans())
def test_arbitrary_trees(data: Any, as_json: bool) -> None:
    text, name = (dump_json(data), "spec.json") if as_json else (dump_yaml(data), "spec.yaml")
    check_everything(text, name, all_commands=False)


@fuzz(150)
@given(st.one_of(spec_like(), plausible_spec()), st.booleans())
def test_spec_shaped_trees(data: Any, as_json: bool) -> None:
    text, name = (dump_json(data), "spec.json") if as_json else (dump_yaml(data), "spec.yaml")
    check_everything(text, name)


# ------------------------------------------------------------------ b. mutations of valid specs


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, path + (i,))
    return out


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def _names(tree: Any) -> list[str]:
    out = []
    for p in _paths(tree):
        if p and p[-1] == "name" and isinstance(_get(tree, p), str):
            out.append(_get(tree, p))
    return out + ["x", "nowhere"]


def _typo(draw: st.DrawFn, word: str) -> str:
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "dup", "swap", "case", "char"]))
    if how == "drop":
        return word[:i] + word[i + 1 :]
    if how == "dup":
        return word[:i] + word[i] + word[i:]
    if how == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "case":
        return word[:i] + word[i].swapcase() + word[i + 1 :]
    return word[:i] + draw(st.sampled_from("_-. 0aZé$")) + word[i:]


MUTATIONS = [
    "delete",
    "rename",
    "replace",
    "duplicate",
    "remove",
    "reorder",
    "type",
    "inputs",
    "expr",
    "repeat",
    "int",
    "param",
]


GENTLE = ["int", "duplicate", "remove", "reorder", "repeat", "param", "expr"]  # more often still ok


def mutate(draw: st.DrawFn, tree: Any, ops: list[str] = MUTATIONS) -> list[str]:
    """Apply a few random mutations to ``tree`` in place; returns what was done (for the report)."""
    done = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3, 4]))):
        paths = _paths(tree)
        op = draw(st.sampled_from(ops))
        if op in ("delete", "rename"):
            cands = [p for p in paths if isinstance(_get(tree, p), dict) and _get(tree, p)]
            if not cands:
                continue
            p = draw(st.sampled_from(cands))
            d = _get(tree, p)
            k = draw(st.sampled_from(list(d)))
            v = d.pop(k)
            if op == "rename":
                d[_typo(draw, k)] = v
            done.append(f"{op} {p + (k,)}")
        elif op == "replace":
            p = draw(st.sampled_from([p for p in paths if p]))
            _get(tree, p[:-1])[p[-1]] = draw(st.one_of(scalars, trees()))
            done.append(f"replace {p}")
        elif op in ("duplicate", "remove", "reorder"):
            cands = [p for p in paths if p and p[-1] == "layers" and isinstance(_get(tree, p), list) and _get(tree, p)]
            if not cands:
                continue
            p = draw(st.sampled_from(cands))
            ls = _get(tree, p)
            i = draw(st.integers(0, len(ls) - 1))
            if op == "duplicate":
                ls.insert(draw(st.integers(0, len(ls))), json.loads(json.dumps(ls[i])))
            elif op == "remove":
                del ls[i]
            else:
                j = draw(st.integers(0, len(ls) - 1))
                ls[i], ls[j] = ls[j], ls[i]
            done.append(f"{op} {p}[{i}]")
        elif op == "type":
            cands = [p for p in paths if p and p[-1] == "type"]
            if not cands:
                continue
            p = draw(st.sampled_from(cands))
            blocks = list((tree.get("blocks") or {}) if isinstance(tree, dict) else {})
            old = _get(tree, p)
            new = draw(st.one_of(st.sampled_from(TYPES + (blocks or ["Sequential"])), st.just(_typo(draw, str(old)))))
            _get(tree, p[:-1])[p[-1]] = new
            done.append(f"type {p}={new}")
        elif op == "inputs":
            cands = [p for p in paths if len(p) >= 2 and p[-2] == "inputs" and isinstance(p[-1], int)]
            cands += [p for p in paths if len(p) >= 2 and p[-2] == "outputs" and isinstance(p[-1], int)]
            layers = [
                p
                for p in paths
                if p
                and isinstance(p[-1], int)
                and len(p) >= 2
                and p[-2] == "layers"
                and isinstance(_get(tree, p), dict)
            ]
            if cands and draw(st.booleans()):
                p = draw(st.sampled_from(cands))
                _get(tree, p[:-1])[p[-1]] = draw(st.sampled_from(_names(tree)))
                done.append(f"inputs {p}")
            elif layers:
                p = draw(st.sampled_from(layers))
                _get(tree, p)["inputs"] = draw(st.lists(st.sampled_from(_names(tree)), max_size=3))
                done.append(f"inputs {p}")
        elif op in ("expr", "int"):
            cands = [p for p in paths if p and isinstance(_get(tree, p), int) and not isinstance(_get(tree, p), bool)]
            if not cands:
                continue
            p = draw(st.sampled_from(cands))
            v = _get(tree, p)
            if op == "int":
                new: Any = draw(st.sampled_from([0, -1, 1, v + 1, v - 1, v * 2, v // 2, v * 1000, 2**63 - 1, -v]))
            else:
                params = list(tree["params"]) if isinstance(tree, dict) and isinstance(tree.get("params"), dict) else []
                params += ["width", "nowhere"]
                a = draw(st.sampled_from(params))
                new = draw(
                    st.one_of(
                        st.just(f"${a}"),
                        st.builds(
                            lambda o, n, a=a: f"${a} {o} {n}",
                            st.sampled_from(["+", "-", "*", "//", "%"]),
                            st.integers(-2, 10**6),
                        ),
                        st.just(f"min(${a}, {v})"),
                        st.just(f"${a} // 0"),
                        dollar,
                    )
                )
            _get(tree, p[:-1])[p[-1]] = new
            done.append(f"{op} {p}={new!r}")
        elif op == "repeat":
            cands = [p for p in paths if isinstance(_get(tree, p), dict) and "type" in _get(tree, p)]
            if not cands:
                continue
            p = draw(st.sampled_from(cands))
            r = draw(
                st.sampled_from([0, -1, 1, 2, 7, 100_000, 10**7, 2**62, 2**63 - 1, "$depth * 1000000", 1.5, "many"])
            )
            _get(tree, p)["repeat"] = r
            done.append(f"repeat {p}={r!r}")
        elif op == "param":
            if not isinstance(tree, dict):
                continue
            ps = tree.setdefault("params", {})
            if not isinstance(ps, dict):
                continue
            k = draw(st.one_of(st.sampled_from(list(ps) or ["width"]), st.sampled_from(NAMES)))
            ps[k] = draw(st.one_of(small_ints, scalars, st.sampled_from([f"${k}", f"${k} + 1"])))
            done.append(f"param {k}={ps[k]!r}")
    return done


@st.composite
def mutated(draw: st.DrawFn, names: list[str] | None = None, ops: list[str] = MUTATIONS) -> tuple[str, Any, list[str]]:
    name = draw(st.sampled_from(names or sorted(DATA)))
    tree = json.loads(json.dumps(DATA[name]))
    done = mutate(draw, tree, ops)
    return name, tree, done


@fuzz(120)
@given(mutated(), st.booleans())
def test_mutated_specs(m: tuple[str, Any, list[str]], as_json: bool) -> None:
    name, tree, done = m
    text, fname = (dump_json(tree), "mutant.json") if as_json else (dump_yaml(tree), "mutant.yaml")
    res = check_everything(text, fname)
    if res.ok:  # an ok variant: explore it along one axis
        explore_once(write(text, fname), res)


EXPLORE_VALUES = [
    "1,2",
    "8,16,32",
    "0,-1",
    "3:12:3",
    "a,b",
    "",
    "1e3",
    "2**70",
    "9223372036854775808",
    "1:1000001:1",  # above explore's limit: a usage error
    "1:30:1",
    "$width",
    "1,,2",
    "null",
    "true",
    "1.5",
]


def explore_once(path: Path, res: Any) -> None:
    keys = list(res.params or {}) + ["N", "H"]
    paths = [f"{r.path}.kernel_size" for r in res.layers[:2]] or ["nowhere.x"]
    cli("explore", str(path), "--set", f"{keys[0]}=1,2", "-j", "1", "--format", "json")
    cli("explore", str(path), "--set", f"{paths[-1]}=0,-1,3", "-j", "1")


@fuzz(40)
@given(
    st.sampled_from(["simple_cnn.yaml", "transformer_text.yaml", "resnet18.yaml"]),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "width",
                    "num_classes",
                    "N",
                    "H",
                    "W",
                    "L",
                    "d_model",
                    "conv1.kernel_size",
                    "fc1.out_features",
                    "layer1.0.conv1.stride",
                    "encoder.nhead",
                    "x",
                    "",
                ]
            ),
            st.one_of(st.sampled_from(EXPLORE_VALUES), st.text(max_size=12)),
        ),
        min_size=1,
        max_size=3,
    ),
    st.one_of(
        st.none(),
        st.sampled_from(["ok", "params < 1e6", "ok and", "__import__('os')", "macs > 0 or", "params // 0 > 1"]),
        st.text(max_size=10),
    ),
)
def test_explore_axes(spec: str, sets: list[tuple[str, str]], where: str | None) -> None:
    args = ["explore", str(SPECS / spec), "-j", "1", "--format", "json"]
    for k, v in sets:
        args += ["--set", f"{k}={v}"]
    if where is not None:
        args += ["--where", where]
    code, out, _ = cli(*args)
    if code == 0:
        for line in out.splitlines():
            json.loads(line)


@fuzz(20, build=True)
@given(mutated([p.name for p in SMALL], GENTLE))
def test_ok_mutants_build(m: tuple[str, Any, list[str]]) -> None:
    """If archcheck says ok, the generated module constructs (and runs on the meta device)."""
    torch = pytest.importorskip("torch")
    import archcheck

    name, tree, done = m
    text = dump_yaml(tree)
    res = check_api(text, "mutant.yaml")
    assume(res.ok)  # 20 ok variants are built
    path = write(text, "mutant.yaml")
    with time_limit(60):
        model = archcheck.build(path, {"N": 2})
    assert isinstance(model, torch.nn.Module), done


# ------------------------------------------------------------------ c. raw text and bytes

SYNTAX = list(":-[]{},&*!|>'\"#%@`?\t\n \r\\") + [
    "\ufeff",
    "\u2028",
    "\x85",
    "é",
    "层",
    "\U0001f600",
    "\x00",
    "\x07",
    "---",
    "...",
    "<<: ",
    "*a",
    "&a ",
    "!!str ",
    "!!python/name:os ",
    "$",
    "${",
    "  - ",
    "\n  ",
    "\t- ",
]


@st.composite
def text_mutant(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = TEXTS[name]
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        op = draw(st.sampled_from(["insert", "delete", "truncate", "dupline", "indent", "replace"]))
        if op == "insert":
            text = text[:i] + draw(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=4))) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 40)) :]
        elif op == "truncate":
            text = text[:i]
        elif op == "replace" and i < n:
            text = text[:i] + draw(st.sampled_from(SYNTAX)) + text[i + 1 :]
        else:
            lines = text.split("\n")
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dupline":
                lines.insert(j, lines[j])
            else:
                lines[j] = draw(st.sampled_from(["", " ", "  ", "\t", "    "])) + lines[j].lstrip(" ")
            text = "\n".join(lines)
    return name, text


@fuzz(150)
@given(text_mutant())
def test_text_mutations(m: tuple[str, str]) -> None:
    name, text = m
    check_api(text, "mutant.yaml")
    path = write(text, "mutant.yaml")
    # The file as the CLI reads it (NUL bytes and BOMs are the file reader's business).
    check_cli(path, None, all_commands=False)


@fuzz(60)
@given(text_mutant(), st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=3)), max_size=3))
def test_byte_mutations(m: tuple[str, str], edits: list[tuple[int, bytes]]) -> None:
    _, text = m
    raw = text.encode("utf-8")
    for pos, b in edits:
        pos %= len(raw) + 1
        raw = raw[:pos] + b + raw[pos:]
    path = write(raw, "bytes.yaml")
    res = api.check(str(path))
    check_locations([d.to_json() for d in res.diagnostics], None, str(path))
    check_cli(path, None, all_commands=False)
    cli("summary", str(path))


# ------------------------------------------------------------------ regressions found by fuzzing


@pytest.mark.parametrize(
    "text, name, line, column",
    [
        # libyaml reports a reader error's position in UTF-8 bytes: the location
        # was past the end of the line (or the file) after non-ASCII text.
        ('{\n "\xa0\xa0\xa0\xa0\u0800\u0800\U00010000": null,\n "\x7f": null\n}', "spec.json", 3, 3),
        ('a: "\U00010000x\x7f"\n', "spec.yaml", 1, 7),
        ("name: caf\xe9 \u5c42\nlayers: [Re\x07LU]\n", "spec.yaml", 2, 12),
    ],
)
def test_reader_error_is_located_in_characters(text: str, name: str, line: int, column: int) -> None:
    res = check_api(text, name)
    assert [(d.code, d.line, d.column) for d in res.diagnostics] == [("AC002", line, column)]


@pytest.mark.parametrize("text", ["a: \ud800\n", "\udfff", "input: {shape: [N, 3]}\nlayers: [Re\udc80LU]\n"])
def test_lone_surrogate_in_api_text(text: str) -> None:
    # load(text=) with a str that is not Unicode (e.g. read with surrogateescape):
    # libyaml's encoder raised UnicodeEncodeError out of the API.
    res = check_api(text, "spec.yaml")
    assert [d.code for d in res.diagnostics] == ["AC002"]


@pytest.mark.parametrize(
    "raw, line, column, byte",
    [
        # The column of a byte that is not UTF-8 was counted in bytes, so it
        # could lie past the end of the line after non-ASCII text.
        ('[{"\U00010000": "'.encode() + b"\xed\xa0\x80" + b'"}]', 1, 9, "0xed"),
        ("name: caf\xe9 \u5c42 ".encode() + b"\xff\n", 1, 14, "0xff"),
        # After a BOM the offset was off by 3 and the message named the wrong byte (':').
        (b"\xef\xbb\xbfname: M\xff\n", 1, 8, "0xff"),
    ],
)
def test_non_utf8_byte_is_located_in_characters(raw: bytes, line: int, column: int, byte: str) -> None:
    path = write(raw, "bytes.json")
    res = api.check(str(path))
    assert [(d.code, d.line, d.column) for d in res.diagnostics] == [("AC002", line, column)]
    assert f"byte {byte} at offset {raw.index(bytes.fromhex(byte[2:]))}" in res.diagnostics[0].message


EMPTY_BLOCK = "input: {shape: [N, 3]}\nblocks: {B: {layers: []}}\nlayers: [B]\n"


def test_empty_block_is_a_schema_error_and_nothing_crashes() -> None:
    # Found by test_mutated_specs (unet.yaml with DoubleConv's layers removed):
    # it used to check ok and then crash generate (IndexError in codegen).
    res = check_api(EMPTY_BLOCK)
    assert [d.code for d in res.diagnostics] == ["AC104"]
    assert (res.diagnostics[0].line, res.diagnostics[0].column) == (2, 22)
    cli("generate", str(write(EMPTY_BLOCK, "empty_block.yaml")))


def test_a_layer_too_large_for_torch_is_an_error() -> None:
    # Found by test_ok_mutants_build (lenet5 with fc1.out_features = 2**63 - 1): archcheck said ok,
    # and torch's nn.Linear raised "Storage size calculation overflowed".
    res = check_api("input: {shape: [N, 400]}\nlayers:\n  - {type: Linear, out_features: 9223372036854775807}\n")
    assert [d.code for d in res.diagnostics] == ["AC221"]
    assert (res.diagnostics[0].line, res.diagnostics[0].column) == (3, 5)
