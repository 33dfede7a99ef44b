"""Conditions on free dims, solved and stated in plain words.

Two kinds of condition are recorded while shapes propagate:

* equalities (a merge of ``2*floor(H/16)`` with ``floor(H/8)``, a U-Net's skip
  connection), which hold only for some H;
* minimums (a conv's output ``floor((H - 7)/2) + 1`` must be at least 1), which
  hold from some H on.

torch.export states such facts as guards (``Eq(Mod(H, 16), 0)``); we state them
as a person would: "H must be a multiple of 16 (smallest valid sizes 16, 32, 48)",
"H must be at least 8191".

Solving never enumerates the range of a dim, whatever the range is:

* The sizes that conv/pool/upsample arithmetic produces are floors of linear
  forms of H (possibly nested), all with non-negative slopes, so they are
  monotone non-decreasing in H: the smallest H meeting ``size >= k`` is found
  by a binary search, exact and O(log range).
* Such an expression ``f`` is *quasi-linear*: there is a period P (the product
  of the divisors along each path of nested floors, combined by lcm) and a slope
  s with ``f(H + P) = f(H) + s*P`` for every integer H. The truth of ``f == g``
  is then periodic in H when the slopes agree (checked on one period: the
  residues mod P that work), and holds for finitely many H otherwise (one
  candidate per residue). Work is O(P), bounded by ``MAX_PERIOD`` rather than by
  the range; a longer period gets a clear "cannot state" warning.

Expressions are evaluated exactly with Python ints and Fractions (never
floats), so a range up to 10**18 is as exact as one up to 100.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..diagnostics.codes import Diagnostic
from ..shapes import dims as D

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.schema import DimRange
    from .result import CheckResult, Condition, ExpectCheck

MAX_PERIOD = 1 << 14  # residues checked per condition: beyond this, "cannot state"
SEARCH_LIMIT = 1 << 62  # the largest size tried when a dim has no max
SHOWN = 3  # smallest valid sizes shown


class Unsolvable(Exception):
    """The condition is not of the quasi-linear form that can be solved exactly."""


# ------------------------------------------------------------ exact evaluation


Value = Any  # int or Fraction


def compile_expr(expr: Any, name: str) -> Callable[[int], Value]:
    """``expr`` (a dim in one free name) as an exact function of that name's size."""
    if isinstance(expr, int):
        return lambda v, c=expr: c  # type: ignore[misc]
    if isinstance(expr, str):
        if expr != name:
            raise Unsolvable(expr)
        return lambda v: v
    return _compile(expr, name)


def _compile(e: Any, name: str) -> Callable[[int], Value]:
    s = D.sp()
    if e.is_Integer:
        c = int(e)
        return lambda v: c
    if e.is_Rational:
        q = Fraction(int(e.p), int(e.q))
        return lambda v: q
    if e.is_Symbol:
        if e.name != name:
            raise Unsolvable(e.name)
        return lambda v: v
    args = [_compile(a, name) for a in e.args]
    if e.is_Add:
        return lambda v: sum(f(v) for f in args)
    if e.is_Mul:

        def mul(v: int) -> Value:
            out: Value = 1
            for f in args:
                out *= f(v)
            return out

        return mul
    if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 0:
        base, n = args[0], int(e.exp)
        return lambda v: base(v) ** n
    if isinstance(e, s.floor):
        (a,) = args
        return lambda v: math.floor(a(v))
    if isinstance(e, s.ceiling):
        (a,) = args
        return lambda v: math.ceil(a(v))
    if isinstance(e, s.Max):
        return lambda v: max(f(v) for f in args)
    if isinstance(e, s.Min):
        return lambda v: min(f(v) for f in args)
    if isinstance(e, s.Mod) and len(args) == 2:
        a, b = args
        return lambda v: a(v) % b(v)
    raise Unsolvable(str(e))


