"""The kit must fail, with the right check named, for each way a plugin can break the contract."""

import pytest
import torch
from torch import nn

from ganforge.interfaces import Architecture, Loss, UnsupportedImageShape
from ganforge.testing import ConformanceError, check_architecture, check_loss, quick_check


class TinyG(nn.Module):
    def __init__(self, spec, out_size=None, scale=1.0):
        super().__init__()
        c, h, w = spec.image_shape
        self.shape = (c, out_size or h, out_size or w)
        self.fc = nn.Linear(spec.latent_dim + (spec.num_classes or 0), c * self.shape[1] * self.shape[2])
        self.num_classes = spec.num_classes or 0
        self.scale = scale

    def forward(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, nn.functional.one_hot(labels, self.num_classes).float()], 1)
        return self.scale * torch.tanh(self.fc(z)).view(-1, *self.shape)


class TinyD(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.fc = nn.Linear(spec.image_shape[0] * spec.image_size**2, 1)

    def forward(self, x, labels=None):
        return self.fc(x.flatten(1)).flatten()


class Tiny(Architecture):
    image_sizes = (8,)
    channels = (1,)

    def build_generator(self, spec):
        return TinyG(spec)

    def build_discriminator(self, spec):
        return TinyD(spec)


def test_a_correct_tiny_architecture_passes():
    check_architecture(Tiny)
    assert quick_check("architecture", Tiny()) is None


class WrongShape(Tiny):
    def build_generator(self, spec):
        return TinyG(spec, out_size=spec.image_size * 2)


class OutOfRange(Tiny):
    def build_generator(self, spec):
        return TinyG(spec, scale=3.0)


class LogitsNot1D(Tiny):
    def build_discriminator(self, spec):
        class D(TinyD):
            def forward(self, x, labels=None):
                return self.fc(x.flatten(1))  # (N, 1), not (N,)
        return D(spec)


class UnusedParameter(Tiny):
    def build_discriminator(self, spec):
        d = TinyD(spec)
        d.spare = nn.Linear(2, 2)
        return d


class NotSeeded(Tiny):
    def build_generator(self, spec):
        g = TinyG(spec)
        with torch.no_grad():
            g.fc.bias.copy_(torch.from_numpy(__import__("numpy").random.rand(g.fc.bias.numel())).float())
        return g


class StateOutsideStateDict(Tiny):
    def build_generator(self, spec):
        class G(TinyG):
            def __init__(self, spec):
                super().__init__(spec)
                self.shift = torch.randn(1).item() * 0.1  # a plain attribute: not saved

            def forward(self, z, labels=None):
                return super().forward(z + self.shift, labels)
        return G(spec)


class IgnoresLabels(Tiny):
    conditional = True

    def build_generator(self, spec):
        return TinyG(spec.__class__(spec.image_shape, spec.latent_dim, None, spec.options))


class RejectsDeclaredSize(Tiny):
    image_sizes = (8, 12)

    def check_image_shape(self, image_shape):
        super().check_image_shape(image_shape)
        if image_shape[1] == 12:
            raise UnsupportedImageShape("no")


class AcceptsUndeclaredSize(Tiny):
    def check_image_shape(self, image_shape):
        pass


@pytest.mark.parametrize("arch, check, words", [
    (WrongShape, "outputs", "expected (4, 1, 8, 8)"),
    (OutOfRange, "outputs", "[-1, 1]"),
    (LogitsNot1D, "outputs", "expected (4,)"),
    (UnusedParameter, "gradients", "spare.weight"),
    (NotSeeded, "determinism", "fc.bias"),
    (StateOutsideStateDict, "state_dict", "different outputs"),
    (IgnoresLabels, "outputs", "ignores its labels"),
    (RejectsDeclaredSize, "check_image_shape", "rejects 12x12x1"),
    (AcceptsUndeclaredSize, "check_image_shape", "accepts size 9"),
])
def test_broken_architectures_are_caught(arch, check, words):
    with pytest.raises(ConformanceError) as info:
        check_architecture(arch)
    assert str(info.value).startswith(check + ":")
    assert words in str(info.value)
    line = quick_check("architecture", arch())
    assert line is not None and "\n" not in line


class BadDefaults(Tiny):
    defaults = {"learning_rate": 0.1}


class MissingMethod(Architecture):
    def build_generator(self, spec):
        return TinyG(spec)


def test_interface_and_declaration_errors_are_conformance_errors():
    with pytest.raises(ConformanceError, match="^declarations: .*unknown training option.*learning_rate"):
        check_architecture(BadDefaults)
    with pytest.raises(ConformanceError, match="^interface: .*missing method.*build_discriminator"):
        check_architecture(MissingMethod)


def test_unknown_option_override_is_reported():
    with pytest.raises(ConformanceError, match=r"^options: Tiny has no option width \(options: none\)$"):
        check_architecture(Tiny, options={"width": 3})


def test_kit_restores_rng_state_and_threads():
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    check_architecture(Tiny)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


class GoodLoss(Loss):
    def discriminator_loss(self, batch):
        return nn.functional.softplus(-batch.real_logits).mean() + nn.functional.softplus(batch.fake_logits).mean()

    def generator_loss(self, batch):
        return nn.functional.softplus(-batch.fake_logits).mean()


class FlippedD(GoodLoss):
    def discriminator_loss(self, batch):
        return -super().discriminator_loss(batch)


class FlippedG(GoodLoss):
    def generator_loss(self, batch):
        return batch.fake_logits.mean()


class NotScalar(GoodLoss):
    def discriminator_loss(self, batch):
        return nn.functional.softplus(-batch.real_logits)


class Detached(GoodLoss):
    def generator_loss(self, batch):
        return super().generator_loss(batch).detach()


class NaN(GoodLoss):
    def discriminator_loss(self, batch):
        return {"loss": super().discriminator_loss(batch), "penalty": torch.tensor(float("nan"))}


class NoLossEntry(GoodLoss):
    def discriminator_loss(self, batch):
        return {"total": super().discriminator_loss(batch)}


class Unseeded(GoodLoss):
    def discriminator_loss(self, batch):
        import random
        return super().discriminator_loss(batch) * (1 + random.random())


def test_a_correct_loss_passes():
    check_loss(GoodLoss)


@pytest.mark.parametrize("loss, words", [
    (FlippedD, "sign convention: discriminator_loss"),
    (FlippedG, "sign convention: generator_loss"),
    (NotScalar, "must be a scalar tensor"),
    (Detached, "does not depend on the generated images"),
    (NaN, "'penalty' is not finite"),
    (NoLossEntry, "without a 'loss' entry"),
    (Unseeded, "determinism"),
])
def test_broken_losses_are_caught(loss, words):
    with pytest.raises(ConformanceError) as info:
        check_loss(loss)
    assert words in str(info.value)
    assert words in quick_check("loss", loss())


def test_a_broken_training_loss_is_reported_as_the_losss_problem():
    with pytest.raises(ConformanceError) as info:
        check_architecture(Tiny, loss=NoLossEntry)
    assert str(info.value) == ("loss: the loss given for training, loss NoLossEntry, fails its checks: "
                               "discriminator_loss: a loss returned a mapping without a 'loss' entry (keys: total); "
                               "return {'loss': total, ...}")
    with pytest.raises(ConformanceError, match=r"^loss: the loss named for training: unknown loss 'no-such-loss'"):
        check_architecture(Tiny, loss="no-such-loss")
