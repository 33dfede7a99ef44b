"""Hostile invocations of the CLI: outputs, paths, options, sweep sizes (issue 10).

Every case runs the real CLI in a subprocess (tests/hostile_util.run_cli) and checks
the contract: the expected exit code (1 spec errors, 2 usage), a message and no
traceback, under 5 s and 500 MB of peak memory; the session's table of these runs is
printed at the end of the pytest run.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
from hostile_util import ROOT, run_cli

SPEC = ROOT / "specs" / "simple_cnn.yaml"
SWEEP = ROOT / "tests" / "specs" / "sweep_cnn.yaml"
BAD = "name: Bad\ninput: {shape: [N, 3, 8, 8]}\nlayers:\n  - {type: Linear, in_features: 5, out_features: 2}\n"


def usage_error(r, *, contains: str = "") -> str:
    """Exit 2, one line on stderr starting `archcheck`, within 5 s and 500 MB."""
    r.assert_clean(codes=(2,))
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("Usage:"), r.describe()
    assert contains in r.stderr, r.describe()
    return r.stderr


def cannot_write(r, path: str, reason: str = "") -> None:
    line = r.one_line_error()
    assert r.code == 2, r.describe()
    assert line.startswith(f"archcheck: cannot write {path}: "), line
    assert reason in line, line
    r.assert_clean(codes=(2,))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "net.yaml"
    shutil.copy(SPEC, p)
    return p


def _plot_ok() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def has_dot() -> bool:
    return shutil.which("dot") is not None


# Each writing command, as (args before the output, output option, suffix).
WRITERS = {
    "generate": (["generate", "{spec}"], "-o", ".py"),
    "render-svg": (["render", "{spec}", "--format", "svg"], "-o", ".svg"),
    "render-dot": (["render", "{spec}"], "-o", ".dot"),
    "report": (["report", "{spec}"], "-o", ".html"),
    "schema": (["schema"], "-o", ".json"),
    "explore-report": (["explore", "{sweep}", "--set", "width=8,16"], "--report", ".html"),
    "explore-plot": (["explore", "{sweep}", "--set", "width=8,16"], "--plot", ".png"),
}


def argv(name: str, spec: Path, out: str | Path, *extra: str) -> list[str]:
    pre, opt, _ = WRITERS[name]
    sweep = spec.parent / "sweep.yaml"
    if not sweep.exists():
        shutil.copy(SWEEP, sweep)
    return [a.format(spec=spec, sweep=sweep) for a in pre] + [opt, str(out), *extra]


def the_input(name: str, spec: Path) -> Path:
    return spec.parent / "sweep.yaml" if name.startswith("explore") else spec


def needs(name: str) -> None:
    if name == "explore-plot" and not _plot_ok():
        pytest.skip("matplotlib is not installed")
    if name in ("render-svg", "report") and not has_dot():
        pytest.skip("Graphviz's dot is not installed")


# ------------------------------------------------------------ the overwrite policy


@pytest.mark.parametrize("name", WRITERS)
def test_existing_file_is_refused_without_force(name, spec, tmp_path):
    needs(name)
    out = tmp_path / ("out" + WRITERS[name][2])
    out.write_text("precious\n")
    r = run_cli(*argv(name, spec, out))
    cannot_write(r, str(out), "exists; use --force")
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize("name", WRITERS)
def test_force_overwrites(name, spec, tmp_path):
    needs(name)
    out = tmp_path / ("out" + WRITERS[name][2])
    out.write_text("old\n")
    r = run_cli(*argv(name, spec, out, "--force"))
    r.assert_clean(codes=(0,))
    assert out.read_bytes() != b"old\n" and out.stat().st_size > 100
    assert not list(tmp_path.glob(".archcheck-*")), "a temporary file was left behind"


@pytest.mark.parametrize("name", WRITERS)
def test_new_file_gets_ordinary_permissions(name, spec, tmp_path):
    needs(name)
    out = tmp_path / ("new" + WRITERS[name][2])
    run_cli(*argv(name, spec, out)).assert_clean(codes=(0,))
    mode = stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


@pytest.mark.parametrize("name", [n for n in WRITERS if n != "schema"])
@pytest.mark.parametrize("how", ["same", "relative", "dotdot", "symlink", "hardlink"])
def test_the_input_is_never_overwritten(name, how, spec, tmp_path):
    needs(name)
    argv(name, spec, "x")  # copies the sweep spec
    inp = the_input(name, spec)
    before = inp.read_bytes()
    if how == "same":
        out = str(inp)
    elif how == "relative":
        out = inp.name
    elif how == "dotdot":
        (tmp_path / "sub").mkdir()
        out = str(tmp_path / "sub" / ".." / inp.name)
    elif how == "symlink":
        out = str(tmp_path / "link.out")
        os.symlink(inp, out)
    else:
        out = str(tmp_path / "hard.out")
        os.link(inp, out)
    args = argv(name, spec, out, "--force")
    r = run_cli(*args, cwd=tmp_path)
    line = r.one_line_error()
    assert r.code == 2 and "is the input" in line and "--force or not" in line, r.describe()
    r.assert_clean(codes=(2,))
    assert inp.read_bytes() == before
    if how in ("symlink", "hardlink"):
        assert os.path.samefile(out, inp)  # the link itself is left alone too


@pytest.mark.parametrize("name", WRITERS)
def test_dangling_symlink_is_refused_like_a_file(name, spec, tmp_path):
    needs(name)
    out = tmp_path / ("out" + WRITERS[name][2])
    target = tmp_path / "elsewhere" / "target"
    os.symlink(target, out)
    cannot_write(run_cli(*argv(name, spec, out)), str(out), "symlink to nothing")
    assert out.is_symlink() and not target.exists()
    # with --force the link itself is replaced by the file; nothing is created where it pointed
    run_cli(*argv(name, spec, out, "--force")).assert_clean(codes=(0,))
    assert not out.is_symlink() and out.is_file() and not target.exists()


def test_force_on_a_symlink_replaces_the_link_not_its_target(spec, tmp_path):
    target = tmp_path / "target.py"
    target.write_text("keep me\n")
    out = tmp_path / "model.py"
    os.symlink(target, out)
    run_cli("generate", str(spec), "-o", str(out), "--force").assert_clean(codes=(0,))
    assert target.read_text() == "keep me\n"
    assert not out.is_symlink() and "class SimpleCNN" in out.read_text()


def test_two_outputs_on_one_path_are_refused(tmp_path):
    if not _plot_ok():
        pytest.skip("matplotlib is not installed")
    out = tmp_path / "both.html"
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "--report", out, "--plot", out)
    usage_error(r, contains="both write")
    assert not out.exists()


# ------------------------------------------------------------ `-o -` is standard output, everywhere


def test_generate_to_stdout(spec):
    r = run_cli("generate", spec, "-o", "-").assert_clean(codes=(0,))
    assert "class SimpleCNN" in r.stdout


def test_render_dot_to_stdout(spec):
    r = run_cli("render", spec, "-o", "-").assert_clean(codes=(0,))
    assert r.stdout.lstrip().startswith("digraph")


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_render_binary_to_stdout(spec, fmt, magic):
    if not has_dot():
        pytest.skip("Graphviz's dot is not installed")
    r = run_cli("render", spec, "-o", "-", "--format", fmt).assert_clean(codes=(0,))
    assert r.stdout_bytes.startswith(magic), r.stdout_bytes[:20]


def test_report_to_stdout(spec):
    r = run_cli("report", spec, "-o", "-").assert_clean(codes=(0, 1))
    assert r.stdout.lstrip().lower().startswith("<!doctype html")


def test_schema_to_stdout():
    r = run_cli("schema", "-o", "-").assert_clean(codes=(0,))
    assert '"$schema"' in r.stdout


def test_explore_report_to_stdout():
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "--report", "-").assert_clean(codes=(0,))
    assert r.stdout.lstrip().lower().startswith("<!doctype html"), r.stdout[:200]
    assert "2 variants" in r.stderr  # the table's verdict moves to stderr


def test_explore_plot_to_stdout():
    if not _plot_ok():
        pytest.skip("matplotlib is not installed")
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "--plot", "-").assert_clean(codes=(0,))
    assert r.stdout_bytes.startswith(b"\x89PNG\r\n\x1a\n")


def test_explore_two_outputs_on_stdout_are_refused():
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "--report", "-", "--plot", "-")
    usage_error(r, contains="both write")


# ------------------------------------------------------------ render without `dot`


def test_render_without_dot_writes_nothing_unasked(spec, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "net.svg"
    r = run_cli("render", spec, "-o", out, env={"PATH": str(empty)})
    r.assert_clean(codes=(1,))
    assert "dot" in r.stderr and "net.dot" in r.stderr  # says how to get the DOT source instead
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "net.yaml"]
    # the .dot the user names is written without dot
    r = run_cli("render", spec, "-o", tmp_path / "net.dot", env={"PATH": str(empty)}).assert_clean(codes=(0,))
    assert (tmp_path / "net.dot").read_text().startswith("digraph")


def test_report_without_dot_is_written_without_diagram(spec, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "r.html"
    run_cli("report", spec, "-o", out, env={"PATH": str(empty)}).assert_clean(codes=(1,))
    assert "No diagram" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "net.yaml", "r.html"]


# ------------------------------------------------------------ output-path problems: exit 2, one line


def _bad_paths(tmp_path: Path) -> dict[str, tuple[str, str]]:
    return {
        "missing-folder": (str(tmp_path / "nowhere" / "out{sfx}"), "no folder"),
        "a-directory": (str(tmp_path), "is a directory"),
        "file-as-folder": (str(tmp_path / "net.yaml" / "out{sfx}"), ""),
        "name-too-long": (str(tmp_path / ("x" * 300 + "{sfx}")), "too long"),
        "dev-full": ("/dev/full", "No space left on device"),
        "empty-name": ("", "empty"),
    }


@pytest.mark.parametrize("case", ["missing-folder", "a-directory", "file-as-folder", "name-too-long", "dev-full"])
@pytest.mark.parametrize("name", WRITERS)
def test_output_path_problems_are_usage_errors(name, case, spec, tmp_path):
    needs(name)
    if (name, case) == ("render-dot", "dev-full"):
        pytest.skip("no suffix, so the unknown format is the error; render-svg (--format svg) covers /dev/full")
    path, reason = _bad_paths(tmp_path)[case]
    path = path.format(sfx=WRITERS[name][2])
    r = run_cli(*argv(name, spec, path, "--force"))
    cannot_write(r, path, reason)


def test_empty_output_name(spec):
    r = run_cli("generate", spec, "-o", "")
    cannot_write(r, "", "empty")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_permission_denied(spec, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        cannot_write(run_cli("generate", spec, "-o", ro / "m.py"), str(ro / "m.py"), "Permission denied")
    finally:
        ro.chmod(0o700)


def test_read_only_filesystem(spec):
    # /proc is not writable even for root: the same one-line usage error
    r = run_cli("generate", spec, "-o", "/proc/archcheck-model.py")
    cannot_write(r, "/proc/archcheck-model.py")


STDOUT_WRITERS = {
    "validate": ["validate", "{spec}"],
    "generate": ["generate", "{spec}"],
    "generate-dash": ["generate", "{spec}", "-o", "-"],
    "render-dash": ["render", "{spec}", "-o", "-"],
    "report-dash": ["report", "{spec}", "-o", "-"],
    "schema": ["schema"],
    "summary": ["summary", "{spec}"],
    "explore": ["explore", "{sweep}", "--set", "width=8,16"],
    "explain": ["explain"],
    "help": ["explore", "--help"],
    "types": ["types"],
}


@pytest.mark.parametrize("where", ["/dev/full", "closed-pipe"])
@pytest.mark.parametrize("name", STDOUT_WRITERS)
def test_stdout_full_or_closed_is_a_usage_error(name, where, spec):
    args = [a.format(spec=spec, sweep=SWEEP) for a in STDOUT_WRITERS[name]]
    r = run_cli(*args, stdout_to=where)
    line = r.one_line_error() if "error" not in r.stderr else r.stderr.strip().splitlines()[-1]
    reason = "No space left on device" if where == "/dev/full" else "Broken pipe"
    assert line == f"archcheck: cannot write standard output: {reason}", r.describe()
    r.assert_clean(codes=(2,))


def test_head_closing_the_pipe_midway(tmp_path):
    # like `archcheck explore ... | head -c 100`: a long output meets a closed pipe
    r = run_cli("explore", SWEEP, "--set", "width=1:3000", stdout_limit=100)
    assert r.code in (0, 2), r.describe()
    if r.code == 2:
        assert r.one_line_error() == "archcheck: cannot write standard output: Broken pipe"
    r.assert_clean(codes=(0, 2), max_seconds=30)


def test_failed_write_keeps_the_old_file(monkeypatch, tmp_path):
    """Atomic writes: a failure half-way (disk full at fsync) leaves the old file whole and no temp file."""
    from archcheck.cli import output

    out = tmp_path / "m.py"
    out.write_text("the old, complete file\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output.os, "fsync", full)
    with pytest.raises(output.CannotWrite) as e:
        output.write_output(str(out), "x" * 100_000, force=True)
    assert e.value.message == f"cannot write {out}: No space left on device"
    assert e.value.exit_code == 2
    assert out.read_text() == "the old, complete file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]


def test_devices_are_written_in_place_without_force(spec):
    run_cli("generate", spec, "-o", "/dev/null").assert_clean(codes=(0,))
    assert os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)


# ------------------------------------------------------------ options that crashed (exit 3)


@pytest.mark.parametrize(
    "value",
    ["N=²", "N=٣", "N=" + "9" * 5000, "N=99999999999999999999", "N=0", "N=-1", "N=", "=4", "N4", "N=4.0", "N=0x10"],
    ids=[
        "superscript",
        "arabic-indic",
        "5000-digits",
        "beyond-int64",
        "zero",
        "negative",
        "empty",
        "no-name",
        "no-eq",
        "float",
        "hex",
    ],
)
@pytest.mark.parametrize("command", ["validate", "render", "summary", "generate", "explore"])
def test_bad_dim_is_a_usage_error(command, value, spec, tmp_path):
    args = {
        "validate": ["validate", spec],
        "render": ["render", spec, "-o", "-"],
        "summary": ["summary", spec],
        "generate": ["generate", spec],
        "explore": ["explore", SWEEP, "--set", "width=8"],
    }[command]
    usage_error(run_cli(*args, "--dim", value), contains="--dim")


@pytest.mark.parametrize(
    "value",
    ["width=1:²", "width=²:4", "H=٣", "width=1:" + "9" * 5000, "width=" + "9" * 5000, "H=1:3:" + "9" * 30],
    ids=["superscript-stop", "superscript-start", "arabic-dim", "5000-digit-stop", "5000-digit-value", "huge-step"],
)
def test_bad_set_is_a_usage_error(value):
    usage_error(run_cli("explore", SWEEP, "--set", value), contains="--set")


def test_sort_on_an_axis_mixing_numbers_and_text():
    r = run_cli("explore", SWEEP, "--set", "width=16,abc,8", "--sort", "width", "--format", "json")
    r.assert_clean(codes=(0,))
    import json

    assert [json.loads(line)["set"]["width"] for line in r.stdout.splitlines()] == [8, 16, "abc"]


@pytest.mark.parametrize(
    "expr",
    [
        '"a" + 1',
        "-status",
        '"%s%s" % ok',
        '"a" * 3000000000',
        '"%999999999d" % params',
        "status * 1000000000",
        "9" * 400 + " * 1.5 > 1",
        "b'x' == status",
        "1j == 1",
        "+error",
    ],
)
def test_where_that_misbehaves_is_a_usage_error(expr):
    usage_error(run_cli("explore", SWEEP, "--set", "width=8,16", "--where", expr), contains="--where")


@pytest.mark.parametrize(
    "expr", ["params * params * params * params > 1", "ok and -params < 0", "status + 'x' == 'okx'"]
)
def test_where_that_is_fine_still_works(expr):
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "--where", expr, "--format", "json")
    r.assert_clean(codes=(0,))


def test_random_is_capped():
    usage_error(run_cli("explore", SWEEP, "--set", "width=1:100000", "--random", "10000000"), contains="--random")


def test_jobs_are_capped():
    r = run_cli("explore", SWEEP, "--set", "width=8,16", "-j", "60")
    usage_error(r, contains="-j")
    assert "CPU" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--depth", "9" * 5000],
        ["--depth", "-1"],
    ],
)
def test_other_int_options(args, spec):
    usage_error(run_cli("render", spec, "-o", "-", *args))


def test_bad_render_format(spec):
    usage_error(run_cli("render", spec, "-o", "net.jpg"), contains="format")
    usage_error(run_cli("render", spec, "-o", "-", "--format", "jpg"))


def test_spec_errors_still_exit_1_for_writers(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    out = tmp_path / "m.py"
    run_cli("generate", bad, "-o", out).assert_clean(codes=(1,))
    assert not out.exists()


def test_unknown_type_name_is_shown_escaped():
    r = run_cli("types", "\x1b[31mX\x1b[0m")
    usage_error(r, contains="unknown layer type")
    assert "\x1b" not in r.output and "\\x1b[31mX" in r.stderr


def test_harness_measures_the_child_not_pytest():
    # the child's own peak RSS: a bare CLI start is tens of MB, not pytest's few hundred
    r = run_cli("--version").assert_clean(codes=(0,))
    assert 5 < r.peak_mb < 150 and 0 < r.seconds < 30, r.describe()


def test_fifo_without_reader_is_an_error_not_a_hang(spec, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    cannot_write(run_cli("generate", spec, "-o", fifo, timeout=20), str(fifo), "no process is reading it")


def test_block_device_is_never_written(spec, tmp_path):
    # a block-device node made here (a loop device number nothing is attached to), not a real disk
    dev = tmp_path / "disk"
    try:
        os.mknod(dev, 0o600 | stat.S_IFBLK, os.makedev(7, 254))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    cannot_write(run_cli("generate", spec, "-o", dev, "--force"), str(dev), "block device")


# ------------------------------------------------------------ --where, fuzzed in-process

ROW = {
    "width": 16,
    "H": 28,
    "ok": True,
    "status": "ok",
    "output": "[N, 10]",
    "params": 123_456,
    "macs": 9_876_543,
    "memory": 40_960,
    "pareto": False,
    "error": "",
}
ROW_BAD = dict(ROW, ok=False, status="AC202", params=None, macs=None, memory=None, error="fc1: 12544 != 1568")


def _where_exprs():
    from hypothesis import strategies as st

    atoms = st.sampled_from(
        [*ROW, "1", "0", "-1", "1e6", "1e308", "0.5", "'a'", '"%s%s"', '"%999999999d"', "3000000000", "9" * 300, "None"]
    )
    ops = st.sampled_from(["+", "-", "*", "//", "%", "<", "<=", "==", "!=", " and ", " or "])

    def combine(children):
        return st.one_of(
            st.tuples(children, ops, children).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
            children.map(lambda c: f"-{c}"),
            children.map(lambda c: f"not {c}"),
        )

    return st.recursive(atoms, combine, max_leaves=8)


def test_where_fuzz_only_usage_errors_and_bounded():
    import time

    from hypothesis import HealthCheck, given, settings

    from archcheck.spec.expr import ExprError, compile_predicate, test_predicate

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_where_exprs())
    def check(expr: str) -> None:
        t = time.process_time()
        try:
            tree = compile_predicate(expr)
            for row in (ROW, ROW_BAD):
                assert test_predicate(tree, row) in (True, False)
        except ExprError:
            pass
        assert time.process_time() - t < 1.0, expr

    check()
