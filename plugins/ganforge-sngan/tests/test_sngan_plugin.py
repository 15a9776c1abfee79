import pytest
import torch
from torch.nn.utils import parametrize

from ganforge import registry
from ganforge.interfaces import ModelSpec
from ganforge.options import resolve_options
from ganforge.ops import UpsampleBlock
from ganforge.testing import check_architecture, check_loss
from ganforge_sngan import functional as F
from ganforge_sngan.arch import SNGAN
from ganforge_sngan.loss import Hinge

SMALL = {"ngf": 4, "ndf": 4}


def spec(size=32, channels=3):
    options = resolve_options(SNGAN.options, SMALL, "SNGAN")
    return ModelSpec((channels, size, size), latent_dim=8, options=options)


def test_architecture_passes_the_conformance_kit():
    check_architecture(SNGAN, options=SMALL, batch_size=2)


def test_architecture_passes_with_the_reference_upsampling():
    check_architecture(SNGAN, options={**SMALL, "impl": "torch"}, image_sizes=(28,), batch_size=2)


def test_hinge_passes_the_conformance_kit():
    check_loss(Hinge)


def test_entry_points_name_this_distribution():
    for kind, name, cls in (("architecture", "sngan", SNGAN), ("loss", "hinge", Hinge)):
        found = registry.find(kind).get(name)
        assert found.distribution == "ganforge-sngan"
        assert type(found.load().obj) is cls


def test_defaults_select_the_hinge_loss():
    assert SNGAN.defaults["loss"] == "hinge"
    assert SNGAN.defaults["d_betas"] == (0.0, 0.9)


def test_generator_is_built_from_the_core_upsampling_blocks():
    G = SNGAN().build_generator(spec(32))
    blocks = [m for m in G.modules() if isinstance(m, UpsampleBlock)]
    assert len(blocks) == 1 + 3  # 4x4 base, then 8, 16, 32


def test_every_discriminator_weight_is_spectrally_normalised():
    torch.manual_seed(0)
    D = SNGAN().build_discriminator(spec(28, 1))
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    D.train()
    for m in layers:
        for _ in range(200):  # in train mode every access runs one power iteration
            m.weight
    D.eval()
    for m in layers:
        w = m.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, abs=1e-3)


def test_hinge_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # real: max(0, 1-2)=0, max(0, 1-0.5)=0.5 -> 0.25; fake: 0 and 1 -> 0.5
    assert F.discriminator_hinge(real, fake).item() == pytest.approx(0.75)
    assert F.generator_hinge(fake).item() == pytest.approx(1.5)
