"""Where the CLI's commands write: one overwrite policy for every command that writes a file.

Part of the command line, not of the library (the library returns text or bytes):

- ``-`` means standard output (binary formats as bytes on ``sys.stdout.buffer``);
- an existing file is refused without ``--force``; a dangling symlink counts as one;
- an input (the spec) is never overwritten, ``--force`` or not, whatever the spelling
  of its path (relative, through a symlink, a hard link);
- a directory, a missing folder, a name too long, a full device, a denied permission or
  a closed pipe is a usage error (exit 2) with one line: ``archcheck: cannot write PATH: reason``;
- a regular file is written atomically (a temporary file in the same folder, then
  ``os.replace``), so a failure never leaves a truncated file behind. A character device
  or FIFO (``/dev/null``, ``/dev/stdout``, a named pipe with a reader) is written in place:
  nothing there is overwritten, so ``--force`` is not needed; a block device never is.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from typing import IO

import click

STDOUT = "-"


class CannotWrite(click.ClickException):
    """An output the command cannot or must not write: exit 2, one line on stderr."""

    exit_code = 2

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        shown = "standard output" if path == STDOUT else path
        super().__init__(f"cannot write {_one_line(shown)}: {_one_line(reason)}")

    def show(self, file: IO[str] | None = None) -> None:
        click.echo(f"archcheck: {self.message}", err=True)


def _one_line(s: str) -> str:
    return " ".join(repr(s)[1:-1].split()) if not s.isprintable() else s


def reason(e: OSError) -> str:
    if e.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return e.strerror or str(e)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)  # follows symlinks; equal inode also catches hard links
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_target(path: str, *, force: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse early (before any work) an output that must not or cannot be written.

    Raises :class:`CannotWrite`. Checks what can be known without writing: the
    input files, an existing file without ``force``, a directory, a missing folder.
    The write itself (:func:`write_output`) turns every other failure into the same error.
    """
    if path == STDOUT:
        return
    if path == "":
        raise CannotWrite(path, "the file name is empty")
    for inp in inputs:
        if _same(path, inp):
            raise CannotWrite(path, f"it is the input {inp} (never overwritten, --force or not)")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:  # a name too long, a file used as a folder, ...
        raise CannotWrite(path, reason(e)) from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(path)
            except FileNotFoundError:  # a dangling symlink: writing through it creates a file elsewhere
                if not force:
                    raise CannotWrite(path, "it exists (a symlink to nothing); use --force to replace it") from None
                return
            except OSError as e:
                raise CannotWrite(path, reason(e)) from None
        if stat.S_ISDIR(st.st_mode):
            raise CannotWrite(path, "it is a directory")
        if stat.S_ISBLK(st.st_mode):  # a disk: never written, --force or not
            raise CannotWrite(path, "it is a block device")
        if stat.S_ISREG(st.st_mode) and not force:
            raise CannotWrite(path, "it exists; use --force to overwrite it")
        return
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise CannotWrite(path, f"no folder {parent}" if not os.path.exists(parent) else f"{parent} is not a folder")


def check_targets(paths: dict[str, str | None], *, force: bool, inputs: Iterable[str] = ()) -> None:
    """:func:`check_target` for each named output (``{"--plot": path}``); two outputs may not share a path."""
    given = {opt: p for opt, p in paths.items() if p is not None}
    inputs = list(inputs)
    seen: dict[str, str] = {}
    for opt, p in given.items():
        key = STDOUT if p == STDOUT else os.path.realpath(p)
        if key in seen:
            raise click.UsageError(f"{seen[key]} and {opt} both write {p}: give them different files")
        seen[key] = opt
        check_target(p, force=force, inputs=inputs)


def write_output(path: str, data: str | bytes, *, force: bool, inputs: Iterable[str] = ()) -> None:
    """Write ``data`` to ``path`` (``-``: standard output) under the policy above."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if path == STDOUT:
        write_stdout(raw)
        return
    check_target(path, force=force, inputs=inputs)
    try:
        st: os.stat_result | None = os.stat(path)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):  # a character device or FIFO: write in place
        _write_in_place(path, raw)
        return
    _atomic_write(path, raw, None if st is None else stat.S_IMODE(st.st_mode))


def _write_in_place(path: str, raw: bytes) -> None:
    # O_NONBLOCK: a FIFO that no process reads is an error (ENXIO), not a wait forever
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        raise CannotWrite(path, "no process is reading it" if e.errno == errno.ENXIO else reason(e)) from None
    try:
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    except OSError as e:
        raise CannotWrite(path, reason(e)) from None


def _atomic_write(path: str, raw: bytes, mode: int | None) -> None:
    folder = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".archcheck-", suffix=".tmp")
    except OSError as e:
        raise CannotWrite(path, reason(e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:  # a new file gets the usual permissions (mkstemp's are 0600)
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CannotWrite(path, reason(e)) from None


def write_stdout(raw: bytes) -> None:
    """Write bytes to standard output; a closed pipe or a full device is :class:`CannotWrite`."""
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
    except OSError as e:
        silence_stdout()
        raise CannotWrite(STDOUT, reason(e)) from None


def silence_stdout() -> None:
    """After a failed write to stdout: point it at /dev/null so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
