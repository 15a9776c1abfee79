import pytest
import torch

from ganforge import registry
from ganforge.testing import check_architecture, check_loss
from ganforge_wgan_gp import functional as F
from ganforge_wgan_gp.critic import WGANCritic
from ganforge_wgan_gp.loss import WassersteinGP

SMALL = {"ngf": 4, "ndf": 4}


def test_loss_passes_the_conformance_kit():
    check_loss(WassersteinGP)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_critic_passes_the_conformance_kit(layer_norm):
    check_architecture(WGANCritic, options={**SMALL, "layer_norm": layer_norm}, batch_size=2)


def test_entry_points_name_this_distribution():
    for kind, name, cls in (("loss", "wgan-gp", WassersteinGP), ("architecture", "wgan-critic", WGANCritic)):
        found = registry.find(kind).get(name)
        assert found.distribution == "ganforge-wgan-gp"
        assert type(found.load().obj) is cls


def test_defaults_follow_the_paper():
    assert WassersteinGP.penalty_weight == 10
    assert WassersteinGP.defaults == {"d_steps": 5, "g_lr": 1e-4, "d_lr": 1e-4,
                                      "g_betas": (0.0, 0.9), "d_betas": (0.0, 0.9)}
    assert WGANCritic.defaults["loss"] == "wgan-gp"


def test_critic_has_no_batch_norm():
    critic = WGANCritic().build_discriminator(_spec(32))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())


def test_interpolation_uses_one_factor_per_sample():
    rng = torch.Generator().manual_seed(1)
    # Real and fake far apart, so that recovering the factor by division is exact to float precision.
    real, fake = 2 + torch.rand(6, 3, 8, 8, generator=rng), -2 - torch.rand(6, 3, 8, 8, generator=rng)
    x_hat = F.interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = (x_hat - fake) / (real - fake)
    per_sample = eps.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4)
    assert per_sample[:, 0].min() >= 0 and per_sample[:, 0].max() <= 1
    assert per_sample[:, 0].std() > 0  # factors differ between samples


def test_penalty_of_a_linear_critic_is_known():
    # D(x) = <w, x> has gradient w everywhere: the penalty is (||w|| - 1)^2.
    w = torch.randn(2, 3, 3)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    penalty = F.gradient_penalty(critic, torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3))
    assert torch.allclose(penalty, (w.norm() - 1) ** 2)


def test_discriminator_loss_adds_ten_times_the_penalty():
    from ganforge.interfaces import DiscriminatorBatch

    critic = WGANCritic().build_discriminator(_spec(28))
    real, fake = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 1, 28, 28) * 2 - 1
    batch = DiscriminatorBatch(real, fake, critic(real), critic(fake), None, critic)
    torch.manual_seed(1)
    result = WassersteinGP().discriminator_loss(batch)
    torch.manual_seed(1)
    penalty = F.gradient_penalty(critic, real, fake)
    assert torch.allclose(result["gradient_penalty"], penalty)
    assert torch.allclose(result["loss"], result["wasserstein"] + 10 * penalty)
    assert torch.allclose(result["wasserstein"], critic(fake).mean() - critic(real).mean())


def _spec(size):
    from ganforge.interfaces import ModelSpec
    from ganforge.options import resolve_options

    return ModelSpec((1, size, size), latent_dim=8, options=resolve_options(WGANCritic.options, SMALL, "WGANCritic"))
