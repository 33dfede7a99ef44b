"""archcheck explore: every variant checked, errors as rows, exact counts for the rest."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from archcheck.api import load
from archcheck.cli.app import main
from archcheck.emit.explore import ExploreError, combinations, explore, parse_axis, parse_values
from archcheck.engine.walk import check

SWEEP = str(Path(__file__).parent / "specs" / "sweep_cnn.yaml")


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_width_by_h_marks_the_rows_where_h_breaks_in_features():
    spec = load(SWEEP)
    base = check(spec)
    axes = [parse_axis(spec, base, "width=8,16,32"), parse_axis(spec, base, "H=28,56")]
    rows = explore(spec, axes, {"N": 1})
    assert len(rows) == 6
    by = {(r["width"], r["H"]): r for r in rows}
    # fc1 is fixed at 1568 = 32 * 7 * 7: only width 16 at H 28 fits (and width 8 at H 56 = 16 * 14 * 14 = 3136: no).
    assert [k for k, r in by.items() if r["ok"]] == [(16, 28)]
    bad = by[(32, 56)]
    assert bad["status"] == "AC202" and "12544" in bad["error"] and bad["params"] is None
    good = by[(16, 28)]
    # the same numbers a full check gives for that variant
    ref = check(spec, {"N": 1, "H": 28}, {"width": 16})
    assert (good["params"], good["macs"]) == (ref.total_params, ref.total_macs) == (215370, 3024384)


def test_inferred_in_features_make_every_variant_valid_with_exact_counts():
    spec = load(SWEEP)
    base = check(spec)
    axes = [parse_axis(spec, base, "width=4:12:4"), parse_axis(spec, base, "fc1.in_features=null")]
    rows = explore(spec, axes, {"N": 1})
    assert all(r["ok"] for r in rows)
    for r in rows:
        w = r["width"]
        flat = 2 * w * 7 * 7
        expected = (25 * w + w) + (25 * w * 2 * w + 2 * w) + (flat * 128 + 128) + (128 * 10 + 10)
        assert r["params"] == expected


def test_ranges_and_values():
    assert parse_values("8:32:8") == [8, 16, 24, 32]
    assert parse_values("3,5,same,true,0.5") == [3, 5, "same", True, 0.5]
    for bad in ("", "5:1", "1:2:0", "a:b"):
        with pytest.raises(ExploreError):
            parse_values(bad)


def test_random_sampling_is_deterministic_and_distinct():
    spec = load(SWEEP)
    axes = [parse_axis(spec, check(spec), "width=1:100"), parse_axis(spec, check(spec), "H=8:64")]
    a = list(combinations(axes, 20, seed=3))
    assert a == list(combinations(axes, 20, seed=3))
    assert len({tuple(c.values()) for c in a}) == 20


def test_unknown_axis_is_a_usage_error_with_a_suggestion():
    r = cli("explore", SWEEP, "--set", "widht=8")
    assert r.exit_code == 2 and "did you mean 'width'" in r.output
    r = cli("explore", SWEEP, "--set", "conv1.kernal_size=3")
    assert r.exit_code == 2 and "kernel_size" in r.output
    r = cli("explore", SWEEP, "--set", "width=8", "--where", "__import__('os')")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_cli_formats_sort_and_filter(tmp_path):
    r = cli("explore", SWEEP, "--set", "width=8,16,32", "--set", "H=28,56", "--dim", "N=1", "--format", "json")
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert r.exit_code == 0 and len(rows) == 6
    r = cli(
        "explore",
        SWEEP,
        "--set",
        "width=8,16",
        "--set",
        "fc1.in_features=null",
        "--format",
        "csv",
        "--sort",
        "macs",
        "--where",
        "ok and params < 1e6",
    )
    table = list(csv.DictReader(io.StringIO(r.output)))
    assert [int(t["width"]) for t in table] == [8, 16]
    assert int(table[0]["macs"]) < int(table[1]["macs"])
    r = cli("explore", SWEEP, "--set", "width=8,16,32", "--sort", "macs")
    assert r.exit_code == 0 and "3 variants: 1 ok, 2 with errors" in r.output


def test_plot_marks_pareto_front(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "front.png"
    r = cli(
        "explore",
        SWEEP,
        "--set",
        "width=4:32:4",
        "--set",
        "H=16:64:8",
        "--set",
        "fc1.in_features=null",
        "--plot",
        str(out),
    )
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parallel_sweep_equals_serial():
    spec = load(SWEEP)
    base = check(spec)
    axes = [parse_axis(spec, base, "width=1:50"), parse_axis(spec, base, "H=8:50")]
    serial = explore(spec, axes, {"N": 1}, jobs=1)
    parallel = explore(spec, axes, {"N": 1}, jobs=2)
    assert len(serial) == 50 * 43 == len(parallel)
    assert serial == parallel


def test_an_axis_given_twice_is_a_usage_error():
    # Found by the long fuzz run: the copies multiplied the variants and the later one won.
    r = cli("explore", SWEEP, "--set", "width=8,16", "--set", "width=1:30")
    assert r.exit_code == 2 and "--set width is given twice" in r.output


def test_json_follows_validates_contract():
    # changed contract (issue 15 item 5): `ok` a boolean, swept values under "set", shapes as lists,
    # diagnostics as objects with codes, exactly like `validate --format json`
    r = cli("explore", SWEEP, "--set", "width=8,16", "--dim", "N=2", "--format", "json")
    assert r.exit_code == 0, r.output
    bad, good = [json.loads(line) for line in r.output.splitlines()]
    assert good["set"] == {"width": 16} and bad["set"] == {"width": 8}
    assert good["ok"] is True and bad["ok"] is False
    assert good["outputs"] == {"fc2": [2, 10]} and good["diagnostics"] == []
    d = bad["diagnostics"][0]
    assert d["code"] == "AC202" and d["severity"] == "error" and d["path"] == "fc1"
    assert {"line", "column", "message", "hint"} <= set(d) and isinstance(d["line"], int)
    # the same variant through validate gives the same diagnostic
    v = load(SWEEP)
    res = check(v, {"N": 2}, {"width": 8})
    assert [x.to_json() for x in res.diagnostics] == bad["diagnostics"]
    # a symbolic dim stays a string
    r = cli("explore", SWEEP, "--set", "width=16", "--format", "json")
    assert json.loads(r.output)["outputs"] == {"fc2": ["N", 10]}


def test_csv_has_a_boolean_ok_column():
    r = cli("explore", SWEEP, "--set", "width=8,16", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(r.output)))
    assert [(t["width"], t["ok"], t["pareto"]) for t in table] == [("8", "false", "false"), ("16", "true", "true")]


@pytest.mark.parametrize("name", ["params", "ok", "memory", "set"])
def test_an_axis_named_like_a_result_column_is_refused(tmp_path, name):
    spec = tmp_path / "s.yaml"
    spec.write_text(Path(SWEEP).read_text().replace("params: {width: 16}", f"params: {{width: 16, {name}: 1}}"))
    assert check(load(str(spec))).ok
    r = cli("explore", str(spec), "--set", f"{name}=1,2")
    assert r.exit_code == 2 and "result column" in r.output and "Traceback" not in r.output


def _dominated(r, rows, axes):
    return any(
        all(o[a] <= r[a] for a in axes) and any(o[a] < r[a] for a in axes) for o in rows if o["ok"] and o is not r
    )


@pytest.mark.parametrize("axes", [("params", "macs"), ("macs", "memory"), ("params", "macs", "memory")])
def test_pareto_on_chosen_axes_matches_brute_force(axes):
    spec = load(SWEEP)
    base = check(spec)
    ax = [parse_axis(spec, base, "width=4:40:4"), parse_axis(spec, base, "H=28,56"), parse_axis(spec, base, "N=1,2")]
    ax.append(parse_axis(spec, base, "fc1.in_features=null"))  # inferred: every variant is ok
    rows = explore(spec, ax, pareto=axes)
    ok = [r for r in rows if r["ok"]]
    assert len(ok) >= 10
    for r in ok:  # on the front iff no other variant is at least as good on every axis and better on one
        if r["pareto"]:
            assert not _dominated(r, rows, axes)
        else:
            assert _dominated(r, rows, axes) or any(o["pareto"] and all(o[a] == r[a] for a in axes) for o in rows)


def test_pareto_option_and_bad_plot_fail_before_the_sweep(tmp_path):
    r = cli("explore", SWEEP, "--set", "width=8,16", "--pareto", "macs,memory", "--format", "json")
    assert r.exit_code == 0 and sum(json.loads(x)["pareto"] for x in r.output.splitlines()) == 1
    for bad in ("params", "params,params", "params,latency", "params,macs,memory,params"):
        r = cli("explore", SWEEP, "--set", "width=8,16", "--pareto", bad)
        assert r.exit_code == 2 and "--pareto" in r.output and "variants" not in r.output
    # a bad --plot is refused before any variant is checked: no table printed, nothing written
    for name in ("front.jpg", "front"):
        r = cli("explore", SWEEP, "--set", "width=1:100000", "--plot", str(tmp_path / name))
        assert r.exit_code == 2 and "PNG" in r.output and "variants:" not in r.output
    r = cli("explore", SWEEP, "--set", "width=1:100000", "--plot", str(tmp_path / "no" / "dir" / "f.png"))
    assert r.exit_code != 0 and "variants:" not in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def _summary_rf(spec_path, *args):
    """The receptive field `archcheck summary` prints at the last layer that has one (its RF column)."""
    r = cli("summary", spec_path, *args)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    head = next(i for i, line in enumerate(lines) if "RF" in line.split())
    col = lines[head].split().index("RF") - len(lines[head].split())  # counted from the right: Stride follows
    rfs = []
    for line in lines[head + 2 :]:
        if line.startswith("="):
            break
        cell = line.split()[col]
        rfs.append(cell)
    known = [c for c in rfs if c != "n/a"]
    return min(int(v) for v in known[-1].split("x")) if known else None


def test_receptive_field_column_agrees_with_summary(tmp_path):
    spec = load(SWEEP)
    base = check(spec)
    axes = [
        parse_axis(spec, base, "conv1.kernel_size=1,3,5,7"),
        parse_axis(spec, base, "conv2.kernel_size=3,5"),
        parse_axis(spec, base, "pool1.kernel_size=2,3"),
        parse_axis(spec, base, "fc1.in_features=null"),
    ]
    rows = explore(spec, axes, {"N": 1, "H": 64})
    assert all(r["ok"] for r in rows) and len(rows) == 16
    for r in rows:
        k1, k2, p1 = r["conv1.kernel_size"], r["conv2.kernel_size"], r["pool1.kernel_size"]
        # by hand: k1; pool p1 (stride p1): + (p1 - 1); conv k2 at jump p1; pool 2 at jump p1
        assert r["rf"] == k1 + (p1 - 1) + (k2 - 1) * p1 + p1
    for r in rows[:3] + rows[-2:]:  # and as summary shows it, for the same variant written out
        data = yaml.safe_load(Path(SWEEP).read_text())
        by = {it["name"]: it for it in data["layers"] if isinstance(it, dict) and "name" in it}
        for key in ("conv1.kernel_size", "conv2.kernel_size", "pool1.kernel_size"):
            name, field = key.split(".")
            by[name][field] = r[key]
        del by["fc1"]["in_features"]
        p = tmp_path / "v.yaml"
        p.write_text(yaml.safe_dump(data))
        assert _summary_rf(str(p), "--dim", "H=64") == r["rf"]
    mlp = tmp_path / "mlp.yaml"
    mlp.write_text("input: {shape: [N, 8]}\nparams: {h: 4}\nlayers:\n  - {type: Linear, out_features: $h}\n")
    rows = explore(load(str(mlp)), [parse_axis(load(str(mlp)), check(load(str(mlp))), "h=2,4")])
    assert [r["rf"] for r in rows] == [None, None]  # no layer has a receptive field


def test_pareto_on_receptive_field_maximises_it():
    spec = load(SWEEP)
    base = check(spec)
    ax = [
        parse_axis(spec, base, "width=4:16:4"),
        parse_axis(spec, base, "conv1.kernel_size=1,3,5,7"),
        parse_axis(spec, base, "conv2.kernel_size=1,3,5"),
        parse_axis(spec, base, "fc1.in_features=null"),
    ]
    rows = explore(spec, ax, {"N": 1}, pareto=("params", "rf"))
    ok = [r for r in rows if r["ok"]]
    assert len(ok) == 48

    def beats(o, r):  # fewer or equal params and a larger or equal field, strictly better on one
        return o["params"] <= r["params"] and o["rf"] >= r["rf"] and (o["params"], o["rf"]) != (r["params"], r["rf"])

    for r in ok:  # on the front iff nothing beats it (of exact ties, one stands for all)
        dominated = any(beats(o, r) for o in ok)
        if r["pareto"]:
            assert not dominated
        else:
            assert dominated or any(o["pareto"] and (o["params"], o["rf"]) == (r["params"], r["rf"]) for o in ok)
    front = [r for r in ok if r["pareto"]]
    assert max(r["rf"] for r in ok) in {r["rf"] for r in front}  # the largest field is on the front
    assert min(r["params"] for r in ok) in {r["params"] for r in front}  # and so are the fewest params
    r = cli(
        "explore",
        SWEEP,
        "--set",
        "conv1.kernel_size=3,5",
        "--set",
        "conv1.padding=same",
        "--set",
        "fc1.in_features=null",
        "--pareto",
        "macs,rf",
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.output.splitlines()]
    assert [g["rf"] for g in got] == [14, 16] and all(g["pareto"] for g in got)  # more MACs buy a larger field
    assert got[0]["macs"] < got[1]["macs"]
