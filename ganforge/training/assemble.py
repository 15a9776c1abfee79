"""The one place a run is assembled: config precedence, then data, networks and optimizers."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from ..contract import check_network_shapes
from ..data import ImageData, load_dataset
from ..data.subset import seeded_subset
from ..devices import resolve_device
from ..errors import GanforgeError
from ..generator_file import GeneratorInfo
from ..interfaces import Architecture, Loss, ModelSpec
from ..options import resolve_options
from ..plugin_calls import build_networks, validate_spec
from ..memory import check_fits, network_memory_guard
from .monitor_options import validate_monitoring_spec
from .config import COMMAND_LINE, OPTIMIZER_RECORDS, TrainConfig, plugin_defaults, read_toml, validate
from .optim import make_optimizer
from .plugins import RunPlugins, load_plugins
from .step import use_channels_last


@dataclass
class Run:
    """Everything a run trains: built from the config, nothing written yet."""

    config: TrainConfig
    plugins: RunPlugins
    data: ImageData
    spec: ModelSpec
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer

    @property
    def architecture(self) -> Architecture:
        return self.plugins.arch

    @property
    def loss(self) -> Loss:
        return self.plugins.loss_fn

    def generator_info(self) -> GeneratorInfo:
        """What an exported generator file records about this run's generator."""
        return GeneratorInfo(self.config.arch, self.spec, self.config.latent_prior,
                             self.data.class_names if self.spec.num_classes else None)

    @property
    def total_steps(self) -> int:
        c = self.config
        if c.epochs is None:
            return int(c.steps)
        real_batches = c.epochs * (len(self.data) // c.batch_size)
        return max(1, math.ceil(real_batches / c.d_steps))


def resolve_config(values: Mapping[str, Any], config_file: Optional[Path] = None) -> tuple[TrainConfig, RunPlugins]:
    """Defaults < architecture defaults < loss defaults < TOML file < ``values`` (None = not given).
    Loads and validates the two plugins once; returns the config and them."""
    given = {k: v for k, v in values.items() if v is not None}
    from_file = read_toml(config_file) if config_file else {}
    chosen = {**from_file, **given}

    config = TrainConfig()
    plugins = load_plugins(str(chosen.get("arch", config.arch)), _loss_name(chosen))
    for plugin in (plugins.architecture, plugins.loss):
        config.update(plugin_defaults(plugin.obj.defaults, plugin.found.where), source=plugin.found.where)
    if from_file:
        config.update(from_file, source=str(config_file))
    config.update(given, source=COMMAND_LINE)
    config.arch, config.loss = plugins.architecture.found.name, plugins.loss_name
    config.arch_options = resolve_arch_options(plugins.arch, config.arch_options, config.arch)
    validate(config)
    return config, plugins


def _loss_name(chosen: Mapping[str, Any]) -> Optional[str]:
    name = chosen.get("loss")
    if name is not None and not isinstance(name, str):
        raise GanforgeError(f"loss must be a plugin name, got {name!r}")
    return name


def resolve_arch_options(architecture: Architecture, given: Mapping[str, Any], arch_name: str) -> dict[str, Any]:
    """The architecture's option defaults, overridden by ``given`` (parsed and checked; see ganforge.options)."""
    return resolve_options(architecture.options, given, f"architecture '{arch_name}'")


def _check_networks_fit(architecture: Architecture, spec: ModelSpec, config: TrainConfig, where: str) -> None:
    """Refuse networks whose weights, gradients and optimizer state cannot fit in memory,
    before allocating them: sizes are counted on torch's meta device, which allocates nothing.
    (Linux lends memory it does not have, so an oversized run would otherwise be killed by the
    kernel halfway through its first step instead of raising an error.) An architecture that
    cannot be built on the meta device is not estimated."""
    try:
        with torch.device("meta"):
            generator, discriminator = build_networks(architecture, spec, where)
    except Exception:  # the real build below reports the plugin's errors properly
        return
    needed = 0
    for net, settings in ((generator, config.g_optim), (discriminator, config.d_optim)):
        weights = sum(p.numel() * p.element_size() for p in net.parameters())
        buffers = sum(b.numel() * b.element_size() for b in net.buffers())
        needed += weights * (2 + OPTIMIZER_RECORDS[settings.name].state_slots) + buffers  # + gradients + state
    check_fits(needed, f"training the networks of '{config.arch}' (weights, gradients, optimizer state)",
               "the architecture's width options (-O) or --latent-dim")


def build_run(config: TrainConfig, plugins: RunPlugins, data: Optional[ImageData] = None,
              device: Optional[torch.device] = None) -> Run:
    """Load the data (unless given) and build everything a run needs. Writes nothing.
    ``device``: this process's device when it is one of several (default: ``config.device``).
    The run's config has the device-dependent defaults filled in (``channels_last``), so that
    the config.json written from it says what ran and a resume elsewhere does the same."""
    architecture = plugins.arch
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
    spec = ModelSpec(
        image_shape=data.image_shape,
        latent_dim=config.latent_dim,
        num_classes=data.num_classes if architecture.conditional else None,
        options=resolve_arch_options(architecture, config.arch_options, config.arch),
    )
    if config.compile == "cudagraphs" and device.type != "cuda":
        raise GanforgeError(f"--compile cudagraphs needs a CUDA device, not {device}; use --compile networks")
    where = plugins.architecture.found.where
    validate_spec(architecture, spec, where)
    validate_monitoring_spec(config, spec.num_classes, data.class_names)
    _check_networks_fit(architecture, spec, config, where)
    torch.manual_seed(config.seed)
    with network_memory_guard(f"building the networks of '{config.arch}'",
                              "the architecture's width options (-O), --latent-dim or --image-size"):
        generator, discriminator = build_networks(architecture, spec, where)
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        generator = generator.to(device, memory_format=memory_format)
        discriminator = discriminator.to(device, memory_format=memory_format)
    check_network_shapes(generator, discriminator, spec, device, where)
    return Run(
        config=config,
        plugins=plugins,
        data=data,
        spec=spec,
        device=device,
        generator=generator,
        discriminator=discriminator,
        g_optimizer=make_optimizer(config.g_optim, generator.parameters()),
        d_optimizer=make_optimizer(config.d_optim, discriminator.parameters()),
    )
