"""Evaluator on generators whose answers are known: real digits, one repeated image, wrong labels."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.evaluation import to_digit_input
from ganforge.evaluation.classifier import digit_split


class RealDigits(torch.nn.Module):
    """A 'generator' returning the held-out digits in order (with the asked-for label if given)."""

    def __init__(self, label_shift=0):
        super().__init__()
        split = digit_split()
        self.images, self.labels = split.held_out_images, split.held_out_labels
        self.by_label = [self.images[self.labels == k] for k in range(10)]
        self.label_shift = label_shift
        self.calls = 0

    def forward(self, z, labels):
        start, self.calls = self.calls, self.calls + len(z)
        if labels is None:
            return self.images[start:start + len(z)]
        return torch.stack([self.by_label[(int(k) + self.label_shift) % 10][i % 100]
                            for i, k in enumerate(labels, start)])


def test_the_reference_itself_scores_perfectly(evaluator):
    result = evaluator.evaluate_generator(RealDigits(), 1000, latent_dim=4)
    assert abs(result["fid_digits"]) < 1e-6
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["class_coverage"] == pytest.approx(math.log(10), rel=1e-3)  # 98% accurate predictions
    memo = result["memorization"]
    assert memo["fid_held_out_half"] == pytest.approx(result["fid_digits"])
    assert memo["fid_train_half"] > memo["fid_held_out_half"]


def test_a_collapsed_generator_scores_far_from_the_floor(evaluator):
    one = digit_split().held_out_images[:1]
    collapsed = evaluator.evaluate_generator(lambda z, labels: one.expand(len(z), -1, -1, -1), 500, latent_dim=4)
    floor = evaluator.floor(500)
    assert collapsed["class_coverage"] == 0.0
    assert collapsed["recall"] < 0.05 < 0.8 < floor["recall"]
    assert collapsed["fid_digits"] > 10 * floor["fid_digits"]
    assert collapsed["kid_digits"] > 10 * abs(floor["kid_digits"])


def test_label_accuracy_reads_the_asked_for_digit(evaluator):
    right = evaluator.evaluate_generator(RealDigits(), 300, latent_dim=4, num_classes=10)
    wrong = evaluator.evaluate_generator(RealDigits(label_shift=1), 300, latent_dim=4, num_classes=10)
    assert right["label_accuracy"] >= 0.95
    assert wrong["label_accuracy"] <= 0.05
    assert evaluator.floor(300)["label_accuracy"] >= 0.98


def test_a_generator_module_is_sampled_in_eval_mode_and_restored(evaluator):
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, z, labels):
            seen.append(self.training)
            return torch.tanh(z[:, :1, None, None].expand(-1, 1, 28, 28))

    g = Probe().train()
    evaluator.generate(g, 20, latent_dim=3)
    assert seen and not any(seen) and g.training


def test_protocol_names_sizes_and_checksum(evaluator):
    p = evaluator.protocol(5000, 7)
    assert (p["n_real"], p["n_fake"], p["n_floor"], p["seed"]) == (1000, 5000, 4000, 7)
    assert p["weights_sha256"] == evaluator.classifier.sha256 and len(p["weights_sha256"]) == 64
    assert p["kid_subset_size"] == 1000 and p["pr_n"] == 1000


def test_other_shapes_become_28x28_grayscale():
    rgb = torch.rand(2, 3, 28, 28) * 2 - 1
    expected = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(to_digit_input(rgb), expected)
    big = torch.rand(2, 1, 64, 64) * 2 - 1
    out = to_digit_input(big)
    assert out.shape == (2, 1, 28, 28) and out.min() >= -1 and out.max() <= 1
    flat = torch.full((1, 1, 56, 56), 0.25)
    torch.testing.assert_close(to_digit_input(flat), torch.full((1, 1, 28, 28), 0.25))
    with pytest.raises(GanforgeError, match="1- or 3-channel"):
        to_digit_input(torch.zeros(1, 2, 28, 28))
