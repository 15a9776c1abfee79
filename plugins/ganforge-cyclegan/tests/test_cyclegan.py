"""The cyclegan package: four named networks trained by a two-phase step on unpaired batches;
the kit's step check, the checkpoint's named entries, an exact resume, export and translation of files."""

import json

import pytest
import torch

import ganforge
from ganforge import registry
from ganforge.testing import check_step, state_differences
from ganforge_cyclegan.arch import NETWORKS, CycleGAN
from ganforge_cyclegan.step import CycleGANStep

FAST = {"batch_size": 4, "device": "cpu", "arch_options": {"ngf": 4, "ndf": 4, "blocks": 1}, "log_every": 1,
        "sample_every": 2, "checkpoint_every": 2, "subset": 32, "dataset": "mnist-5k-invert"}


@pytest.mark.parametrize("identity_weight", [0.0, 5.0])
def test_the_step_trains_all_four_networks_through_the_kit(identity_weight):
    check_step(CycleGANStep, CycleGAN, arch_options={"ngf": 4, "ndf": 4, "blocks": 1},
               step_options={"identity_weight": identity_weight})


def test_entry_points_name_this_distribution():
    for kind, name, cls in (("architecture", "cyclegan", CycleGAN), ("step", "cyclegan", CycleGANStep)):
        found = registry.find(kind).get(name)
        assert found.distribution == "ganforge-cyclegan" and type(found.load().obj) is cls


def test_each_iteration_sees_two_unrelated_batches(tmp_path):
    run_dir = ganforge.train("cyclegan", steps=1, runs_dir=str(tmp_path), progress=False, **FAST)
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["batches"]["position"] == 2  # domain A from one batch, domain B from the next
    record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"g_cycle", "g_adversarial_a", "g_adversarial_b", "d_a", "d_b", "d_loss", "g_loss"} <= set(record)


def test_two_generators_and_two_discriminators_checkpoint_resume_exactly_and_export(tmp_path):
    from typer.testing import CliRunner

    from ganforge.cli.app import app

    straight = ganforge.train("cyclegan", steps=4, runs_dir=str(tmp_path / "a"), progress=False, ema=0.9, **FAST)
    halted = ganforge.train("cyclegan", steps=2, runs_dir=str(tmp_path / "b"), progress=False, ema=0.9, **FAST)
    ganforge.resume(halted, steps=4, progress=False)
    a, b = (torch.load(d / "checkpoints" / "latest.pt", weights_only=True) for d in (straight, halted))
    assert list(a["networks"]) == list(a["optimizers"]) == list(NETWORKS)
    for key in ("networks", "optimizers", "rng", "hooks", "batches"):
        assert not state_differences(a[key], b[key], key), key
    records = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(r["g_cycle"] > 0 for r in records)
    out = tmp_path / "translated"
    result = CliRunner().invoke(app, ["sample", str(straight), "--input", str(straight / "samples"), "--out", str(out)])
    assert result.exit_code == 0, result.output  # the exported G_AB translates the sample grids' files
    assert len(list(out.iterdir())) == 2

