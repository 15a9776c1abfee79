"""``Evaluator``: built once (classifier, real features, reference statistics), then cheap to call
on a generator or on batches of images, e.g. every N training steps.

Protocol (the same for every row of a report):
- reference ("real") set: the classifier's held-out half, 1,000 digits it never trained on;
- the generated set: ``n`` samples from fixed latents (``seed``), conditional generators asked
  for the labels 0, 1, ..., 9, 0, 1, ... in turn;
- FID-digits and KID compare all generated samples with the reference; precision/recall use the
  first ``min(n, 1000)`` samples against the reference so both manifolds have the same size;
- the floor row measures the train half (``min(n, 4000)`` digits, a seeded subset) as if it were
  generated; memorization compares the generated set with 1,000 train-half digits and with the
  1,000 held-out digits, so both distances carry the same sample-size bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch

from ..errors import GanforgeError
from . import metrics as M
from .classifier import FEATURE_DIM, CachedClassifier, digit_split, load_or_train_classifier
from .features import Features, extract

ALL_METRICS = ("fid", "kid", "pr", "coverage", "label_accuracy", "memorization")
DEFAULT_BATCH = 500


def parse_metrics(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    unknown = [m for m in names if m not in ALL_METRICS]
    if unknown or not names:
        raise GanforgeError(f"--metrics: unknown metric '{unknown[0] if unknown else text}' "
                            f"(choose from {','.join(ALL_METRICS)})")
    return names


@dataclass
class GeneratedSet:
    features: Features
    requested_labels: Optional[np.ndarray]  # None for unconditional generators


class Evaluator:
    """Holds the digit classifier and the real digits' features; compares generated sets with them."""

    def __init__(self, metrics: Sequence[str] = ALL_METRICS, device: torch.device | str = "cpu",
                 cache_root: Optional[Path] = None, batch_size: int = DEFAULT_BATCH,
                 classifier: Optional[CachedClassifier] = None) -> None:
        self.metrics = tuple(metrics)
        self.device = torch.device(device)
        self.batch_size = batch_size
        split = digit_split()
        self.classifier = classifier or load_or_train_classifier(split, cache_root)
        self.model = self.classifier.model.to(self.device).eval()
        self.split_description = split.description
        self.train_real = self.features_of(split.train_images.split(batch_size))
        self.train_labels = split.train_labels.numpy()
        self.reference = self.features_of(split.held_out_images.split(batch_size))
        self.reference_stats = M.feature_statistics(self.reference.features)
        # Memorization: a seeded train-half subset as large as the reference, so both FIDs share the bias.
        pick = torch.randperm(len(self.train_labels), generator=torch.Generator().manual_seed(0))[:len(self.reference)]
        self.train_matched_stats = M.feature_statistics(self.train_real.features[pick.numpy()])
        self._floors: dict[tuple[int, int], dict] = {}

    # -- features -------------------------------------------------------------------------
    def features_of(self, batches: Iterable[torch.Tensor]) -> Features:
        return extract(self.model, batches, self.device)

    @torch.no_grad()
    def generate(self, generator: Callable, n: int, latent_dim: int, latent_prior: str = "normal",
                 num_classes: Optional[int] = None, seed: int = 0) -> GeneratedSet:
        """Sample ``n`` images in batches from ``generator(z, labels)`` and featurize them.
        An ``nn.Module`` is put in eval mode for the duration and restored afterwards."""
        from ..generator_file import sample_latent

        if n < 2:
            raise GanforgeError(f"--n must be at least 2, got {n}")
        rng = torch.Generator().manual_seed(seed)
        requested = torch.arange(n) % num_classes if num_classes else None
        was_training = getattr(generator, "training", None)
        if was_training:
            generator.eval()
        try:
            def batches():
                for start in range(0, n, self.batch_size):
                    m = min(self.batch_size, n - start)
                    z = sample_latent(m, latent_dim, latent_prior, rng, self.device)
                    labels = None if requested is None else requested[start:start + m].to(self.device)
                    yield generator(z, labels)

            features = self.features_of(batches())
        finally:
            if was_training:
                generator.train()
        return GeneratedSet(features, None if requested is None else requested.numpy())

    # -- metrics --------------------------------------------------------------------------
    def evaluate_generator(self, generator: Callable, n: int, latent_dim: int, latent_prior: str = "normal",
                           num_classes: Optional[int] = None, seed: int = 0) -> dict:
        """The metric dict for ``n`` samples of a generator (the engine's per-N-steps call)."""
        return self.evaluate(self.generate(generator, n, latent_dim, latent_prior, num_classes, seed), seed)

    def evaluate(self, fake: GeneratedSet, seed: int = 0, memorization: bool = True) -> dict:
        f, ref = fake.features, self.reference
        out: dict = {}
        if "fid" in self.metrics:
            out["fid_digits"] = M.frechet_distance(*M.feature_statistics(f.features), *self.reference_stats)
        if "kid" in self.metrics:
            mean, std = M.kernel_inception_distance(f.features, ref.features, seed=seed)
            out["kid_digits"], out["kid_digits_std"] = mean, std
        if "pr" in self.metrics:
            m = min(len(f), len(ref))
            out["precision"], out["recall"] = M.precision_recall(ref.features[:m], f.features[:m])
        if "coverage" in self.metrics:
            out["class_coverage"] = M.class_coverage(f.predictions)
        if "label_accuracy" in self.metrics and fake.requested_labels is not None:
            out["label_accuracy"] = M.label_accuracy(f.predictions, fake.requested_labels)
        if "memorization" in self.metrics and memorization:
            stats = M.feature_statistics(f.features)
            to_train = M.frechet_distance(*stats, *self.train_matched_stats)
            to_held = M.frechet_distance(*stats, *self.reference_stats)
            out["memorization"] = {
                "fid_train_half": to_train, "fid_held_out_half": to_held,
                "difference": to_held - to_train, "ratio": to_train / to_held if to_held > 0 else None,
            }
        return out

    def floor(self, n: int, seed: int = 0) -> dict:
        """Real vs real: ``min(n, 4000)`` train-half digits (seeded) measured as a generated set;
        their true labels play the requested labels. Memorization does not apply."""
        size = min(n, len(self.train_labels))
        key = (size, seed)
        if key not in self._floors:
            pick = torch.randperm(len(self.train_labels), generator=torch.Generator().manual_seed(seed))[:size].numpy()
            real = GeneratedSet(self.train_real.take(pick), self.train_labels[pick])
            self._floors[key] = self.evaluate(real, seed, memorization=False)
        return self._floors[key]

    def protocol(self, n_fake: int, seed: int) -> dict:
        n_real = len(self.reference)
        return {
            "n_real": n_real,
            "n_fake": n_fake,
            "n_floor": min(n_fake, len(self.train_labels)),
            "reference": "classifier held-out half",
            "split": self.split_description,
            "feature_extractor": f"{self.classifier.name} penultimate layer ({FEATURE_DIM}-d)",
            "weights_sha256": self.classifier.sha256,
            "classifier_held_out_accuracy": self.classifier.held_out_accuracy,
            "seed": seed,
            "kid_subsets": M.KID_SUBSETS,
            "kid_subset_size": M.kid_subset_size(n_fake, n_real),
            "pr_k": M.PR_NEIGHBOURS,
            "pr_n": min(n_fake, n_real),
        }
