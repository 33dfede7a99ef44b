"""How many variants per second `archcheck explore` checks, and how that compares with torch.

    python bench/bench_explore.py            # --variants N (default 2000) --jobs J

For a SimpleCNN-size spec (tests/specs/sweep_cnn.yaml: width x H) and a
ResNet-50-size one (specs/resnet50.yaml: num_classes x input size), it times
(a) the static check of every variant on one core, (b) the same sweep on all
cores, and (c) what a user would otherwise do per variant: build the model
with torch and run a forward pass on the meta device (archcheck.build +
meta tensors). It prints variants per second and the ratio. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archcheck.api import check, load  # noqa: E402
from archcheck.emit.explore import combinations, explore, parse_axis  # noqa: E402
from archcheck.engine.walk import check as check_full  # noqa: E402


def sweep(path: str, sets: list[str], n: int, jobs: int, dims: dict[str, int]) -> tuple[float, int, list]:
    spec = load(path)
    base = check(spec, dims)
    axes = [parse_axis(spec, base, s) for s in sets]
    total = 1
    for a in axes:
        total *= len(a.values)
    sample = min(n, total)
    t = time.perf_counter()
    rows = explore(spec, axes, dims, sample=sample if sample < total else None, jobs=jobs)
    dt = time.perf_counter() - t
    return len(rows) / dt, len(rows), axes


def torch_rate(path: str, axes, dims: dict[str, int], n: int) -> float | None:
    try:
        import torch

        from archcheck.emit.verify import module_from_result
    except ImportError:
        return None
    spec = load(path)
    combos = list(combinations(axes, n, seed=0))[:n]
    done = 0
    t = time.perf_counter()
    for combo in combos:
        params = {a.key: combo[a.key] for a in axes if a.kind == "param"}
        vd = dict(dims)
        vd.update({a.key: combo[a.key] for a in axes if a.kind == "dim"})
        overrides: dict = {}
        for a in axes:
            if a.kind == "field":
                overrides.setdefault(a.path, {})[a.field] = combo[a.key]
        res = check_full(spec, vd, params, overrides)
        if not res.ok:
            continue
        # What a user does without archcheck: build the module, run it on meta tensors.
        with torch.device("meta"):
            model = module_from_result(res)
            (inp,) = res.inputs.values()
            model(torch.empty([d if isinstance(d, int) else 1 for d in inp.shape]))
        done += 1
    dt = time.perf_counter() - t
    return done / dt if done else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--torch-variants", type=int, default=20)
    args = ap.parse_args()
    cases = [
        (
            "SimpleCNN-size",
            str(ROOT / "tests/specs/sweep_cnn.yaml"),
            ["width=1:200", "H=8:120:4", "fc1.in_features=null"],
            {"N": 1},
        ),
        ("ResNet-50-size", str(ROOT / "specs/resnet50.yaml"), ["num_classes=10:1000:10"], {}),
    ]
    print(
        f"{'spec':<16} {'variants':>8} {'1 core /s':>10} {f'{args.jobs} cores /s':>11} {'torch meta /s':>14} {'ratio':>7}"
    )
    for label, path, sets, dims in cases:
        n = args.variants if label.startswith("Simple") else max(50, args.variants // 20)
        r1, count, axes = sweep(path, sets, n, 1, dims)
        rj, _, _ = sweep(path, sets, n, args.jobs, dims) if args.jobs > 1 else (r1, count, axes)
        rt = torch_rate(path, axes, dims, args.torch_variants)
        ratio = f"{r1 / rt:6.0f}x" if rt else "    n/a"
        rts = f"{rt:14.1f}" if rt else f"{'n/a':>14}"
        print(f"{label:<16} {count:>8} {r1:>10.0f} {rj:>11.0f} {rts} {ratio}")


if __name__ == "__main__":
    main()