def quasi_linear(e: Any, name: str) -> tuple[int, Fraction]:
    """(period P, slope s) with ``e(H + P) == e(H) + s*P`` for every integer H; Unsolvable otherwise."""
    if isinstance(e, int):
        return 1, Fraction(0)
    if isinstance(e, str):
        if e != name:
            raise Unsolvable(e)
        return 1, Fraction(1)
    s = D.sp()
    if e.is_Rational:
        return 1, Fraction(0)
    if e.is_Symbol:
        if e.name != name:
            raise Unsolvable(e.name)
        return 1, Fraction(1)
    if e.is_Add:
        period, slope = 1, Fraction(0)
        for a in e.args:
            p, sl = quasi_linear(a, name)
            period, slope = math.lcm(period, p), slope + sl
        return period, slope
    if e.is_Mul:
        const = Fraction(1)
        var: tuple[int, Fraction] | None = None
        for a in e.args:
            if a.is_Rational:
                const *= Fraction(int(a.p), int(a.q))
            elif var is None:
                var = quasi_linear(a, name)
            else:
                raise Unsolvable(str(e))  # a product of two terms in H
        if var is None:
            return 1, Fraction(0)
        return var[0], var[1] * const
    if isinstance(e, (s.floor, s.ceiling)):
        p, sl = quasi_linear(e.args[0], name)
        step = sl * p  # the inner value grows by this much per period: make it an integer
        return p * step.denominator, sl
    raise Unsolvable(str(e))


# ------------------------------------------------------------ sets of sizes


@dataclass(frozen=True)
class Sizes:
    """The sizes ``lo <= v <= hi`` (``hi`` None: unbounded) with ``v % period`` in ``residues``,
    or, when ``finite`` is set, exactly those sizes."""

    lo: int
    hi: int | None
    period: int = 1
    residues: frozenset[int] = frozenset({0})
    finite: tuple[int, ...] | None = None

    def __contains__(self, v: object) -> bool:
        if not isinstance(v, int) or v < self.lo or (self.hi is not None and v > self.hi):
            return False
        if self.finite is not None:
            return v in self.finite
        return v % self.period in self.residues

    def first(self, k: int = SHOWN) -> list[int]:
        """The ``k`` smallest sizes (O(k * period))."""
        if self.finite is not None:
            return list(self.finite[:k])
        out: list[int] = []
        if not self.residues:
            return out
        v = self.lo
        while len(out) < k and (self.hi is None or v <= self.hi):
            if v % self.period in self.residues:
                out.append(v)
                v += 1
                continue
            # jump to the next residue that works
            r = v % self.period
            nxt = min((x - r) % self.period for x in self.residues)
            v += nxt
        return out

    @property
    def empty(self) -> bool:
        return not self.first(1)

    def normal(self) -> Sizes:
        """The same set with the smallest period, ``lo`` at its first element and ``hi`` at its last."""
        if self.finite is not None:
            vals = tuple(v for v in self.finite if v in Sizes(self.lo, self.hi))
            return Sizes(vals[0], vals[-1], finite=vals) if vals else Sizes(1, 0, finite=())
        firsts = self.first(1)
        if not firsts:
            return Sizes(1, 0, finite=())
        lo = firsts[0]
        hi = self.hi
        if hi is not None:
            while hi % self.period not in self.residues:
                hi -= 1
        p, res = self.period, self.residues
        for q in sorted(_divisors(p)):
            if all((x + q) % p in res for x in res):
                p, res = q, frozenset(x % q for x in res)
                break
        if hi is not None and (hi - lo) // p < 4 * max(len(res), 1) and hi - lo < MAX_PERIOD:
            # a handful of sizes: list them
            vals = tuple(v for v in range(lo, hi + 1) if v % p in res)
            if len(vals) <= 6:
                return Sizes(lo, hi, finite=vals)
        return Sizes(lo, hi, p, res)

    def intersect(self, other: Sizes) -> Sizes:
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if self.finite is not None or other.finite is not None:
            pool = self.finite if self.finite is not None else other.finite
            assert pool is not None
            return Sizes(lo, hi, finite=tuple(v for v in pool if v in self and v in other))
        p = math.lcm(self.period, other.period)
        if p > MAX_PERIOD:
            raise TooLong(p)
        res = frozenset(r for r in range(p) if r % self.period in self.residues and r % other.period in other.residues)
        return Sizes(lo, hi, p, res)

    def same_as(self, other: Sizes) -> bool:
        a, b = self.normal(), other.normal()
        return a == b


