"""The pix2pix package: its step trains through ganforge's conformance kit on image pairs, its
networks keep the image-to-image contract, its quality measures are what they claim, and a run on
the digits' super-resolution pairs trains, samples, translates files and resumes exactly."""

import json

import pytest
import torch

import ganforge
from ganforge import registry
from ganforge.testing import check_step, state_differences
from ganforge_pix2pix import functional as F
from ganforge_pix2pix.arch import Pix2Pix, UNet, halvings
from ganforge_pix2pix.step import Pix2PixStep

FAST = {"batch_size": 8, "device": "cpu", "arch_options": {"ngf": 8, "ndf": 8}, "log_every": 1,
        "sample_every": 2, "checkpoint_every": 2, "subset": 64}


@pytest.mark.parametrize("size", [28, 32])
def test_the_step_trains_the_architecture_through_the_kit(size):
    check_step(Pix2PixStep, Pix2Pix, arch_options={"ngf": 4, "ndf": 4}, image_shape=(1, size, size))


def test_entry_points_name_this_distribution():
    for kind, name, cls in (("architecture", "pix2pix", Pix2Pix), ("step", "pix2pix", Pix2PixStep)):
        found = registry.find(kind).get(name)
        assert found.distribution == "ganforge-pix2pix" and type(found.load().obj) is cls


@pytest.mark.parametrize("size,depth", [(28, 2), (32, 3), (64, 4)])
def test_the_unet_keeps_the_size_and_skips_every_level(size, depth):
    assert halvings(size) == depth
    net = UNet(3, 1, size, 4)
    assert net(torch.zeros(2, 3, size, size)).shape == (2, 1, size, size)
    assert len(net.down) == len(net.up) == depth


def test_the_l1_term_is_the_mean_absolute_difference():
    a, b = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    assert F.l1_distance(a, b) == pytest.approx(float((a - b).abs().mean()))


def test_a_run_on_paired_digits_trains_samples_translates_and_resumes_exactly(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from ganforge.cli.app import app

    straight = ganforge.train("pix2pix", dataset="mnist-5k-sr7", steps=4, runs_dir=str(tmp_path / "a"),
                              progress=False, **FAST)
    halted = ganforge.train("pix2pix", dataset="mnist-5k-sr7", steps=2, runs_dir=str(tmp_path / "b"),
                            progress=False, **FAST)
    ganforge.resume(halted, steps=4, progress=False)
    a, b = (torch.load(d / "checkpoints" / "latest.pt", weights_only=True) for d in (straight, halted))
    for key in ("networks", "optimizers", "rng"):
        assert not state_differences(a[key], b[key], key), key
    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(r["g_l1"] > 0 and "d_acc_real" in r for r in records)
    grid = Image.open(straight / "samples" / "step-000004.png")
    assert grid.height < grid.width  # three rows of ten: condition, output, target
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(3):
        Image.fromarray((torch.rand(28, 28) * 255).byte().numpy()).save(inputs / f"digit{i}.png")
    result = CliRunner().invoke(app, ["sample", str(straight), "--input", str(inputs), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["digit0.png", "digit1.png", "digit2.png"]
    assert Image.open(tmp_path / "out" / "digit0.png").size == (28, 28)


def test_unpaired_data_and_augment_are_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from ganforge.cli.app import app

    for args, expected in ((["--dataset", "mnist-5k"], "needs paired data"),
                           (["--dataset", "mnist-5k-inpaint", "--augment", "diffaugment"], "--augment")):
        result = CliRunner().invoke(app, ["train", "pix2pix", *args, "--steps", "1", "--runs-dir", str(tmp_path)])
        assert result.exit_code == 2 and expected in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and not any(tmp_path.iterdir())

