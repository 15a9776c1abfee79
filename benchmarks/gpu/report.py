"""The report of benchmarks/gpu/check.sh: reads what the steps left in OUTDIR (steps.jsonl,
info.json, cuda_tests.xml, copy_bandwidth.json, bench_cuda_*.json, bench_train.json,
train/metrics.jsonl) and writes OUTDIR/report.md.

    python benchmarks/gpu/report.py OUTDIR
    python benchmarks/gpu/report.py --check-info OUTDIR/info.json   # exit 1 unless the built
                                                                    # CUDA kernels run on every GPU

Everything below main() is a pure function of those files' contents, tested in
tests/test_gpu_check.py.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

# Targets of the fused-op issue, at batch 128 on the GPU.
TARGET_BATCH = 128
BLOCK_VS_EAGER = 1.3
BLOCK_VS_COMPILE = 1.0
BN_ACT_SHARE_OF_COPY = 0.70
CASE = re.compile(r"^(?P<part>block|bn\+act) (?P<shape>.+) b(?P<batch>\d+) (?P<dtype>\w+) "
                  r"(?P<pass_>fwd\+bwd|fwd)$")
BYTES_PER_ELEMENT = {"float32": 4, "bfloat16": 2, "float16": 2}


def parse_case(case: str) -> dict:
    """``"block 512->256 4->8 b128 float32 fwd+bwd"`` -> its parts (batch as int)."""
    match = CASE.match(case)
    if match is None:
        raise ValueError(f"not a bench case name: {case!r}")
    parts = match.groupdict()
    parts["batch"] = int(parts["batch"])
    return parts


def ratio(times: dict, slower: str, faster: str = "fused") -> float | None:
    if slower in times and faster in times and times[faster] > 0:
        return times[slower] / times[faster]
    return None


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.3f}"


def bn_act_elements(shape_name: str, batch: int) -> int:
    """Elements of the BN+activation input of a DCGAN-64 block at this batch."""
    from ganforge.ops.benchmark import DCGAN64_BLOCKS

    for shape in DCGAN64_BLOCKS:
        if shape.name == shape_name:
            return batch * shape.out_channels * shape.output_size ** 2
    raise ValueError(f"unknown block shape {shape_name!r}")


def fused_gb_per_s(case: str, seconds: float) -> float:
    """Bytes the fused BN+activation must move at least (DESIGN.md floor: 3E forward, 3E + 5E
    forward+backward) per second, in GB/s."""
    from ganforge.ops.benchmark import TRAFFIC_FLOOR

    parts = parse_case(case)
    elements = bn_act_elements(parts["shape"], parts["batch"])
    moved = TRAFFIC_FLOOR["fused"][parts["pass_"]] * elements * BYTES_PER_ELEMENT[parts["dtype"]]
    return moved / seconds / 1e9


def bench_table(results: dict) -> list[str]:
    lines = ["| case | fused ms | eager ms | compile ms | eager/fused | compile/fused |",
             "|---|---:|---:|---:|---:|---:|"]
    for case, times in results.items():
        lines.append(f"| {case} | {_ms(times.get('fused'))} | {_ms(times.get('eager'))} | "
                     f"{_ms(times.get('compile'))} | {_x(ratio(times, 'eager'))} | "
                     f"{_x(ratio(times, 'compile'))} |")
    return lines


def block_targets(results: dict) -> list[str]:
    """Whole block forward+backward at batch 128: each DCGAN-64 block and the four summed
    (the generator's blocks in one step), against eager and torch.compile."""
    lines = []
    for dtype in sorted({parse_case(c)["dtype"] for c in results}):
        cases = {c: t for c, t in results.items()
                 if parse_case(c)["part"] == "block" and parse_case(c)["pass_"] == "fwd+bwd"
                 and parse_case(c)["batch"] == TARGET_BATCH and parse_case(c)["dtype"] == dtype}
        if not cases:
            continue
        sums = {impl: sum(t[impl] for t in cases.values())
                for impl in ("fused", "eager", "compile") if all(impl in t for t in cases.values())}
        for label, wanted, goal in (("eager", "eager", BLOCK_VS_EAGER),
                                    ("torch.compile", "compile", BLOCK_VS_COMPILE)):
            total = ratio(sums, wanted)
            each = [ratio(t, wanted) for t in cases.values()]
            worst = min((r for r in each if r is not None), default=None)
            verdict = "not measured" if total is None else ("MET" if total >= goal else "MISSED")
            lines.append(f"| block fwd+bwd b{TARGET_BATCH} {dtype} vs {label} | >= {goal:.1f}x | "
                         f"{_x(total)} (4 blocks summed; worst block {_x(worst)}) | {verdict} |")
    return lines


def bn_act_targets(results: dict, copy_gb_per_s: float | None) -> list[str]:
    """BN+activation at batch 128: fused GB/s at the traffic floor as a share of copy bandwidth."""
    lines = []
    for case, times in results.items():
        parts = parse_case(case)
        if parts["part"] != "bn+act" or parts["batch"] != TARGET_BATCH or "fused" not in times:
            continue
        achieved = fused_gb_per_s(case, times["fused"])
        if copy_gb_per_s:
            share = achieved / copy_gb_per_s
            verdict = "MET" if share >= BN_ACT_SHARE_OF_COPY else "MISSED"
            value = f"{achieved:.0f} GB/s = {share:.0%} of copy"
        else:
            verdict, value = "not measured", f"{achieved:.0f} GB/s (no copy bandwidth)"
        lines.append(f"| {case} | >= {BN_ACT_SHARE_OF_COPY:.0%} of copy | {value} | {verdict} |")
    return lines


def tests_summary(xml_text: str) -> list[str]:
    root = ElementTree.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites)
              for key in ("tests", "failures", "errors", "skipped")}
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    lines = [f"{counts['tests']} tests: {passed} passed, {counts['failures']} failed, "
             f"{counts['errors']} errors, {counts['skipped']} skipped."]
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            problem = case.find(kind)
            if problem is not None:
                message = (problem.get("message") or "").strip().splitlines()
                lines.append(f"- {kind}: `{case.get('name')}`: {message[0] if message else ''}")
    return lines


