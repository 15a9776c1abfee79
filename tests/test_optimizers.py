"""The optimizer records (``config.OPTIMIZER_RECORDS``): each builds its torch class with the
settings it takes, and its state-slot count (the up-front memory estimate) is what the
optimizer really keeps per parameter after a step."""

from __future__ import annotations

import pytest
import torch

from ganforge.training.setup.config import OPTIMIZER_RECORDS, OPTIMIZERS, OptimizerSettings
from ganforge.training.setup.optim import make_optimizer

SETTINGS = OptimizerSettings(lr=3e-3, betas=(0.3, 0.95), momentum=0.7, nesterov=True, weight_decay=1e-4)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_gets_its_class_and_the_settings_it_takes(name):
    kind = OPTIMIZER_RECORDS[name]
    settings = SETTINGS.replace(name=name, nesterov=kind.nesterov)
    optimizer = make_optimizer(settings, [torch.nn.Parameter(torch.zeros(3))])
    assert type(optimizer) is getattr(torch.optim, kind.torch_class)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (3e-3, 1e-4)
    if kind.betas:
        assert group["betas"] == (0.3, 0.95)
    if kind.momentum:
        assert group["momentum"] == 0.7
    if kind.nesterov:
        assert group["nesterov"] is True


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_state_slots_are_the_tensors_kept_per_parameter(name):
    weight = torch.nn.Parameter(torch.randn(4, 5))
    optimizer = make_optimizer(SETTINGS.replace(name=name), [weight])
    weight.grad = torch.randn(4, 5)
    optimizer.step()
    kept = [v for v in optimizer.state[weight].values() if isinstance(v, torch.Tensor) and v.shape == weight.shape]
    assert len(kept) == OPTIMIZER_RECORDS[name].state_slots
