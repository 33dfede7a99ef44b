"""Hostile and malformed specs end fast with a located diagnostic, never a traceback.

Each case runs the real CLI in a subprocess (tests/hostile_util.run_cli, which
also measures its time and peak memory) (a crash in C code, such as
libyaml's composer overflowing its stack on deep nesting, would take pytest
down with it otherwise) with a timeout, and checks the exit code, the
diagnostic code and its line/column, and that no traceback was printed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_util import CliTimeout, Result, run_cli

from archcheck.spec import loader

ROOT = Path(__file__).resolve().parents[1]
HEAD = "name: M\ninput: {shape: [N, 3, 32, 32]}\nlayers:\n"
TIMEOUT = 30  # seconds; every case here takes well under 2 s


class Out:
    def __init__(self, res: Result) -> None:
        self.code = res.code
        self.stdout, self.stderr, self.seconds = res.stdout, res.stderr, res.seconds
        self.objs = [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    @property
    def diags(self) -> list[dict[str, Any]]:
        return [d for o in self.objs for d in o["diagnostics"]]

    def codes(self) -> list[str]:
        return [d["code"] for d in self.diags]

    def at(self, code: str) -> tuple[int, int]:
        d = next(d for d in self.diags if d["code"] == code)
        return d["line"], d["column"]


def run(path: Path, *args: str, timeout: float = TIMEOUT) -> Out:
    res = run_cli("validate", "--format", "json", *args, str(path), timeout=timeout)
    out = Out(res)
    assert "Traceback" not in res.output, res.stderr
    assert out.code != 3, res.stderr  # an internal error
    assert res.peak_mb < 500, res.describe()
    return out


def spec(tmp_path: Path, content: str | bytes, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def expect(out: Out, code: str, line: int | None = None, column: int | None = None) -> None:
    assert out.code == 1, (out.stdout, out.stderr)
    assert code in out.codes(), out.stdout
    if line is not None:
        assert out.at(code)[0] == line, out.stdout
    if column is not None:
        assert out.at(code)[1] == column, out.stdout


# ------------------------------------------------------------ size and shape of the document


def test_billion_laughs(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    out = run(spec(tmp_path, "\n".join(lines) + "\n"))
    expect(out, "AC005")
    assert "aliases" in out.diags[0]["message"]
    assert out.at("AC005")[0] > 1  # at the alias that tips it over
    assert out.seconds < 5


def test_deep_flow_sequence(tmp_path):
    out = run(spec(tmp_path, "[" * 100_000 + "]" * 100_000 + "\n"))
    expect(out, "AC005", 1, loader.MAX_DEPTH + 1)


def test_deep_flow_mapping(tmp_path):
    out = run(spec(tmp_path, "{a: " * 100_000 + "1" + "}" * 100_000 + "\n"))
    expect(out, "AC005", 1)


def test_deep_block_mapping(tmp_path):
    text = "".join(" " * i + f"k{i}:\n" for i in range(1000)) + " " * 1000 + "v: 1\n"
    out = run(spec(tmp_path, text))
    expect(out, "AC005", loader.MAX_DEPTH + 1)


def test_oversized_file(tmp_path):
    out = run(spec(tmp_path, "# " + "x" * loader.MAX_BYTES + "\n"))
    expect(out, "AC005", 1, 1)


def test_ten_megabyte_single_line(tmp_path):
    out = run(spec(tmp_path, "layers: [" + ", ".join(["ReLU"] * 1_700_000) + "]"))
    expect(out, "AC005", 1, 1)


def test_many_values_without_aliases(tmp_path):
    # Under the byte limit, but more values than MAX_NODES: stops while parsing.
    out = run(spec(tmp_path, HEAD + "  - {type: ReLU, name: [" + ",".join(["1"] * 250_000) + "]}\n"))
    expect(out, "AC005", 4)
    assert "aliases" not in out.diags[0]["message"]


def test_very_long_string(tmp_path):
    out = run(spec(tmp_path, "name: " + "A" * 1_000_000 + "\ninput: {shape: [N, 3]}\nlayers: [ReLU]\n"))
    expect(out, "AC005", 1, 7)
    assert len(out.stdout) < 10_000  # the string is not echoed back


def test_empty_file(tmp_path):
    expect(run(spec(tmp_path, "")), "AC006", 1, 1)


def test_only_a_comment(tmp_path):
    expect(run(spec(tmp_path, "# nothing here yet\n")), "AC006", 1, 1)


def test_two_documents(tmp_path):
    expect(run(spec(tmp_path, "name: A\n---\nname: B\n")), "AC001", 2, 1)


def test_recursive_alias(tmp_path):
    expect(run(spec(tmp_path, "a: &a [1, *a]\n")), "AC001", 1, 11)


def test_undefined_alias(tmp_path):
    expect(run(spec(tmp_path, "a: *nowhere\n")), "AC001", 1)


# ------------------------------------------------------------ bytes and characters


def test_non_utf8(tmp_path):
    out = run(spec(tmp_path, "name: caf\xe9\nlayers: []\n".encode("latin-1")))
    expect(out, "AC002", 1, 10)


def test_binary_bytes(tmp_path):
    expect(run(spec(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), "AC002")


def test_nul_byte_in_text(tmp_path):
    expect(run(spec(tmp_path, b"name: M\nlayers: [Re\x00LU]\n")), "AC002", 2, 12)


def test_control_character(tmp_path):
    expect(run(spec(tmp_path, "name: M\x01\n")), "AC002", 1, 8)


def test_unicode_names(tmp_path):
    # Layer names torch's add_module takes are accepted since issue 13 (RegNet's block1-0; the
    # generated code writes them as string literals); a class or block name must still be an
    # ASCII identifier.
    out = run(spec(tmp_path, HEAD + "  - {name: ñame, type: ReLU}\n  - {name: 层, type: ReLU}\n"))
    assert out.code == 0 and "AC107" not in out.codes(), out.stdout
    out = run(spec(tmp_path, HEAD.replace("name: M", "name: ñame") + "  - {name: 层, type: ReLU}\n"))
    expect(out, "AC107", 1)
    assert out.codes().count("AC107") == 1


def test_bom_is_accepted(tmp_path):
    out = run(spec(tmp_path, "\ufeff" + HEAD + "  - ReLU\n"))
    assert out.code == 0, out.stdout


def test_unreadable_path_is_a_diagnostic(tmp_path):
    src = loader.load_file(str(tmp_path))  # a directory: open() fails
    assert [d.code for d in src.diagnostics] == ["AC002"]


# ------------------------------------------------------------ tags and keys


def test_python_object_tag_on_a_scalar(tmp_path):
    marker = tmp_path / "pwned"
    out = run(spec(tmp_path, f"name: !!python/object/apply:os.system 'touch {marker}'\n" + HEAD[8:] + "  - ReLU\n"))
    expect(out, "AC003", 1, 7)
    assert not marker.exists()


def test_python_object_tag_on_a_sequence(tmp_path):
    marker = tmp_path / "pwned"
    out = run(
        spec(tmp_path, HEAD + f"  - {{type: Linear, out_features: !!python/object/apply:os.system [touch {marker}]}}\n")
    )
    expect(out, "AC003", 4, 34)
    assert not marker.exists()


def test_other_tags(tmp_path):
    out = run(spec(tmp_path, "name: !!binary aGVsbG8=\ninput: !!set {shape: [N, 3]}\nlayers: [!custom ReLU]\n"))
    assert out.codes().count("AC003") == 3, out.stdout


def test_duplicate_key(tmp_path):
    out = run(spec(tmp_path, "name: A\nname: B\ninput: {shape: [N, 3]}\nlayers: [ReLU]\n"))
    expect(out, "AC004", 2, 1)


def test_duplicate_layer_name(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {name: a, type: ReLU}\n  - {name: a, type: ReLU}\n"))
    expect(out, "AC106", 5, 12)


def test_keys_that_are_not_strings(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: ReLU, 1: 2, [a]: 3, null: 4}\n"))
    expect(out, "AC103", 4, 18)
    assert out.codes().count("AC103") == 3


def test_yaml11_boolean_key(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - ReLU\non: 1\n"))
    expect(out, "AC103", 5, 1)
    assert "quote" in out.diags[0]["hint"]


def test_merge_key_is_plain_data(tmp_path):
    text = (
        "input: {shape: [N, 3, 8, 8]}\n"
        "layers:\n"
        "  - &conv {name: c1, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {<<: *conv, name: c2}\n"
    )
    out = run(spec(tmp_path, text))
    assert out.code == 0, out.stdout


# ------------------------------------------------------------ numbers


def test_huge_integer(tmp_path):
    out = run(spec(tmp_path, HEAD + f"  - {{type: Conv2d, out_channels: 8, kernel_size: {10**100}}}\n"))
    expect(out, "AC104", 4, 50)


def test_integer_beyond_pythons_digit_limit(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: Linear, out_features: " + "9" * 5000 + "}\n"))
    expect(out, "AC104", 4, 34)


def test_float_overflowing_to_infinity(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: Conv2d, out_channels: 1e400, kernel_size: 3}\n"))
    expect(out, "AC104", 4, 34)


def test_nan_probability(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: Dropout, p: .nan}\n"))
    expect(out, "AC104", 4, 24)


def test_infinite_eps(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: BatchNorm2d, eps: .inf}\n"))
    expect(out, "AC104", 4, 30)


def test_exponent_floats_are_numbers(tmp_path):
    # YAML 1.1 reads 1e-5 as a string; archcheck reads it as JSON and YAML 1.2 do.
    out = run(spec(tmp_path, HEAD + "  - {type: BatchNorm2d, eps: 1e-5}\n"))
    assert out.code == 0, out.stdout


def test_rejected_value_is_reported_once(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: Dropout, p: .nan}\n"))
    assert out.codes() == ["AC104"], out.stdout


# ------------------------------------------------------------ JSON


JSON_SPEC = '{\n  "name": "M",\n  "input": {"shape": ["N", 3]},\n  "layers": [\n    {"type": "Linear", "in_features": 4, "out_features": 2}\n  ]\n}\n'


def test_json_spec_has_locations(tmp_path):
    out = run(spec(tmp_path, JSON_SPEC, "spec.json"))
    expect(out, "AC202", 5, 39)


def test_json_trailing_comma(tmp_path):
    out = run(
        spec(tmp_path, '{"name": "M",\n "input": {"shape": ["N", 3]},\n "layers": [{"type": "ReLU"},],\n}\n', "s.json")
    )
    expect(out, "AC001", 3, 30)


def test_json_duplicate_key(tmp_path):
    out = run(spec(tmp_path, '{"name": "A", "name": "B", "input": {"shape": ["N", 3]}, "layers": ["ReLU"]}', "s.json"))
    expect(out, "AC004", 1, 15)


def test_json_nan(tmp_path):
    out = run(spec(tmp_path, '{"input": {"shape": ["N", 3]}, "layers": [{"type": "Dropout", "p": NaN}]}', "s.json"))
    expect(out, "AC104", 1, 68)


def test_json_deep_nesting(tmp_path):
    expect(run(spec(tmp_path, "[" * 100_000 + "]" * 100_000, "s.json")), "AC005", 1)


def test_json_with_tabs(tmp_path):
    out = run(spec(tmp_path, '{\n\t"input": {\n\t\t"shape": ["N", 3]\n\t},\n\t"layers": ["ReLU"]\n}\n', "s.json"))
    assert out.code == 0, out.stdout


# ------------------------------------------------------------ in others' code (see the report)


def test_huge_repeat(tmp_path):
    out = run(spec(tmp_path, HEAD + "  - {type: ReLU, repeat: 9223372036854775807}\n"), timeout=15)
    expect(out, "AC005")


def test_many_layers_in_linear_time(tmp_path):
    # 15 s of the child's CPU time (about 5 s here): wall time also counts the other jobs of a busy machine
    try:
        res = run_cli(
            "validate",
            "--format",
            "json",
            spec(tmp_path, HEAD + "  - " + "\n  - ".join(["ReLU"] * 90_000) + "\n"),
            timeout=180,
        )
    except CliTimeout:
        pytest.fail("90,000 layers took longer than 180 s of wall time")
    assert res.code == 0, res.describe()
    assert res.cpu_seconds < 15, f"90,000 layers took {res.cpu_seconds:.1f} s of CPU (limit 15 s)"


# ------------------------------------------------------------ the internal-error path


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("a bug\nover two lines")


def _invoke(args: list[str]):
    from click.testing import CliRunner

    from archcheck.cli.app import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_internal_error_is_one_line_and_exit_3(monkeypatch):
    monkeypatch.setattr("archcheck.api.check", _boom)
    r = _invoke(["validate", str(ROOT / "specs" / "simple_cnn.yaml")])
    assert r.exit_code == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "internal error (ValueError: a bug over two lines)" in lines[0]
    assert "report" in lines[0] and "--debug" in lines[0]
    assert "Traceback" not in r.output


def test_internal_error_with_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr("archcheck.api.check", _boom)
    r = _invoke(["--debug", "validate", str(ROOT / "specs" / "simple_cnn.yaml")])
    assert r.exit_code == 3
    assert "Traceback" in r.stderr and "_boom" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("archcheck validate: internal error")


def test_broken_pipe_is_not_an_internal_error(monkeypatch):
    import errno as _errno

    def pipe(*args: Any, **kwargs: Any) -> Any:
        raise BrokenPipeError(_errno.EPIPE, "Broken pipe")

    monkeypatch.setattr("archcheck.api.check", pipe)
    from click.testing import CliRunner

    from archcheck.cli.app import main

    # click's standalone main turns EPIPE into a quiet exit 1.
    r = CliRunner().invoke(main, ["validate", str(ROOT / "specs" / "simple_cnn.yaml")])
    assert r.exit_code != 3
    assert "internal error" not in r.output


# ------------------------------------------------------------ limits, in-process


def test_time_budget(monkeypatch):
    monkeypatch.setattr(loader, "TIME_LIMIT", 0.0)
    src = loader.load_text("layers: [" + ", ".join(["ReLU"] * 20_000) + "]\n", "slow.yaml")
    assert [d.code for d in src.diagnostics] == ["AC005"]
    assert "longer than" in src.diagnostics[0].message
    assert src.data is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("[" * 100_000 + "]" * 100_000, "AC005"),
        ("{a: " * 100_000 + "1" + "}" * 100_000, "AC005"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcde", "bcdef", strict=True)
            ),
            "AC005",
        ),
        ("name: !!python/object/apply:os.system [echo]\n", "AC003"),
    ],
    ids=["deep-seq", "deep-map", "aliases", "python-tag"],
)
def test_pure_python_parser_has_the_same_limits(monkeypatch, text, code):
    import yaml

    monkeypatch.setattr(loader, "_Loader", yaml.SafeLoader)  # as without libyaml
    t = time.monotonic()
    src = loader.load_text(text, "spec.yaml")
    assert code in [d.code for d in src.diagnostics]
    assert time.monotonic() - t < 5
