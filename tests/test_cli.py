import json
import os
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app

FAST = ["--steps", "2", "--batch-size", "16", "--device", "cpu", "-O", "ngf=4", "-O", "ndf=4"]


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def train(runner, tmp_path, arch="dcgan", *extra):
    result = invoke(runner, "train", arch, *FAST, "--runs-dir", tmp_path / "runs", *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_help_is_instant_and_imports_no_torch():
    code = "import sys; from ganforge.cli.app import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_writes_a_complete_run_directory(runner, tmp_path):
    run_dir = train(runner, tmp_path, "dcgan", "--name", "first", "--seed", "3")
    config = json.loads(open(f"{run_dir}/config.json").read())
    assert config["seed"] == 3 and config["loss"] == "nonsaturating" and config["arch_options"]["ngf"] == 4
    again = train(runner, tmp_path, "dcgan", "--name", "first")
    assert again != run_dir and again.endswith("first-2")  # never overwrites


def test_config_file_is_overridden_by_flags(runner, tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text('loss = "lsgan"\nd_lr = 0.001\nseed = 5\n[arch_options]\nngf = 4\n')
    run_dir = train(runner, tmp_path, "dcgan", "--config", toml, "--seed", "6")
    config = json.loads(open(f"{run_dir}/config.json").read())
    assert (config["loss"], config["d_optim"]["lr"], config["seed"]) == ("lsgan", 0.001, 6)


def test_cgan_then_sample_a_label(runner, tmp_path):
    run_dir = train(runner, tmp_path, "cgan")
    out = tmp_path / "eights.png"
    result = invoke(runner, "sample", run_dir, "--n", "9", "--out", out, "--label", "8")
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] >= 3 * 28


def test_sample_interpolation_and_safetensors_file(runner, tmp_path):
    run_dir = train(runner, tmp_path, "dcgan")
    out = tmp_path / "walk.png"
    result = invoke(runner, "sample", f"{run_dir}/generator.safetensors", "--n", "8", "--out", out, "--interpolate")
    assert result.exit_code == 0, result.output
    width, height = Image.open(out).size
    assert width > 4 * height  # one row: a walk from one seed to the next


def test_resume_extends_a_run(runner, tmp_path):
    run_dir = train(runner, tmp_path, "dcgan")
    result = invoke(runner, "train", "--resume", run_dir, "--steps", "4")
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in open(f"{run_dir}/metrics.jsonl")]
    assert steps[-1] == 4 and steps.count(2) == 1


def test_plugins_lists_the_builtins(runner):
    result = invoke(runner, "plugins")
    assert result.exit_code == 0
    for name in ("gan", "dcgan", "cgan", "minimax", "nonsaturating", "lsgan"):
        assert name in result.stdout


def test_info_reports_versions(runner):
    result = invoke(runner, "info", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ganforge"]["version"] and report["torch"]["version"]
    assert "extension" in report


BAD_TRAIN = [
    (["dcgn"], "did you mean 'dcgan'"),
    (["dcgan", "--loss", "lsgn"], "did you mean 'lsgan'"),
    (["dcgan", "--image-size", "48"], "not 48"),
    (["dcgan", "--steps", "0"], "--steps must be positive"),
    (["dcgan", "--batch-size", "-1"], "--batch-size must be positive"),
    (["dcgan", "--g-lr", "0"], "--g-lr must be positive"),
    (["dcgan", "--g-lr", "1.7e38"], "--g-lr and --g-weight-decay must be at most 1000"),
    (["dcgan", "--d-weight-decay", "1e39"], "--d-lr and --d-weight-decay must be at most 1000"),
    (["dcgan", "--d-steps", "16296312970858"], "--d-steps must be at most 100 updates per iteration"),
    (["dcgan", "--epochs", "5.6e306"], "--epochs must be at most 1,000,000"),
    (["dcgan", "--g-optimizer", "sgd", "--g-momentum", "1.5"], "--g-momentum must be below 1"),
    (["dcgan", "--d-optimizer", "adagrad"], "--d-optimizer must be one of"),
    (["dcgan", "--device", "cuda"], "CUDA is not available"),
    (["dcgan", "--device", "tpu"], "--device must be"),
    (["dcgan", "-O", "depth=3"], "no option depth"),
    (["dcgan", "--g-betas", "0.5"], "--g-betas takes two numbers"),
    (["dcgan", "--dataset", "folder", "--data-root", "{tmp}/missing"], "data directory not found"),
    (["dcgan", "--dataset", "folder", "--data-root", "{tmp}/empty"], "no images found"),
    (["cgan", "--dataset", "folder", "--data-root", "{tmp}/flat"], "needs a labelled dataset"),
    (["--resume", "{tmp}"], "not a ganforge run directory"),
    (["--resume", "{tmp}/missing"], "no such directory"),
    ([], "name an architecture"),
    # A valued option followed by another option (--runs-dir is appended to each case) or nothing.
    (["dcgan", "--precision", "--steps", "2"], "`--precision` needs one of fp32, bf16, fp16"),
    (["dcgan", "--augment"], "`--augment` needs one of none, diffaugment"),
    (["dcgan", "--latent-prior", "-O", "ngf=4"], "`--latent-prior` needs one of normal, uniform"),
    (["dcgan", "--dataset", "--steps", "2"], "`--dataset` needs a value: mnist-5k"),
    (["dcgan", "-O", "--steps", "2"], "`-O` needs a value"),
    (["dcgan", "--steps", "2", "--g-optimizer"], "`--g-optimizer` needs one of adam, adamw, rmsprop, sgd"),
    (["dcgan", "--compile", "fast"], "--compile must be one of none, networks, cudagraphs, got 'fast'"),
]


@pytest.mark.parametrize("args,message", BAD_TRAIN, ids=[" ".join(a) or "none" for a, _ in BAD_TRAIN])
def test_bad_training_input_is_one_line_and_leaves_nothing(runner, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    runs = tmp_path / "runs"
    result = invoke(runner, "train", *args, "--runs-dir", runs)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_bad_sample_input(runner, tmp_path):
    dcgan = train(runner, tmp_path, "dcgan")
    cgan = train(runner, tmp_path, "cgan")
    cases = [
        ([dcgan, "--label", "3"], "unconditional"),
        ([cgan, "--label", "10"], "between 0 and 9"),
        ([cgan, "--n", "0"], "--n must be positive"),
        ([tmp_path, "--n", "4"], "no exported generator"),
        ([cgan, "--out", tmp_path / "x.jpg"], "--out must name a .png"),
    ]
    for args, message in cases:
        result = invoke(runner, "sample", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output


def test_debug_switch_shows_the_traceback(tmp_path):
    env = {**os.environ, "GANFORGE_DEBUG": "1"}
    out = subprocess.run([sys.executable, "-m", "ganforge", "train", "dcgn"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr and "UnknownPluginError" in out.stderr
