"""The command line's contract: exit codes 0/1/2 and DESIGN.md's JSON keys."""

from __future__ import annotations

import json

import pytest
from conftest import SPECS, run_cli

SIMPLE = "specs/simple_cnn.yaml"
BROKEN = "specs/broken_fc1_in_features.yaml"

TOP_KEYS = {
    "spec",
    "name",
    "ok",
    "inputs",
    "outputs",
    "layers",
    "total_params",
    "trainable_params",
    "total_macs",
    "diagnostics",
}
LAYER_KEYS = {"path", "type", "inputs", "output_shape", "params", "macs"}
DIAG_KEYS = {"severity", "code", "path", "file", "line", "column", "message", "hint"}


def test_ok_spec_exits_0(cli):
    r = cli("validate", SIMPLE)
    assert r.exit_code == 0, r.output
    assert "SimpleCNN ok" in r.stdout
    assert "215,370 params" in r.stdout


def test_broken_spec_exits_1(cli):
    r = cli("validate", BROKEN)
    assert r.exit_code == 1
    assert "AC202" in r.stdout


def test_one_broken_among_several_exits_1(cli):
    r = cli("validate", SIMPLE, BROKEN)
    assert r.exit_code == 1
    assert "SimpleCNN ok" in r.stdout and "1 error" in r.stdout


def test_missing_file_exits_2(cli):
    r = cli("validate", "specs/no_such_spec.yaml")
    assert r.exit_code == 2
    assert "does not exist" in r.output


def test_no_spec_argument_exits_2(cli):
    assert cli("validate").exit_code == 2


@pytest.mark.parametrize("bad", ["N", "N=", "N=x", "N=0", "N=-3", "1N=4", "=4"])
def test_bad_dim_exits_2(cli, bad):
    r = cli("validate", "--dim", bad, SIMPLE)
    assert r.exit_code == 2, r.output
    assert "--dim" in r.output
    assert "Traceback" not in r.output


def test_bad_format_exits_2(cli):
    assert cli("validate", "--format", "xml", SIMPLE).exit_code == 2


def test_unknown_command_exits_2(cli):
    assert cli("frobnicate", SIMPLE).exit_code == 2


def test_json_contract_keys(cli):
    r = cli("validate", "--format", "json", SIMPLE)
    assert r.exit_code == 0
    (obj,) = r.json()
    assert TOP_KEYS <= set(obj)
    assert obj["spec"] == SIMPLE
    assert obj["name"] == "SimpleCNN"
    assert obj["ok"] is True
    assert obj["diagnostics"] == []
    for layer in obj["layers"]:
        assert LAYER_KEYS <= set(layer)
    # a dim that stays symbolic is a string
    assert obj["inputs"] == {"x": ["N", 1, 28, 28]}
    assert obj["outputs"] == {"fc2": ["N", 10]}


def test_json_with_dim_n(cli):
    r = cli("validate", "--format", "json", "--dim", "N=4", SIMPLE)
    assert r.exit_code == 0
    (obj,) = r.json()
    assert obj["inputs"] == {"x": [4, 1, 28, 28]}
    assert obj["outputs"] == {"fc2": [4, 10]}
    assert obj["total_macs"] == 12097536
    assert obj["total_params"] == obj["trainable_params"] == 215370
    conv1 = obj["layers"][0]
    assert conv1 == {
        **conv1,
        "path": "conv1",
        "type": "Conv2d",
        "inputs": ["x"],
        "output_shape": [4, 16, 28, 28],
        "params": 416,
        "macs": 1254400,
    }


def test_json_macs_are_per_n_without_dim(cli):
    (obj,) = cli("validate", "--format", "json", SIMPLE).json()
    assert obj["total_macs"] * 4 == 12097536


def test_json_diagnostics_keys(cli):
    r = cli("validate", "--format", "json", BROKEN)
    assert r.exit_code == 1
    (obj,) = r.json()
    assert obj["ok"] is False
    (d,) = obj["diagnostics"]
    assert DIAG_KEYS <= set(d)
    assert d["severity"] == "error"
    assert d["code"] == "AC202"
    assert d["path"] == "fc1"
    assert d["file"] == BROKEN
    assert (d["line"], d["column"]) == (13, 44)
    assert "1568" in d["hint"]


def test_json_one_object_per_line(cli):
    r = cli("validate", "--format", "json", SIMPLE, BROKEN)
    objs = r.json()
    assert [o["ok"] for o in objs] == [True, False]
    assert len(r.stdout.strip().splitlines()) == 2


def test_short_format_is_one_line_per_finding(cli):
    r = cli("validate", "--format", "short", BROKEN)
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith(f"{BROKEN}:13:44: error AC202 [fc1] ")
    assert len(lines) == 1  # the finding only (issue 15: no verdict line in --format short)


