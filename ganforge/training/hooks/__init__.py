"""The driver's hooks: metrics, progress, sample grids, checkpoints, EMA, evaluation, health, TensorBoard."""
