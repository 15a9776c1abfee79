"""Shared pieces of the conformance kit: its error, plugin instances, model specs."""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Mapping, Optional

import torch

from ..errors import GanforgeError, InvalidPluginError
from ..interfaces import ModelSpec, instantiate_plugin
from ..options import resolve_options
from ..plugin_calls import build_networks
from ..training.setup.config import plugin_defaults

#: Classes of a conditional architecture's test spec.
TEST_CLASSES = 3


class ConformanceError(AssertionError):
    """A plugin does not keep the contract; the message says which check and why."""


def fail(check: str, message: str) -> None:
    raise ConformanceError(f"{check}: {message}")


def conformance_check(check: str):
    """Make a check raise only ConformanceError: anything else the plugin raises inside it
    becomes ``ConformanceError("<check>: ...")`` with the original as its cause."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except ConformanceError:
                raise
            except Exception as exc:  # noqa: BLE001 - the plugin's failure, reported as the check's
                text = " ".join(str(exc).split())
                if not isinstance(exc, GanforgeError):
                    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
                raise ConformanceError(f"{check}: {text}") from exc
        return wrapper
    return decorate


def as_instance(kind: str, obj: Any) -> Any:
    """Validate a plugin class (or the class of an instance) as ganforge does on load."""
    cls = obj if inspect.isclass(obj) else type(obj)
    try:
        instance = instantiate_plugin(kind, cls, f"{kind} {cls.__module__}.{cls.__name__}")
    except InvalidPluginError as exc:
        fail("interface", str(exc))
    return instance if inspect.isclass(obj) else obj


def checked_defaults(plugin: Any) -> dict[str, Any]:
    """The plugin's training defaults, after checking they name real TrainConfig fields."""
    try:
        return plugin_defaults(getattr(plugin, "defaults", {}), type(plugin).__name__)
    except InvalidPluginError as exc:
        fail("declarations", str(exc))


def resolved_options(arch: Any, overrides: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The architecture's options with ``overrides``, resolved as ``-O`` values are in training."""
    try:
        return resolve_options(arch.options, overrides, type(arch).__name__)
    except GanforgeError as exc:
        fail("options", str(exc))


def make_spec(arch: Any, image_shape: tuple[int, int, int], latent_dim: int,
              options: Mapping[str, Any]) -> ModelSpec:
    return ModelSpec(image_shape=image_shape, latent_dim=latent_dim,
                     num_classes=TEST_CLASSES if arch.conditional else None, options=dict(options))


def describe(spec: ModelSpec) -> str:
    c, h, w = spec.image_shape
    return f"{h}x{w}x{c}"


def sample_inputs(spec: ModelSpec, batch_size: int, seed: int):
    """Latents, labels (None when unconditional) and real-looking images in [-1, 1]."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch_size, spec.latent_dim, generator=rng)
    labels = None
    if spec.num_classes:
        labels = torch.arange(batch_size) % spec.num_classes
    real = torch.rand(batch_size, *spec.image_shape, generator=rng) * 2 - 1
    return z, labels, real


def build_pair(arch: Any, spec: ModelSpec, seed: int):
    """G and D for ``spec`` after seeding; a plugin's exception is wrapped as in training."""
    networks = build_all(arch, spec, seed)
    return networks["G"], networks["D"]


def build_all(arch: Any, spec: ModelSpec, seed: int) -> dict:
    """Every network of the architecture for ``spec``, by name, after seeding."""
    seed_cpu(seed)
    return build_networks(arch, spec, f"{type(arch).__name__} at {describe(spec)}")


def seed_cpu(seed: int) -> None:
    """Seed torch's CPU generator (the kit runs on CPU; this skips torch's lazy CUDA seeding)."""
    torch.default_generator.manual_seed(seed)


@contextlib.contextmanager
def isolated():
    """Run checks on one CPU thread (the test networks are tiny; more threads only contend)
    and restore the global RNG state and thread count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(threads)
