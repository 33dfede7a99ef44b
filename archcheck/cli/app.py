"""The command line: a thin shell over archcheck's Python API."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .._version import __version__
from ..diagnostics.text import escape
from .extras import MODULE_EXTRA, install_hint

MAX_DIM = 2**63 - 1  # torch's largest size (int64)


def _parse_dims(values: tuple[str, ...]) -> dict[str, int]:
    """``--dim NAME=INT``: ASCII digits only (int() would take '٣'; '²' passes isdigit() but not int())."""
    import re

    out: dict[str, int] = {}
    for v in values:
        name, eq, num = v.partition("=")
        num = num.strip()
        if not eq or not name.strip().isidentifier() or not re.fullmatch(r"[0-9]{1,30}", num) or int(num) < 1:
            raise click.BadParameter(
                f"expected NAME=INT with INT >= 1 in ASCII digits, got {_shown(v)}", param_hint="--dim"
            )
        if int(num) > MAX_DIM:
            raise click.BadParameter(
                f"{name.strip()}={num} is beyond 2**63-1, torch's largest size", param_hint="--dim"
            )
        out[name.strip()] = int(num)
    return out


def _shown(v: str, limit: int = 60) -> str:
    """A user's value in a message: quoted, escaped, and cut when long."""
    return repr(v) if len(v) <= limit else repr(v[:limit]) + f"... ({len(v):,} characters)"


class _SpecPath(click.Path):
    """An existing spec file: a directory, FIFO or device is a usage error (exit 2), never read (a FIFO blocks)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        from ..spec.loader import not_a_file

        what = not_a_file(str(path))
        if what is not None:
            from ..diagnostics.codes import escape

            self.fail(f"{escape(str(path))} is {what}, not a spec file", param, ctx)
        return path


_SPEC = _SpecPath(exists=True, dir_okay=False)

_dim_option = click.option(
    "--dim", "dims", multiple=True, metavar="NAME=INT", help="Give a free dim a value, e.g. --dim N=4 --dim H=224."
)


class _Group(click.Group):
    """Internal bugs print one line asking for a report (exit 3); --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            rv = self._invoke(ctx)
        except (SystemExit, click.exceptions.Exit):
            _flush_stdout()  # a failed write of buffered output is reported, not lost at exit
            raise
        _flush_stdout()
        return rv

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except ModuleNotFoundError as e:
            extra = MODULE_EXTRA.get((e.name or "").split(".")[0])
            if extra is None:
                _internal_error(ctx, e)
            click.echo(
                f"archcheck: `{ctx.invoked_subcommand}` needs {e.name}, which is not installed: {install_hint(extra)}",
                err=True,
            )
            sys.exit(2)
        except OSError as e:
            if e.errno in _STDOUT_ERRNOS:  # stdout closed (`| head`) or full (`> /dev/full`): a usage error
                from .output import STDOUT, CannotWrite, reason, silence_stdout

                silence_stdout()
                raise CannotWrite(STDOUT, reason(e)) from None
            _internal_error(ctx, e)
        except Exception as e:
            _internal_error(ctx, e)


_STDOUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _flush_stdout() -> None:
    from .output import STDOUT, CannotWrite, reason, silence_stdout

    try:
        sys.stdout.flush()
    except OSError as e:
        silence_stdout()
        raise CannotWrite(STDOUT, reason(e)) from None
    except ValueError:  # closed
        pass


