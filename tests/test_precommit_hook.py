"""The pre-commit hook's default `files:` pattern picks spec files, not every YAML/JSON of a repository."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT

HOOK = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
FILES = re.compile(HOOK["files"])  # pre-commit matches with Python's re.search


@pytest.mark.parametrize("path", ["specs/simple_cnn.yaml", "models/specs/resnet.yml", "spec/a.json", "net.arch.yaml"])
def test_matches_specs(path: str) -> None:
    assert FILES.search(path)


@pytest.mark.parametrize(
    "path",
    [".github/workflows/ci.yml", "docker-compose.yml", "package.json", ".pre-commit-config.yaml", "conf/specs.yaml"],
)
def test_leaves_other_yaml_and_json_alone(path: str) -> None:
    assert not FILES.search(path)


def test_the_repositorys_own_specs_are_matched() -> None:
    specs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").glob("*.yaml"))
    assert specs and all(FILES.search(p) for p in specs)
