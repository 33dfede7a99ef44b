"""Shared harness for hostile-input tests: run the real CLI in a subprocess and measure it.

``run_cli(*args)`` runs ``python -m archcheck ARGS...`` in a child process (a crash in C
code cannot take pytest down, and the child's own resources can be measured) and returns
a :class:`Result` with the exit code, the output, the wall and CPU time and the child's peak
resident memory (``ru_maxrss`` from ``os.wait4``, which includes the descendants it
waited for, such as ``-j`` workers or ``dot``). A run that outlives its timeout has its
whole process group killed and fails the test.

Every call is recorded; tests/conftest.py prints the table of them at the end of the
session (``pytest_terminal_summary``), so each hostile case shows its exit code, time
and peak memory.

    from hostile_util import run_cli

    def test_bad_dim():
        run_cli("validate", "--dim", "N=²", "specs/simple_cnn.yaml").assert_clean(codes=(2,))
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


@dataclass
class Record:
    test: str
    args: str
    code: int | None
    seconds: float
    peak_mb: float
    cpu_seconds: float


RECORDS: list[Record] = []  # every run_cli call of the session, in order


class CliTimeout(AssertionError):
    """The child outlived its timeout (its process group was killed)."""


@dataclass
class Result:
    code: int
    stdout_bytes: bytes
    stderr_bytes: bytes
    seconds: float
    peak_mb: float
    args: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # user + system time of the child and the processes it waited for

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"archcheck {_summary(self.args)}: exit {self.code}, {self.seconds:.2f} s wall, "
            f"{self.cpu_seconds:.2f} s CPU, {self.peak_mb:.0f} MB\n"
            f"--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}"
        )

    def assert_clean(self, max_seconds: float = 5, max_mb: float = 500, codes: tuple[int, ...] = (1, 2)) -> Result:
        """The contract for bad input: an expected exit code, a message (if not 0), no traceback, in bounds."""
        assert self.code in codes, f"exit code {self.code}, expected one of {codes}\n" + self.describe()
        assert "Traceback" not in self.output, self.describe()
        if self.code != 0:
            assert self.output.strip(), "no message at all\n" + self.describe()
        # The time limit is checked on CPU time (user + system, the child and its workers): on a
        # loaded machine wall time grows with the load, not with archcheck's work. Wall time is
        # bounded by the timeout (a hang) and shown in the report.
        assert self.cpu_seconds < max_seconds, (
            f"took {self.cpu_seconds:.2f} s of CPU (limit {max_seconds} s)\n" + self.describe()
        )
        assert self.peak_mb < max_mb, f"peak memory {self.peak_mb:.0f} MB (limit {max_mb} MB)\n" + self.describe()
        return self

    def one_line_error(self) -> str:
        """The single non-empty line on stderr (asserting there is exactly one)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, self.describe()
        return lines[0]


def _summary(args: list[str], width: int = 70) -> str:
    parts = []
    for a in args:
        if os.path.isabs(a) and len(a) > 30:
            a = ".../" + os.path.basename(a)
        r = repr(a)
        parts.append(a if r[1:-1] == a and a and " " not in a else r)
    s = " ".join(parts)
    return s if len(s) <= width else s[: width - 3] + "..."


# The child is started by a small wrapper process, not forked from pytest directly: at
# exec, Linux carries the forking process's resident size into the child's ru_maxrss,
# so a child forked from a 300 MB pytest would "peak" at 300 MB. The wrapper
# (python -S, a few MB) spawns archcheck, waits for it with os.wait4 and writes
# "EXITCODE MAXRSS_KIB CPU_SECONDS" to the report pipe.
_WRAPPER = """
import os, sys
fd = int(sys.argv[1])
os.set_inheritable(fd, False)
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
code = os.waitstatus_to_exitcode(status)
os.write(fd, b"%d %d %.3f" % (code, usage.ru_maxrss, usage.ru_utime + usage.ru_stime))
sys.exit(code if code >= 0 else 128 - code)
"""


