"""The update step: one training iteration of a step plugin's phases. Pure: no file I/O, no host
synchronisation; it returns its metrics as tensors on the device. It knows the plugin
interfaces only, never which architecture, loss or step it runs.

The engine owns the service around each phase (``PhaseRunner``): autocast (bf16/fp16), the
phase's gradient scaler (fp16), freezing the networks the phase does not update, the networks
as the phase runs them (wrapped for several processes, compiled, or eager where the phase
takes a double backward), the backward pass scaled by the phase's gain and the optimizer steps.
A phase that runs every N iterations only adds its metrics on those iterations, so the driver
logs its own mean.

With ``--augment`` the discriminators see every image through a differentiable augmentation
(``ganforge/augment.py``) via ``PhaseContext.seen_by``, so a gradient penalty differentiates
D(augment(x)) with respect to x.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterator, Mapping, Optional

import torch
from torch import nn

from ...augment import augmentation
from ...generator_file import sample_latent
from ...interfaces import Batch, Loss, Phase, PhaseContext, Step, StepSpec, split_loss

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = {"networks": None, "cudagraphs": "reduce-overhead"}

Batches = Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]


def use_channels_last(requested: Optional[bool], device: torch.device) -> bool:
    """``--channels-last`` when given; unset, on for the CPU (faster there: benchmarks/RESULTS.md)
    and off elsewhere, where nobody has measured it yet."""
    return device.type == "cpu" if requested is None else bool(requested)


class UpdateStep:
    """``update(batches, index)`` runs one iteration of the step's phases and returns
    ``{metric: 0-dim tensor}``."""

    def __init__(self, step: Step, spec: StepSpec, phases: tuple[Phase, ...], networks: Mapping[str, nn.Module],
                 optimizers: Mapping[str, torch.optim.Optimizer], loss: Loss, device: torch.device,
                 wrap: Optional[Callable[[nn.Module], nn.Module]] = None, where: str = "the step"):
        config = spec.config
        self.step, self.spec, self.phases, self.device = step, spec, phases, device
        self.networks, self.optimizers = dict(networks), dict(optimizers)
        self.memory_format = torch.channels_last if use_channels_last(config.channels_last, device) \
            else torch.contiguous_format
        self.autocast_dtype = AUTOCAST_DTYPES.get(config.precision)
        fp16 = config.precision == "fp16"
        self.scalers = {phase.name: torch.amp.GradScaler(device.type, enabled=fp16) for phase in phases}
        updated = {name for phase in phases for name in phase.updates}
        wrapped = {name: wrap(module) if wrap is not None and name in updated else module
                   for name, module in self.networks.items()}
        compiled = {name: _compiled(module, config.compile) for name, module in wrapped.items()}
        # A frozen network runs as its own module: a DDP wrapper would wait for its weights' gradients.
        frozen_compiled = {name: compiled[name] if wrapped[name] is self.networks[name]
                           else _compiled(self.networks[name], config.compile) for name in self.networks}
        self.runners = {phase.name: PhaseRunner(self, phase, compiled, frozen_compiled, wrapped, where)
                        for phase in phases}
        self.loss = loss
        self.augment = augmentation(config.augment)
        self.batches: Optional[Batches] = None
        self.scratch: dict = {}
        self.state: dict[str, torch.Tensor] = {}  # the step's tensors kept across iterations (checkpointed)

    @classmethod
    def for_run(cls, run, wrap: Optional[Callable[[nn.Module], nn.Module]] = None,
                batch_size: Optional[int] = None) -> "UpdateStep":
        """The update step of an assembled run (``wrap``: e.g. DDP; ``batch_size``: this process's share)."""
        spec = run.step_spec if batch_size is None else dataclasses.replace(run.step_spec, batch_size=batch_size)
        return cls(run.step, spec, run.phases, run.networks, run.optimizers, run.loss, run.device, wrap=wrap,
                   where=run.plugins.step.found.where)

    # -- state kept in checkpoints -------------------------------------------------------
    def state_dict(self) -> dict:
        return {"scalers": {name: scaler.state_dict() for name, scaler in self.scalers.items()},
                "step_state": {key: value.detach().clone() for key, value in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        for name, scaler_state in state.get("scalers", {}).items():
            if scaler_state and name in self.scalers:
                self.scalers[name].load_state_dict(scaler_state)
        self.state = {key: value.to(self.device) for key, value in state.get("step_state", {}).items()}

    # -- one iteration ---------------------------------------------------------------------
    def __call__(self, batches: Batches, step: int) -> dict[str, torch.Tensor]:
        for module in self.networks.values():
            module.train()
        self.batches = batches
        self.scratch = {}
        metrics: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            if not phase.runs_at(step):
                continue
            runner = self.runners[phase.name]
            for repeat in range(phase.repeats):
                _accumulate(metrics, runner.run(step, repeat), 1 / phase.repeats)
        self.scratch = {}
        return metrics

    # -- services the phase contexts share ---------------------------------------------------
    def next_batch(self) -> Batch:
        images, labels, *paired = next(self.batches)
        batch = Batch(images=images.contiguous(memory_format=self.memory_format),
                      labels=labels if self.spec.num_classes else None)
        if paired:
            batch["condition"] = paired[0].contiguous(memory_format=self.memory_format)
        return batch

    def latent(self, n: int) -> torch.Tensor:
        c = self.spec.config
        return sample_latent(n, c.latent_dim, c.latent_prior, device=self.device)

    def random_labels(self, n: int) -> Optional[torch.Tensor]:
        classes = self.spec.num_classes
        return torch.randint(classes, (n,), device=self.device) if classes else None

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


class PhaseRunner(PhaseContext):
    """One phase's service: the ``PhaseContext`` its ``run_phase`` gets, and what runs around it."""

    def __init__(self, engine: UpdateStep, phase: Phase, compiled: Mapping[str, Callable],
                 frozen_compiled: Mapping[str, Callable], wrapped: Mapping[str, Callable], where: str):
        self.engine, self.phase, self.spec = engine, phase, engine.spec
        self.where = f"{where} (phase '{phase.name}')"
        trained = set(phase.updates) | set(phase.keeps_graph)
        self.frozen = [engine.networks[name] for name in engine.networks if name not in trained]
        eager = phase.double_backward  # torch.compile does not support double backward
        self.runs = {name: (wrapped[name] if name in trained else engine.networks[name]) if eager
                     else (compiled[name] if name in trained else frozen_compiled[name])
                     for name in engine.networks}
        self.optimizers = [engine.optimizers[name] for name in phase.updates]
        self.scaler = engine.scalers[phase.name]
        self.gain = phase.loss_gain
        self.prefix = phase.metric_prefix
        self.step = 0
        self.repeat = 0

    # -- the PhaseContext interface ----------------------------------------------------------
    @property
    def loss(self) -> Loss:
        return self.engine.loss

    @property
    def scratch(self) -> dict:
        return self.engine.scratch

    @property
    def state(self) -> dict:
        return self.engine.state

    def net(self, name: str) -> Callable[..., torch.Tensor]:
        return self.runs[name]

    def module(self, name: str) -> nn.Module:
        return self.engine.networks[name]

    def next_batch(self) -> Batch:
        return self.engine.next_batch()

    def latent(self, n: int) -> torch.Tensor:
        return self.engine.latent(n)

    def random_labels(self, n: int) -> Optional[torch.Tensor]:
        return self.engine.random_labels(n)

    def seen_by(self, name: str, labels: Optional[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        D, augment = self.runs[name], self.engine.augment
        if augment is None:
            return lambda x: D(x, labels)
        memory_format = self.engine.memory_format
        return lambda x: D(augment(x).contiguous(memory_format=memory_format), labels)

    # -- one run of the phase ------------------------------------------------------------------
    def run(self, step: int, repeat: int) -> dict[str, torch.Tensor]:
        self.step, self.repeat = step, repeat
        with _frozen(self.frozen), self.engine.autocast():
            loss, terms = split_loss(self.engine.step.run_phase(self.phase, self), self.where)
        self._optimize(loss * self.gain if self.gain != 1 else loss)
        with torch.no_grad():
            watched = self.engine.step.phase_metrics(self.phase, self)
        prefix = self.prefix
        out = {f"{prefix}_loss": loss.detach()}
        out.update({f"{prefix}_{k}": v.detach() for k, v in terms.items()})
        out.update({f"{prefix}_{k}": v.detach() for k, v in watched.items()})
        return out

    def _optimize(self, loss: torch.Tensor) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        scaler = self.scaler
        if scaler.is_enabled():
            scaler.scale(loss).backward()
            for optimizer in self.optimizers:
                scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            for optimizer in self.optimizers:
                optimizer.step()


def _accumulate(into: dict[str, torch.Tensor], values: dict[str, torch.Tensor], weight: float) -> None:
    for key, value in values.items():
        value = value.float() * weight
        into[key] = into[key] + value if key in into else value


@contextlib.contextmanager
def _frozen(modules):
    """A phase needs gradients through the networks it does not update, not of their weights."""
    trainable = [p for module in modules for p in module.parameters() if p.requires_grad]
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