class TooLong(Exception):
    """A period longer than MAX_PERIOD."""

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self.period = period


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def solve_equal(a: Any, b: Any, name: str, lo: int, hi: int | None) -> Sizes:
    """The sizes of ``name`` in [lo, hi] for which ``a == b``."""
    g = D.normalize(D.to_expr(a) - D.to_expr(b))
    period, slope = quasi_linear(g, name)
    if period > MAX_PERIOD:
        raise TooLong(period)
    f = compile_expr(g, name)
    vals = [f(lo + r) for r in range(period)]
    if slope == 0:
        return Sizes(lo, hi, period, frozenset((lo + r) % period for r, v in enumerate(vals) if v == 0))
    sols: list[int] = []
    for r, v in enumerate(vals):
        k = -Fraction(v) / (slope * period)
        if k.denominator == 1 and k >= 0:
            h = lo + r + int(k) * period
            if hi is None or h <= hi:
                sols.append(h)
    return Sizes(lo, hi, finite=tuple(sorted(sols)))


def solve_min(expr: Any, k: int, name: str, lo: int, hi: int | None) -> int | None:
    """The smallest size in [lo, hi] for which ``expr >= k`` (``expr`` is non-decreasing); None if none."""
    f = compile_expr(expr, name)
    if f(lo) >= k:
        return lo
    top = hi if hi is not None else SEARCH_LIMIT
    step = 1
    good = None
    bad = lo
    while True:  # gallop up: O(log) probes even without a max
        probe = min(lo + step, top)
        if f(probe) >= k:
            good = probe
            break
        bad = probe
        if probe >= top:
            return None
        step *= 2
    while good - bad > 1:
        mid = (good + bad) // 2
        if f(mid) >= k:
            good = mid
        else:
            bad = mid
    return good


def solve_max(expr: Any, k: int, name: str, lo: int, hi: int | None) -> int | None:
    """The largest size in [lo, hi] for which ``expr >= k`` (``expr`` is non-increasing: an index that
    grows with the dim must stay below a fixed size); None if none, ``hi`` (or SEARCH_LIMIT) if all."""
    f = compile_expr(expr, name)
    if f(lo) < k:
        return None
    top = hi if hi is not None else SEARCH_LIMIT
    if f(top) >= k:
        return top
    good, bad, step = lo, top, 1
    while True:  # gallop up from lo: O(log) probes
        probe = min(lo + step, top)
        if f(probe) < k:
            bad = probe
            break
        good = probe
        step *= 2
    while bad - good > 1:
        mid = (good + bad) // 2
        if f(mid) >= k:
            good = mid
        else:
            bad = mid
    return good


def _decreasing(expr: Any, name: str) -> bool:
    """Whether a minimum's expression falls as the dim grows (a maximum of the dim: AC266)."""
    try:
        return quasi_linear(expr, name)[1] < 0
    except Unsolvable:
        return False


def describe(name: str, s: Sizes, lo: int) -> str:
    """Plain words for the sizes ``s`` (a subset of [lo, ...]): 'H must be a multiple of 16 and at least 32'."""
    n = s.normal()
    if n.finite is not None:
        if not n.finite:
            return f"no size of {name} works"
        if len(n.finite) == 1:
            return f"{name} must be {n.finite[0]}"
        return f"{name} must be one of {', '.join(map(str, n.finite))}"
    smallest = n.lo
    p, res = n.period, sorted(n.residues)
    if p == 1:
        return f"{name} must be at least {smallest}"
    if res == [0]:
        text = f"{name} must be a multiple of {p}"
        if smallest > p:
            text += f" and at least {smallest}"
    elif len(res) == 1:
        text = f"{name} must be {res[0]} more than a multiple of {p} ({name} % {p} == {res[0]})"
        if smallest > p:
            text += f" and at least {smallest}"
    elif len(res) <= 8:
        text = f"{name} % {p} must be one of {', '.join(map(str, res))}"
        if smallest > p:
            text += f" and {name} at least {smallest}"
    else:
        text = f"{name} must avoid some sizes (the pattern repeats every {p})"
    return text


