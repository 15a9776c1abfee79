"""The plugin interfaces: what an architecture and a loss must provide.

Both are versioned by ``interface_version``. A plugin declares the version it was
written against; ganforge accepts every version in ``SUPPORTED_INTERFACE_VERSIONS``.
New optional hooks get defaults here, so adding them never breaks an older plugin.

This module imports torch only for type annotations, lazily.
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Optional, Union

from .errors import GanforgeError, InvalidPluginError
from .options import Option, declarations  # noqa: F401 - Option is part of the plugin interface

if TYPE_CHECKING:
    import torch
    from torch import nn

INTERFACE_VERSION = 1
SUPPORTED_INTERFACE_VERSIONS = frozenset({1})


class InvalidSpec(GanforgeError):
    """An architecture cannot build networks for this spec (its options, image shape or
    classes). Raise it from ``validate`` (or the build methods) with a one-line message
    that says what is wrong; ganforge prefixes the plugin's name (see docs/PLUGINS.md)."""

    #: What the user can change, appended as `` (hint)`` unless the message mentions it.
    hint: ClassVar[str] = ""


class UnsupportedImageShape(InvalidSpec):
    """The architecture cannot produce images of the requested shape."""

    hint: ClassVar[str] = "set --image-size"


@dataclass(frozen=True)
class ModelSpec:
    """Everything an architecture needs to build its two networks."""

    image_shape: tuple[int, int, int]  # (channels, height, width)
    latent_dim: int
    num_classes: Optional[int] = None  # None for an unconditional run
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def image_size(self) -> int:
        return self.image_shape[1]


class Architecture(abc.ABC):
    """A GAN architecture plugin: builds a generator and a discriminator.

    Contract of the built networks:
      * ``generator(z, labels=None)``: ``z`` is ``(N, latent_dim)``, ``labels`` a long
        tensor ``(N,)`` or None; returns images ``(N, C, H, W)`` in ``[-1, 1]``.
      * ``discriminator(x, labels=None)``: returns logits of shape ``(N,)``.
    Unconditional networks accept and ignore ``labels``.
    """

    interface_version: ClassVar[int] = INTERFACE_VERSION
    description: ClassVar[str] = ""
    #: True when the networks need class labels (the dataset must be labelled).
    conditional: ClassVar[bool] = False
    #: Image channel counts the architecture can make.
    channels: ClassVar[tuple[int, ...]] = (1, 3)
    #: Square image sizes it can make; None means any size.
    image_sizes: ClassVar[Optional[tuple[int, ...]]] = None
    #: Architecture options (``-O key=value``): name -> a plain default (int, float, bool
    #: or str; the type is the default's) or an ``Option(default, type=..., choices=...,
    #: min=..., max=..., help=...)``. Checked when the plugin loads.
    options: ClassVar[Mapping[str, Any]] = {}
    #: Training defaults for this architecture, keyed by TrainConfig field names
    #: (for example ``{"loss": "hinge", "d_lr": 4e-4}``).
    defaults: ClassVar[Mapping[str, Any]] = {}

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise UnsupportedImageShape when the networks cannot work on this shape."""
        c, h, w = image_shape
        if c not in self.channels:
            raise UnsupportedImageShape(
                f"{type(self).__name__} supports {_or_list(self.channels)} channels, not {c}"
            )
        if h != w:
            raise UnsupportedImageShape(f"{type(self).__name__} needs square images, got {h}x{w}")
        if self.image_sizes is not None and h not in self.image_sizes:
            raise UnsupportedImageShape(
                f"{type(self).__name__} makes images of size {_or_list(self.image_sizes)}, not {h}"
            )

    def validate(self, spec: ModelSpec) -> None:
        """Raise InvalidSpec when the networks cannot be built for ``spec`` (all of it: the
        options, already parsed and checked against their declarations, the image shape and
        the classes). Called before anything is built or written. The default checks the
        image shape with ``check_image_shape``; call ``super().validate(spec)`` first."""
        self.check_image_shape(spec.image_shape)

    @abc.abstractmethod
    def build_generator(self, spec: ModelSpec) -> "nn.Module":
        """Return the generator for ``spec``."""

    @abc.abstractmethod
    def build_discriminator(self, spec: ModelSpec) -> "nn.Module":
        """Return the discriminator for ``spec``."""


@dataclass
class DiscriminatorBatch:
    """What a loss sees for a discriminator step. ``fake`` is detached from G."""

    real: "torch.Tensor"
    fake: "torch.Tensor"
    real_logits: "torch.Tensor"
    fake_logits: "torch.Tensor"
    labels: Optional["torch.Tensor"]
    #: D applied to new images (labels already bound): for penalties such as WGAN-GP's.
    discriminator: Callable[["torch.Tensor"], "torch.Tensor"]
    #: The training iteration this update belongs to (0-based), for schedules.
    step: int = 0


@dataclass
class GeneratorBatch:
    """What a loss sees for a generator step. ``fake`` carries gradients to G."""

    fake: "torch.Tensor"
    fake_logits: "torch.Tensor"
    labels: Optional["torch.Tensor"]
    discriminator: Callable[["torch.Tensor"], "torch.Tensor"]
    step: int = 0


#: A loss returns its total as a scalar tensor, or a mapping whose key "loss" is the
#: total and whose other entries are logged terms (for example "gradient_penalty").
LossResult = Union["torch.Tensor", Mapping[str, "torch.Tensor"]]


class Loss(abc.ABC):
    """A GAN loss plugin. Keep the math in pure tensor functions; this is the adapter.

    Sign convention: both methods return a quantity to *minimise*; D's loss is lower
    when D separates real from fake better.
    """

    interface_version: ClassVar[int] = INTERFACE_VERSION
    description: ClassVar[str] = ""
    #: Training defaults this loss wants (TrainConfig field names), e.g. ``{"d_steps": 5}``.
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: D's loss when it cannot tell real from fake (all logits 0), for losses whose D loss is 0 at
    #: best (cross-entropy: 2 ln 2): the health monitor then warns when D's loss stays near 0, D
    #: winning outright. None (the default, e.g. a Wasserstein critic): not judged.
    discriminator_loss_at_chance: ClassVar[Optional[float]] = None

    @abc.abstractmethod
    def discriminator_loss(self, batch: DiscriminatorBatch) -> LossResult:
        """Loss for the discriminator (or critic)."""

    @abc.abstractmethod
    def generator_loss(self, batch: GeneratorBatch) -> LossResult:
        """Loss for the generator."""

    def discriminator_metrics(self, batch: DiscriminatorBatch) -> Mapping[str, "torch.Tensor"]:
        """Scalars worth watching about D, logged as ``d_NAME`` and plotted (called without
        gradients after each D update). The default, meaningful for any loss: D's mean raw
        output on real and on fake images. Logit losses add D's accuracy."""
        return {"real_score": batch.real_logits.mean(), "fake_score": batch.fake_logits.mean()}


