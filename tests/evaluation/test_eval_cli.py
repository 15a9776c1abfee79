"""``ganforge eval`` end to end on exported (untrained) generators, and its one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ganforge import registry
from ganforge.cli.app import app
from ganforge.evaluation.inception import WEIGHTS_ENV
from ganforge.generator_file import GeneratorInfo, export_generator
from ganforge.interfaces import ModelSpec
from ganforge.options import resolve_options

DIGITS = [str(i) for i in range(10)]


@pytest.fixture(autouse=True)
def _cache(classifier_cache, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(classifier_cache))


def export(path, arch="dcgan", shape=(1, 28, 28), classes=None, dataset="mnist-5k"):
    architecture = registry.load_architecture(arch)
    options = resolve_options(architecture.options, {"ngf": 8}, arch)
    spec = ModelSpec(image_shape=shape, latent_dim=16, num_classes=classes, options=options)
    torch.manual_seed(1)
    generator = architecture.build_generator(spec)
    info = GeneratorInfo(arch, spec, "normal", DIGITS if classes else None)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"dataset": dataset, "arch": arch}))
    return export_generator(generator, info, path / "generator.safetensors")


def invoke(*args):
    return CliRunner().invoke(app, ["eval", *[str(a) for a in args]])


def test_eval_of_a_run_directory_writes_eval_json_with_floor_ceiling_protocol(tmp_path):
    run = tmp_path / "run"
    export(run)
    result = invoke(run, "--n", "200", "--metrics", "fid,coverage,memorization")
    assert result.exit_code == 0, result.output
    assert "FID-digits" in result.stdout and "floor (real)" in result.stdout
    report = json.loads((run / "eval.json").read_text())
    assert {"fid_digits", "class_coverage", "memorization", "floor", "ceiling", "protocol"} <= set(report)
    assert "kid_digits" not in report and "label_accuracy" not in report
    assert report["floor"]["fid_digits"] < report["fid_digits"]
    assert report["protocol"]["n_fake"] == 200 and report["protocol"]["generator"] == "dcgan"
    assert not list(run.glob(".*.tmp"))


def test_eval_of_a_conditional_generator_file_reports_label_accuracy(tmp_path):
    file = export(tmp_path / "c", arch="cgan", classes=10)
    result = invoke(file, "--n", "100", "--metrics", "coverage,label_accuracy", "--json", "--seed", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 0 <= report["label_accuracy"] <= 1 and report["floor"]["label_accuracy"] > 0.9
    assert report["protocol"]["seed"] == 3
    assert json.loads((tmp_path / "c" / "generator.eval.json").read_text()) == report


@pytest.mark.parametrize("setup,args,message", [
    (dict(shape=(3, 32, 32)), [], "ganforge[metrics]"),
    (dict(dataset="fashion-mnist"), [], "trained on 'fashion-mnist'"),
    (dict(), ["--metrics", "fid,bogus"], "unknown metric 'bogus'"),
    (dict(), ["--metrics", "label_accuracy"], "unconditional"),
    (dict(), ["--metrics", "inception"], "RGB generators"),
    (dict(shape=(3, 32, 32)), ["--metrics", "inception"], WEIGHTS_ENV),
    (dict(), ["--n", "3"], "--n must be at least"),
])
def test_bad_input_is_one_line(tmp_path, monkeypatch, setup, args, message):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    run = tmp_path / "run"
    export(run, **setup)
    result = invoke(run, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1]
    assert not (run / "eval.json").exists()


@pytest.mark.slow
def test_inception_metrics_run_end_to_end_with_a_weights_file(tmp_path, monkeypatch):
    """The torch-fidelity path on an RGB folder run. Real Inception weights cannot be fetched
    offline, so the network keeps its random initialisation (its state-dict load is stubbed):
    this checks our wiring and keys, not Inception's numbers."""
    tf_module = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    from PIL import Image

    monkeypatch.setattr(tf_module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
    weights = tmp_path / "weights.pth"
    torch.save({}, weights)
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    folder = tmp_path / "images"
    folder.mkdir()
    rng = torch.Generator().manual_seed(0)
    for i in range(24):
        pixels = torch.randint(0, 256, (16, 16, 3), generator=rng, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
    run = tmp_path / "run"
    export(run, shape=(3, 16, 16), dataset="folder")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "data_root": str(folder), "image_size": 16, "channels": 3}))
    result = invoke(run, "--metrics", "inception", "--n", "10")
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    for row in (report, report["floor"], report["ceiling"]):
        assert {"fid_inception", "kid_inception", "kid_inception_std", "inception_score"} <= set(row)
    assert report["protocol"]["n_real"] == 10 and len(report["protocol"]["weights_sha256"]) == 64


def test_one_seed_keeps_todays_report_and_adds_the_protocol_card(tmp_path):
    run = tmp_path / "run"
    export(run)
    result = invoke(run, "--n", "100", "--metrics", "fid,kid", "--seed", "4")
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    assert set(report) == {"fid_digits", "kid_digits", "kid_digits_std", "floor", "ceiling", "protocol"}
    p = report["protocol"]
    assert p["seed"] == 4 and p["seeds"] == [4] and p["interval_method"] == "none (one seed)"
    assert (p["device"], p["precision"], p["conditional"], p["metrics"]) == ("cpu", "fp32", False, ["fid", "kid"])
    assert p["torch_version"] == torch.__version__ and p["ganforge_version"]
    assert "±" in result.stdout and "[" not in result.stdout.split("protocol")[0]  # KID's subset spread, no interval


