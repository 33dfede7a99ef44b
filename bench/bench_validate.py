"""Time `archcheck validate` as a user feels it: whole processes, median of repeats.

    python bench/bench_validate.py [--repeats 7]

Measures, each as the median wall time of several fresh processes:

* validate: ``python -m archcheck validate -q specs/simple_cnn.yaml``;
* floor: a process that only imports yaml, pydantic's BaseModel and click,
  the libraries validate cannot do without;
* torchinfo: a process that builds the same SimpleCNN with torch and runs
  ``torchinfo.summary`` on it (skipped when torch or torchinfo is missing);
* validate of generated 2,000-layer and 1,000-layer specs (written to a temp
  dir), and, in this process, loading (read + schema) the 1,000-layer file.

This is a benchmark, not a test: it asserts nothing. The aims (DESIGN.md's
"validate must not pay for torch") are printed next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "simple_cnn.yaml"

FLOOR = "import yaml; from pydantic import BaseModel; import click"

TORCHINFO = """
import torch
from torch import nn
import torchinfo

class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, padding=2)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(1568, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))

torchinfo.summary(SimpleCNN(), input_size=(1, 1, 28, 28), verbose=0)
"""


CPU: dict[str, float] = {}  # row name -> median user+sys CPU seconds of the child


def time_process(argv: list[str], repeats: int, name: str = "") -> float:
    """Median wall time of ``repeats`` runs of ``argv`` (after one warm-up run).

    The child's user+sys CPU time is recorded too (in ``CPU``): on a busy
    machine it moves much less than wall time.
    """
    times, cpu = [], []
    for i in range(repeats + 1):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stderr.decode()}")
        if i:  # the first run warms the OS file cache and .pyc files
            times.append(dt)
            cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    CPU[name] = statistics.median(cpu)
    return statistics.median(times)


def time_call(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def deep_spec(n_layers: int) -> str:
    """A chain of n_layers layers: Conv2d/BatchNorm2d/ReLU blocks that keep [N, 8, 16, 16]."""
    lines = ["name: Deep", "input:", "  shape: [N, 8, 16, 16]", "layers:"]
    kinds = [
        "  - {{name: conv{i}, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}}",
        "  - {{name: bn{i}, type: BatchNorm2d}}",
        "  - {{name: relu{i}, type: ReLU}}",
    ]
    for i in range(n_layers):
        lines.append(kinds[i % 3].format(i=i))
    return "\n".join(lines) + "\n"


def have(module: str) -> bool:
    p = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return p.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="runs per measurement (median taken)")
    args = ap.parse_args()
    r = args.repeats
    py = sys.executable
    # Byte-compile archcheck first, as `pip install` does: where PYTHONDONTWRITEBYTECODE is
    # set (this sandbox sets it), every run would otherwise compile archcheck's sources
    # (about 25 ms) while the floor's libraries load their installed .pyc files.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([py, "-m", "compileall", "-q", str(ROOT / "archcheck")], env=env, check=True)
    validate = [py, "-m", "archcheck", "validate", "-q"]

    rows: list[tuple[str, float]] = []

    def proc(name: str, argv: list[str]) -> float:
        t = time_process(argv, r, name)
        rows.append((name, t))
        return t

    t_validate = proc("archcheck validate specs/simple_cnn.yaml", validate + [str(SPEC.relative_to(ROOT))])
    t_floor = proc("floor: import yaml, pydantic.BaseModel, click", [py, "-c", FLOOR])
    proc("bare python -c pass", [py, "-c", "pass"])
    t_torchinfo = None
    if have("torch") and have("torchinfo"):
        t_torchinfo = proc("torch + torchinfo.summary(SimpleCNN)", [py, "-c", TORCHINFO])

    with tempfile.TemporaryDirectory() as tmp:
        big = {}
        for n in (2000, 1000):
            p = Path(tmp) / f"deep_{n}.yaml"
            p.write_text(deep_spec(n))
            big[n] = p
            proc(f"archcheck validate ({n:,}-layer spec)", validate + [str(p)])
        sys.path.insert(0, str(ROOT))
        import archcheck

        res = archcheck.check(big[2000])
        assert res.ok and len(res.layers) == 2000, res.diagnostics[:3]
        rows.append(("in-process load() of the 1,000-layer file", time_call(lambda: archcheck.load(big[1000]), r)))
        rows.append(
            ("in-process load()+check() of the 2,000-layer file", time_call(lambda: archcheck.check(big[2000]), r))
        )

    print(
        f"python {sys.version.split()[0]}, median of {r} runs (after 1 warm-up) each; load average {os.getloadavg()[0]:.1f}\n"
    )
    width = max(len(n) for n, _ in rows)
    print(f"  {'':<{width}}  {'wall':>8}     {'CPU':>8}")
    for name, t in rows:
        cpu = f"{CPU[name] * 1000:8.1f} ms" if name in CPU else ""
        print(f"  {name:<{width}}  {t * 1000:8.1f} ms  {cpu}")
    print()
    v, f = "archcheck validate specs/simple_cnn.yaml", "floor: import yaml, pydantic.BaseModel, click"
    print(f"  validate / floor      = {t_validate / t_floor:5.2f}x wall, {CPU[v] / CPU[f]:5.2f}x CPU   (aim <= 1.5x)")
    print(
        f"  validate - floor      = {(t_validate - t_floor) * 1000:5.1f} ms wall, {(CPU[v] - CPU[f]) * 1000:5.1f} ms CPU"
    )
    if t_torchinfo is not None:
        ti = "torch + torchinfo.summary(SimpleCNN)"
        print(f"  torchinfo / validate  = {t_torchinfo / t_validate:5.2f}x wall, {CPU[ti] / CPU[v]:5.2f}x CPU")


if __name__ == "__main__":
    main()