def tail(s: Sizes) -> str:
    first = s.first()
    return f" (smallest valid sizes: {', '.join(map(str, first))})" if len(first) > 1 else ""


# ------------------------------------------------------------ analysis


@dataclass
class _Dim:
    name: str
    lo: int
    hi: int | None
    declared: bool
    eqs: list[Condition] = field(default_factory=list)
    mins: list[Condition] = field(default_factory=list)
    maxs: list[Condition] = field(default_factory=list)  # ">=" conditions whose expression falls as the dim grows
    sizes: Sizes | None = None  # None: could not be solved
    binding: list[str] = field(default_factory=list)  # notes: the conditions that cut the range
    min_site: Condition | None = None


def _input_site(res: CheckResult, name: str) -> tuple[Any, ...] | None:
    for nm, inp in res.spec.inputs.items():
        shape = inp.shape if isinstance(inp.shape, list) else []
        for i, d in enumerate(shape):
            if d == name:
                return res.spec.input_src[nm] + ("shape", i)
    return None


def _range(ranges: dict[str, DimRange], name: str) -> tuple[int, int | None, bool]:
    r = ranges.get(name)
    if r is None:
        return 1, None, False
    return r.min, r.max, True


def _span(lo: int, hi: int | None) -> str:
    return f"from {lo} to {hi}" if hi is not None else f"of at least {lo}" if lo > 1 else ""


def analyse(res: CheckResult, ranges: dict[str, DimRange]) -> None:
    """Turn the recorded conditions and expectations into diagnostics (one per free dim or expectation)."""
    dims: dict[str, _Dim] = {}

    def dim(name: str) -> _Dim:
        if name not in dims:
            lo, hi, declared = _range(ranges, name)
            dims[name] = _Dim(name, lo, hi, declared)
        return dims[name]

    for c in res.conditions:
        names = sorted(set(D.free_names(c.a)) | set(D.free_names(c.b)))
        if c.op == ">=":
            if len(names) == 1:  # a product of several free dims is >= 1 when each factor is
                dm = dim(names[0])
                (dm.maxs if _decreasing(c.a, names[0]) else dm.mins).append(c)
            continue
        if len(names) == 1:
            dim(names[0]).eqs.append(c)
        else:
            d = Diagnostic(
                "warning",
                "AC306",
                f"{c.what}: needs {D.fmt(c.a)} == {D.fmt(c.b)}, which depends on {', '.join(names)}",
                path=c.path,
                hint=f"give {' and '.join(names)} values with --dim to check it",
            )
            res.diagnostics.append(res.source.locate(d, c.src))
    for dm in dims.values():
        _solve_dim(res, dm)
    for ex in res.expects:
        _check_expect(res, ex, dim)