def _internal_error(ctx: click.Context, e: BaseException) -> NoReturn:
    """A bug in archcheck: one line asking for a report and exit 3 (the traceback with --debug)."""
    if ctx.params.get("debug"):
        import traceback

        traceback.print_exception(e)
    sub = f" {ctx.invoked_subcommand}" if ctx.invoked_subcommand else ""
    what = " ".join(f"{type(e).__name__}: {e}".split())  # one line, whatever the message
    what = what if len(what) <= 200 else what[:197] + "..."
    hint = "" if ctx.params.get("debug") else "; --debug shows the traceback"
    click.echo(
        f"archcheck{sub}: internal error ({what}). This is a bug in archcheck: "
        f"please report it with the spec file{hint}.",
        err=True,
    )
    sys.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcheck")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(debug: bool) -> None:
    """Check a network spec's tensor shapes before anything runs."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=_SpecPath(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "pretty", "short", "sarif"]),
    default="text",
    show_default=True,
    help="text: rustc-style on a terminal, one line per finding when piped; json: one object per spec; "
    "sarif: one SARIF 2.1.0 log for CI code scanning.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only diagnostics and the verdict, no layer table.")
@click.option("--color/--no-color", default=None, help="Colour (default: when writing to a terminal).")
@_dim_option
def validate(specs: tuple[str, ...], fmt: str, quiet: bool, color: bool | None, dims: tuple[str, ...]) -> None:
    """Schema- and shape-check SPECS (`-` reads one from standard input). Exit 0 ok, 1 errors found, 2 usage error.

    --format short prints only the findings, one per line (nothing when there are none).
    Colour follows the terminal, --color/--no-color, and the NO_COLOR convention.
    """
    from ..api import check
    from ..diagnostics.codes import render_short
    from ..emit.report import render_text, to_json
    from ..spec.loader import MAX_BYTES, load_bytes
    from ..spec.schema import parse_spec

    values = _parse_dims(dims)
    tty = sys.stdout.isatty()
    if color is None:
        color = tty and not os.environ.get("NO_COLOR")  # https://no-color.org: set and not empty
    if specs.count("-") > 1:
        raise click.UsageError("standard input (-) can be read only once")
    failed = False
    results = []
    used: set[str] = set()
    for path in specs:
        if path == "-":
            # at most one byte over the limit: `validate - < /dev/zero` must end
            res = check(parse_spec(load_bytes(sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>")), values)
        else:
            res = check(path, values)
        failed |= not res.ok
        used.update(d for inp in res.spec.inputs.values() for d in inp.shape if isinstance(d, str))
        if res.spec.model is not None and isinstance(res.spec.model.dims, dict):
            used.update(res.spec.model.dims)
        if fmt == "sarif":
            results.append(res)
        elif fmt == "json":
            click.echo(json.dumps(to_json(res)))
        elif fmt == "short":  # the findings only: what CI logs and editors' problem matchers read
            for d in res.diagnostics:
                click.echo(render_short(d))
        else:
            pretty = fmt == "pretty" or (fmt == "text" and tty)
            click.echo(render_text(res, pretty=pretty, color=color, table=not quiet), color=color)
    if fmt == "sarif":
        from ..emit.sarif import to_sarif

        click.echo(json.dumps(to_sarif(results), indent=2))
    for name in sorted(set(values) - used):  # a typo'd --dim would otherwise be ignored silently
        from ..diagnostics.codes import did_you_mean

        guess = did_you_mean(name, sorted(used))
        click.echo(
            f"archcheck: warning: --dim {name}: no spec has a free dim named {name}"
            + (f"; did you mean {guess}?" if guess else ""),
            err=True,
        )
    sys.exit(1 if failed else 0)


_depth_options = [
    click.option(
        "--depth",
        type=click.IntRange(min=0),
        default=None,
        help="How many levels of blocks/Sequentials to open (default: as deep as stays readable).",
    ),
    click.option("--expand", is_flag=True, help="Open every block and Sequential."),
]


_force_option = click.option(
    "--force", is_flag=True, help="Overwrite an existing output file (the input spec never is)."
)


def _with(options: list[Any]) -> Any:
    def deco(f: Any) -> Any:
        for o in reversed(options):
            f = o(f)
        return f

    return deco


@main.command()
@click.argument("spec", type=_SPEC)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    metavar="OUT",
    help="File to write; the format follows the suffix: .svg .png .pdf .dot. '-' is standard output (DOT unless --format).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["svg", "png", "pdf", "dot"]),
    default=None,
    help="The output format (default: OUT's suffix; DOT for '-').",
)
@_force_option
@_with(_depth_options)
@_dim_option
def render(
    spec: str, out: str, fmt: str | None, force: bool, depth: int | None, expand: bool, dims: tuple[str, ...]
) -> None:
    """Draw SPEC's channel and spatial flow (Graphviz).

    Exit 0 written; 1 written but the spec has errors (marked red in the
    diagram), or Graphviz's `dot` is missing (nothing is written: a .dot OUT
    needs no `dot`); 2 usage error (OUT exists without --force, cannot be written),
    or a diagram too large for `dot` (draw fewer levels with --depth).
    """
    from ..api import check
    from ..emit.diagram import FORMATS, DotNotFound, pipe, to_dot
    from .output import check_target, write_output

    check_target(out, force=force, inputs=[spec])
    if fmt is None:
        fmt = "dot" if out == "-" else FORMATS.get(Path(out).suffix.lower())
        if fmt is None:
            raise click.BadParameter(
                f"unknown format {Path(out).suffix!r}: use .svg, .png, .pdf or .dot (or --format)", param_hint="-o"
            )
    values = _parse_dims(dims)
    res = check(spec, values)
    code = 0 if res.ok else 1
    if not res.ok:
        errors = sum(d.severity == "error" for d in res.diagnostics)
        click.echo(
            f"archcheck: {escape(spec)}: {errors} error{'s' * (errors != 1)}; the diagram marks "
            "the failing layers (run `archcheck validate` for details)",
            err=True,
        )
    dot = to_dot(res, depth, expand)
    data: str | bytes = dot
    if fmt != "dot":
        try:
            data = pipe(dot, fmt)
        except DotNotFound as e:
            instead = "-o -" if out == "-" else f"-o {escape(str(Path(out).with_suffix('.dot')))}"
            click.echo(
                f"archcheck: nothing written: {e}; `{instead}` writes the DOT source, which needs no Graphviz",
                err=True,
            )
            sys.exit(1)
    write_output(out, data, force=force, inputs=[spec])
    if out != "-":
        click.echo(f"wrote {escape(out)}", err=True)
    sys.exit(code)


@main.command()
@click.argument("spec", type=_SPEC)
@click.option(
    "-o", "--output", "out", required=True, metavar="OUT.html", help="The HTML file to write ('-': standard output)."
)
@_force_option
@_with(_depth_options)
@_dim_option
def report(spec: str, out: str, force: bool, depth: int | None, expand: bool, dims: tuple[str, ...]) -> None:
    """One self-contained HTML page: diagram, layer table, diagnostics.

    Exit 0 written; 1 written but the spec has errors or `dot` is missing
    (the page then has no diagram); 2 usage error (OUT exists without --force,
    cannot be written), or a diagram too large for `dot` (use --depth).
    """
    from ..api import check
    from ..emit.diagram import DotNotFound, pipe, to_dot
    from ..emit.htmlreport import build
    from .output import check_target, write_output

    values = _parse_dims(dims)
    check_target(out, force=force, inputs=[spec])
    res = check(spec, values)
    code = 0 if res.ok else 1
    svg: str | None = None
    note = None
    try:
        svg = pipe(to_dot(res, depth, expand), "svg").decode("utf-8")
    except DotNotFound as e:
        note = f"No diagram: {e}."
        click.echo(f"archcheck: {e}; the report has no diagram", err=True)
        code = 1
    write_output(out, build(res, svg, note), force=force, inputs=[spec])
    if not res.ok:
        click.echo(f"archcheck: {escape(spec)} has errors; the report lists them", err=True)
    if out != "-":
        click.echo(f"wrote {escape(out)}", err=True)
    sys.exit(code)


@main.command()
@click.argument("spec", type=_SPEC)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUES",
    help="An axis: a param (width=8,16,32), a free dim (H=28:112:28, inclusive) or PATH.FIELD (conv1.kernel_size=3,5).",
)
@_dim_option
@click.option(
    "--random",
    "sample",
    type=click.IntRange(min=1),
    default=None,
    help="Check K variants drawn at random (K at most 1,000,000).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --random.")
@click.option("--sort", "sort_key", default=None, help="Sort by a column (params, macs, memory, or an axis).")
@click.option("--where", "where", default=None, help='Keep rows matching a filter, e.g. "ok and params < 1e6".')
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="json: one object per variant and line, as validate's (ok true/false, outputs as lists, diagnostics "
    'with codes), the swept values under "set". An axis may not be named like a result column '
    "(ok, status, output, outputs, params, macs, memory, rf, pareto, error, diagnostics, set).",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    metavar="FILE.png",
    help="Write a PNG of the first two --pareto axes (params vs MACs by default) with the Pareto front "
    "('-': standard output, instead of the table).",
)
@click.option(
    "--report",
    "report_path",
    default=None,
    metavar="FILE.html",
    help="Write one self-contained HTML page: a plot of the first two --pareto axes, Pareto front, errors, full table "
    "('-': standard output, instead of the table).",
)
@click.option(
    "--pareto",
    "pareto",
    default="params,macs",
    show_default=True,
    metavar="AXES",
    help="The Pareto front's axes, 2 or 3 of params, macs, memory (activation bytes per sample), all minimised, "
    "and rf (receptive field in input pixels, maximised); --plot and --report draw the first two.",
)
@_force_option
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Processes, at most the CPUs available (default: all of them for 2,000+ variants).",
)
def explore(
    spec: str,
    sets: tuple[str, ...],
    dims: tuple[str, ...],
    sample: int | None,
    seed: int,
    sort_key: str | None,
    where: str | None,
    fmt: str,
    plot_path: str | None,
    jobs: int | None,
    report_path: str | None = None,
    force: bool = False,
    pareto: str = "params,macs",
) -> None:
    """Check every combination of settings of SPEC; one row per variant."""
    from ..api import check, load
    from ..emit.explore import (
        LABELS,
        MAX_VARIANTS,
        MAXIMISED,
        PARETO_AXES,
        ExploreError,
        cpus,
        parse_axis,
        plot_png,
        sort_rows,
    )
    from ..emit.explore import explore as run
    from ..emit.report import render_text
    from ..spec.expr import ExprError, compile_predicate, test_predicate
    from .output import STDOUT, check_targets, write_output

    base_dims = _parse_dims(dims)
    if sample is not None and sample > MAX_VARIANTS:
        raise click.BadParameter(
            f"{sample:,} variants is more than {MAX_VARIANTS:,}, the most one sweep checks", param_hint="--random"
        )
    n_cpus = cpus()
    if jobs is not None and jobs > n_cpus:
        raise click.BadParameter(
            f"{jobs} processes, but archcheck may use {n_cpus} CPU{'s' * (n_cpus != 1)} here: give at most -j {n_cpus}",
            param_hint="-j/--jobs",
        )
    front_axes = tuple(a.strip() for a in pareto.split(","))
    if (
        len(front_axes) not in (2, 3)
        or len(set(front_axes)) != len(front_axes)
        or not set(front_axes) <= set(PARETO_AXES)
    ):
        raise click.BadParameter(
            f"give 2 or 3 distinct axes among {', '.join(PARETO_AXES)}, got {_shown(pareto, 40)}", param_hint="--pareto"
        )
    outputs = {"--plot": plot_path, "--report": report_path}
    check_targets(outputs, force=force, inputs=[spec])
    # --plot's problems are found before the sweep, not after minutes of checking variants
    # (a device such as /dev/stdout takes any name; a file must be named .png)
    plot_is_file = plot_path not in (None, STDOUT) and (not os.path.exists(plot_path) or os.path.isfile(plot_path))
    if plot_path and plot_is_file and not plot_path.lower().endswith(".png"):
        raise click.BadParameter(
            f"{_shown(plot_path, 60)}: --plot writes PNG only: name it FILE.png", param_hint="--plot"
        )
    if plot_path:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            click.echo("archcheck: --plot needs matplotlib: pip install 'archcheck[plot]'", err=True)
            sys.exit(2)
    s = load(spec)
    base = check(s, base_dims)
    if s.model is None or not base.root:
        click.echo(render_text(base, pretty=False, color=False, table=False))
        sys.exit(1)
    if not sets:
        raise click.UsageError("give at least one axis with --set NAME=VALUES")
    axes = []
    for t in sets:
        try:
            axes.append(parse_axis(s, base, t))
        except ExploreError as e:
            raise click.UsageError(f"--set {_shown(t, 40)}: {e}") from None
    keys = [a.key for a in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise click.UsageError(f"--set {twice[0]} is given twice: give all its values in one --set")
    try:
        pred = compile_predicate(where) if where else None
    except ExprError as e:
        raise click.UsageError(f"--where: {e}") from None
    n_jobs = jobs or n_cpus
    from math import prod

    total = min(sample or MAX_VARIANTS, prod(len(a.values) for a in axes))
    bar_needed = sys.stderr.isatty() and total > 1000  # a long sweep, on a terminal: never into stdout
    try:
        if bar_needed:
            with click.progressbar(length=total, label="checking variants", file=sys.stderr) as bar:
                rows = run(
                    s, axes, base_dims, sample=sample, seed=seed, jobs=n_jobs, progress=bar.update, pareto=front_axes
                )
        else:
            rows = run(s, axes, base_dims, sample=sample, seed=seed, jobs=n_jobs, pareto=front_axes)
    except ExploreError as e:
        raise click.UsageError(str(e)) from None
    if pred is not None:
        try:
            rows = [r for r in rows if test_predicate(pred, r)]
        except ExprError as e:
            raise click.UsageError(f"--where: {e}") from None
    if sort_key:
        if rows and sort_key not in rows[0]:
            raise click.UsageError(f"--sort: no column {_shown(sort_key)} (columns: {', '.join(rows[0])})")
        sort_rows(rows, sort_key)
    keys = [a.key for a in axes]
    to_stdout = STDOUT in (plot_path, report_path)
    if to_stdout:  # standard output carries the file: the table's verdict goes to stderr
        ok = sum(1 for r in rows if r["ok"])
        click.echo(f"{len(rows)} variants: {ok} ok, {len(rows) - ok} with errors", err=True)
    else:
        _print_rows(rows, keys, fmt)
    if plot_path:
        try:
            png = plot_png(rows, s.name, front_axes)
        except ImportError:
            click.echo("archcheck: --plot needs matplotlib: pip install 'archcheck[plot]'", err=True)
            sys.exit(2)
        write_output(plot_path, png, force=force, inputs=[spec])
        if plot_path != STDOUT:
            click.echo(f"wrote {escape(plot_path)}", err=True)
    if report_path:
        from ..emit.htmlreport import explore_page

        write_output(
            report_path,
            explore_page(rows, keys, s.name, tuple((a, LABELS[a], a in MAXIMISED) for a in front_axes)),
            force=force,
            inputs=[spec],
        )
        if report_path != STDOUT:
            click.echo(f"wrote {escape(report_path)}", err=True)


def _print_rows(rows: list[dict[str, Any]], keys: list[str], fmt: str) -> None:
    cols = keys + ["status", "output", "params", "macs", "memory", "rf", "pareto", "error"]
    if fmt == "json":  # one object per line, validate's contract: the swept values under "set"
        res = ["ok", "status", "outputs", "params", "macs", "memory", "rf", "pareto", "error", "diagnostics"]
        for r in rows:
            click.echo(json.dumps({"set": {k: r.get(k) for k in keys}, **{c: r.get(c) for c in res}}))
        return
    if fmt == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        ccols = keys + ["ok"] + cols[len(keys) :]

        def csv_cell(v: Any) -> Any:  # booleans as JSON writes them, a missing value empty
            return "" if v is None else ("true" if v else "false") if isinstance(v, bool) else v

        w.writerow(ccols)
        for r in rows:
            w.writerow([csv_cell(r.get(c)) for c in ccols])
        return
    from ..emit.report import human
    from ..emit.summary import mb

    def cell(r: dict[str, Any], c: str) -> str:
        v = r.get(c)
        if c in ("params", "rf"):
            return "-" if v is None else f"{v:,}"
        if c == "macs":
            return "-" if v is None else human(v)
        if c == "memory":
            return "-" if v is None else mb(v)  # decimal MB (10^6 bytes), as summary and torchinfo
        if c == "pareto":
            return "*" if v else ""
        if c == "error":
            return (v[:70] + "...") if v and len(v) > 73 else (v or "")
        return escape(str(v))  # an axis value given on the command line

    head = keys + ["status", "output", "params", "MACs", "act/sample", "RF", "front", "error"]
    table = [head] + [[cell(r, c) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = {cols.index("params"), cols.index("macs"), cols.index("memory"), cols.index("rf")}
    for j, row in enumerate(table):
        click.echo(
            "  ".join(v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(row)).rstrip()
        )
        if j == 0:
            click.echo("  ".join("-" * w for w in widths))
    ok = sum(1 for r in rows if r["ok"])
    click.echo(f"{len(rows)} variants: {ok} ok, {len(rows) - ok} with errors")


@main.command("types")
@click.argument("name", required=False)
def types_(name: str | None) -> None:
    """List the layer types archcheck knows, or show one type's fields and defaults."""
    from ..diagnostics.codes import did_you_mean
    from ..layers.base import REGISTRY
    from ..spec import schema  # noqa: F401  (fills the registry)

    if name is None:
        by_family: dict[str, list[str]] = {}
        for t, cls in sorted(REGISTRY.items()):
            by_family.setdefault(cls.family, []).append(t)
        for fam, ts in sorted(by_family.items()):
            click.echo(f"{fam:<11} {', '.join(ts)}")
        click.echo(
            "\nAlso: Sequential (nesting), and the blocks a spec defines. `archcheck types Conv2d` shows fields.\n"
            "Any layer: name, inputs (qkv.0 for one of several outputs), noqa, expect, tie: {weight: wte.weight}; "
            "{use: NAME} calls an earlier module again."
        )
        return
    cls = REGISTRY.get(name)
    if cls is None:
        guess = did_you_mean(name, sorted(REGISTRY))
        raise click.UsageError(f"unknown layer type {_shown(name)}" + (f"; did you mean '{guess}'?" if guess else ""))
    defined = cls.module_source or cls.function_source  # a type torch lacks: the generated file defines it
    if defined is not None:
        what = defined.partition("class ")[2].partition("(")[0] or defined.partition("def ")[2].partition("(")[0] + "()"
        click.echo(f"{name}  (defined in the generated file: {what})")
    else:
        click.echo(f"{name}" + (f"  (torch.{cls.torch_name})" if cls.torch_name else "  (a tensor operation)"))
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith("Base of"):
        click.echo(f"  {doc[0]}")
    from ..spec.schema import describe_type

    for fname, f in cls.model_fields.items():
        if fname in cls.meta_fields:
            continue
        req = "required" if f.is_required() else f"default {f.default!r}"
        click.echo(f"  {fname:<22} {describe_type(f.rebuild_annotation())}; {req}")
    if cls.outputs_doc:
        click.echo(f"  outputs: {cls.outputs_doc}")


