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


def test_qualified_name_picks_one_side_of_a_clash(make_distribution):
    make_distribution("first-dist", {LOSS: {"same": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS}, "1.0")
    make_distribution("Second_Dist", {LOSS: {"same": "hinge_mod:Hinge"}}, version="2.0")
    index = registry.find("loss")
    with pytest.raises(PluginClashError) as info:
        index.get("same")
    assert str(info.value) == (
        "loss name 'same' is registered by first-dist 1.0 (hinge_mod:Hinge) and Second_Dist 2.0 (hinge_mod:Hinge); "
        "name one as first-dist:same or Second_Dist:same (e.g. --loss first-dist:same), or uninstall one of them")
    assert index.get("first-dist:same").distribution == "first-dist"
    assert index.get("second-dist:same").distribution == "Second_Dist"  # case and -/_ do not matter
    assert index.name_for(index.get("first-dist:same")) == "first-dist:same"
    assert type(registry.load_loss("first-dist:same")).__name__ == "Hinge"


def test_qualified_name_selects_a_shadowed_plugin_and_builtins(make_distribution):
    make_distribution("impostor", {LOSS: {"lsgan": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS})
    index = registry.find("loss")
    assert index.get("lsgan").builtin and index.name_for(index.get("lsgan")) == "lsgan"
    assert index.get("impostor:lsgan").distribution == "impostor"
    assert index.get("ganforge:lsgan") is index.get("lsgan")


def test_unknown_qualified_names_say_what_exists(make_distribution):
    make_distribution("hinge-plugin", {LOSS: {"my-hinge": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS})
    index = registry.find("loss")
    with pytest.raises(UnknownPluginError, match=r"^unknown loss 'ganforge:my-hinge': ganforge does not register "
                                                 r"'my-hinge' \(registered by hinge-plugin\)$"):
        index.get("ganforge:my-hinge")
    with pytest.raises(UnknownPluginError, match=r"^unknown loss 'hinge-plugin:hing': hinge-plugin registers my-hinge$"):
        index.get("hinge-plugin:hing")
    with pytest.raises(UnknownPluginError, match=r"^unknown loss 'nobody:thing'"):
        index.get("nobody:thing")


class _Arch:
    def __init__(self, defaults):
        self.defaults = defaults


def test_resolve_loss_prefers_the_architectures_own_distribution_for_its_default(make_distribution):
    make_distribution("arch-dist", {LOSS: {"same": "hinge_mod:Hinge", "lsgan": "hinge_mod:Hinge"}},
                      {"hinge_mod": GOOD_LOSS})
    make_distribution("other-dist", {LOSS: {"same": "hinge_mod:Hinge"}})
    own = _Arch({"loss": "same"})
    assert registry.resolve_loss(None, own, "arch-dist").distribution == "arch-dist"
    assert registry.resolve_loss(None, own, "Arch_Dist").distribution == "arch-dist"
    # The default of an architecture from elsewhere is looked up as any name: a clash stays an error.
    with pytest.raises(PluginClashError):
        registry.resolve_loss(None, own, "third-dist")
    # Own distribution first even over a built-in it shadows; a requested name is looked up as given.
    assert registry.resolve_loss(None, _Arch({"loss": "lsgan"}), "arch-dist").distribution == "arch-dist"
    assert registry.resolve_loss("lsgan", _Arch({"loss": "lsgan"}), "arch-dist").builtin
    with pytest.raises(PluginClashError):
        registry.resolve_loss("same", own, "arch-dist")
    assert registry.resolve_loss("other-dist:same", own, "arch-dist").distribution == "other-dist"
    # No default anywhere: nonsaturating.
    assert registry.resolve_loss(None, _Arch({}), None).name == registry.DEFAULT_LOSS == "nonsaturating"
    assert registry.resolve_loss(None, None, None).name == "nonsaturating"


def test_distribution_of_finds_a_class_by_its_entry_point(make_distribution):
    from ganforge.models.dcgan import DCGAN

    make_distribution("hinge-plugin", {LOSS: {"my-hinge": "hinge_mod:Hinge"}}, {"hinge_mod": GOOD_LOSS}, "2.3")
    assert registry.distribution_of("architecture", DCGAN) == "ganforge"
    assert registry.distribution_of("loss", registry.load_loss("my-hinge")) == "hinge-plugin"
    assert registry.distribution_of("loss", _Arch) is None
