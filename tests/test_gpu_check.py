"""benchmarks/gpu/check.sh on a machine without a GPU, and its report generator on made-up
outputs (the GPU run itself needs a GPU; these check what can be checked without one)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "benchmarks" / "gpu" / "check.sh"


def load_report_module():
    spec = importlib.util.spec_from_file_location("gpu_report", ROOT / "benchmarks/gpu/report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_report_module()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_without_a_gpu_says_so_in_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(CHECK), str(out)], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=120)
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("check.sh: no CUDA GPU visible (torch ")
    assert lines[0].endswith("nothing was run")
    assert torch.__version__ in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_usage_error_without_an_output_folder():
    result = subprocess.run(["bash", str(CHECK)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage:" in result.stderr


def bench_results() -> dict:
    """Made-up medians: fused 10 ms for every block, eager 15 ms, compile 8 ms (so 1.5x and
    0.8x); bn+act fused at 1 ms."""
    from ganforge.ops.benchmark import DCGAN64_BLOCKS

    results = {}
    for shape in DCGAN64_BLOCKS:
        for pass_ in ("fwd", "fwd+bwd"):
            results[f"block {shape.name} b128 float32 {pass_}"] = {
                "fused": 0.010, "eager": 0.015, "compile": 0.008}
            results[f"bn+act {shape.name} b128 float32 {pass_}"] = {
                "fused": 0.001, "eager": 0.002, "compile": 0.0015}
    return results


def test_parse_case_and_traffic():
    assert report.parse_case("bn+act 128->64 16->32 b128 bfloat16 fwd+bwd") == {
        "part": "bn+act", "shape": "128->64 16->32", "batch": 128, "dtype": "bfloat16",
        "pass_": "fwd+bwd"}
    # 128 x 64 x 32 x 32 elements, 8 of them moved per element forward+backward, 2 bytes each.
    expected = 128 * 64 * 32 * 32 * 8 * 2 / 1e-3 / 1e9
    assert report.fused_gb_per_s("bn+act 128->64 16->32 b128 bfloat16 fwd+bwd", 1e-3) == \
        pytest.approx(expected)
    with pytest.raises(ValueError):
        report.parse_case("block 1->4 float32")


def test_block_targets_judge_the_summed_ratios():
    rows = report.block_targets(bench_results())
    assert len(rows) == 2
    eager, compiled = rows
    assert "vs eager | >= 1.3x | 1.50x" in eager and eager.endswith("| MET |")
    assert "vs torch.compile | >= 1.0x | 0.80x" in compiled and compiled.endswith("| MISSED |")


def test_bn_act_share_of_copy_bandwidth():
    results = bench_results()
    case = "bn+act 128->64 16->32 b128 float32 fwd"
    achieved = report.fused_gb_per_s(case, 0.001)  # 128*64*32*32*3*4 bytes / 1 ms = 100.7 GB/s
    rows = [r for r in report.bn_act_targets(results, copy_gb_per_s=achieved / 0.5) if case in r]
    assert rows and "50% of copy" in rows[0] and rows[0].endswith("| MISSED |")
    rows = [r for r in report.bn_act_targets(results, copy_gb_per_s=achieved / 0.9) if case in r]
    assert "90% of copy" in rows[0] and rows[0].endswith("| MET |")
    assert all(r.endswith("| not measured |") for r in report.bn_act_targets(results, None))


def test_tests_summary_lists_failures():
    xml = """<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">
      <testcase name="test_a"/><testcase name="test_b"><failure message="out mismatch&#10;more"/></testcase>
      <testcase name="test_c"><skipped/></testcase></testsuite></testsuites>"""
    lines = report.tests_summary(xml)
    assert lines[0] == "3 tests: 1 passed, 1 failed, 0 errors, 1 skipped."
    assert lines[1] == "- failure: `test_b`: out mismatch"


def test_kernels_for_device_check():
    ok_info = {"extension": {"cuda_kernels": True,
                             "cuda_kernels_for_devices": {"cuda:0": "yes: cubin sm_90 built"}}}
    assert report.kernels_run_on_every_device(ok_info)[0] is True
    bad = {"extension": {"cuda_kernels": True,
                         "cuda_kernels_for_devices": {"cuda:0": "no: built for sm_80 only"}}}
    assert report.kernels_run_on_every_device(bad) == (False, "cuda:0: no: built for sm_80 only")
    assert report.kernels_run_on_every_device({"extension": {"cuda_kernels": False}})[0] is False


def test_full_report_from_an_output_folder(tmp_path):
    steps = [
        {"name": "build", "status": "ok", "rc": 0, "seconds": 80, "log": "logs/build.log", "note": ""},
        {"name": "cuda-tests", "status": "failed", "rc": 1, "seconds": 40,
         "log": "logs/cuda-tests.log", "note": ""},
        {"name": "bench-train", "status": "skipped", "rc": 0, "seconds": 0,
         "log": "logs/bench-train.log", "note": "this ganforge has no 'bench train' command"},
    ]
    (tmp_path / "steps.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    (tmp_path / "bench_cuda_float32_b128.json").write_text(json.dumps(bench_results()))
    (tmp_path / "copy_bandwidth.json").write_text(json.dumps({
        "median_gb_per_s": 2000.0, "best_gb_per_s": 2100.0,
        "bytes_per_copy_read_plus_write": 2 * 512 * 2**20, "repeats": 30}))
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metrics.jsonl").write_text(
        '{"step": 100, "loss_d": 1.2}\n{"step": 200, "loss_d": 0.9, "img_per_s": 5000.5}\n')
    text = report.build_report(tmp_path)
    assert "**Failed: cuda-tests.**" in text
    for section in ("## Machine", "## Steps", "## CUDA tests", "## Device-to-device copy bandwidth",
                    "## Targets (batch 128)", "## ganforge bench --device cuda",
                    "## ganforge bench train", "## ganforge train dcgan"):
        assert section in text
    assert "2000 GB/s median" in text
    assert "| block 512->256 4->8 b128 float32 fwd+bwd | 10.000 | 15.000 | 8.000 | 1.50x | 0.80x |" in text
    assert "this ganforge has no 'bench train' command" in text
    assert "2 metric records; the last: step 200, loss_d 0.9, img_per_s 5000" in text
    assert "no cuda_tests.xml" in text and "no info.json" in text
