"""SNGAN for ganforge: the ``sngan`` architecture and the ``hinge`` loss."""

__version__ = "0.1.0"