def _cap(res: CheckResult, dm: _Dim) -> bool:
    """Apply the dim's maximums (an Embedding of positions: T <= block_size): report a range that goes
    beyond one (AC266) and narrow ``dm.hi`` to it. False when no size is left (reported: AC307)."""
    cap: int | None = None
    site: Condition | None = None
    for c in dm.maxs:
        try:
            m = solve_max(c.a, int(c.b), dm.name, dm.lo, dm.hi)
        except Unsolvable:
            continue
        m = dm.lo - 1 if m is None else m
        if cap is None or m < cap:
            cap, site = m, c
    if cap is None or site is None or (dm.hi is not None and cap >= dm.hi):
        return True
    name = dm.name
    rng = _span(dm.lo, dm.hi)
    note = f"{site.path}: {site.what}: {D.fmt(site.a)} >= {site.b}"
    if cap < dm.lo:
        most = solve_max(site.a, int(site.b), name, 1, None)
        needs = f"{name} <= {most}" if most is not None else f"no size of {name}"
        d = Diagnostic(
            "error",
            "AC307",
            f"no size of {name}{' ' + rng if rng else ''} works: {site.what}, which needs {needs}",
            path=site.path,
            notes=[note],
            hint=f"raise the table's size, or lower {name}'s minimum",
            bindings={name: "free"},
        )
        res.diagnostics.append(res.source.locate(d, site.src))
        return False
    if cap >= SEARCH_LIMIT:
        return True
    declared = f" (dims gives {name} {rng})" if dm.declared and dm.hi is not None else ""
    d = Diagnostic(
        "warning" if dm.hi is not None else "note",
        "AC266",
        f"{name} must be at most {cap}: {site.what}{declared}",
        path=site.path,
        notes=[note + f" needs {name} <= {cap}"],
        hint=f"declare it: dims: {{{name}: {{max: {cap}}}}}"
        if dm.hi is None
        else f"lower the maximum: dims: {{{name}: {{max: {cap}}}}}, or make the table larger",
        bindings={name: "free"},
    )
    res.diagnostics.append(res.source.locate(d, site.src))
    dm.hi = cap
    return True


def _solve_dim(res: CheckResult, dm: _Dim) -> None:
    if dm.maxs and not _cap(res, dm):
        return
    name, lo, hi = dm.name, dm.lo, dm.hi
    full = Sizes(lo, hi)
    sizes = full
    # Minimums: each a binary search; the largest one binds.
    need = lo
    seen: set[Any] = set()
    worst: list[tuple[int, Condition]] = []
    for c in dm.mins:
        key = (c.a, c.b)
        if key in seen:
            continue
        seen.add(key)
        try:
            m = solve_min(c.a, int(c.b), name, lo, None)  # unbounded: the message states the real minimum
        except Unsolvable:
            continue
        m = SEARCH_LIMIT if m is None else m
        worst.append((m, c))
        if m > need:
            need = m
            dm.min_site = c
    if need > lo:
        sizes = Sizes(need, hi) if hi is None or need <= hi else Sizes(1, 0, finite=())
        for m, c in worst:
            if m == need:
                at = f"needs {name} >= {m}" if m < SEARCH_LIMIT else f"holds for no size of {name}"
                dm.binding.append(f"{c.path}: {c.what}: {D.fmt(c.a)} >= {c.b} {at}")
    eq_notes = [f"{c.path}: {c.what}: {D.fmt(c.a)} vs {D.fmt(c.b)}" for c in dm.eqs[:6]]
    if len(dm.eqs) > 6:
        eq_notes.append(f"... and {len(dm.eqs) - 6} more")
    eq_cut = False
    try:
        for c in dm.eqs:
            got = solve_equal(c.a, c.b, name, lo, hi)
            new = sizes.intersect(got)
            eq_cut = eq_cut or not new.same_as(sizes)
            sizes = new
    except (Unsolvable, TooLong) as e:
        first = dm.eqs[0]
        why = (
            f"its pattern repeats only every {e.period:,} sizes"
            if isinstance(e, TooLong)
            else "it is not a floor of a linear form"
        )
        d = Diagnostic(
            "warning",
            "AC313",
            f"cannot state for which sizes of {name} the shapes line up: {why}",
            path=first.path,
            notes=eq_notes,
            hint=f"give {name} a value (--dim {name}=..., or dims: {{{name}: ...}}) to check it",
            bindings={name: "free"},
        )
        res.diagnostics.append(res.source.locate(d, first.src))
        return
    dm.sizes = sizes
    notes = dm.binding + (eq_notes if eq_cut else [])
    site = _input_site(res, name)
    rng = _span(lo, hi)
    if sizes.empty:
        by_min = dm.min_site is not None and (need > (hi or need) or need >= SEARCH_LIMIT)
        site_c = dm.min_site if by_min and dm.min_site is not None else (dm.eqs[0] if dm.eqs else dm.min_site)
        assert site_c is not None
        if by_min:
            why = f"{name} must be at least {need}" if need < SEARCH_LIMIT else f"{site_c.what} fits no size of {name}"
            msg = f"no size of {name}{' ' + rng if rng else ''} gives every layer an output: {why}"
            hint = (
                f"use a larger {name} (dims: {{{name}: {{max: ...}}}}), or fewer downsampling steps or smaller kernels"
            )
        else:
            msg = f"no size of {name}{' ' + rng if rng else ''} makes the shapes line up"
            hint = "check the strides and paddings of the branches that are merged"
        d = Diagnostic("error", "AC307", msg, path=site_c.path, notes=notes, hint=hint, bindings={name: "free"})
        res.diagnostics.append(res.source.locate(d, site_c.src))
        return
    if sizes.same_as(full):
        return
    first_ok = sizes.first(1)[0]
    if eq_cut:
        d = Diagnostic(
            "warning",
            "AC306",
            describe(name, sizes, lo) + " for the shapes to line up" + tail(sizes),
            path=None if site else dm.eqs[0].path,
            notes=notes,
            hint=f"fix {name} with --dim {name}={first_ok} or in the spec, or pad/crop before the merge",
            suggested_dims={name: first_ok},
        )
        res.diagnostics.append(res.source.locate(d, site if site else dm.eqs[0].src))
        return
    assert dm.min_site is not None
    declared = f" (dims gives {name} {rng})" if dm.declared else ""
    d = Diagnostic(
        "warning" if dm.declared else "note",
        "AC311",
        f"{name} must be at least {need} for every layer to have an output{declared}",
        path=None if site else dm.min_site.path,
        notes=notes,
        hint=f"declare it: dims: {{{name}: {{min: {need}}}}}"
        if not dm.declared
        else f"raise the minimum: dims: {{{name}: {{min: {need}}}}}, or pad the input / use fewer downsampling steps",
    )
    res.diagnostics.append(res.source.locate(d, site if site else dm.min_site.src))


