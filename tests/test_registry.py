import subprocess
import sys

import pytest

from ganforge import registry
from ganforge.errors import FailedToLoadPlugin, PluginClashError, UnknownPluginError

ARCH = "ganforge.architectures"
LOSS = "ganforge.losses"

GOOD_LOSS = """
from ganforge.interfaces import Loss
from ganforge.losses import functional as F

class Hinge(Loss):
    def discriminator_loss(self, batch):
        return (1 - batch.real_logits).relu().mean() + (1 + batch.fake_logits).relu().mean()

    def generator_loss(self, batch):
        return -batch.fake_logits.mean()
"""


def test_builtins_are_found_through_entry_points():
    archs, losses = registry.find("architecture"), registry.find("loss")
    assert {"gan", "dcgan", "cgan"} <= set(archs.names())
    assert {"minimax", "nonsaturating", "lsgan"} <= set(losses.names())
    assert archs.get("dcgan").distribution == "ganforge"
    assert archs.get("dcgan").builtin


def test_finding_imports_no_plugin():
    code = ("import sys; from ganforge import registry; registry.find('architecture'); registry.find('loss'); "
            "print(sorted(m for m in sys.modules if m.startswith('ganforge.models') or m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_third_party_plugin_is_found_and_loaded(make_distribution):
    make_distribution("hinge-plugin", {LOSS: {"my-hinge": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS}, "2.3")
    found = registry.find("loss").get("my-hinge")
    assert (found.distribution, found.version, found.builtin) == ("hinge-plugin", "2.3", False)
    assert type(registry.load_loss("my-hinge")).__name__ == "Hinge"


def test_broken_plugin_reports_distribution_and_error_only_when_requested(make_distribution):
    make_distribution("broken-plugin", {LOSS: {"broken": "broken_mod:Loss"}},
                      {"broken_mod": "import a_module_that_does_not_exist\n"}, "0.1")
    assert registry.load_loss("lsgan") is not None  # other plugins are unaffected
    with pytest.raises(FailedToLoadPlugin) as info:
        registry.load_loss("broken")
    message = str(info.value)
    assert "broken-plugin 0.1" in message and "a_module_that_does_not_exist" in message
    assert isinstance(info.value.original, ModuleNotFoundError)


def test_clash_between_third_parties_names_both(make_distribution):
    make_distribution("first-dist", {LOSS: {"same": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS})
    make_distribution("second-dist", {LOSS: {"same": "hinge_mod:Hinge"}})
    with pytest.raises(PluginClashError) as info:
        registry.load_loss("same")
    assert "first-dist" in str(info.value) and "second-dist" in str(info.value)
    assert registry.load_loss("nonsaturating") is not None


def test_builtin_wins_a_clash(make_distribution):
    make_distribution("impostor", {ARCH: {"dcgan": "nowhere:Nothing"}})
    index = registry.find("architecture")
    assert index.get("dcgan").distribution == "ganforge"
    assert [p.distribution for p in index.shadowed] == ["impostor"]


def test_autoload_can_be_disabled(make_distribution, monkeypatch):
    make_distribution("hinge-plugin", {LOSS: {"my-hinge": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS})
    monkeypatch.setenv("GANFORGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry.clear_cache()
    index = registry.find("loss")
    assert "my-hinge" not in index.names()
    assert "nonsaturating" in index.names()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownPluginError, match="did you mean 'dcgan'"):
        registry.load_architecture("dcgna")
