"""The update step: one training iteration, ``d_steps`` discriminator updates then ``g_steps``
generator updates. Pure: no file I/O, no host synchronisation; it returns its metrics as
tensors on the device. It knows the plugin interfaces only, never which architecture or loss
it runs.

Speed settings are properties of the step: the generator update may reuse the last
discriminator update's fake images (as the plain PyTorch DCGAN script does), the networks may
run in channels_last (set up by ``build_run``), under autocast (bf16/fp16, with a gradient
scaler for fp16) and compiled.

With ``--augment`` the discriminator sees every image, real or fake, in both updates through a
differentiable augmentation (``ganforge/augment.py``); the loss batches' ``discriminator``
callable applies it too, so a gradient penalty differentiates D(augment(x)) with respect to x.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
from torch import nn

from ..augment import augmentation
from ..generator_file import sample_latent
from ..interfaces import DiscriminatorBatch, GeneratorBatch, Loss, split_loss

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = {"networks": None, "cudagraphs": "reduce-overhead"}


@dataclass(frozen=True)
class StepSettings:
    batch_size: int = 32
    d_steps: int = 1
    g_steps: int = 1
    latent_dim: int = 100
    latent_prior: str = "normal"
    num_classes: Optional[int] = None
    reuse_fake: bool = True
    channels_last: bool = False
    precision: str = "fp32"
    compile: str = "none"
    augment: str = "none"
    loss_name: str = "the loss"

    @classmethod
    def from_config(cls, config, num_classes: Optional[int], device: torch.device) -> "StepSettings":
        return cls(batch_size=config.batch_size, d_steps=config.d_steps, g_steps=config.g_steps, latent_dim=config.latent_dim,
                   latent_prior=config.latent_prior, num_classes=num_classes, reuse_fake=config.reuse_fake,
                   channels_last=use_channels_last(config.channels_last, device), precision=config.precision,
                   compile=config.compile,
                   augment=config.augment, loss_name=f"loss '{config.loss}'")


Batches = Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]


def use_channels_last(requested: Optional[bool], device: torch.device) -> bool:
    """``--channels-last`` when given; unset, on for the CPU (faster there: benchmarks/RESULTS.md)
    and off elsewhere, where nobody has measured it yet."""
    return device.type == "cpu" if requested is None else bool(requested)


class UpdateStep:
    """``step(batches, index)`` runs one iteration and returns ``{metric: 0-dim tensor}``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
                 d_optimizer: torch.optim.Optimizer, loss: Loss, settings: StepSettings, device: torch.device,
                 wrap: Optional[Callable[[nn.Module], nn.Module]] = None):
        self.settings = settings
        self.device = device
        self.generator_module, self.discriminator_module = generator, discriminator
        if wrap is None:
            self.G, self.D = _compiled(generator, settings.compile), _compiled(discriminator, settings.compile)
            self.D_in_g_update = self.D
        else:  # e.g. DistributedDataParallel (training/distributed.py)
            self.G, self.D = _compiled(wrap(generator), settings.compile), _compiled(wrap(discriminator), settings.compile)
            # D's weights are frozen in the G update: a wrapper there would wait for their gradients.
            self.D_in_g_update = _compiled(discriminator, settings.compile)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.loss = loss
        self.memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.augment = augmentation(settings.augment)
        fp16 = settings.precision == "fp16"
        self.g_scaler = torch.amp.GradScaler(device.type, enabled=fp16)
        self.d_scaler = torch.amp.GradScaler(device.type, enabled=fp16)

    # -- state kept in checkpoints -------------------------------------------------------
    def state_dict(self) -> dict:
        return {"g_scaler": self.g_scaler.state_dict(), "d_scaler": self.d_scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for name in ("g_scaler", "d_scaler"):
            if state.get(name):
                getattr(self, name).load_state_dict(state[name])

    # -- one iteration ---------------------------------------------------------------------
    def __call__(self, batches: Batches, step: int) -> dict[str, torch.Tensor]:
        s = self.settings
        self.generator_module.train()
        self.discriminator_module.train()
        metrics: dict[str, torch.Tensor] = {}
        fake = labels = None
        for i in range(s.d_steps):
            keep = s.reuse_fake and i == s.d_steps - 1
            values, fake, labels = self.discriminator_update(*next(batches), step, keep_fake=keep)
            _accumulate(metrics, values, 1 / s.d_steps)
        for i in range(s.g_steps):
            reused = (fake, labels) if i == 0 and fake is not None else (None, None)
            _accumulate(metrics, self.generator_update(*reused, step=step), 1 / s.g_steps)
        return metrics

    def discriminator_update(self, real: torch.Tensor, labels: Optional[torch.Tensor], step: int,
                             keep_fake: bool = False):
        """One D update. With ``keep_fake`` the fake images keep their graph to G, for the G update
        to reuse; returns (metrics, fake or None, labels)."""
        G, D = self.G, self.D
        labels = labels if self.settings.num_classes else None
        real = real.contiguous(memory_format=self.memory_format)
        z = self._latent(real.shape[0])
        with self._autocast():
            if keep_fake:
                fake_for_g = G(z, labels)
                fake = fake_for_g.detach()
            else:
                with torch.no_grad():
                    fake = G(z, labels)
                fake_for_g = None
            seen = self._seen_by_d(D, labels)
            real_logits, fake_logits = seen(real), seen(fake)
            batch = DiscriminatorBatch(real, fake, real_logits, fake_logits, labels, seen, step)
            loss, terms = split_loss(self.loss.discriminator_loss(batch), self.settings.loss_name)
        self._optimize(loss, self.d_optimizer, self.d_scaler)
        with torch.no_grad():
            watched = self.loss.discriminator_metrics(batch)
        out = {"d_loss": loss.detach()}
        out.update({f"d_{k}": v.detach() for k, v in terms.items()})
        out.update({f"d_{k}": v.detach() for k, v in watched.items()})
        return out, fake_for_g, labels

    def generator_update(self, fake: Optional[torch.Tensor] = None, labels: Optional[torch.Tensor] = None, *,
                         step: int) -> dict[str, torch.Tensor]:
        """One G update, on ``fake`` (images still attached to G's graph) or on new ones."""
        G, D = self.G, self.D_in_g_update
        with _frozen(self.discriminator_module), self._autocast():
            if fake is None:
                labels = self._random_labels(self.settings.batch_size)
                fake = G(self._latent(self.settings.batch_size), labels)
            seen = self._seen_by_d(D, labels)
            fake_logits = seen(fake)
            batch = GeneratorBatch(fake, fake_logits, labels, seen, step)
            loss, terms = split_loss(self.loss.generator_loss(batch), self.settings.loss_name)
            self._optimize(loss, self.g_optimizer, self.g_scaler)
        out = {"g_loss": loss.detach()}
        out.update({f"g_{k}": v.detach() for k, v in terms.items()})
        return out

    # -- pieces ----------------------------------------------------------------------------
    def _seen_by_d(self, D, labels: Optional[torch.Tensor]):
        """D as the losses see it: through the augmentation when one is on (a fresh random draw
        per call, also for the batches' ``discriminator`` used by gradient penalties)."""
        if self.augment is None:
            return lambda x: D(x, labels)
        augment, memory_format = self.augment, self.memory_format
        return lambda x: D(augment(x).contiguous(memory_format=memory_format), labels)

    def _optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler) -> None:
        optimizer.zero_grad(set_to_none=True)
        if scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def _autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.settings.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _latent(self, n: int) -> torch.Tensor:
        s = self.settings
        return sample_latent(n, s.latent_dim, s.latent_prior, device=self.device)

    def _random_labels(self, n: int) -> Optional[torch.Tensor]:
        classes = self.settings.num_classes
        return torch.randint(classes, (n,), device=self.device) if classes else None


def _accumulate(into: dict[str, torch.Tensor], values: dict[str, torch.Tensor], weight: float) -> None:
    for key, value in values.items():
        value = value.float() * weight
        into[key] = into[key] + value if key in into else value


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """The G update needs gradients through D, not of D's weights."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


def _compiled(module: nn.Module, how: str):
    if how == "none":
        return module
    return torch.compile(module, mode=COMPILE_MODES[how])
