"""The one place a run is assembled: config precedence, plugins, data, networks, optimizers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from .. import registry
from ..data import ImageData, load_dataset
from ..devices import resolve_device
from ..errors import GanforgeError, InvalidPluginError
from ..interfaces import Architecture, Loss, ModelSpec
from ..memory import network_memory_guard
from .config import TrainConfig, plugin_defaults, read_toml, validate
from .optim import make_optimizer

DEFAULT_LOSS = "nonsaturating"


@dataclass
class Run:
    config: TrainConfig
    architecture: Architecture
    loss: Loss
    data: ImageData
    spec: ModelSpec
    device: torch.device
    generator: nn.Module
    discriminator: nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer

    @property
    def total_steps(self) -> int:
        c = self.config
        if c.epochs is None:
            return int(c.steps)
        real_batches = c.epochs * (len(self.data) // c.batch_size)
        return max(1, math.ceil(real_batches / c.d_steps))


def resolve_config(flags: Mapping[str, Any], config_file: Optional[Path] = None) -> TrainConfig:
    """Defaults < architecture defaults < loss defaults < TOML file < flags (None = not given)."""
    given = {k: v for k, v in flags.items() if v is not None}
    from_file = read_toml(config_file) if config_file else {}
    chosen = {**from_file, **given}

    config = TrainConfig()
    arch_name = chosen.get("arch", config.arch)
    found_arch = registry.find("architecture").get(arch_name)
    architecture = found_arch.load().obj
    config.update(plugin_defaults(architecture.defaults, found_arch.where), source=found_arch.where)

    loss_name = chosen.get("loss") or config.loss or DEFAULT_LOSS
    found_loss = registry.find("loss").get(loss_name)
    loss = found_loss.load().obj
    config.update(plugin_defaults(loss.defaults, found_loss.where), source=found_loss.where)

    if from_file:
        config.update(from_file, source=str(config_file))
    config.update(given, source="command line")
    config.arch, config.loss = arch_name, loss_name
    config.arch_options = resolve_arch_options(architecture, config.arch_options, arch_name)
    validate(config)
    return config


def resolve_arch_options(architecture: Architecture, given: Mapping[str, Any], arch_name: str) -> dict[str, Any]:
    """The architecture's option defaults, overridden by ``given`` (strings parsed to the default's type)."""
    defaults = dict(architecture.options)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise GanforgeError(f"architecture '{arch_name}' has no option {', '.join(unknown)} (options: {known})")
    resolved = dict(defaults)
    for key, value in given.items():
        resolved[key] = _parse_like(value, defaults[key], key)
    return resolved


def _parse_like(value: Any, default: Any, key: str) -> Any:
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            lowered = value.strip().lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return lowered in {"true", "1", "yes"}
        return type(default)(value)
    except ValueError:
        raise GanforgeError(f"option {key}={value!r}: expected {type(default).__name__}") from None


def check_network_shapes(generator: nn.Module, discriminator: nn.Module, spec: ModelSpec,
                         device: torch.device, where: str) -> None:
    """One tiny forward pass of each network, so a plugin that breaks the output contract
    fails here with its name, not with a PyTorch error deep inside training."""
    n = 2
    labels = torch.arange(n, device=device) % spec.num_classes if spec.num_classes else None
    state = torch.get_rng_state()
    modes = generator.training, discriminator.training
    generator.eval()  # eval: no batch-norm running statistics are touched
    discriminator.eval()
    try:
        with torch.no_grad():
            images = generator(torch.randn(n, spec.latent_dim, device=device), labels)
            if tuple(images.shape) != (n, *spec.image_shape):
                raise InvalidPluginError(f"{where}: the generator returned shape {tuple(images.shape)}, "
                                         f"expected {(n, *spec.image_shape)}")
            logits = discriminator(images, labels)
            if tuple(logits.shape) != (n,):
                raise InvalidPluginError(f"{where}: the discriminator returned shape {tuple(logits.shape)} "
                                         f"for {n} images, expected ({n},)")
    except InvalidPluginError:
        raise
    except Exception as exc:  # noqa: BLE001 - the plugin's networks failed on a valid input
        raise InvalidPluginError(f"{where}: a forward pass on {n} images of shape {spec.image_shape} "
                                 f"raised {type(exc).__name__}: {exc}") from exc
    finally:
        torch.set_rng_state(state)
        generator.train(modes[0])
        discriminator.train(modes[1])


def build_run(config: TrainConfig) -> Run:
    """Load the data and build everything a run needs. Writes nothing."""
    loaded_arch = registry.load("architecture", config.arch)
    architecture = loaded_arch.obj
    loss = registry.load_loss(config.loss or DEFAULT_LOSS)
    device = resolve_device(config.device)
    data = load_dataset(config.dataset, config.data_root, config.image_size, config.channels)
    if architecture.conditional and data.labels is None:
        raise GanforgeError(
            f"architecture '{config.arch}' is conditional and needs a labelled dataset; "
            f"'{data.name}' has no labels (for a folder, put each class in its own sub-directory)"
        )
    try:
        architecture.check_image_shape(data.image_shape)
    except GanforgeError as exc:
        raise GanforgeError(f"architecture '{config.arch}': {exc} (set --image-size)") from None

    spec = ModelSpec(
        image_shape=data.image_shape,
        latent_dim=config.latent_dim,
        num_classes=data.num_classes if architecture.conditional else None,
        options=dict(config.arch_options),
    )
    torch.manual_seed(config.seed)
    with network_memory_guard(f"building the networks of '{config.arch}'",
                              "the architecture's width options (-O), --latent-dim or --image-size"):
        generator = architecture.build_generator(spec).to(device)
        discriminator = architecture.build_discriminator(spec).to(device)
    check_network_shapes(generator, discriminator, spec, device, loaded_arch.found.where)
    return Run(
        config=config,
        architecture=architecture,
        loss=loss,
        data=data,
        spec=spec,
        device=device,
        generator=generator,
        discriminator=discriminator,
        g_optimizer=make_optimizer(config, "g", generator.parameters()),
        d_optimizer=make_optimizer(config, "d", discriminator.parameters()),
    )
