"""How many variants per second `archcheck explore` checks, and how that compares with torch.

    python bench/bench_explore.py            # --variants N (default 4000) --jobs J --torch-variants T

For a SimpleCNN-size spec (tests/specs/sweep_cnn.yaml: width 1..200 x H 8..120,
fc1.in_features inferred; and the same spec sweeping only fc1/fc2's widths)
and a ResNet-50-size one (specs/resnet50.yaml: num_classes), it times on the
same randomly drawn variants:

* explore on one core (one process), as CPU time: variants per second per core
  (wall time is printed too; on a busy machine it moves more than CPU time);
* the same sweep through the full ``check`` of every variant (``fast=False``):
  what explore did before its compiled plan (explore.Plan);
* explore on J cores (``--jobs``, the process pool), wall time;
* what a user does per variant without archcheck: build the model with torch
  on the meta device (archcheck's code generator) and run a forward pass on
  meta tensors; and the same model through ``torchinfo.summary`` on meta
  (CPU time too; the ratios compare CPU time with CPU time).

It prints variants per second and the ratios, and the machine's load average
before and after. It asserts nothing; no test checks timings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archcheck.api import check, load  # noqa: E402
from archcheck.emit.explore import Plan, combinations, explore, parse_axis  # noqa: E402
from archcheck.engine.walk import check as check_full  # noqa: E402


def sweep(spec: Any, axes: list, n: int, dims: dict[str, int], *, jobs: int = 1, fast: bool = True) -> dict:
    """One explore run over ``n`` variants drawn at random: rows per CPU second and per wall second."""
    total = 1
    for a in axes:
        total *= len(a.values)
    sample = n if n < total else None
    c0, t0 = time.process_time(), time.perf_counter()
    rows = explore(spec, axes, dims, sample=sample, jobs=jobs, fast=fast)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {"rows": rows, "cpu": len(rows) / cpu if jobs == 1 else None, "wall": len(rows) / wall}


def torch_rates(spec: Any, axes: list, dims: dict[str, int], n: int) -> tuple[float | None, float | None]:
    """Variants per second of (build on meta + forward on meta) and of (build on meta + torchinfo.summary)."""
    try:
        import torch

        from archcheck.emit.verify import module_from_result
    except ImportError:
        return None, None
    try:
        import torchinfo
    except ImportError:
        torchinfo = None
    results = []
    for combo in list(combinations(axes, n, seed=0))[:n]:
        params = {a.key: combo[a.key] for a in axes if a.kind == "param"}
        vd = {**dims, **{a.key: combo[a.key] for a in axes if a.kind == "dim"}}
        overrides: dict = {}
        for a in axes:
            if a.kind == "field":
                overrides.setdefault(a.path, {})[a.field] = combo[a.key]
        res = check_full(spec, vd, params, overrides)
        if res.ok:
            results.append(res)
    if not results:
        return None, None

    def shape(res: Any) -> list[int]:
        (inp,) = res.inputs.values()
        return [d if isinstance(d, int) else 1 for d in inp.shape]

    with torch.device("meta"):  # warm up: torch's first module and first meta kernels
        module_from_result(results[0])(torch.empty(shape(results[0])))
    t = time.process_time()  # CPU time, as for explore (torch may use several threads: all are counted)
    for res in results:  # what a user does without archcheck: build the module, run it on meta tensors
        with torch.device("meta"):
            model = module_from_result(res)
            model(torch.empty(shape(res)))
    meta = len(results) / (time.process_time() - t)
    info = None
    if torchinfo is not None:
        t = time.process_time()
        for res in results:
            with torch.device("meta"):
                model = module_from_result(res)
            torchinfo.summary(model, input_size=shape(res), device="meta", verbose=0)
        info = len(results) / (time.process_time() - t)
    return meta, info


def num(v: float | None, w: int) -> str:
    if not v:
        return f"{'n/a':>{w}}"
    return f"{v:>{w},.0f}" if v >= 100 else f"{v:>{w}.1f}"


def ratio(a: float, b: float | None, w: int) -> str:
    return f"{a / b:>{w - 1},.0f}x" if b else f"{'n/a':>{w}}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=4000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--torch-variants", type=int, default=20)
    args = ap.parse_args()
    cases = [
        (
            "SimpleCNN-size",
            ROOT / "tests/specs/sweep_cnn.yaml",
            ["width=1:200", "H=8:120:4", "fc1.in_features=null"],
            {"N": 1},
            args.variants,
        ),
        (  # the same model, sweeping only its head: the conv layers' shapes repeat, so their results are cached
            "SimpleCNN head",
            ROOT / "tests/specs/sweep_cnn.yaml",
            ["fc1.out_features=1:40", "fc2.out_features=1:100"],
            {"N": 1},
            args.variants,
        ),
        ("ResNet-50-size", ROOT / "specs/resnet50.yaml", ["num_classes=10:1000:10"], {}, max(50, args.variants // 40)),
    ]
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    head = (
        f"{'spec':<15} {'variants':>8} {'plan':>5} {'/s per core':>11} {'(wall)':>8} {'check /s':>9} {'speedup':>7} "
        f"{f'{args.jobs} cores /s':>11} {'meta fwd /s':>11} {'torchinfo /s':>12} {'x meta':>7} {'x tinfo':>8}"
    )
    print(head)
    for label, path, sets, dims, n in cases:
        spec = load(str(path))
        base = check(spec, dims)
        axes = [parse_axis(spec, base, s) for s in sets]
        sweep(spec, axes, min(n, 200), dims)  # warm up: imports, validators, caches of parsed expressions
        fast = sweep(spec, axes, n, dims)
        full = sweep(spec, axes, n, dims, fast=False)
        assert fast["rows"] == full["rows"]  # the plan's rows are check's rows
        par = sweep(spec, axes, n, dims, jobs=args.jobs)["wall"] if args.jobs > 1 else fast["wall"]
        meta, info = torch_rates(spec, axes, dims, args.torch_variants)
        plan = "yes" if Plan.compile(spec, axes, dims) is not None else "no"

        print(
            f"{label:<15} {len(fast['rows']):>8,} {plan:>5} {num(fast['cpu'], 11)} {num(fast['wall'], 8)} "
            f"{num(full['cpu'], 9)} {fast['cpu'] / full['cpu']:>6.1f}x {num(par, 11)} {num(meta, 11)} "
            f"{num(info, 12)} {ratio(fast['cpu'], meta, 7)} {ratio(fast['cpu'], info, 8)}"
        )
    print(f"load average after:  {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