def split_loss(result: LossResult, owner: str = "a loss") -> tuple["torch.Tensor", dict[str, "torch.Tensor"]]:
    """Normalise a LossResult into (total, extra terms); ``owner`` names the loss in errors."""
    if isinstance(result, Mapping):
        if "loss" not in result:
            raise InvalidPluginError(f"{owner} returned a mapping without a 'loss' entry (keys: "
                                     f"{', '.join(map(str, result)) or 'none'}); return {{'loss': total, ...}}")
        terms = {k: v for k, v in result.items() if k != "loss"}
        return result["loss"], terms
    return result, {}


_REQUIRED_METHODS = {
    "architecture": (Architecture, ("build_generator", "build_discriminator", "check_image_shape", "validate")),
    "loss": (Loss, ("discriminator_loss", "generator_loss")),
}


def instantiate_plugin(kind: str, obj: Any, where: str) -> Any:
    """Check a loaded entry-point object against its interface and return an instance.

    ``where`` names the plugin and its distribution for error messages.
    """
    base, methods = _REQUIRED_METHODS[kind]
    if not (inspect.isclass(obj) and issubclass(obj, base)):
        raise InvalidPluginError(
            f"{where}: the entry point must name a class that subclasses "
            f"ganforge.interfaces.{base.__name__}, got {obj!r}"
        )
    version = getattr(obj, "interface_version", None)
    if version not in SUPPORTED_INTERFACE_VERSIONS:
        raise InvalidPluginError(
            f"{where}: written for plugin interface version {version!r}, but this ganforge "
            f"supports {_or_list(sorted(SUPPORTED_INTERFACE_VERSIONS))}; "
            f"upgrade ganforge or install a release of the plugin made for it"
        )
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise InvalidPluginError(f"{where}: missing method(s) {', '.join(missing)} of {base.__name__}")
    try:
        instance = obj()
    except Exception as exc:  # noqa: BLE001 - reported with the plugin's name
        raise InvalidPluginError(f"{where}: {obj.__name__}() raised {type(exc).__name__}: {exc}") from exc
    for method in methods:
        try:
            inspect.signature(getattr(instance, method)).bind(None)
        except TypeError:
            raise InvalidPluginError(
                f"{where}: {obj.__name__}.{method} must take exactly one argument besides self, "
                f"its signature is {method}{inspect.signature(getattr(instance, method))}"
            ) from None
    if kind == "architecture":
        declarations(getattr(instance, "options", {}), where)  # refuses non-scalar defaults, naming the option
    return instance


def _or_list(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
