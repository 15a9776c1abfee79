"""Deliberately broken third-party distributions (real *.dist-info folders on sys.path):
each gives one message naming the distribution and what to fix, and breaks nothing else."""

import pytest
from typer.testing import CliRunner

from ganforge import registry
from ganforge.cli.app import app
from ganforge.errors import FailedToLoadPlugin, InvalidPluginError, PluginClashError
from ganforge.testing import quick_check

ARCH, LOSS = "ganforge.architectures", "ganforge.losses"

TINY_ARCH = """
import torch
from torch import nn
from ganforge.interfaces import Architecture


class G(nn.Module):
    def __init__(self, spec, size):
        super().__init__()
        self.shape = (spec.channels, size, size)
        self.fc = nn.Linear(spec.latent_dim, spec.channels * size * size)

    def forward(self, z, labels=None):
        return torch.tanh(self.fc(z)).view(-1, *self.shape)


class D(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.fc = nn.Linear(spec.channels * spec.image_size ** 2, 1)

    def forward(self, x, labels=None):
        return self.fc(x.flatten(1)).flatten()


class Tiny(Architecture):
    def build_generator(self, spec):
        return G(spec, spec.image_size)

    def build_discriminator(self, spec):
        return D(spec)
"""

BROKEN = {
    # distribution: (kind, plugin name, module name, module source appended to TINY_ARCH, words in the error)
    "bad-import": ("architecture", "needs-dep", "needs_dep_mod", "import a_dependency_nobody_installed\n",
                   ["bad-import 0.3", "failed to load", "ModuleNotFoundError", "a_dependency_nobody_installed"]),
    "missing-method": ("architecture", "half-done", "half_done_mod",
                       "class Broken(Architecture):\n    def build_generator(self, spec):\n        return None\n",
                       ["missing-method 0.3", "missing method(s) build_discriminator"]),
    "bad-signature": ("loss", "two-args", "two_args_mod",
                      "from ganforge.interfaces import Loss\n"
                      "class Broken(Loss):\n"
                      "    def discriminator_loss(self, batch, extra):\n        return 0\n"
                      "    def generator_loss(self, batch):\n        return 0\n",
                      ["bad-signature 0.3", "discriminator_loss must take exactly one argument",
                       "(batch, extra)"]),
    "future-plugin": ("architecture", "from-the-future", "future_mod",
                      "class Broken(Tiny):\n    interface_version = 99\n",
                      ["future-plugin 0.3", "interface version 99", "upgrade ganforge"]),
    "not-a-class": ("loss", "a-function", "a_function_mod", "def Broken(batch):\n    return 0\n",
                    ["not-a-class 0.3", "must name a class that subclasses ganforge.interfaces.Loss"]),
}


def install_broken(make_distribution, *names):
    for dist in names:
        kind, plugin, module, source, _ = BROKEN[dist]
        group = ARCH if kind == "architecture" else LOSS
        make_distribution(dist, {group: {plugin: f"{module}:Broken"}}, {module: TINY_ARCH + source}, "0.3")


@pytest.mark.parametrize("dist", sorted(BROKEN))
def test_broken_plugin_error_names_distribution_and_fix(make_distribution, dist):
    install_broken(make_distribution, dist)
    kind, plugin, _, _, words = BROKEN[dist]
    expected = FailedToLoadPlugin if dist == "bad-import" else InvalidPluginError
    with pytest.raises(expected) as info:
        registry.load(kind, plugin)
    message = str(info.value)
    assert f"'{plugin}'" in message and "\n" not in message
    for word in words:
        assert word in message
    # Nothing else is affected: finding still works and other plugins load.
    assert registry.load_architecture("dcgan") is not None
    assert registry.load_loss("nonsaturating") is not None


def test_wrong_output_shape_is_caught_by_quick_check(make_distribution):
    source = "class Broken(Tiny):\n    def build_generator(self, spec):\n        return G(spec, spec.image_size + 4)\n"
    make_distribution("wrong-shape", {ARCH: {"too-big": "too_big_mod:Broken"}}, {"too_big_mod": TINY_ARCH + source})
    arch = registry.load_architecture("too-big")  # it loads: the interface is kept, the contract is not
    failure = quick_check("architecture", arch)
    assert failure == ("outputs: generator (train mode) at 28x28x1 returned shape (2, 1, 32, 32), "
                       "expected (2, 1, 28, 28) (N, C, H, W)")


