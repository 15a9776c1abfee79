"""``ganforge compare`` / ``ganforge.compare``: the protocol check, the Welch verdicts, the loaders
(run directories, report files, repeat summaries) and their one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

import ganforge
from ganforge.cli.app import app
from ganforge.errors import GanforgeError
from ganforge.evaluation import protocol as P
from ganforge.evaluation.compare import DIRECTIONS, UNDETECTED, UNKNOWN
from ganforge.evaluation.repeats import interval_method, over_seeds

#: The protocol of a report written before the protocol card existed (PR 0.1's fields).
OLD_PROTOCOL = {
    "n_real": 1000, "n_fake": 2000, "n_floor": 2000, "reference": "classifier held-out half",
    "split": "mnist-5k stratified 4000/1000 (per-class permutation, seed 0)",
    "feature_extractor": "digit-cnn-v1 penultimate layer (128-d)", "weights_sha256": "ab" * 32,
    "classifier_held_out_accuracy": 0.982, "seed": 0, "kid_subsets": 100, "kid_subset_size": 1000,
    "pr_k": 3, "pr_n": 1000, "generator": "dcgan",
}


def make_report(values: dict, conditional=False, device="cpu", **protocol) -> dict:
    """A report over len(values[...]) seeds, built by the combiner ``ganforge eval`` uses."""
    seeds = list(range(len(next(iter(values.values())))))
    row = lambda i: {k: v[i] for k, v in values.items()}  # noqa: E731
    measure = lambda s: {**row(s), "floor": row(s), "ceiling": row(s), "protocol": {**OLD_PROTOCOL, **protocol}}  # noqa: E731
    card = P.card(seeds, device, conditional, ["fid", "pr"], interval_method(seeds))
    return over_seeds(measure, seeds, card)


def write(path, report):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def invoke(*args):
    return CliRunner().invoke(app, ["compare", *[str(a) for a in args]])


def one_line_error(result, message):
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_the_first_protocol_difference_is_named():
    with pytest.raises(GanforgeError, match="^cannot compare: A's n_fake is 5000, B's is 2000$"):
        P.check_comparable({**OLD_PROTOCOL, "n_fake": 5000}, OLD_PROTOCOL)
    with pytest.raises(GanforgeError, match="A's weights_sha256 is 'cd"):
        P.check_comparable({**OLD_PROTOCOL, "weights_sha256": "cd" * 32}, OLD_PROTOCOL)
    with pytest.raises(GanforgeError, match="B's generator is conditional"):
        P.check_comparable({**OLD_PROTOCOL, "conditional": False}, {**OLD_PROTOCOL, "conditional": True})


def test_seeds_device_and_versions_are_notes_not_refusals():
    a = {**OLD_PROTOCOL, "seeds": [0, 1, 2], "device": "cpu", "torch_version": "2.14.1"}
    b = {**OLD_PROTOCOL, "seed": 3, "seeds": [3, 4], "device": "cuda:0", "torch_version": "2.15.0"}
    notes = P.check_comparable(a, b)
    assert notes == ["seeds differ: A [0, 1, 2], B [3, 4]", "device differ: A cpu, B cuda:0",
                     "torch_version differ: A 2.14.1, B 2.15.0"]
    assert P.check_comparable(OLD_PROTOCOL, {**OLD_PROTOCOL, "seed": 5}) == ["seeds differ: A [0], B [5]"]


def test_verdicts_follow_each_metrics_direction():
    a = make_report({"fid_digits": [30.0, 31.0, 29.5], "precision": [0.80, 0.81, 0.79], "recall": [0.5, 0.6, 0.4],
                     "class_coverage": [2.0, 2.05, 1.98]})
    b = make_report({"fid_digits": [20.0, 20.4, 19.8], "precision": [0.70, 0.71, 0.69], "recall": [0.52, 0.45, 0.6],
                     "class_coverage": [2.25, 2.27, 2.26]})
    out = ganforge.compare(a, b)
    m = out["metrics"]
    assert set(m) == {"fid_digits", "precision", "recall", "class_coverage"}
    assert m["fid_digits"]["verdict"] == "better" and m["fid_digits"]["high"] < 0  # lower FID is better
    assert m["precision"]["verdict"] == "worse" and m["precision"]["low"] < m["precision"]["difference"] < 0
    assert m["recall"]["verdict"] == UNDETECTED and m["recall"]["low"] < 0 < m["recall"]["high"]
    assert m["class_coverage"]["verdict"] == "better"  # closer to ln 10, the uniform maximum
    assert m["fid_digits"]["a"]["values"] == [30.0, 31.0, 29.5] and m["fid_digits"]["difference"] == pytest.approx(
        sum([20.0, 20.4, 19.8]) / 3 - sum([30.0, 31.0, 29.5]) / 3)
    assert ganforge.compare(b, a)["metrics"]["fid_digits"]["verdict"] == "worse"
    assert out["notes"] == []


def test_a_single_seed_side_has_no_interval():
    out = ganforge.compare(make_report({"fid_digits": [30.0]}), make_report({"fid_digits": [20.0, 21.0]}))
    fid = out["metrics"]["fid_digits"]
    assert fid["verdict"] == UNKNOWN and fid["low"] is None and fid["method"] == "one draw: no interval"
    assert fid["difference"] == pytest.approx(-9.5)


def test_reports_written_before_the_protocol_card_still_compare(tmp_path):
    old = {"fid_digits": 40.0, "kid_digits": 0.1, "kid_digits_std": 0.01, "floor": {}, "ceiling": {},
           "protocol": OLD_PROTOCOL}
    new = make_report({"fid_digits": [30.0, 31.0]}, seed=0)
    out = ganforge.compare(write(tmp_path / "old.eval.json", old), new)
    assert out["metrics"]["fid_digits"]["verdict"] == UNKNOWN and set(out["metrics"]) == {"fid_digits"}
    old_cgan = {**old, "label_accuracy": 0.9}  # label accuracy: a conditional generator's report
    with pytest.raises(GanforgeError, match="A's generator is conditional"):
        ganforge.compare(old_cgan, old)


def test_the_cli_prints_a_table_or_json_and_writes_nothing(tmp_path):
    a = write(tmp_path / "a" / "eval.json", make_report({"fid_digits": [30.0, 31.0, 29.5]}))
    b = write(tmp_path / "b.eval.json", make_report({"fid_digits": [20.0, 20.4, 19.8]}, device="cuda:0"))
    before = sorted(tmp_path.rglob("*"))
    result = invoke(a.parent, b)
    assert result.exit_code == 0, result.output
    fid = next(line for line in result.stdout.splitlines() if line.startswith("fid_digits"))
    assert "30.17 ± 0.7638 (n=3)" in fid and "-10.10" in fid and fid.endswith("better")
    assert "note: device differ: A cpu, B cuda:0" in result.stdout and "Welch t" in result.stdout
    as_json = invoke(a.parent, b, "--json")
    assert json.loads(as_json.stdout) == json.loads(json.dumps(ganforge.compare(a.parent, b)))
    assert sorted(tmp_path.rglob("*")) == before


def test_a_repeat_summary_has_one_value_per_run(tmp_path):
    runs = []
    for i, fid in enumerate([30.0, 28.0, 33.0]):
        run = tmp_path / "runs" / f"dcgan-{i}"
        write(run / "eval.json", make_report({"fid_digits": [fid, fid + 1.0]}))
        runs.append(f"runs/dcgan-{i}")  # relative to the summary's folder
    summary = write(tmp_path / "summary.json", {"runs": runs})
    out = ganforge.compare(summary, make_report({"fid_digits": [20.0, 20.5]}))
    fid = out["metrics"]["fid_digits"]
    assert fid["a"]["values"] == [30.5, 28.5, 33.5] and out["a"]["kind"] == "repeat summary of 3 runs"


@pytest.mark.parametrize("case,message", [
    ("missing", "is neither a run directory nor a report file"),
    ("no-eval", "run `ganforge eval"),
    ("deleted-runs", "which does not exist (deleted or moved?)"),
    ("n-differs", "cannot compare: A's n_fake is 2000, B's is 5000"),
    ("not-a-report", "neither an eval report (no protocol) nor a repeat summary"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case, message):
    good = write(tmp_path / "good.eval.json", make_report({"fid_digits": [30.0, 31.0]}))
    other = {
        "missing": tmp_path / "nope.json",
        "no-eval": tmp_path / "run-without-eval",
        "deleted-runs": tmp_path / "summary.json",
        "n-differs": write(tmp_path / "big.eval.json", make_report({"fid_digits": [1.0, 2.0]}, n_fake=5000)),
        "not-a-report": write(tmp_path / "metrics.json", {"fid_digits": 3.0}),
    }[case]
    if case == "no-eval":
        other.mkdir()
    if case == "deleted-runs":
        run = tmp_path / "runs" / "dcgan-0"
        write(run / "eval.json", make_report({"fid_digits": [30.0, 31.0]}))
        write(other, {"runs": [str(run)]})
        shutil.rmtree(tmp_path / "runs")
    before = sorted(tmp_path.rglob("*"))
    one_line_error(invoke(good, other), message)
    assert sorted(tmp_path.rglob("*")) == before


def test_a_cgan_report_is_not_compared_with_a_dcgan_report(tmp_path, classifier_cache, monkeypatch):
    from test_eval_cli import export

    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(classifier_cache))
    for name, arch, classes in (("c", "cgan", 10), ("d", "dcgan", None)):
        run = tmp_path / name
        export(run, arch=arch, classes=classes)
        eval_result = CliRunner().invoke(app, ["eval", str(run), "--n", "100", "--metrics", "fid"])
        assert eval_result.exit_code == 0, eval_result.output
    one_line_error(invoke(tmp_path / "c", tmp_path / "d"), "A's generator is conditional")
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == ["config.json"] * 2 + ["eval.json"] * 2


def test_directions_agree_with_the_best_checkpoint_table():
    from ganforge.training.setup.monitor_options import BEST_METRICS

    for metric, (_, better) in BEST_METRICS.items():
        assert DIRECTIONS[metric] == {"min": "lower", "max": "higher"}[better], metric
