"""Conditional DCGAN: the one-hot label joins z in G and becomes an extra input plane in D."""

from ..interfaces import ModelSpec
from .dcgan import DCGAN


class ConditionalDCGAN(DCGAN):
    description = "Conditional DCGAN: class labels into both networks (needs a labelled dataset)"
    conditional = True

    def _classes(self, spec: ModelSpec) -> int:
        return int(spec.num_classes)
