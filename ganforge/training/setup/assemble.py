"""The one place a run is assembled: config precedence, then data, the step's phases, the named
networks and one optimizer per network."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch
from torch import nn

from ...contract import check_network_shapes, check_translator_shapes
from ...data import ImageData, load_dataset
from ...data.paired import FOLDER_PAIRS, PAIRED_DIGITS
from ...data.subset import seeded_subset
from ...devices import resolve_device
from ...errors import GanforgeError
from ...generator_file import GeneratorInfo
from ...interfaces import CONDITION, DISCRIMINATOR, GENERATOR, NOISE, Architecture, Loss, ModelSpec, Phase, Step, StepSpec
from ...options import resolve_options
from ...plugin_calls import build_networks, call_plugin, validate_spec
from ...memory import check_fits, network_memory_guard
from .monitor_options import validate_monitoring_spec
from .config import (COMMAND_LINE, OPTIMIZER_RECORDS, OptimizerSettings, TrainConfig, network_settings,
                     plugin_defaults, read_toml, validate)
from .optim import make_optimizer
from ..step.phases import checked_phases, lazy_ratio
from .plugins import RunPlugins, load_plugins
from ..step.engine import use_channels_last


@dataclass
class Run:
    """Everything a run trains: built from the config, nothing written yet."""

    config: TrainConfig
    plugins: RunPlugins
    data: ImageData
    spec: ModelSpec
    device: torch.device
    networks: dict[str, nn.Module]  # by name, in the step's order
    optimizers: dict[str, torch.optim.Optimizer]  # one per network, same names
    step_spec: StepSpec
    phases: tuple[Phase, ...]

    @property
    def architecture(self) -> Architecture:
        return self.plugins.arch

    @property
    def loss(self) -> Loss:
        return self.plugins.loss_fn

    @property
    def step(self) -> Step:
        return self.plugins.step_fn

    @property
    def roles(self) -> Mapping[str, str]:
        """Network name -> role (GENERATOR or DISCRIMINATOR), as the step declares."""
        return self.step.networks

    # The output generator, and the names the built-in step gives its two networks.
    generator = property(lambda self: self.networks[self.step.output],
                         lambda self, module: self.networks.__setitem__(self.step.output, module))
    discriminator = property(lambda self: self.networks["D"], lambda self, module: self.networks.__setitem__("D", module))
    g_optimizer = property(lambda self: self.optimizers["G"], lambda self, opt: self.optimizers.__setitem__("G", opt))
    d_optimizer = property(lambda self: self.optimizers["D"], lambda self, opt: self.optimizers.__setitem__("D", opt))

    def generator_info(self) -> GeneratorInfo:
        """What an exported generator file records about this run's generator."""
        return GeneratorInfo(self.config.arch, self.spec, self.config.latent_prior,
                             self.data.class_names if self.spec.num_classes else None, self.step.generator_input,
                             self.step.output)

    @property
    def total_steps(self) -> int:
        c = self.config
        if c.epochs is None:
            return int(c.steps)
        real_batches = c.epochs * (len(self.data) // c.batch_size)
        return max(1, math.ceil(real_batches / self.real_batches_per_iteration))

    @property
    def real_batches_per_iteration(self) -> int:
        return int(self.step.real_batches_per_iteration(self.step_spec))


def resolve_config(values: Mapping[str, Any], config_file: Optional[Path] = None) -> tuple[TrainConfig, RunPlugins]:
    """Defaults < architecture defaults < loss defaults < TOML file < ``values`` (None = not given).
    Loads and validates the two plugins once; returns the config and them."""
    given = {k: v for k, v in values.items() if v is not None}
    from_file = read_toml(config_file) if config_file else {}
    chosen = {**from_file, **given}

    config = TrainConfig()
    plugins = load_plugins(str(chosen.get("arch", config.arch)), _plugin_name(chosen, "loss"),
                           _plugin_name(chosen, "step"))
    for plugin in (plugins.architecture, plugins.step, plugins.loss):
        config.update(plugin_defaults(plugin.obj.defaults, plugin.found.where), source=plugin.found.where)
    if from_file:
        config.update(from_file, source=str(config_file))
    config.update(given, source=COMMAND_LINE)
    config.arch, config.loss, config.step = plugins.architecture.found.name, plugins.loss_name, plugins.step_name
    config.arch_options = resolve_arch_options(plugins.arch, config.arch_options, config.arch)
    config.step_options = resolve_options(plugins.step_fn.options, config.step_options, f"step '{config.step}'")
    validate(config)
    network_optimizer_settings(config, plugins.step_fn.networks, f"step '{config.step}'")
    return config, plugins


def _plugin_name(chosen: Mapping[str, Any], kind: str) -> Optional[str]:
    name = chosen.get(kind)
    if name is not None and not isinstance(name, str):
        raise GanforgeError(f"{kind} must be a plugin name, got {name!r}")
    return name


def resolve_arch_options(architecture: Architecture, given: Mapping[str, Any], arch_name: str) -> dict[str, Any]:
    """The architecture's option defaults, overridden by ``given`` (parsed and checked; see ganforge.options)."""
    return resolve_options(architecture.options, given, f"architecture '{arch_name}'")


def _check_networks_fit(architecture: Architecture, spec: ModelSpec, settings: Mapping[str, OptimizerSettings],
                        config: TrainConfig, where: str) -> None:
    """Refuse networks whose weights, gradients and optimizer state cannot fit in memory,
    before allocating them: sizes are counted on torch's meta device, which allocates nothing.
    (Linux lends memory it does not have, so an oversized run would otherwise be killed by the
    kernel halfway through its first step instead of raising an error.) An architecture that
    cannot be built on the meta device is not estimated."""
    try:
        with torch.device("meta"):
            networks = build_networks(architecture, spec, where)
    except Exception:  # the real build below reports the plugin's errors properly
        return
    needed = 0
    for name, net in networks.items():
        weights = sum(p.numel() * p.element_size() for p in net.parameters())
        buffers = sum(b.numel() * b.element_size() for b in net.buffers())
        slots = OPTIMIZER_RECORDS[settings[name].name].state_slots
        needed += weights * (2 + slots) + buffers  # + gradients + state
    check_fits(needed, f"training the networks of '{config.arch}' (weights, gradients, optimizer state)",
               "the architecture's width options (-O) or --latent-dim")


def network_optimizer_settings(config: TrainConfig, roles: Mapping[str, str], step_name: str = "the step"
                               ) -> dict[str, OptimizerSettings]:
    """Each network's optimizer settings: ``--g-*`` for the generators, ``--d-*`` for the discriminators,
    and a network's own ``--optim NAME.KEY=VALUE`` on top."""
    unknown = sorted(set(config.network_optim) - set(roles))
    if unknown:
        raise GanforgeError(f"--optim names network(s) {', '.join(unknown)}, but {step_name} trains "
                            f"{', '.join(roles)}")
    return {name: network_settings(config, name, config.g_optim if role == GENERATOR else config.d_optim)
            for name, role in roles.items()}


def build_optimizers(networks: Mapping[str, nn.Module], settings: Mapping[str, OptimizerSettings],
                     phases: Sequence[Phase]) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per network, rescaled for the lazy phases that update it."""
    return {name: make_optimizer(settings[name], module.parameters(), lazy_ratio(phases, name))
            for name, module in networks.items()}


def step_spec(config: TrainConfig, num_classes: Optional[int], batch_size: Optional[int] = None) -> StepSpec:
    return StepSpec(config=config, options=dict(config.step_options), num_classes=num_classes,
                    batch_size=config.batch_size if batch_size is None else batch_size)


def step_phases(step: Step, spec: StepSpec, where: str) -> tuple[Phase, ...]:
    """The step's checked phases for this run (its ``validate`` hook first)."""
    call_plugin(where, "validate", step.validate, spec)
    return checked_phases(call_plugin(where, "phases", step.phases, spec), step.networks, where)


def check_paired(step: Step, data: ImageData, config: TrainConfig) -> None:
    """An image-to-image step needs condition images; a noise-to-image step has no use for them."""
    if step.generator_input == CONDITION and not data.paired:
        raise GanforgeError(f"step '{config.step}' trains an image-to-image generator and needs paired data "
                            f"(--dataset {', '.join(PAIRED_DIGITS)} or {FOLDER_PAIRS}); '{data.name}' has no "
                            f"condition images")
    if step.generator_input == NOISE and data.paired:
        raise GanforgeError(f"'{data.name}' is paired data (condition -> image), but step '{config.step}' makes "
                            f"images from noise; train an image-to-image step (e.g. ganforge train pix2pix)")


def build_run(config: TrainConfig, plugins: RunPlugins, data: Optional[ImageData] = None,
              device: Optional[torch.device] = None) -> Run:
    """Load the data (unless given) and build everything a run needs. Writes nothing.
    ``device``: this process's device when it is one of several (default: ``config.device``).
    The run's config has the device-dependent defaults filled in (``channels_last``), so that
    the config.json written from it says what ran and a resume elsewhere does the same."""
    architecture, step = plugins.arch, plugins.step_fn
    device = resolve_device(config.device) if device is None else device
    config = dataclasses.replace(config, channels_last=use_channels_last(config.channels_last, device))
    if data is None:
        data = load_dataset(config.dataset, config.data_root, config.image_size, config.channels)
    if config.subset is not None:
        data = seeded_subset(data, config.subset, config.seed, config.batch_size)
    if architecture.conditional and data.labels is None:
        raise GanforgeError(
            f"architecture '{config.arch}' is conditional and needs a labelled dataset; "
            f"'{data.name}' has no labels (for a folder, put each class in its own sub-directory)"
        )
    check_paired(step, data, config)
    spec = ModelSpec(
        image_shape=data.image_shape,
        latent_dim=config.latent_dim,
        num_classes=data.num_classes if architecture.conditional else None,
        options=resolve_arch_options(architecture, config.arch_options, config.arch),
        condition_shape=data.condition_shape,
    )
    if config.compile == "cudagraphs" and device.type != "cuda":
        raise GanforgeError(f"--compile cudagraphs needs a CUDA device, not {device}; use --compile networks")
    where = plugins.architecture.found.where
    validate_spec(architecture, spec, where)
    validate_monitoring_spec(config, spec.num_classes, data.class_names)
    stepping = step_spec(config, spec.num_classes)
    phases = step_phases(step, stepping, plugins.step.found.where)
    settings = network_optimizer_settings(config, step.networks, f"step '{config.step}'")
    _check_networks_fit(architecture, spec, settings, config, where)
    torch.manual_seed(config.seed)
    with network_memory_guard(f"building the networks of '{config.arch}'",
                              "the architecture's width options (-O), --latent-dim or --image-size"):
        built = build_networks(architecture, spec, where)
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        networks = {name: built[name].to(device, memory_format=memory_format) for name in step.networks}
    discriminators = [networks[n] for n, role in step.networks.items() if role == DISCRIMINATOR]
    check = check_translator_shapes if step.generator_input == CONDITION else check_network_shapes
    check(networks[step.output], discriminators, spec, device, where)
    optimizers = build_optimizers(networks, settings, phases)
    return Run(config=config, plugins=plugins, data=data, spec=spec, device=device, networks=networks,
               optimizers=optimizers, step_spec=stepping, phases=phases)
