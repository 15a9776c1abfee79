"""Fused operators. ``UpsampleBlock`` is the public module plugins may build on."""

from .upsample import UpsampleBlock

__all__ = ["UpsampleBlock"]
