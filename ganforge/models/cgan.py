"""Conditional DCGAN: the one-hot label joins z in G and becomes an extra input plane in D."""

from ..interfaces import ModelSpec
from .dcgan import DCGAN


class ConditionalDCGAN(DCGAN):
    description = "Conditional DCGAN: class labels into both networks (needs a labelled dataset)"
    conditional = True
    # Chosen by looking at `ganforge sample --label 8`: with the global default of 5000 steps
    # of batch 32, --label 8 drew many 5s, 6s and 3s among the eights; 3000 steps of batch 64
    # (about the same wall time on 2 CPU cores) drew mostly eights.
    defaults = {"batch_size": 64, "steps": 3000}

    def _classes(self, spec: ModelSpec) -> int:
        return int(spec.num_classes)
