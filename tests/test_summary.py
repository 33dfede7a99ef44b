"""archcheck summary without torch: columns, units, dtypes, frozen params, JSON, huge numbers.

(Beside torchinfo's own numbers: tests/test_summary_torchinfo.py.)
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archcheck.api import check
from archcheck.cli import main
from archcheck.emit.report import human
from archcheck.emit.summary import COLUMNS, DEFAULT_COLUMNS, mb, parse_columns, render, totals


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["summary", *args])
    return r.exit_code, r.output


def _line(text: str, label: str) -> str:
    return next(x for x in text.splitlines() if x.startswith(label)).split(":", 1)[1].strip()


def test_sizes_are_decimal_megabytes_at_the_dtype() -> None:
    """SimpleCNN: 215,370 params x 4 bytes = 861,480 bytes = 0.86 MB (0.82 would be MiB)."""
    code, out = _run("specs/simple_cnn.yaml")
    assert code == 0, out
    assert _line(out, "Params size (MB)") == "0.86"
    # the input [1, 1, 28, 28] at 4 bytes, plus the 64 bytes torchinfo adds per input's storage object
    assert _line(out, "Input size (MB)") == f"{(784 * 4 + 64) / 1e6:.2f}"
    # forward/backward: 2 x (conv1 + conv2 + fc1 + fc2 outputs) x 4 bytes
    fb = 2 * (16 * 28 * 28 + 32 * 14 * 14 + 128 + 10) * 4
    assert _line(out, "Forward/backward pass size (MB)") == f"{fb / 1e6:.2f}"
    assert _line(out, "Estimated Total Size (MB)") == f"{(784 * 4 + 64 + fb + 861_480) / 1e6:.2f}"
    assert "MiB" not in out and "KB" not in out
    code, half = _run("specs/simple_cnn.yaml", "--dtype", "float16")
    assert code == 0 and _line(half, "Params size (MB)") == f"{215_370 * 2 / 1e6:.2f}" == "0.43"
    assert _line(half, "Forward/backward pass size (MB)") == f"{fb / 2 / 1e6:.2f}"
    code, dbl = _run("specs/simple_cnn.yaml", "--dtype", "float64", "--dim", "N=8")
    assert code == 0 and _line(dbl, "Params size (MB)") == f"{215_370 * 8 / 1e6:.2f}"
    assert _line(dbl, "Forward/backward pass size (MB)") == f"{fb * 2 * 8 / 1e6:.2f}"  # 8 bytes, batch 8


def test_index_inputs_keep_their_dtype() -> None:
    """Token ids are int64 (8 bytes) whatever --dtype says; the embeddings' outputs follow --dtype."""
    res = check("specs/lstm_text.yaml", {"L": 100})
    t32 = totals(res)
    assert t32.input_bytes == 100 * 8
    code, out = _run("specs/lstm_text.yaml", "--dim", "L=100", "--dtype", "bfloat16", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["totals"]["input_bytes"] == 100 * 8


def test_columns_option() -> None:
    assert parse_columns("default") == DEFAULT_COLUMNS
    assert parse_columns("torchinfo") == ("output_size", "num_params")
    assert parse_columns("all") == tuple(COLUMNS)
    assert parse_columns("+mult_adds,+trainable") == (*DEFAULT_COLUMNS, "mult_adds", "trainable")
    assert parse_columns("input_size, output_size,kernel_size") == ("input_size", "output_size", "kernel_size")
    code, out = _run("specs/mobilenet_v2.yaml", "--columns", "kernel_size,groups,params_percent")
    assert code == 0, out
    head = out.splitlines()[1]
    assert head.split() == ["Layer", "(path)", "Kernel", "Shape", "Groups", "Param", "%"]
    dw = next(x for x in out.splitlines() if "[3, 3]" in x and x.split()[-2] != "1")  # the first depthwise conv
    assert dw.split()[-2:] == ["32", f"{32 * 9 / 3_504_872:.2%}"]
    code, out = _run("specs/simple_cnn.yaml", "--columns", "input_sze")
    assert code == 2 and "did you mean 'input_size'" in out and "Traceback" not in out
    code, out = _run("specs/simple_cnn.yaml", "--columns", ",")
    assert code == 2 and "no column named" in out


def test_mult_adds_and_params_percent_per_layer() -> None:
    code, out = _run("specs/simple_cnn.yaml", "--columns", "num_params,params_percent,mult_adds,macs,kernel_size")
    assert code == 0, out
    rows = {x.split()[0]: x.split()[1:] for x in out.splitlines()[2:12]}
    # torchinfo 1.8: a conv's params x batch x output spatial size; a Linear's params x batch
    assert rows["conv1"] == ["416", f"{416 / 215_370:.2%}", f"{416 * 28 * 28:,}", "313,600", "[5,", "5]"]
    assert rows["fc1"] == ["200,832", f"{200_832 / 215_370:.2%}", "200,832", "200,704", "--"]
    assert rows["pool1"] == ["--", "--", "--", "--", "2"]  # MaxPool2d keeps kernel_size as given: torchinfo prints 2


def test_frozen_params_are_counted(write_spec) -> None:
    """Non-trainable params: a node marked trainable False (and everything inside a frozen block)."""
    res = check("tests/specs/resnet_branch.yaml")
    assert res.ok
    block = next(n for n in res.nodes if n.kind != "layer" and n.children)
    inside = sum(n.params or 0 for n in block.walk() if n.kind == "layer")
    assert inside > 0
    for n in block.walk():  # `trainable: false` on the block: the engine marks it and everything inside
        n.trainable = False
    t = totals(res)
    assert t.non_trainable == inside and t.trainable == res.total_params - inside
    assert res.trainable_params == t.trainable
    text = render(res, columns=("num_params", "trainable"))
    assert _line(text, "Non-trainable params") == f"{inside:,}"
    row = next(x for x in text.splitlines() if x.startswith(block.path + " "))
    assert row.split()[-2:] == [f"({inside:,})", "False"]


def test_json_has_exact_numbers() -> None:
    code, out = _run("specs/simple_cnn.yaml", "--format", "json")
    assert code == 0, out
    obj = json.loads(out)
    t = obj["totals"]
    assert (t["params"], t["trainable_params"], t["non_trainable_params"]) == (215_370, 215_370, 0)
    assert t["params_bytes"] == 861_480 and t["input_bytes"] == 3136 and t["macs"] == 3_024_384
    conv1 = next(r for r in obj["rows"] if r["path"] == "conv1")
    assert conv1["kernel_shape"] == [5, 5] and conv1["groups"] == 1 and conv1["mult_adds"] == 416 * 784
    assert conv1["output_shape"] == ["N", 16, 28, 28] and conv1["receptive_field"] == [5, 5]
    code, out = _run("specs/broken_shapes.yaml", "--format", "json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_huge_values_in_readable_units(write_spec) -> None:
    """A Linear of 2^32 weights over 2^20 rows: MACs in T and P, exact in JSON."""
    p = write_spec(
        "name: Big\ninput: {shape: [N, 1048576, 65536]}\n"
        "layers:\n  - {name: fc, type: Linear, in_features: 65536, out_features: 65536, bias: false}\n"
    )
    code, out = _run(str(p))
    assert code == 0, out
    macs = 2**20 * 2**32
    assert _line(out, "MACs") == f"{macs:,} per N ({macs / 1e15:.2f}P)"
    assert _line(out, "Total mult-adds (G)").startswith(f"{2**32 / 1e9:.2f}")  # torchinfo 1.8: once per batch row
    code, out = _run(str(p), "--format", "json")
    assert json.loads(out)["totals"]["macs"] == macs
    assert human(3 * 10**12) == "3.00T" and mb(1_500_000) == "1.50 MB"


def test_recurrent_macs_over_the_whole_sequence() -> None:
    """LSTM MACs count every step of the sequence; mult-adds follow torchinfo (sequence x batch x params)."""
    code, short = _run("specs/lstm_text.yaml", "--dim", "L=10", "--format", "json")
    code2, long = _run("specs/lstm_text.yaml", "--dim", "L=20", "--format", "json")
    assert code == code2 == 0
    a, b = (next(r for r in json.loads(x)["rows"] if r["type"] == "LSTM") for x in (short, long))
    assert b["macs"] == 2 * a["macs"] and b["mult_adds"] == 2 * a["mult_adds"]
    assert a["mult_adds"] == 10 * a["params"]  # torchinfo: output [1, 10, 256]'s first two dims x params


def test_explore_memory_in_decimal_megabytes() -> None:
    r = CliRunner().invoke(main, ["explore", "specs/simple_cnn.yaml", "--set", "conv1.out_channels=8,16"])
    assert r.exit_code in (0, 1), r.output
    assert "MiB" not in r.output and " MB" in r.output


@pytest.mark.parametrize("cols", ["all", "torchinfo"])
def test_no_torch_imported(cols: str) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from click.testing import CliRunner; from archcheck.cli import main\n"
        f"r = CliRunner().invoke(main, ['summary', 'specs/simple_cnn.yaml', '--columns', '{cols}', '--format', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
