"""The command line: a thin shell over archcheck's Python API."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import __version__


def _parse_dims(values: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        name, eq, num = v.partition("=")
        if not eq or not name.strip().isidentifier() or not num.strip().lstrip("-").isdigit() or int(num) < 1:
            raise click.BadParameter(f"expected NAME=INT with INT >= 1, got {v!r}", param_hint="--dim")
        out[name.strip()] = int(num)
    return out


_dim_option = click.option(
    "--dim", "dims", multiple=True, metavar="NAME=INT", help="Give a free dim a value, e.g. --dim N=4 --dim H=224."
)


class _Group(click.Group):
    """Internal bugs print one line asking for a report (exit 3); --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:  # pragma: no cover - only on bugs
            if ctx.params.get("debug"):
                raise
            click.echo(
                f"archcheck: internal error ({type(e).__name__}: {e}). Please report it with the spec; "
                "run with --debug for the traceback.",
                err=True,
            )
            sys.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="archcheck")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def main(debug: bool) -> None:
    """Check a network spec's tensor shapes before anything runs."""


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "pretty", "short"]),
    default="text",
    show_default=True,
    help="text: rustc-style on a terminal, one line per finding when piped; json: one object per spec.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only diagnostics and the verdict, no layer table.")
@click.option("--color/--no-color", default=None, help="Colour (default: when writing to a terminal).")
@_dim_option
def validate(specs: tuple[str, ...], fmt: str, quiet: bool, color: bool | None, dims: tuple[str, ...]) -> None:
    """Schema- and shape-check SPECS. Exit 0 ok, 1 errors found, 2 usage error."""
    from .api import check
    from .report import render_text, to_json

    values = _parse_dims(dims)
    tty = sys.stdout.isatty()
    failed = False
    for path in specs:
        res = check(path, values)
        failed |= not res.ok
        if fmt == "json":
            click.echo(json.dumps(to_json(res)))
        else:
            pretty = fmt == "pretty" or (fmt == "text" and tty)
            click.echo(render_text(res, pretty=pretty, color=tty if color is None else color, table=not quiet))
    sys.exit(1 if failed else 0)