def _drain(pipe: IO[bytes], sink: bytearray, limit: int | None) -> None:
    try:
        while True:
            chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536)
            if not chunk:
                break
            sink += chunk
            if limit is not None and len(sink) >= limit:
                break  # like `| head -c LIMIT`: stop reading, close our end
    finally:
        pipe.close()


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def run_cli(
    *args: str | os.PathLike[str],
    stdin: bytes | str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 30,
    env: dict[str, str | None] | None = None,
    stdout_limit: int | None = None,
    stdout_to: str | None = None,
) -> Result:
    """Run ``python -m archcheck ARGS...``; measure wall time and the child's peak RSS.

    ``env`` entries are added to (``None``: removed from) this process's environment; the
    repository root is put first on PYTHONPATH so the code under test is what runs.
    ``stdout_limit``: read at most that many bytes of stdout, then close the pipe (as
    ``| head`` does), so the child meets a broken pipe.
    ``stdout_to``: send stdout to that file instead of capturing it (``/dev/full``), or
    ``"closed-pipe"``: a pipe whose reading end is already closed (every write is EPIPE).
    """
    argv = [os.fspath(a) for a in args]
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    for k, v in (env or {}).items():
        if v is None:
            child_env.pop(k, None)
        else:
            child_env[k] = v
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    report_r, report_w = os.pipe()
    stdout_fd: int | None = None
    if stdout_to == "closed-pipe":
        r, stdout_fd = os.pipe()
        os.close(r)
    elif stdout_to is not None:
        stdout_fd = os.open(stdout_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", _WRAPPER, str(report_w), sys.executable, "-m", "archcheck", *argv],
        pass_fds=(report_w,),
        stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_fd is None else stdout_fd,
        stderr=subprocess.PIPE,
        cwd=os.fspath(cwd) if cwd is not None else str(ROOT),
        env=child_env,
        start_new_session=True,  # its own process group, killed as a whole on timeout
    )
    os.close(report_w)
    if stdout_fd is not None:
        os.close(stdout_fd)
    out, err, report = bytearray(), bytearray(), bytearray()
    assert proc.stderr is not None
    threads = [
        threading.Thread(target=_drain, args=(proc.stderr, err, None), daemon=True),
        threading.Thread(target=_drain, args=(os.fdopen(report_r, "rb"), report, None), daemon=True),
    ]
    if proc.stdout is not None:
        threads.append(threading.Thread(target=_drain, args=(proc.stdout, out, stdout_limit), daemon=True))
    if data is not None:
        assert proc.stdin is not None
        threads.append(threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True))
    for t in threads:
        t.start()
    deadline = start + timeout
    timed_out = False
    while proc.poll() is None:
        if time.monotonic() > deadline:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            break
        time.sleep(0.005)
    seconds = time.monotonic() - start
    if not timed_out:
        # the child is gone; grandchildren that kept the pipes open are killed too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for t in threads:
        t.join(5)
    fields = report.split()
    if len(fields) == 3:
        code, peak_mb, cpu = int(fields[0]), int(fields[1]) / 1024, float(fields[2])  # ru_maxrss: KiB on Linux
    else:  # the wrapper itself was killed (timeout)
        code, peak_mb, cpu = proc.returncode, 0.0, seconds
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0]
    RECORDS.append(Record(test, _summary(argv), None if timed_out else code, seconds, peak_mb, cpu))
    result = Result(code, bytes(out), bytes(err), seconds, peak_mb, argv, cpu)
    if timed_out:
        raise CliTimeout(f"timed out after {timeout} s (process group killed)\n" + result.describe())
    return result


def report_lines() -> list[str]:
    """The session's table of hostile-input runs, for the terminal summary."""
    if not RECORDS:
        return []
    lines = [f"{'exit':>4} {'wall s':>6} {'CPU s':>6} {'MB':>6}  test / archcheck args"]
    for r in RECORDS:
        code = "TIME" if r.code is None else str(r.code)
        flag = " <-- over 5 s CPU / 500 MB" if r.cpu_seconds >= 5 or r.peak_mb >= 500 else ""
        lines.append(f"{code:>4} {r.seconds:6.2f} {r.cpu_seconds:6.2f} {r.peak_mb:6.0f}  {r.test}{flag}")
        lines.append(f"{'':>26}  archcheck {r.args}")
    worst_t = max(RECORDS, key=lambda r: r.cpu_seconds)
    worst_m = max(RECORDS, key=lambda r: r.peak_mb)
    lines.append(
        f"{len(RECORDS)} runs; most CPU {worst_t.cpu_seconds:.2f} s ({worst_t.test}); "
        f"most memory {worst_m.peak_mb:.0f} MB ({worst_m.test})"
    )
    return lines