def train_summary(metrics_lines: list[str]) -> list[str]:
    records = [json.loads(line) for line in metrics_lines if line.strip()]
    if not records:
        return ["no metrics were written"]
    last = records[-1]
    fields = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in last.items())
    return [f"{len(records)} metric records; the last: {fields}"]


def steps_table(steps: list[dict]) -> list[str]:
    lines = ["| step | status | seconds | log | note |", "|---|---|---:|---|---|"]
    for step in steps:
        lines.append(f"| {step['name']} | {step['status']} | {step['seconds']} | {step['log']} | "
                     f"{step.get('note', '')} |")
    return lines


def info_lines(info: dict) -> list[str]:
    torch_info, extension = info.get("torch", {}), info.get("extension", {})
    devices = {k: v for k, v in info.get("devices", {}).items() if k.startswith("cuda:")}
    lines = [f"- torch {torch_info.get('version')}, CUDA {torch_info.get('cuda')}, "
             f"cuDNN {torch_info.get('cudnn')}"]
    lines += [f"- {name}: {text}" for name, text in devices.items()]
    lines.append(f"- extension: CUDA kernels {extension.get('cuda_kernels')}, archs "
                 f"{extension.get('cuda_archs')}, built with torch {extension.get('built_with_torch')}"
                 f", stale {extension.get('stale')}")
    for name, verdict in extension.get("cuda_kernels_for_devices", {}).items():
        lines.append(f"- kernels for {name}: {verdict}")
    return lines


def kernels_run_on_every_device(info: dict) -> tuple[bool, str]:
    extension = info.get("extension", {})
    support = extension.get("cuda_kernels_for_devices", {})
    if not extension.get("cuda_kernels"):
        return False, f"the extension has no CUDA kernels ({extension.get('error')})"
    if not support:
        return False, "no CUDA device listed"
    bad = {k: v for k, v in support.items() if not v.startswith("yes")}
    if bad:
        return False, "; ".join(f"{k}: {v}" for k, v in bad.items())
    return True, "; ".join(f"{k}: {v}" for k, v in support.items())


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def build_report(out: Path) -> str:
    """The whole report.md for a check.sh output folder."""
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()
             if line.strip()] if (out / "steps.jsonl").is_file() else []
    failed = [s["name"] for s in steps if s["status"] not in ("ok", "skipped")]
    lines = ["# GPU check", ""]
    lines.append(f"**{'All steps passed' if not failed else 'Failed: ' + ', '.join(failed)}.**")
    lines += ["", "## Machine", ""]
    info = _read_json(out / "info.json")
    lines += info_lines(info) if info else ["no info.json (the info step failed)"]
    if (out / "nvidia-smi.csv").is_file():
        lines += ["", "```", (out / "nvidia-smi.csv").read_text().strip(), "```"]
    lines += ["", "## Steps", ""] + steps_table(steps)

    lines += ["", "## CUDA tests", ""]
    xml = out / "cuda_tests.xml"
    lines += tests_summary(xml.read_text()) if xml.is_file() else ["no cuda_tests.xml"]

    copy = _read_json(out / "copy_bandwidth.json")
    copy_gb = copy["median_gb_per_s"] if copy else None
    lines += ["", "## Device-to-device copy bandwidth", ""]
    lines.append(f"{copy_gb:.0f} GB/s median, {copy['best_gb_per_s']:.0f} GB/s best "
                 f"(read + write bytes, {copy['bytes_per_copy_read_plus_write'] / 1e9:.2f} GB "
                 f"per copy, {copy['repeats']} repeats)" if copy else "not measured")

    results: dict = {}
    for path in sorted(out.glob("bench_cuda_*.json")):
        results.update(json.loads(path.read_text()))
    lines += ["", f"## Targets (batch {TARGET_BATCH})", "",
              "| what | target | measured | verdict |", "|---|---|---|---|"]
    lines += block_targets(results) + bn_act_targets(results, copy_gb)
    lines += ["", "## ganforge bench --device cuda (median seconds in ms)", ""]
    lines += bench_table(results) if results else ["no bench results"]

    lines += ["", "## ganforge bench train", ""]
    train_bench = _read_json(out / "bench_train.json")
    lines += (["```json", json.dumps(train_bench, indent=2), "```"] if train_bench is not None
              else [next((s.get("note") or s["status"] for s in steps if s["name"] == "bench-train"),
                         "not run")])
    lines += ["", "## ganforge train dcgan --device cuda --steps 200", ""]
    metrics = out / "train" / "metrics.jsonl"
    lines += train_summary(metrics.read_text().splitlines()) if metrics.is_file() else ["no metrics"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--check-info":
        ok, why = kernels_run_on_every_device(json.loads(Path(argv[1]).read_text()))
        print(("ok: " if ok else "FAILED: ") + why)
        return 0 if ok else 1
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    (out / "report.md").write_text(build_report(out))
    print(f"wrote {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # ganforge from this checkout
    sys.exit(main(sys.argv[1:]))
