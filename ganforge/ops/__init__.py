"""Fused operators. ``UpsampleBlock`` is the public module plugins may build on.

Nothing here imports the compiled extension; it is loaded the first time a block with
impl other than "torch" is built (see ``extension``).
"""

from .fused import bn_act, upsample_bn_act
from .info import extension_info
from .upsample import UpsampleBlock

__all__ = ["UpsampleBlock", "bn_act", "extension_info", "upsample_bn_act"]
