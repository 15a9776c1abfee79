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
