"""`pip install .` into a fresh venv without torch gives a working `archcheck`.

The venv has no system site packages, so nothing leaks in from the test
environment (torch in particular). The source is copied to a temporary
directory first, so the build leaves no `build/` or `*.egg-info` in the
repository, and pip's cache lives in the same temporary directory. If pip
cannot reach the package index, the tests are skipped (with the reason).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

SPEC = ROOT / "specs" / "simple_cnn.yaml"
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 180
_JUNK = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".venv",
    "venv",
    "out",
)


@dataclass
class Venv:
    root: Path
    python: Path
    archcheck: Path
    work: Path  # cwd for the commands: holds a copy of the spec, not the source
    env: dict[str, str]
    install_seconds: float

    def run(self, *args: str | Path, exe: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe or self.archcheck), *map(str, args)],
            capture_output=True,
            text=True,
            cwd=self.work,
            env=self.env,
            timeout=RUN_TIMEOUT,
        )

    def py(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run("-c", code, exe=self.python)


def _clean_env(tmp: Path) -> dict[str, str]:
    # pip's own settings (index, proxy, certificates) are kept; only the cache is redirected
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA"))}
    env.update(
        PIP_CACHE_DIR=str(tmp / "pip-cache"),
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def _make_venv(tmp: Path, *installs: list[str]) -> Venv:
    """A fresh venv holding a copy of the source, with each `pip install` argument list run in turn
    ("{src}" stands for the copy)."""
    env = _clean_env(tmp)
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_JUNK)
    root = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, env=env, timeout=RUN_TIMEOUT)
    python = _bin(root, "python")
    pip = [str(python), "-m", "pip", "--quiet", "--cache-dir", env["PIP_CACHE_DIR"]]
    t0 = time.monotonic()
    for args in installs:
        args = [a.replace("{src}", str(src)) for a in args]
        p = subprocess.run(
            [*pip, "install", *args], capture_output=True, text=True, env=env, cwd=tmp, timeout=INSTALL_TIMEOUT
        )
        if p.returncode != 0:
            # Distinguish "no index" from a packaging bug: can pip fetch anything at all?
            probe = subprocess.run(
                [*pip, "download", "--no-deps", "--dest", str(tmp / "probe"), "click"],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=INSTALL_TIMEOUT,
            )
            if probe.returncode != 0:
                last = (probe.stderr.strip().splitlines() or ["?"])[-1]
                pytest.skip(f"pip cannot reach the package index (offline?): {last}")
            pytest.fail(f"pip install {' '.join(args)} failed (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    seconds = time.monotonic() - t0
    work = tmp / "work"
    (work / "specs").mkdir(parents=True)
    shutil.copy(SPEC, work / "specs" / SPEC.name)
    print(f"fresh venv: {' && '.join('pip install ' + ' '.join(a) for a in installs)} took {seconds:.1f} s")
    return Venv(root, python, _bin(root, "archcheck"), work, env, seconds)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _make_venv(tmp_path_factory.mktemp("packaging"), ["{src}"])


@pytest.fixture(scope="module")
def torch_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with only archcheck and its `torch` extra (torch's CPU build pinned first, as the README says)."""
    return _make_venv(tmp_path_factory.mktemp("packaging-torch"), ["torch==2.13.0"], ["{src}[torch]"])


def _site_package(v: Venv) -> Path:
    p = v.py("import archcheck, pathlib; print(pathlib.Path(archcheck.__file__).parent)")
    assert p.returncode == 0, p.stderr
    return Path(p.stdout.strip())


def test_installed_from_the_venv_not_the_source(venv: Venv) -> None:
    pkg = _site_package(venv)
    assert pkg.is_relative_to(venv.root), pkg
    assert "site-packages" in pkg.parts
    assert venv.archcheck.is_file()


def test_no_torch_in_the_venv(venv: Venv) -> None:
    p = venv.py("import torch")
    assert p.returncode != 0
    assert "No module named 'torch'" in p.stderr
    p = venv.py("import importlib.metadata as m; print(sorted(d.metadata['Name'].lower() for d in m.distributions()))")
    assert p.returncode == 0, p.stderr
    installed = set(ast.literal_eval(p.stdout.strip()))
    assert {"archcheck", "pydantic", "click", "pyyaml", "sympy", "graphviz"} <= installed
    assert not installed & {"torch", "torchinfo", "numpy"}, installed