def test_clash_between_two_third_parties_names_both(make_distribution):
    make_distribution("clash-one", {LOSS: {"shared-name": "clash_one_mod:Broken"}}, version="1.1")
    make_distribution("clash-two", {LOSS: {"shared-name": "clash_two_mod:Broken"}}, version="2.2")
    with pytest.raises(PluginClashError) as info:
        registry.load_loss("shared-name")
    message = str(info.value)
    assert "clash-one 1.1" in message and "clash-two 2.2" in message and "uninstall one" in message
    assert "shared-name" in registry.find("loss").names()
    assert registry.load_loss("lsgan") is not None


@pytest.fixture
def everything_broken(make_distribution):
    install_broken(make_distribution, *BROKEN)
    make_distribution("wrong-shape", {ARCH: {"too-big": "too_big2_mod:Broken"}},
                      {"too_big2_mod": TINY_ARCH + "class Broken(Tiny):\n    def build_generator(self, spec):\n"
                                                   "        return G(spec, 3)\n"})
    make_distribution("clash-one", {LOSS: {"shared-name": "x:Y"}})
    make_distribution("clash-two", {LOSS: {"shared-name": "x:Y"}})


def invoke(*args):
    # A wide terminal, so that rich does not wrap the table's messages.
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "1000"})


def test_commands_that_do_not_use_them_still_work(everything_broken, tmp_path):
    result = invoke("train", "gan", "--steps", "1", "--batch-size", "16", "--device", "cpu",
                    "-O", "g_hidden=16", "-O", "d_hidden=16", "--runs-dir", tmp_path)
    assert result.exit_code == 0, result.output
    listing = invoke("plugins")
    assert listing.exit_code == 0, listing.output
    for dist in ("bad-import", "missing-method", "bad-signature", "future-plugin", "not-a-class", "clash-one"):
        assert dist in listing.stdout
    assert "ganforge-wgan-gp" in listing.stdout


@pytest.mark.parametrize("plugin, dist", [("needs-dep", "bad-import"), ("half-done", "missing-method"),
                                          ("from-the-future", "future-plugin")])
def test_training_a_broken_architecture_is_one_line_error(everything_broken, tmp_path, plugin, dist):
    result = invoke("train", plugin, "--steps", "1", "--runs-dir", tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"{dist} 0.3" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_training_an_architecture_with_the_wrong_output_shape_is_one_line_error(everything_broken, tmp_path):
    result = invoke("train", "too-big", "--steps", "1", "--runs-dir", tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "wrong-shape" in lines[0]
    assert "the generator returned shape (2, 1, 3, 3), expected (2, 1, 28, 28)" in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("loss, words", [("two-args", "bad-signature 0.3"), ("a-function", "not-a-class 0.3"),
                                         ("shared-name", "clash-one")])
def test_training_with_a_broken_loss_is_one_line_error(everything_broken, tmp_path, loss, words):
    result = invoke("train", "gan", "--loss", loss, "--steps", "1", "--runs-dir", tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]


def test_plugins_check_fails_only_the_broken(everything_broken):
    result = invoke("plugins", "--check")
    assert result.exit_code == 1
    # Not a terminal: plain text, one line per plugin, a header and a rule under the title.
    lines = result.stdout.splitlines()
    assert lines[0] == "ganforge plugins" and lines[1].split() == ["name", "kind", "distribution", "version",
                                                                  "description", "status"]
    rows = {line.split()[0]: line for line in lines[3:] if line.strip()}
    assert "check failed: outputs: generator" in rows["too-big"] and "wrong-shape" in rows["too-big"]
    for name in ("dcgan", "gan", "cgan", "nonsaturating", "wgan-gp", "sngan", "hinge"):
        assert "ok, checks passed" in rows[name], rows[name]
    for name in ("needs-dep", "half-done", "from-the-future", "two-args", "a-function"):
        assert "error:" in rows[name]
