"""Several processes: torch.distributed, synchronised batch norm, the local launcher."""
