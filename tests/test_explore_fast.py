"""explore's compiled plan (explore.Plan) gives exactly the rows of the full check, variant by variant."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcheck.api import load
from archcheck.emit.explore import Plan, combinations, explore, mark_pareto, parse_axis, run_variant
from archcheck.engine.walk import check

ROOT = Path(__file__).resolve().parents[1]
SWEEP = str(ROOT / "tests" / "specs" / "sweep_cnn.yaml")

# Many ways to fail: a kernel larger than the input (AC203), reflect padding too wide, in_features,
# num_features and the expect: that only some settings meet, a dims range (AC314), an expression
# that divides by zero, a bad field value, a param named by an expression, free dims left free.
MIXED = """\
name: FastPathMix
params: {width: 8, k: 3, hidden: "$width * 2", div: 1}
input: {shape: [N, 3, H, W]}
dims: {H: {min: 2, max: 48}}
layers:
  - {name: conv1, type: Conv2d, out_channels: $width, kernel_size: $k, padding: 1}
  - {type: BatchNorm2d, num_features: 8}
  - ReLU
  - {name: pool1, type: MaxPool2d, kernel_size: 2, ceil_mode: true}
  - {name: conv2, type: Conv2d, out_channels: "$hidden // $div", kernel_size: 3, padding: 2, padding_mode: reflect}
  - {type: Dropout, p: 0.1}
  - {name: pool2, type: AvgPool2d, kernel_size: 3, stride: 2}
  - Flatten
  - {name: fc1, type: Linear, out_features: "$hidden", expect: [N, 16]}
  - {type: GELU}
  - {name: fc2, type: Linear, out_features: 10}
"""


def _axes(spec, sets, dims=None):
    base = check(spec, dims or {})
    return [parse_axis(spec, base, s) for s in sets]


def _compare(spec, axes, dims, n, seed):
    """Every row of the fast path equals the full check's; returns how many the plan answered itself."""
    plan = Plan.compile(spec, axes, dims)
    assert plan is not None
    fast = 0
    for combo in combinations(axes, n, seed):
        full = run_variant(spec, axes, combo, dims)
        row = plan.run(combo)
        if row is not None:
            fast += 1
            assert full["ok"] and full["diagnostics"] == [], (combo, full["diagnostics"])
            assert row == full, combo
    return fast


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_rows_equal_check_on_random_variants_that_pass_and_fail(tmp_path, seed):
    path = tmp_path / "mix.yaml"
    path.write_text(MIXED)
    spec = load(str(path))
    sets = [
        "width=1:12",
        "k=1:9",
        "div=0:2",
        "H=1:60",
        "W=1:40",
        "conv1.padding=0,1,3,same",
        "pool1.ceil_mode=true,false",
    ]
    axes = _axes(spec, sets)
    rows = explore(spec, axes, {}, sample=400, seed=seed)
    full = explore(spec, axes, {}, sample=400, seed=seed, fast=False)
    assert rows == full
    codes = {r["status"] for r in rows}
    assert "ok" in codes and len(codes) >= 4, codes  # the sample covers passing and several failing kinds
    assert _compare(spec, axes, {}, 300, seed + 10) >= 10  # and the plan answered a good share itself


def test_plan_on_the_bench_sweep_and_simple_cnn():
    spec = load(SWEEP)
    axes = _axes(spec, ["width=1:200", "H=8:120:4", "fc1.in_features=null"], {"N": 1})
    assert _compare(spec, axes, {"N": 1}, 300, 0) == 300  # every variant valid: all answered by the plan
    axes = _axes(spec, ["width=8:24:4", "H=20:36:4"])  # fc1 fixed at 1568: most fail; N left free
    assert _compare(spec, axes, {}, 25, 0) >= 1
    simple = load(str(ROOT / "specs" / "simple_cnn.yaml"))  # with expect: on several layers
    axes = _axes(simple, ["conv1.out_channels=8:24:8", "conv2.kernel_size=1:7:2", "conv2.padding=0:3"])
    assert _compare(simple, axes, {}, 48, 0) >= 1


def test_specs_the_plan_does_not_cover_go_through_check():
    resnet = load(str(ROOT / "specs" / "resnet50.yaml"))  # blocks and repeat
    axes = _axes(resnet, ["num_classes=10,20"])
    assert Plan.compile(resnet, axes, {}) is None
    rows = explore(resnet, axes, {})
    assert [r["ok"] for r in rows] == [True, True] and rows[0]["params"] < rows[1]["params"]


