"""Training: run configuration, the alternating D/G loop, run directories and checkpoints."""
