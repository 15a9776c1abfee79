"""The conformance kit over every registered plugin: built-ins and whatever is installed."""

import pytest

from ganforge import registry
from ganforge.testing import check_architecture, check_loss, quick_check

# Keep the full checks fast: the built-ins' width options, shrunk.
SMALL_BUILTIN_OPTIONS = {
    "gan": {"g_hidden": "16,16", "d_hidden": "16"},
    "dcgan": {"ngf": 4, "ndf": 4},
    "cgan": {"ngf": 4, "ndf": 4},
}


def _names(kind):
    registry.clear_cache()
    return registry.find(kind).names()


@pytest.mark.parametrize("name", _names("architecture"))
def test_quick_check_passes_for_every_architecture(name):
    arch = registry.load_architecture(name)
    assert quick_check("architecture", arch) is None


@pytest.mark.parametrize("name", _names("loss"))
def test_every_loss_passes_the_full_kit(name):
    loss = registry.load_loss(name)
    check_loss(loss)
    assert quick_check("loss", loss) is None


@pytest.mark.parametrize("name", sorted(SMALL_BUILTIN_OPTIONS))
def test_builtin_architectures_pass_the_full_kit(name):
    assert registry.find("architecture").get(name).builtin
    check_architecture(registry.load_architecture(name), options=SMALL_BUILTIN_OPTIONS[name], batch_size=2)


def test_both_plugin_packages_are_installed():
    """The test command installs plugins/ganforge-wgan-gp and plugins/ganforge-sngan."""
    archs, losses = registry.find("architecture"), registry.find("loss")
    provided = {(n, archs.get(n).distribution) for n in ("wgan-critic", "sngan") if n in archs.plugins}
    provided |= {(n, losses.get(n).distribution) for n in ("wgan-gp", "hinge") if n in losses.plugins}
    assert provided == {("wgan-critic", "ganforge-wgan-gp"), ("wgan-gp", "ganforge-wgan-gp"),
                        ("sngan", "ganforge-sngan"), ("hinge", "ganforge-sngan")}, (
        "install them: python -m pip install --no-build-isolation -e ./plugins/ganforge-wgan-gp "
        "./plugins/ganforge-sngan")