def test_several_seeds_report_means_intervals_and_per_seed_values(tmp_path):
    file = export(tmp_path / "c", arch="cgan", classes=10)
    singles = []
    for seed in (5, 6, 7):
        assert invoke(file, "--n", "100", "--metrics", "fid,coverage,label_accuracy,memorization",
                      "--seed", seed).exit_code == 0
        singles.append(json.loads((tmp_path / "c" / "generator.eval.json").read_text()))
    result = invoke(file, "--n", "100", "--metrics", "fid,coverage,label_accuracy,memorization", "--repeats", "3",
                    "--seed", "5")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c" / "generator.eval.json").read_text())
    assert report["seeds"] == [5, 6, 7] and report["protocol"]["seeds"] == [5, 6, 7]
    assert report["protocol"]["conditional"] is True
    fid = report["intervals"]["fid_digits"]
    assert fid["values"] == pytest.approx([s["fid_digits"] for s in singles])  # each seed = that seed's eval
    assert report["fid_digits"] == pytest.approx(sum(fid["values"]) / 3) == fid["mean"]
    assert fid["low"] < fid["mean"] < fid["high"] and fid["std"] > 0 and "Student t" in fid["method"]
    assert report["intervals"]["memorization_difference"]["values"] == pytest.approx(
        [s["memorization"]["difference"] for s in singles])
    for row in ("floor", "ceiling"):
        assert report[row]["intervals"]["fid_digits"]["values"] == pytest.approx([s[row]["fid_digits"] for s in singles])
        assert len(set(report[row]["intervals"]["fid_digits"]["values"])) == 3  # a seeded subset / init per seed
    assert "label_accuracy" in report["floor"]["intervals"]
    assert "over seeds 5, 6, 7" in result.stdout and "Student t" in result.stdout
    fid_line = next(line for line in result.stdout.splitlines() if line.startswith("FID-digits"))
    assert fid_line.count("±") == 3 and fid_line.count("[") == 3


def test_several_seeds_compute_the_real_features_once(tmp_path, monkeypatch):
    """K seeds cost K evaluations of the generator, floor and ceiling, not K evaluators: the 5,000
    real digits are featurized once, then 100 fakes + 100 ceiling samples per seed."""
    import ganforge.evaluation.evaluator as evaluator_module

    featurized = []
    real_extract = evaluator_module.extract

    def counting(model, batches, device):
        features = real_extract(model, batches, device)
        featurized.append(len(features))
        return features

    monkeypatch.setattr(evaluator_module, "extract", counting)
    run = tmp_path / "run"
    export(run)
    assert invoke(run, "--n", "100", "--metrics", "fid", "--seeds", "0,1,2").exit_code == 0
    assert sum(featurized) == 5000 + 3 * (100 + 100)
    assert featurized.count(4000) == 1 and featurized.count(1000) == 1


@pytest.mark.parametrize("args,message", [
    (["--seeds", ""], "--seeds takes comma-separated"),
    (["--seeds", "a,b"], "--seeds takes comma-separated"),
    (["--seeds", "0,-1"], "--seeds takes comma-separated"),
    (["--seeds", "1,1"], "seed 1 is given twice"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--repeats", "2", "--seeds", "0,1"], "use one"),
    (["--seed", "1", "--seeds", "0,1"], "use one"),
])
def test_bad_seeds_are_one_line_and_write_nothing(tmp_path, args, message):
    run = tmp_path / "run"
    export(run)
    result = invoke(run, "--n", "100", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert not (run / "eval.json").exists()


def test_python_evaluate_returns_the_report_the_cli_writes(tmp_path):
    import ganforge
    from ganforge.errors import GanforgeError

    run = tmp_path / "run"
    export(run)
    assert invoke(run, "--n", "100", "--metrics", "fid,pr", "--seeds", "1,2").exit_code == 0
    written = json.loads((run / "eval.json").read_text())
    report = ganforge.evaluate(run, metrics="fid,pr", n=100, seeds=[1, 2])
    assert report == written
    with pytest.raises(GanforgeError, match="given twice"):
        ganforge.evaluate(run, seeds=[1, 1])


def test_a_plugin_failing_to_build_the_ceilings_generator_is_one_line_naming_it(tmp_path, monkeypatch):
    from ganforge.models.dcgan import DCGAN

    export(tmp_path / "run")
    original, calls = DCGAN.build_generator, []

    def broken_the_second_time(self, spec):  # the first builds the exported generator, the next the ceiling's
        calls.append(spec)
        if len(calls) > 1:
            raise RuntimeError("cannot build today")
        return original(self, spec)

    monkeypatch.setattr(DCGAN, "build_generator", broken_the_second_time)
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "run"), "--n", "40"])
    assert result.exit_code == 2, result.output
    assert "build_generator" in result.output and "cannot build today" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run" / "eval.json").exists()
    assert len(calls) == 2
