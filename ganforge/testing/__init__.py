"""The conformance kit: checks that an architecture, loss or step plugin keeps ganforge's contract.

Plugin authors call it from their own pytest suite::

    from ganforge.testing import check_architecture, check_loss

    def test_my_architecture():
        check_architecture(MyGAN)

    def test_my_loss():
        check_loss(MyLoss)

    def test_my_step():
        check_step(MyStep)  # trains a tiny dcgan with it; arch= picks another architecture

Every check raises ``ConformanceError`` (an ``AssertionError``) whose message says what
is wrong. ``quick_check`` runs a fast subset and returns the failure as one line; it is
what ``ganforge plugins --check`` runs. Imports torch.
"""

from .architecture import (
    check_architecture,
    check_declarations,
    check_determinism,
    check_gradients,
    check_outputs,
    check_state_dict_round_trip,
)
from .common import ConformanceError
from .loss import check_loss
from .quick import quick_check
from .state import state_differences
from .step import check_step, spec_for
from .training import check_training_steps

__all__ = [
    "ConformanceError",
    "check_architecture",
    "check_declarations",
    "check_determinism",
    "check_gradients",
    "check_loss",
    "check_outputs",
    "check_state_dict_round_trip",
    "check_step",
    "check_training_steps",
    "spec_for",
    "state_differences",
    "quick_check",
]
