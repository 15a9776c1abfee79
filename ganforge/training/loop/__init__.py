"""The run driver and what it owns: the loop, checkpoints, the run directory, failures, rollbacks."""
