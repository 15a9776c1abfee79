"""--subset N: a seeded subset of the in-memory dataset, recorded in config.json."""

import json

import pytest
import torch

from ganforge.data import ImageData
from ganforge.data.subset import seeded_subset
from ganforge.errors import GanforgeError


def numbered(n=100, labelled=True):
    """Image i is filled with i % 256 and labelled i % 10 (so pairs can be checked)."""
    idx = torch.arange(n)
    images = (idx % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()
    return ImageData(images, idx % 10 if labelled else None, [str(k) for k in range(10)] if labelled else None,
                     "numbered")


def test_same_seed_same_subset_other_seed_other():
    data = numbered(200)
    a, b, c = (seeded_subset(data, 50, seed, batch_size=8) for seed in (1, 1, 2))
    assert len(a) == 50 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    chosen = a.images[:, 0, 0, 0].long()
    assert len(set(chosen.tolist())) == 50  # without replacement
    assert torch.equal(chosen, chosen.sort().values)  # in dataset order
    assert torch.equal(a.labels, chosen % 10)  # labels follow their images
    assert a.class_names == data.class_names and "subset of 50" in a.name


def test_unlabelled_data_and_the_whole_dataset():
    data = numbered(40, labelled=False)
    whole = seeded_subset(data, 40, 0, batch_size=8)
    assert whole.labels is None and torch.equal(whole.images, data.images)


def test_too_many_or_too_few_images_are_clear_errors():
    data = numbered(100)
    with pytest.raises(GanforgeError, match=r"--subset 101 is more than the 100 images of dataset 'numbered'"):
        seeded_subset(data, 101, 0, batch_size=8)
    with pytest.raises(GanforgeError, match=r"--subset 7 is smaller than one batch \(--batch-size 8\)"):
        seeded_subset(data, 7, 0, batch_size=8)


def test_a_run_trains_on_the_subset_and_records_it(tmp_path):
    import ganforge

    run_dir = ganforge.train("dcgan", steps=1, subset=64, batch_size=16, runs_dir=str(tmp_path), device="cpu",
                             arch_options={"ngf": "4", "ndf": "4"}, progress=False, verbose=False)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["subset"] == 64
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    assert state["batches"]["order"].numel() == 64


def test_the_subset_option_is_checked_before_a_run_exists(tmp_path):
    import ganforge

    with pytest.raises(GanforgeError, match="--subset 6000 is more than the 5000 images"):
        ganforge.train("dcgan", steps=1, subset=6000, runs_dir=str(tmp_path), device="cpu")
    with pytest.raises(GanforgeError, match="--subset must be positive"):
        ganforge.train("dcgan", steps=1, subset=0, runs_dir=str(tmp_path), device="cpu")
    assert not any(tmp_path.iterdir())