def test_package_data_installed(venv: Venv) -> None:
    pkg = _site_package(venv)
    assert (pkg / "py.typed").is_file()
    source = ROOT / "archcheck"
    want = {
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    }
    have = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert want <= have, f"not installed: {sorted(want - have)}"


def test_explain_reads_its_data_files(venv: Venv) -> None:
    p = venv.run("explain", "AC201")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("AC201 channel-mismatch:") and "\nWhat it means\n" in p.stdout and "\nFix\n" in p.stdout


def test_types_lists_the_registry(venv: Venv) -> None:
    p = venv.run("types")
    assert p.returncode == 0, p.stderr
    for name in ("Conv2d", "Linear", "MaxPool2d", "BatchNorm2d", "ReLU", "Flatten"):
        assert name in p.stdout


def test_validate(venv: Venv) -> None:
    p = venv.run("validate", "specs/simple_cnn.yaml")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SimpleCNN ok: [N, 1, 28, 28] -> [N, 10], 215,370 params" in p.stdout
    assert "Traceback" not in p.stderr


def test_validate_errors_exit_1(venv: Venv) -> None:
    bad = venv.work / "specs" / "bad.yaml"
    text = SPEC.read_text().replace("in_features: 1568", "in_features: 512")
    assert text != SPEC.read_text()
    bad.write_text(text)
    p = venv.run("validate", "--format", "short", "specs/bad.yaml")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "AC202" in p.stdout and "in_features" in p.stdout


def test_summary(venv: Venv) -> None:
    p = venv.run("summary", "specs/simple_cnn.yaml")
    assert p.returncode == 0, p.stdout + p.stderr
    for s in ("conv1", "Conv2d", "fc2", "215,370"):
        assert s in p.stdout, s


def test_generate(venv: Venv) -> None:
    p = venv.run("generate", "specs/simple_cnn.yaml")
    assert p.returncode == 0, p.stdout + p.stderr
    tree = ast.parse(p.stdout)
    classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    assert "SimpleCNN" in classes
    assert re.search(r"^(import torch|from torch import)", p.stdout, re.M), p.stdout[:300]
    out = venv.work / "model.py"
    p = venv.run("generate", "specs/simple_cnn.yaml", "-o", out)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "class SimpleCNN" in out.read_text()


def test_render_dot(venv: Venv) -> None:
    out = venv.work / "x.dot"
    p = venv.run("render", "specs/simple_cnn.yaml", "-o", out)
    assert p.returncode == 0, p.stdout + p.stderr
    text = out.read_text()
    assert text.lstrip().startswith(("digraph", "strict digraph")), text[:200]
    assert "conv1" in text and "fc2" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_render_svg(venv: Venv) -> None:
    out = venv.work / "x.svg"
    p = venv.run("render", "specs/simple_cnn.yaml", "-o", out)
    assert p.returncode == 0, p.stdout + p.stderr
    text = out.read_text()
    assert "<svg" in text and "conv1" in text


def test_python_m_archcheck(venv: Venv) -> None:
    p = venv.run("-m", "archcheck", "--help", exe=venv.python)
    assert p.returncode == 0, p.stderr
    for cmd in ("validate", "summary", "generate", "render"):
        assert cmd in p.stdout


@pytest.mark.parametrize("args", [("verify",), ("summary", "--torchinfo")])
def test_torch_commands_without_torch_say_what_to_install(venv: Venv, args: tuple[str, ...]) -> None:
    p = venv.run(*args, "specs/simple_cnn.yaml")
    assert p.returncode not in (0, 3), p.stdout + p.stderr
    assert "torch" in p.stderr and "pip install" in p.stderr, p.stderr
    assert "bug in archcheck" not in p.stderr
    # the PyPI name `archcheck` is another project's: the advice names the packages, or this source tree
    assert "install 'archcheck[" not in p.stderr and "install archcheck[" not in p.stderr, p.stderr
    assert "torchinfo" in p.stderr and "numpy" in p.stderr, p.stderr


@pytest.mark.parametrize("args", [("verify",), ("summary", "--torchinfo")])
def test_torch_extra_is_enough(torch_venv: Venv, args: tuple[str, ...]) -> None:
    """Everything `verify` and `summary --torchinfo` import comes with the extra (numpy was missing: exit 3)."""
    p = torch_venv.run(*args, "specs/simple_cnn.yaml")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "215,370" in p.stdout or "215370" in p.stdout, p.stdout