@main.command()
@click.argument("code", required=False)
def explain(code: str | None) -> None:
    """Explain a diagnostic CODE (AC201, or its name: channel-mismatch); without CODE, list them all."""
    from ..diagnostics.codes import CODES
    from ..diagnostics.explain import find, suggest, text

    if code is None:
        for c in CODES.values():
            click.echo(f"{c.code}  {c.name:<26} {c.summary}")
        return
    found = find(code)
    if found is None:
        guess = suggest(code)
        raise click.BadParameter(
            f"no diagnostic code or name {code!r}" + (f"; did you mean '{guess}'?" if guess else ""),
            param_hint="CODE",
        )
    click.echo(text(found.code))


@main.command("schema")
@click.option(
    "-o", "--output", "out", default="-", metavar="FILE", help="Write to FILE instead of stdout ('-', the default)."
)
@_force_option
def schema_(out: str, force: bool) -> None:
    """Print the JSON Schema (draft-07) of the spec format, for editor completion and validation."""
    from ..spec.jsonschema import schema_text
    from .output import write_output

    write_output(out, schema_text(), force=force)
    if out != "-":
        click.echo(f"wrote {out}", err=True)


@main.command()
@click.argument("spec", type=_SPEC)
@click.option("-o", "--output", "out", default=None, metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@_dim_option
def generate(spec: str, out: str | None, force: bool, dims: tuple[str, ...]) -> None:
    """Write SPEC as a standalone PyTorch module (imports only torch).

    Exit 0 written; 1 the spec has errors (nothing is generated); 2 usage
    error, or FILE exists and --force was not given.
    """
    from ..api import check
    from ..emit.codegen import CodegenError
    from ..emit.codegen import generate as generate_source
    from ..emit.report import render_text
    from .output import check_target, write_output

    out = "-" if out is None else out
    values = _parse_dims(dims)
    check_target(out, force=force, inputs=[spec])
    res = check(spec, values)
    if not res.ok:
        click.echo(render_text(res, pretty=False, color=False, table=False), err=True)
        click.echo("archcheck: no code generated: the spec has errors", err=True)
        sys.exit(1)
    try:
        src = generate_source(res)
    except CodegenError as e:
        click.echo(f"archcheck: no code generated: {e}", err=True)
        sys.exit(1)
    write_output(out, src, force=force, inputs=[spec])
    if out != "-":
        click.echo(f"wrote {escape(out)} ({res.name}, {src.count(chr(10))} lines)", err=True)


@main.command("import")
@click.argument("target", metavar="FILE.py:Class|package.module:Class")
@click.option("--kwargs", "kwargs_json", default=None, metavar="JSON", help="Constructor arguments, a JSON object.")
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    metavar="[NAME=]D,D,...[:DTYPE]",
    help="The shape of forward()'s input (N,1,28,28; a name such as N is a free dim); repeat it for several, "
    "naming each: --input-shape tokens=N,32:long.",
)
@click.option("-o", "--output", "out", default=None, metavar="FILE", help="Write the spec to FILE (- or none: stdout).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@_dim_option
def import_(
    target: str,
    kwargs_json: str | None,
    input_shapes: tuple[str, ...],
    out: str | None,
    force: bool,
    dims: tuple[str, ...],
) -> None:
    """Write a PyTorch nn.Module as a spec (needs the torch extra).

    This LOADS AND RUNS the model's Python code (its module, __init__, and a
    trace of forward on the meta device), as importing it in Python would:
    import only code you trust. The model is traced with torch.fx; torch's
    module names are kept (same state_dict keys), repeated submodule classes
    become blocks, and each layer carries the Python line that defines it as a
    comment. Modules or calls archcheck cannot express are listed and nothing
    is written. Free dims other than N need a size for the trial run (--dim H=224).

    Exit 0 written; 1 the model cannot be expressed, or the written spec has
    errors (they are shown, located in the Python source); 2 usage error.
    """
    from ..emit.report import render_text
    from .importer import ImportFailed, check_written, import_model, parse_input_shape
    from .output import check_target, write_output

    try:
        kwargs = json.loads(kwargs_json) if kwargs_json is not None else {}
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--kwargs") from None
    if not isinstance(kwargs, dict):
        raise click.BadParameter("expected a JSON object such as '{\"num_classes\": 10}'", param_hint="--kwargs")
    if not input_shapes:
        raise click.UsageError("give the input's shape, e.g. --input-shape N,1,28,28")
    inputs = []
    for s in input_shapes:
        try:
            inputs.append(parse_input_shape(s))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--input-shape") from None
    out = "-" if out is None else out
    model_file = target.rpartition(":")[0]
    check_target(out, force=force, inputs=[model_file] if model_file.endswith(".py") else [])
    try:
        imp = import_model(target, kwargs, inputs, _parse_dims(dims))
    except ImportFailed as e:
        head = "cannot import" if e.code == 2 else "cannot write as a spec"
        click.echo(f"archcheck import: {head} {target}:", err=True)
        for p in e.problems:
            click.echo(f"  - {p}", err=True)
        if e.code == 1:
            click.echo("archcheck import: nothing written", err=True)
        sys.exit(e.code)
    res, problems = check_written(imp, out if out != "-" else "<stdout>.yaml")
    if problems:
        click.echo(f"archcheck import: the spec made from {target} does not reproduce the model:", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
        click.echo("archcheck import: nothing written (this is a bug in archcheck: please report it)", err=True)
        sys.exit(1)
    write_output(out, imp.text, force=force, inputs=[imp.file] if imp.file else [])
    if out != "-":
        click.echo(f"wrote {out} ({res.name}, {len(res.layers)} layers)", err=True)
    for note in imp.notes[:10]:
        click.echo(f"archcheck import: note: {note}", err=True)
    if len(imp.notes) > 10:
        click.echo(f"archcheck import: note: and {len(imp.notes) - 10} more Parameters", err=True)
    if not res.ok:
        click.echo(render_text(res, pretty=True, color=False, table=False), err=True)
        click.echo("archcheck import: the model has shape errors (above, with the Python lines)", err=True)
        sys.exit(1)


@main.command()
@click.argument("specs", nargs=-1, required=True, type=_SPEC)
@_dim_option
def verify(specs: tuple[str, ...], dims: tuple[str, ...]) -> None:
    """Build SPECS with torch, run them (meta device) and compare with archcheck.

    Only the meta device is used: no weights are materialised, whatever the
    model's size; a model torch cannot run there is reported, never run on the CPU.

    Every module's output shape and the parameter counts must agree. Free
    dims get small values (N=2; the others the smallest that check ok) unless
    given with --dim. Exit 0 all agree; 1 a disagreement or a spec with errors.
    """
    from ..emit.report import render_text
    from ..emit.verify import verify as verify_spec

    values = _parse_dims(dims)
    failed = False
    for path in specs:
        v, res = verify_spec(path, values)
        if not res.ok:
            click.echo(render_text(res, pretty=False, color=False, table=False))
        click.echo(v.text(path))
        failed |= not v.ok
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("spec", type=_SPEC)
@_dim_option
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Open blocks and Sequentials K levels deep (default: all).",
)
@click.option(
    "--columns",
    "columns_text",
    default="default",
    show_default=True,
    metavar="LIST",
    help="Columns, separated by commas, named as torchinfo's col_names: input_size, output_size, "
    "kernel_size, num_params, params_percent, mult_adds, trainable; and type, groups, macs, rf, stride. "
    "Presets: default (type,output_size,num_params,macs,rf,stride), torchinfo (output_size,num_params), "
    "all. Names that all start with + are added to the default: --columns +mult_adds,+trainable. "
    "With torchinfo first (--columns torchinfo,mult_adds), an opened container's row shows what torchinfo "
    "prints for it (the parameters it holds itself, else --), not its totals.",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16", "float64"]),
    default="float32",
    show_default=True,
    help="The parameters' dtype (and float activations') for the sizes in MB.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: every row's and total's exact numbers (bytes, MACs, mult-adds).",
)
@click.option(
    "--torchinfo",
    "with_torchinfo",
    is_flag=True,
    help="Also run torchinfo.summary on the model and compare every number both print (params, output "
    "shapes, mult-adds in the convention of the torchinfo installed, the four sizes in MB). The model is "
    "built on the meta device only: no weights are materialised, and a model torch cannot run there is "
    "reported, never run on the CPU. Tested with torchinfo 1.8.0 and its PR #318 Linear count.",
)
def summary(
    spec: str,
    dims: tuple[str, ...],
    depth: int | None,
    columns_text: str,
    dtype: str,
    fmt: str,
    with_torchinfo: bool,
) -> None:
    """A torchinfo/Keras-style table of SPEC: shapes, params, mult-adds, MACs, receptive field, sizes in MB.

    Exit 0 ok; 1 the spec has errors; 2 usage error.
    """
    from ..api import check
    from ..emit.report import render_text
    from ..emit.summary import DEFAULT_CONVENTION, compare_torchinfo, parse_columns
    from ..emit.summary import render as render_summary
    from ..emit.summary import to_json as summary_json

    try:
        columns = parse_columns(columns_text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="'--columns'") from None
    values = _parse_dims(dims)
    res = check(spec, values)
    if not res.ok:
        if fmt == "json":
            from ..emit.report import to_json as report_json

            click.echo(json.dumps(report_json(res), indent=2))
        else:
            click.echo(render_text(res, pretty=False, color=False, table=False))
        sys.exit(1)
    comparison = compare_torchinfo(res, values, dtype) if with_torchinfo else None
    convention = (comparison.convention if comparison else None) or DEFAULT_CONVENTION
    if fmt == "json":
        obj = summary_json(res, columns, dtype, convention)
        if comparison is not None:
            obj["torchinfo"] = comparison.to_json() if comparison.totals else {"error": comparison.text}
        click.echo(json.dumps(obj, indent=2))
        return
    # the torchinfo preset prints an opened container's row as torchinfo does (its own parameters, else --)
    containers = "torchinfo" if columns_text.split(",")[0].strip() == "torchinfo" else "totals"
    click.echo(render_summary(res, depth, columns, dtype, convention, containers))
    if comparison is not None:
        click.echo(comparison.text)


@main.command()
def lsp() -> None:
    """Run archcheck's language server on stdin/stdout (for editors; needs pygls: the `lsp` extra).

    Diagnostics as you type, hover with shapes, params and MACs, inlay hints with each layer's
    output shape, completion of types, fields and names, go to definition, quick fixes.
    See the README's "Editor support" for VS Code and Neovim.
    """
    from .lsp import serve

    serve()