# ------------------------------------------------------------ expectations


def _check_expect(res: CheckResult, ex: ExpectCheck, dim: Callable[[str], _Dim]) -> None:
    """An expectation with undecided dims: it must hold for every size that the network accepts."""
    problems: list[str] = []
    for i, a, b in ex.pending:
        names = sorted(set(D.free_names(a)) | set(D.free_names(b)))
        if len(names) != 1:
            problems.append(f"dim {i}: {D.fmt(a)} equals {D.fmt(b)} only when {' and '.join(names)} agree")
            continue
        dm = dim(names[0])
        if dm.sizes is None:
            if dm.eqs:  # the dim's own conditions could not be solved (reported): judge on its range
                pass
            _solve_quiet(dm)
        net = dm.sizes if dm.sizes is not None else Sizes(dm.lo, dm.hi)
        try:
            holds = solve_equal(a, b, names[0], dm.lo, dm.hi)
            both = net.intersect(holds)
        except (Unsolvable, TooLong):
            problems.append(f"dim {i}: {D.fmt(a)} may differ from {D.fmt(b)} (archcheck cannot solve it)")
            continue
        if both.same_as(net):
            continue
        if both.empty:
            problems.append(f"dim {i}: {D.fmt(a)} equals {D.fmt(b)} for no size of {names[0]}")
        else:
            problems.append(
                f"dim {i}: {D.fmt(a)} equals {D.fmt(b)} only when {describe(names[0], both, dm.lo)}".replace(
                    " only when " + names[0] + " must be ", " only when " + names[0] + " is "
                )
                + tail(both)
            )
    if problems or ex.problems:
        ex.report(res, ex.problems + problems)


def _solve_quiet(dm: _Dim) -> None:
    """The dim's valid sizes from its minimums alone (no conditions were recorded for it)."""
    need = dm.lo
    for c in dm.mins:
        try:
            m = solve_min(c.a, int(c.b), dm.name, dm.lo, dm.hi)
        except Unsolvable:
            continue
        need = max(need, m if m is not None else SEARCH_LIMIT)
    dm.sizes = Sizes(need, dm.hi)
