"""Paired data for image-to-image steps: the digits' built-in tasks, folder pairs, and the one-line
refusals for pairs that do not match or a step that cannot use them."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.data import load_dataset
from ganforge.data.batches import InMemoryBatches
from ganforge.data.paired import HOLE, PAIRED_DIGITS
from ganforge.data.subset import seeded_subset
from ganforge.errors import GanforgeError
from ganforge.generator_file import GeneratorInfo


@pytest.mark.parametrize("name", sorted(PAIRED_DIGITS))
def test_each_digit_task_pairs_every_digit_with_a_fixed_corruption(name):
    data = load_dataset(name, "data", None, None)
    again = load_dataset(name, "data", None, None)
    plain = load_dataset("mnist-5k", "data", None, None)
    assert data.paired and data.condition_shape == data.image_shape == (1, 28, 28) and len(data) == 5000
    digits = data.conditions if name in ("mnist-5k-invert", "mnist-5k-thicken") else data.images  # restyled targets
    assert torch.equal(digits, plain.images) and torch.equal(data.labels, plain.labels)
    assert torch.equal(data.conditions, again.conditions)  # the same pairs in every run
    assert not torch.equal(data.conditions, data.images)


def test_super_resolution_inputs_are_blocks_of_the_small_digit():
    sr7 = load_dataset("mnist-5k-sr7", "data", None, None).conditions.float()
    blocks = sr7.unfold(2, 4, 4).unfold(3, 4, 4)  # (N, 1, 7, 7, 4, 4)
    assert torch.equal(blocks.amax((-1, -2)), blocks.amin((-1, -2)))
    plain = load_dataset("mnist-5k", "data", None, None).images.float()
    torch.testing.assert_close(blocks[..., 0, 0], torch.nn.functional.avg_pool2d(plain, 4), atol=0.5, rtol=0)


def test_the_restyled_tasks_target_the_inverted_and_the_thickened_digit():
    plain = load_dataset("mnist-5k", "data", None, None).images
    assert torch.equal(load_dataset("mnist-5k-invert", "data", None, None).images, 255 - plain)
    thick = load_dataset("mnist-5k-thicken", "data", None, None).images
    assert torch.all(thick >= plain) and thick.float().mean() > 1.5 * plain.float().mean()


def test_inpainting_greys_one_square_of_each_digit():
    data = load_dataset("mnist-5k-inpaint", "data", None, None)
    changed = data.conditions != data.images
    grey = data.conditions == 128
    assert torch.all(changed <= grey)  # only grey pixels differ
    assert torch.all(grey.flatten(1).sum(1) >= HOLE * HOLE)


def test_resizing_and_subsets_keep_the_pairs_together():
    data = load_dataset("mnist-5k-sr14", "data", 32, None)
    assert data.condition_shape == data.image_shape == (1, 32, 32)
    subset = seeded_subset(data, 100, seed=3, batch_size=10)
    index = [i for i in range(len(data)) if torch.equal(data.images[i], subset.images[0])][0]
    assert torch.equal(data.conditions[index], subset.conditions[0])
    images, labels, conditions = next(InMemoryBatches(subset, 10, torch.device("cpu"), torch.Generator().manual_seed(0)))
    assert images.shape == conditions.shape == (10, 1, 32, 32) and conditions.min() >= -1 and conditions.max() <= 1


def write_pairs(root, names_a, names_b, size=(20, 16)):
    for side, names in (("A", names_a), ("B", names_b)):
        (root / side).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            Image.new("RGB", size, (10 * i, 100 if side == "A" else 200, 0)).save(root / side / name)


def test_folder_pairs_are_matched_by_name(tmp_path):
    write_pairs(tmp_path, ["b.png", "a.png", "c.jpg"], ["a.png", "c.png", "b.png"])
    (tmp_path / "B" / "b.png").write_bytes(b"not an image")  # the pair is skipped and counted
    data = load_dataset("folder-pairs", str(tmp_path), 16, 3)
    assert len(data) == 2 and data.skipped == 1 and data.condition_shape == data.image_shape == (3, 16, 16)
    assert torch.all(data.conditions[:, 1] == 100) and torch.all(data.images[:, 1] == 200)


@pytest.mark.parametrize("a,b,expected", [(["x.png", "y.png"], ["x.png"], "y.png has no image of the same name in"),
                                          (["x.png"], ["x.png", "z.png", "w.png"], "(and 1 more)")])
def test_unmatched_folder_pairs_are_named(tmp_path, a, b, expected):
    write_pairs(tmp_path, a, b)
    with pytest.raises(GanforgeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_dataset("folder-pairs", str(tmp_path), 16, 3)


def test_a_noise_step_on_paired_data_and_unmatched_pairs_are_one_line_with_nothing_written(tmp_path):
    write_pairs(tmp_path / "pairs", ["x.png"], ["y.png"])
    for args, expected in ((["dcgan", "--dataset", "mnist-5k-sr7"], "is paired data"),
                           (["pix2pix", "--dataset", "folder-pairs", "--data-root", str(tmp_path / "pairs")],
                            "has no image of the same name")):
        result = CliRunner().invoke(app, ["train", *args, "--steps", "1", "--runs-dir", str(tmp_path / "runs")])
        assert result.exit_code == 2 and expected in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_a_generator_file_written_before_image_to_image_generators_reads_as_noise_to_image():
    legacy = {"format": "ganforge-generator", "format_version": "1", "arch": "dcgan", "arch_options": "{}",
              "image_shape": "[1, 28, 28]", "latent_dim": "100", "num_classes": "null", "class_names": "null",
              "latent_prior": "normal"}
    info = GeneratorInfo.from_metadata(legacy)
    assert (info.generator_input, info.network, info.spec.condition_shape) == ("noise", "G", None)
    again = GeneratorInfo.from_metadata(info.to_metadata())
    assert again == info


def test_psnr_ssim_and_l1_are_the_textbook_values():
    from ganforge.evaluation import image_quality as Q

    target = torch.rand(3, 1, 16, 16) * 2 - 1
    assert torch.all(torch.isinf(Q.psnr(target, target))) and torch.allclose(Q.ssim(target, target), torch.ones(3))
    noisy = (target + 0.2).clamp(-1, 1)
    mse = ((noisy - target) / 2).square().flatten(1).mean(1)
    torch.testing.assert_close(Q.psnr(noisy, target), 10 * torch.log10(1 / mse))
    assert float(Q.psnr(torch.ones(1, 1, 4, 4), -torch.ones(1, 1, 4, 4))) == pytest.approx(0.0)
    assert torch.all(Q.ssim(-target, target) < 0.5) and torch.all(Q.ssim(noisy, target) < 1)
    torch.testing.assert_close(Q.l1(noisy, target), ((noisy - target) / 2).abs().flatten(1).mean(1))


def test_ssim_matches_a_direct_computation_of_one_window():
    from ganforge.evaluation import image_quality as Q

    for seed in range(20):  # fresh windows, some with SSIM near 0 (float32 against float64: absolute tolerance)
        rng = torch.Generator().manual_seed(seed)
        x, y = torch.rand(1, 1, 7, 7, generator=rng) * 2 - 1, torch.rand(1, 1, 7, 7, generator=rng) * 2 - 1
        _check_one_window(Q, x, y)


def _check_one_window(Q, x, y):
    """One 7x7 window gives one SSIM value: against the formula in float64."""
    a, b = ((x + 1) / 2).flatten().double(), ((y + 1) / 2).flatten().double()
    va, vb = a.var(unbiased=True), b.var(unbiased=True)
    cov = ((a - a.mean()) * (b - b.mean())).sum() / (a.numel() - 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = ((2 * a.mean() * b.mean() + c1) * (2 * cov + c2)) / ((a.mean() ** 2 + b.mean() ** 2 + c1) * (va + vb + c2))
    assert float(Q.ssim(x, y)) == pytest.approx(float(expected), rel=1e-4, abs=1e-5)


def test_eval_of_an_image_to_image_run_measures_its_held_out_translations(tmp_path, digit_cache_env):
    import json

    import ganforge

    run_dir = ganforge.train("pix2pix", dataset="mnist-5k-sr7", subset=4900, steps=2, batch_size=8, device="cpu",
                             arch_options={"ngf": 4, "ndf": 4}, runs_dir=str(tmp_path), progress=False)
    report = ganforge.evaluate(run_dir, n=60, write=True)
    assert report["protocol"]["n_pairs"] == 60 and "outside the training --subset 4900" in report["protocol"]["pairs"]
    for row in (report, report["ceiling"], report["identity"]):
        assert 0 < row["psnr"] < 60 and -1 <= row["ssim"] <= 1 and 0 <= row["l1"] <= 1 and row["fid_digits"] > 0
    assert report["floor"]["ssim"] == 1.0 and report["floor"]["fid_digits"] < report["identity"]["fid_digits"]
    assert json.loads((run_dir / "eval.json").read_text())["psnr"] == report["psnr"]
    result = CliRunner().invoke(app, ["eval", str(run_dir), "--n", "60"])
    assert result.exit_code == 0, result.output
    assert "PSNR (dB)" in result.output and "SSIM" in result.output
    refused = CliRunner().invoke(app, ["eval", str(run_dir / "generator.safetensors"), "--n", "60"])
    assert refused.exit_code == 2 and "held-out pairs" in refused.output


def test_a_repeat_of_an_image_to_image_recipe_summarises_its_translation_metrics(tmp_path, digit_cache_env):
    import ganforge

    repeat_dir = ganforge.train("pix2pix", repeats=2, dataset="mnist-5k-sr7", subset=4900, steps=2, batch_size=8,
                                device="cpu", arch_options={"ngf": 4, "ndf": 4}, eval_n=50, runs_dir=str(tmp_path),
                                progress=False)
    import json

    summary = json.loads((repeat_dir / "summary.json").read_text())
    assert {"psnr", "ssim", "l1", "fid_digits"} <= set(summary["metrics"])
    assert len(summary["metrics"]["psnr"]["values"]) == 2
