"""The exported generator: weights in safetensors, with what is needed to rebuild it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from . import __version__, registry
from .errors import GanforgeError
from .interfaces import NOISE, ModelSpec
from .files import atomic_write
from .options import resolve_options, with_legacy_values
from .plugin_calls import build_generator

FORMAT_VERSION = "1"
GENERATOR_FILE = "generator.safetensors"


@dataclass
class GeneratorInfo:
    """What an exported generator file records: enough to rebuild the network and to know what it
    takes (``generator_input``: latents and labels, or condition images of ``spec.condition_shape``).
    Files written before a field existed read it as its legacy value (``LEGACY``)."""

    arch: str
    spec: ModelSpec
    latent_prior: str
    class_names: Optional[list[str]]
    generator_input: str = NOISE
    network: str = "G"  # the architecture's name for it

    def to_metadata(self) -> dict[str, str]:
        return {
            "format": "ganforge-generator",
            "format_version": FORMAT_VERSION,
            "ganforge_version": __version__,
            "arch": self.arch,
            "arch_options": json.dumps(dict(self.spec.options)),
            "image_shape": json.dumps(list(self.spec.image_shape)),
            "latent_dim": str(self.spec.latent_dim),
            "num_classes": json.dumps(self.spec.num_classes),
            "class_names": json.dumps(self.class_names),
            "latent_prior": self.latent_prior,
            "generator_input": self.generator_input,
            "network": self.network,
            "condition_shape": json.dumps(None if self.spec.condition_shape is None else list(self.spec.condition_shape)),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "GeneratorInfo":
        meta = {**LEGACY, **meta}
        condition_shape = json.loads(meta["condition_shape"])
        spec = ModelSpec(
            image_shape=tuple(json.loads(meta["image_shape"])),
            latent_dim=int(meta["latent_dim"]),
            num_classes=json.loads(meta["num_classes"]),
            options=json.loads(meta["arch_options"]),
            condition_shape=None if condition_shape is None else tuple(condition_shape),
        )
        return cls(meta["arch"], spec, meta["latent_prior"], json.loads(meta["class_names"]), meta["generator_input"],
                   meta["network"])


#: The metadata of files written before these fields existed (ganforge 0.1: noise-to-image generators named G).
LEGACY = {"generator_input": NOISE, "network": "G", "condition_shape": "null"}


def export_generator(generator: nn.Module, info: GeneratorInfo, path: Path) -> Path:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=info.to_metadata()))
    return path


def load_generator(path: Path, device: torch.device) -> tuple[nn.Module, GeneratorInfo]:
    """Rebuild an exported generator (a run directory or a .safetensors file), in eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    file = path / GENERATOR_FILE if path.is_dir() else path
    if not file.is_file():
        raise GanforgeError(f"{path}: no exported generator found (expected a run directory or {GENERATOR_FILE})")
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file
        raise GanforgeError(f"{file}: not a safetensors file ({exc})") from None
    if meta.get("format") != "ganforge-generator":
        raise GanforgeError(f"{file}: not a generator exported by ganforge (no ganforge metadata)")
    info = GeneratorInfo.from_metadata(meta)
    loaded = registry.load("architecture", info.arch)
    # Options resolved again: an option the plugin added since the export takes its legacy value
    # (what generators exported before it existed were), else its default, as --resume does.
    owner = f"architecture '{info.arch}'"
    options = resolve_options(loaded.obj.options, with_legacy_values(loaded.obj.options, info.spec.options, owner),
                              owner)
    info.spec = dataclasses.replace(info.spec, options=options)
    generator = build_generator(loaded.obj, info.spec, loaded.found.where, info.network)
    generator.load_state_dict(load_file(str(file)))
    return generator.to(device).eval(), info


def sample_latent(n: int, dim: int, prior: str, generator: Optional[torch.Generator] = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """z ~ N(0, I) or U[-1, 1]^dim, drawn from ``generator`` (a CPU generator) or the global RNG."""
    where = "cpu" if generator is not None else device
    if prior == "uniform":
        z = torch.rand(n, dim, generator=generator, device=where) * 2 - 1
    else:
        z = torch.randn(n, dim, generator=generator, device=where)
    return z.to(device)
