import pytest
import torch

from ganforge import registry
from ganforge.errors import GanforgeError
from ganforge.interfaces import ModelSpec
from ganforge.models.dcgan import resolution_plan
from ganforge.training.setup.assemble import resolve_arch_options


def build(arch_name, image_shape, num_classes=None, **options):
    arch = registry.load_architecture(arch_name)
    spec = ModelSpec(image_shape, latent_dim=16, num_classes=num_classes,
                     options=resolve_arch_options(arch, options, arch_name))
    return arch.build_generator(spec), arch.build_discriminator(spec)


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_makes_every_declared_size(size, channels):
    G, D = build("dcgan", (channels, size, size), ngf="4", ndf="4")
    x = G(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)


def test_dcgan_follows_the_paper():
    G, D = build("dcgan", (1, 64, 64), ngf="8", ndf="8")
    g_layers = [type(m).__name__ for m in G.modules()]
    assert "BatchNorm2d" in g_layers and "Tanh" in g_layers
    assert not any(name in g_layers for name in ("MaxPool2d", "Upsample", "AvgPool2d"))
    assert type(G.to_image[0]).__name__ == "ConvTranspose2d"  # no batch norm on the output layer
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, torch.nn.LeakyReLU))
    _, D_bn = build("dcgan", (1, 64, 64), ngf="8", ndf="8", d_batchnorm="true")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in D_bn.modules())


def test_dcgan_upsampling_blocks_have_sequential_state_dict_keys():
    G, _ = build("dcgan", (1, 32, 32), ngf="4")
    keys = [k for k in G.state_dict() if k.startswith("blocks.1.")]
    assert keys == ["blocks.1.0.weight", "blocks.1.1.weight", "blocks.1.1.bias", "blocks.1.1.running_mean",
                    "blocks.1.1.running_var", "blocks.1.1.num_batches_tracked"]


def test_dcgan_init_is_n_0_002():
    G, D = build("dcgan", (1, 64, 64), ngf="32", ndf="32")
    w = G.blocks[1][0].weight
    assert abs(w.mean().item()) < 2e-3 and abs(w.std().item() - 0.02) < 2e-3


@pytest.mark.parametrize("size", [20, 48, 100])
def test_dcgan_rejects_sizes_it_cannot_make(size):
    arch = registry.load_architecture("dcgan")
    with pytest.raises(GanforgeError, match="28, 32, 64 or 128"):
        arch.check_image_shape((1, size, size))
    with pytest.raises(ValueError):
        resolution_plan(size)


@pytest.mark.parametrize("conditioning", ["projection", "plane"])
def test_cgan_conditions_both_networks(conditioning):
    G, D = build("cgan", (1, 28, 28), num_classes=10, ngf="4", ndf="4", conditioning=conditioning)
    z = torch.randn(1, 16).expand(2, 16)
    x = G(z, torch.tensor([3, 7]))
    assert not torch.allclose(x[0], x[1])  # the same z with another label draws another image
    same = x[:1].expand(2, -1, -1, -1)
    logits = D(same, torch.tensor([3, 7]))
    assert logits.shape == (2,) and logits[0] != logits[1]


def test_cgan_projection_adds_the_class_map_inner_product_to_the_unconditional_logit():
    _, D = build("cgan", (1, 28, 28), num_classes=10, ndf="4")
    x, labels = torch.randn(5, 1, 28, 28), torch.tensor([0, 3, 3, 9, 1])
    features = D.net[:-1](x)
    expected = D.net[-1](features).flatten() + torch.einsum("bchw,bchw->b", D.class_maps(labels).view_as(features), features)
    torch.testing.assert_close(D(x, labels), expected)
    assert D.class_maps.weight.std().item() == pytest.approx(0.02, rel=0.2)  # the DCGAN init, not N(0, 1)


def test_mlp_gan():
    G, D = build("gan", (3, 32, 32), g_hidden="32,64", d_hidden="64")
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    assert any(isinstance(m, torch.nn.Dropout) for m in D.modules())


def test_unknown_and_badly_typed_options_are_clear():
    arch = registry.load_architecture("dcgan")
    with pytest.raises(GanforgeError, match="no option width"):
        resolve_arch_options(arch, {"width": "3"}, "dcgan")
    with pytest.raises(GanforgeError, match="expected int"):
        resolve_arch_options(arch, {"ngf": "wide"}, "dcgan")
