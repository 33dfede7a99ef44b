"""Hostile free-dim ranges: solving conditions must not enumerate sizes (time and memory bounded).

Before conditions.py solved them, `dims: {H: {max: 1000000000}}` plus one merge made validate
enumerate a billion sizes (a hang with gigabytes of memory).
"""

from __future__ import annotations

import textwrap

import pytest
from hostile_util import run_cli

MERGE = """
    input: {{shape: [N, 8, H, W]}}
    dims: {{H: {{max: {hi}}}, W: {{min: 3, max: {hi}}}}}
    layers:
      - {{name: down, type: MaxPool2d, kernel_size: 2}}
      - {{name: up, type: Upsample, scale_factor: 2}}
      - {{name: sum, type: Add, inputs: [x, up]}}
    """


@pytest.mark.parametrize("hi", [1000, 10**9, 10**18])
def test_huge_range_with_a_merge_is_fast(tmp_path, hi):
    spec = tmp_path / "s.yaml"
    spec.write_text(textwrap.dedent(MERGE.format(hi=hi)))
    r = run_cli("validate", spec)
    r.assert_clean(codes=(0,), max_seconds=10, max_mb=300)  # a hang was minutes; start-up ~1.5 s
    assert "H must be a multiple of 2 for the shapes to line up" in r.output
    assert "W must be a multiple of 2 and at least 4" in r.output


def test_stride_stack_without_a_max_is_fast(tmp_path):
    """20 stride-2 convs: the minimum is 2**21 - 1, found by a binary search, not a sweep.

    (Most of the time is sympy building the 20 nested floors, not the solving: about 0.1 s.)
    """
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "input: {shape: [N, 1, L]}\n"
        "layers:\n  - {type: Conv1d, out_channels: 1, kernel_size: 3, stride: 2, repeat: 20}\n"
    )
    r = run_cli("validate", spec)
    r.assert_clean(codes=(0,), max_seconds=10, max_mb=300)
    assert f"L must be at least {2**21 - 1} " in r.output


def test_enormous_period_is_stated_not_enumerated(tmp_path):
    """Pools of 127 and 131 on two branches: the pattern repeats every 16,637 sizes (> the cap)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            input: {shape: [N, 4, H]}
            dims: {H: {max: 1000000000000}}
            layers:
              - {name: a, type: MaxPool1d, kernel_size: 127}
              - {name: b, type: MaxPool1d, kernel_size: 131, inputs: [x]}
              - {name: ua, type: Upsample, scale_factor: 127, inputs: [a]}
              - {name: ub, type: Upsample, scale_factor: 131, inputs: [b]}
              - {name: sum, type: Add, inputs: [ua, ub]}
            """
        )
    )
    r = run_cli("validate", spec)
    r.assert_clean(codes=(0,), max_seconds=10, max_mb=300)  # a hang was minutes; start-up ~1.5 s
    assert "AC313" in r.output and "16,637" in r.output


def test_inverted_range_exits_1(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("input: {shape: [N, 3, H]}\ndims: {H: {min: 10, max: 5}}\nlayers: [ReLU]\n")
    r = run_cli("validate", spec)
    r.assert_clean(codes=(1,))
    assert "AC312" in r.output
