"""Tables off a terminal: plain aligned text, one line per row, nothing cut or wrapped."""

import io
import json
import subprocess
import sys

from ganforge.cli.tables import Column, plain_lines, print_table


def test_plain_lines_align_columns_and_keep_rows_whole():
    long = "a message that is far longer than any terminal is wide " * 4
    lines = plain_lines("title", [Column("name"), Column("n", "right"), Column("status")],
                        [["short", "1", "ok"], ["a-much-longer-name", "123", long + "\nsecond line"]])
    assert lines[0] == "title"
    assert lines[1] == "name                  n  status"
    assert lines[2] == "------------------  ---  " + "-" * len(" ".join((long + "\nsecond line").split()))
    assert lines[3] == "short                 1  ok"
    assert lines[4] == "a-much-longer-name  123  " + " ".join((long + " second line").split())


def test_print_table_is_plain_when_not_a_terminal():
    out = io.StringIO()
    print_table("t", [Column("a"), Column("b")], [["x" * 300, "y"]], ["red"], stream=out)
    assert out.getvalue().splitlines() == ["t", "a" + " " * 299 + "  b", "-" * 300 + "  -", "x" * 300 + "  y"]


def test_bench_table_is_one_line_per_case(capsys):
    from ganforge.cli.bench import _print_table

    case = "block 512x4->256x8 (a deliberately long case name) b64 float32 forward+backward"
    _print_table({case: {"fused": 0.001, "eager": 0.002}}, {case: "fused 1.0, eager 2.0"}, "cpu", "float32")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fused upsampling block, cpu, float32: median seconds"
    assert lines[1].split() == ["case", "fused", "eager", "compile", "eager/fused", "compile/fused", "GB/s", "at", "floor"]
    assert lines[3].startswith(case)
    assert "1.00 ms" in lines[3] and "2.00x" in lines[3] and lines[3].endswith("fused 1.0, eager 2.0")
    assert len(lines) == 4


def test_plugins_without_options_imports_no_plugin():
    code = ("import sys, json; from typer.testing import CliRunner; from ganforge.cli.app import app; "
            "r = CliRunner().invoke(app, ['plugins', '--json']); rows = json.loads(r.stdout); "
            "print(json.dumps([r.exit_code, sorted({row['status'] for row in rows}), "
            "sorted(m for m in sys.modules if m == 'torch' or m.startswith(('ganforge.models', 'ganforge.losses', "
            "'ganforge_')))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [0, ["not loaded"], []]
