import math

import torch

from ganforge.losses import functional as F


def test_cross_entropy_matches_its_definition():
    real, fake = torch.randn(32), torch.randn(32)
    expected = -(torch.sigmoid(real).log().mean() + (1 - torch.sigmoid(fake)).log().mean())
    torch.testing.assert_close(F.discriminator_cross_entropy(real, fake), expected)


def test_generator_objectives():
    fake = torch.randn(32)
    torch.testing.assert_close(F.generator_minimax(fake), (1 - torch.sigmoid(fake)).log().mean())
    torch.testing.assert_close(F.generator_nonsaturating(fake), -torch.sigmoid(fake).log().mean())
    torch.testing.assert_close(F.generator_least_squares(fake), 0.5 * ((fake - 1) ** 2).mean())


def test_least_squares_discriminator():
    real, fake = torch.randn(16), torch.randn(16)
    expected = 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean())
    torch.testing.assert_close(F.discriminator_least_squares(real, fake), expected)


def test_chance_discriminator_cost_is_log_4():
    zeros = torch.zeros(8)
    assert math.isclose(F.discriminator_cross_entropy(zeros, zeros).item(), math.log(4), rel_tol=1e-6)


def test_saturation_is_what_the_names_say():
    # When D confidently rejects fakes, the minimax G gradient vanishes and the non-saturating one does not.
    fake = torch.full((4,), -8.0, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(F.generator_minimax(fake), fake)
    (g_nonsat,) = torch.autograd.grad(F.generator_nonsaturating(fake), fake)
    assert g_minimax.abs().max() < 1e-3 < g_nonsat.abs().min()