def test_short_format_of_an_ok_spec_prints_nothing(cli):
    r = cli("validate", "--format", "short", SIMPLE)
    assert r.exit_code == 0 and r.stdout == ""


def test_pretty_format_shows_source_and_caret(cli):
    r = cli("validate", "--format", "pretty", "--no-color", BROKEN)
    assert "error[AC202]" in r.stdout
    assert f"--> {BROKEN}:13:44 (fc1)" in r.stdout
    assert "in_features: 512" in r.stdout
    assert "^^^" in r.stdout
    assert "help: set in_features: 1568" in r.stdout
    assert "\033[" not in r.stdout


def test_quiet_hides_layer_table(cli):
    loud = cli("validate", SIMPLE).stdout
    quiet = cli("validate", "-q", SIMPLE).stdout
    assert "conv1" in loud and "conv1" not in quiet
    assert "SimpleCNN ok" in quiet


def test_absolute_path_and_other_cwd(cli, tmp_path):
    r = cli("validate", "--format", "json", str(SPECS / "simple_cnn.yaml"), cwd=tmp_path)
    assert r.exit_code == 0
    assert r.json()[0]["spec"] == str(SPECS / "simple_cnn.yaml")


def test_version_and_help(cli):
    assert cli("--version").exit_code == 0
    r = cli("validate", "--help")
    assert r.exit_code == 0 and "--dim" in r.stdout


def test_unknown_dim_is_warned_about_not_silently_ignored(cli):
    r = cli("validate", "-q", "specs/simple_cnn.yaml", "--dim", "n=4")
    assert r.exit_code == 0
    assert "no spec has a free dim named n; did you mean N?" in r.stderr


def test_validate_reads_a_spec_from_stdin():
    from click.testing import CliRunner

    from archcheck.cli.app import main

    text = open(BROKEN, encoding="utf-8").read()
    r = CliRunner().invoke(main, ["validate", "--format", "json", "-"], input=text.encode())
    assert r.exit_code == 1, r.output
    [obj] = [json.loads(line) for line in r.stdout.splitlines()]
    assert obj["spec"] == "<stdin>" and [(d["code"], d["line"], d["column"]) for d in obj["diagnostics"]] == [
        ("AC202", 13, 44)
    ]
    r = CliRunner().invoke(main, ["validate", "-q", "-"], input=open(SIMPLE, "rb").read())
    assert r.exit_code == 0 and "SimpleCNN ok" in r.stdout
    r = CliRunner().invoke(main, ["validate", "-", "-"], input=b"")
    assert r.exit_code == 2 and "once" in r.output


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """What `archcheck ARGS` prints when its standard output is a terminal (a pseudo-terminal here)."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
    p = subprocess.Popen([sys.executable, "-m", "archcheck", *args], stdout=slave, stderr=slave, env=full_env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_is_respected():
    colored = _on_a_terminal("validate", BROKEN, env={})
    assert "\x1b[" in colored and "error[AC202]" in colored  # a terminal: pretty and coloured
    plain = _on_a_terminal("validate", BROKEN, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain and "error[AC202]" in plain
    forced = _on_a_terminal("validate", "--color", BROKEN, env={"NO_COLOR": "1"})
    assert "\x1b[" in forced  # an explicit --color wins, as no-color.org says
    piped = run_cli("validate", "--format", "pretty", "--color", BROKEN)
    assert "\x1b[" in piped.stdout  # --color also when piped (CI logs that show colour)


def test_schema_to_a_file_and_to_stdout_agree(cli, tmp_path):
    out = tmp_path / "schema.json"
    assert cli("schema", "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8") == cli("schema").stdout == cli("schema", "-o", "-").stdout
    r = cli("schema", "-o", str(out))  # exists: refused without --force
    assert r.exit_code == 2 and f"cannot write {out}: it exists; use --force" in r.stderr
    assert cli("schema", "-o", str(out), "--force").exit_code == 0


def test_generate_never_overwrites_its_spec(cli, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text((SPECS / "simple_cnn.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    r = cli("generate", str(spec), "-o", str(tmp_path / "." / "net.yaml"), "--force")
    assert r.exit_code == 2 and "is the input" in r.stderr
    assert spec.read_text(encoding="utf-8") == (SPECS / "simple_cnn.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["N=²", "N=٣", "N=" + "9" * 5000, "N=99999999999999999999"])
def test_dim_takes_ascii_digits_up_to_int64(cli, value):
    r = cli("validate", str(SPECS / "simple_cnn.yaml"), "--dim", value)
    assert r.exit_code == 2 and "--dim" in r.stderr and "Traceback" not in r.output
