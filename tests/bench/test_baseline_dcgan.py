"""The plain-PyTorch baseline is the script it claims to be: its networks, its init, and one
iteration whose losses and updates match a hand computation (BCE from the logits, Adam's
first step), with the G update on the D update's fake images through the updated D."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ganforge.bench.baseline_dcgan import BaselineDCGAN, Discriminator, Generator, doublings

LR = 2e-4
EPS = 1e-8


def test_dcgan64_networks_have_the_scripts_layers():
    g, d = Generator(100, 64, 3, 64), Discriminator(64, 3, 64)
    convs = [(m.in_channels, m.out_channels, m.stride[0], m.padding[0], m.bias is None)
             for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert convs == [(100, 512, 1, 0, True), (512, 256, 2, 1, True), (256, 128, 2, 1, True),
                     (128, 64, 2, 1, True), (64, 3, 2, 1, True)]
    convs = [(m.in_channels, m.out_channels, m.stride[0], m.padding[0], m.bias is None)
             for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(3, 64, 2, 1, True), (64, 128, 2, 1, True), (128, 256, 2, 1, True),
                     (256, 512, 2, 1, True), (512, 1, 1, 0, True)]
    assert [type(m) for m in g.main][-1] is nn.Tanh and [type(m) for m in d.main][-1] is nn.Sigmoid
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3
    assert {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)} == {0.2}
    z = torch.randn(2, 100, 1, 1)
    assert g(z).shape == (2, 3, 64, 64) and d(g(z)).shape == (2,)


def test_image_sizes_the_layout_cannot_make_are_rejected():
    assert doublings(32) == 3 and doublings(128) == 5
    for size in (28, 48, 8):
        with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
            doublings(size)


def test_init_and_optimizers_follow_the_script():
    torch.manual_seed(0)
    model = BaselineDCGAN(ngf=16, ndf=16, nc=1, image_size=32)
    for net in (model.generator, model.discriminator):
        conv_weights = torch.cat([m.weight.flatten() for m in net.modules()
                                  if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
        bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
        bn_weights = torch.cat([m.weight for m in bns])
        assert abs(conv_weights.mean()) < 2e-3 and abs(conv_weights.std() - 0.02) < 1e-3
        assert abs(bn_weights.mean() - 1) < 0.01 and 0.01 < bn_weights.std() < 0.03
        assert all(torch.all(m.bias == 0) for m in bns)
    for opt in (model.d_optimizer, model.g_optimizer):
        assert isinstance(opt, torch.optim.Adam)
        group = opt.param_groups[0]
        assert group["lr"] == LR and group["betas"] == (0.5, 0.999)


def _bce_real(p):  # BCE against label 1, from probabilities
    return -torch.log(p).mean()


def _bce_fake(p):  # BCE against label 0
    return -torch.log1p(-p).mean()


def _adam_first_step(params, loss):
    """Adam's first update from zero state: p - lr * g / (|g| + eps) (bias corrections cancel)."""
    grads = torch.autograd.grad(loss, params)
    return [p.detach() - LR * g / (g.abs() + EPS) for p, g in zip(params, grads)]


def test_one_iteration_matches_a_hand_computation():
    torch.manual_seed(1)
    model = BaselineDCGAN(nz=8, ngf=8, ndf=8, nc=1, image_size=16)
    real = torch.rand(6, 1, 16, 16) * 2 - 1
    noise = torch.randn(6, 8)
    G0, D0 = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)

    # D's loss and update, by hand on copies of the networks before the iteration.
    fake0 = G0(noise.view(6, 8, 1, 1))
    d_loss = _bce_real(D0(real)) + _bce_fake(D0(fake0.detach()))
    d_expected = _adam_first_step(list(D0.parameters()), d_loss)

    d_got, g_got = model.iteration(real, noise)

    torch.testing.assert_close(d_got, d_loss.detach(), rtol=1e-5, atol=1e-6)
    for p, want in zip(model.discriminator.parameters(), d_expected):
        torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-7)

    # G's loss: the same fake images (G before its update) through the updated D.
    D1 = copy.deepcopy(model.discriminator)
    g_loss = _bce_real(D1(fake0))
    g_expected = _adam_first_step(list(G0.parameters()), g_loss)
    torch.testing.assert_close(g_got, g_loss.detach(), rtol=1e-5, atol=1e-6)
    for p, want in zip(model.generator.parameters(), g_expected):
        torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-7)


def test_losses_are_bce_of_the_logits():
    """BCELoss on sigmoid outputs equals softplus on the logits (ganforge's form)."""
    torch.manual_seed(2)
    model = BaselineDCGAN(nz=8, ngf=8, ndf=8, nc=1, image_size=16)
    real, noise = torch.rand(4, 1, 16, 16) * 2 - 1, torch.randn(4, 8)
    D = copy.deepcopy(model.discriminator)
    logits_of = nn.Sequential(*list(D.main)[:-1])  # D without its Sigmoid
    fake = copy.deepcopy(model.generator)(noise.view(4, 8, 1, 1)).detach()
    want = (nn.functional.softplus(-logits_of(real).flatten()).mean()
            + nn.functional.softplus(logits_of(fake).flatten()).mean())
    got, _ = model.iteration(real, noise)
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-6)