# Random chains of the layer types with size kernels (explore_kernels) and some without, swept over
# params, free dims and fields: the plan's rows (kernels, caches, and the full check for every variant
# with a finding) equal check's, row for row, passing and failing.
KERNEL_LAYERS = [
    "{type: Conv2d, out_channels: $width, kernel_size: $k, padding: $pad}",
    "{type: Conv2d, out_channels: $width, kernel_size: 3, stride: 2, groups: $g, padding_mode: reflect, padding: 1}",
    "{type: Conv2d, out_channels: 8, kernel_size: 1, padding: same, dilation: 2}",
    "{type: MaxPool2d, kernel_size: 2, ceil_mode: true, padding: 1}",
    "{type: MaxPool2d, kernel_size: $k}",
    "{type: AvgPool2d, kernel_size: 3, stride: 2}",
    "{type: BatchNorm2d}",
    "{type: BatchNorm2d, num_features: 8}",
    "ReLU",
    "{type: Dropout, p: 0.2}",
    "{type: GELU}",
    "{type: Softmax, dim: 1}",
    "{type: AdaptiveAvgPool2d, output_size: $k}",
]
HEAD_LAYERS = ["Flatten", "{type: Linear, out_features: $width}", "{type: Linear, out_features: 10, in_features: 64}"]


@st.composite
def chain_spec(draw):
    body = draw(st.lists(st.sampled_from(KERNEL_LAYERS), min_size=1, max_size=6))
    head = draw(st.lists(st.sampled_from(HEAD_LAYERS), max_size=3))
    batch = draw(st.sampled_from(["N", 2, 1]))
    layers = "\n".join(f"  - {item}" for item in body + head)
    text = (
        "name: RandomChain\n"
        "params: {width: 8, k: 3, pad: 1, g: 1}\n"
        f"input: {{shape: [{batch}, 3, H, W]}}\n"
        "dims: {H: 16, W: 16}\n"
        f"layers:\n{layers}\n"
    )
    sets = ["width=1:12", "H=1:40", "W=2:30:3", "k=1:5", "pad=0,1,2,same", "g=1,2"]
    return text, draw(st.lists(st.sampled_from(sets), min_size=2, max_size=4, unique=True))


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(chain_spec())
def test_plan_rows_equal_check_on_random_chains_and_sweeps(tmp_path_factory, case):
    text, sets = case
    path = tmp_path_factory.mktemp("chain") / "chain.yaml"
    path.write_text(text)
    spec = load(str(path))
    axes = _axes(spec, sets)
    plan = Plan.compile(spec, axes, {})
    assert plan is not None
    rows = explore(spec, axes, {}, sample=60, seed=3)
    assert rows == explore(spec, axes, {}, sample=60, seed=3, fast=False)
    fast = 0
    for combo in combinations(axes, 60, 3):  # and each row the plan answers itself has no finding
        row = plan.run(combo)
        if row is not None:
            fast += 1
            assert row == run_variant(spec, axes, combo, {}), combo
    if fast and any(k is not None for k in plan.kernels):  # a passing layer with a kernel learnt its signature
        assert any(plan.known), "the layers' size kernels were never used"


def _pareto_reference(rows, axes):
    """mark_pareto as it was written before it became one sort and a running minimum: every point
    compared with every front point."""
    sign = tuple(-1 if a == "rf" else 1 for a in axes)
    pts = sorted(
        (r for r in rows if r["ok"] and all(r.get(a) is not None for a in axes)),
        key=lambda r: tuple(r[a] * s for a, s in zip(axes, sign)),
    )
    front, marked = [], set()
    for r in pts:
        p = tuple(r[a] * s for a, s in zip(axes, sign))
        if front and p == front[-1]:
            continue
        if any(all(f[i] <= p[i] for i in range(len(p))) for f in front):
            continue
        marked.add(id(r))
        front.append(p)
    return [id(r) in marked for r in rows]


value = st.one_of(st.none(), st.integers(0, 6))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.lists(
        st.fixed_dictionaries({"ok": st.booleans(), "params": value, "macs": value, "memory": value, "rf": value})
    ),
    st.sampled_from([("params", "macs"), ("params", "rf"), ("rf", "memory"), ("params", "macs", "memory"), ("macs",)]),
)
def test_pareto_front_is_the_one_every_point_compared_gives(rows, axes):
    want = _pareto_reference(rows, axes)
    assert [r["pareto"] for r in mark_pareto(rows, axes)] == want
