"""ganforge: a plugin-based toolkit for training GANs on PyTorch.

Importing this package is cheap: it imports neither torch nor any plugin.
"""

__version__ = "0.1.0"
