"""WGAN-GP for ganforge: the ``wgan-gp`` loss and the ``wgan-critic`` architecture."""

__version__ = "0.1.0"
