"""Measuring ganforge's training speed: a plain-PyTorch DCGAN baseline and the throughput
harness behind ``ganforge bench train``."""
