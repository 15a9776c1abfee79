"""The two plugin packages, pip-installed from plugins/, train and sample through the CLI."""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app

FAST = ["--steps", "3", "--batch-size", "16", "--device", "cpu", "--sample-every", "2",
        "-O", "ngf=4", "-O", "ndf=4"]


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def train_and_sample(tmp_path, *args):
    run_dir = invoke("train", *args, *FAST, "--runs-dir", tmp_path / "runs")
    config = json.loads(open(f"{run_dir}/config.json").read())
    metrics = [json.loads(line) for line in open(f"{run_dir}/metrics.jsonl")]
    out = tmp_path / "grid.png"
    assert invoke("sample", run_dir, "--n", "16", "--out", out) == str(out)
    assert Image.open(out).size[0] >= 4 * 28
    return config, metrics


def test_wgan_critic_with_wgan_gp(tmp_path):
    config, metrics = train_and_sample(tmp_path, "wgan-critic", "--loss", "wgan-gp")
    assert (config["arch"], config["loss"], config["d_steps"]) == ("wgan-critic", "wgan-gp", 5)
    assert (config["g_optim"]["lr"], config["d_optim"]["lr"], config["d_optim"]["betas"]) == (1e-4, 1e-4, [0.0, 0.9])
    assert metrics[-1]["step"] == 3
    assert metrics[-1]["d_gradient_penalty"] >= 0 and "d_wasserstein" in metrics[-1]


def test_wgan_critic_selects_wgan_gp_by_default(tmp_path):
    run_dir = invoke("train", "wgan-critic", "--steps", "1", "--batch-size", "16", "--device", "cpu",
                     "-O", "ngf=4", "-O", "ndf=4", "--runs-dir", tmp_path)
    assert json.loads(open(f"{run_dir}/config.json").read())["loss"] == "wgan-gp"


@pytest.mark.parametrize("impl", ["auto", "torch"])
def test_sngan_with_its_hinge_default(tmp_path, impl):
    config, metrics = train_and_sample(tmp_path, "sngan", "-O", f"impl={impl}")
    assert (config["arch"], config["loss"], config["d_optim"]["betas"]) == ("sngan", "hinge", [0.0, 0.9])
    assert all(abs(m["d_loss"]) < 1e3 for m in metrics)
