"""The plugin interfaces: what an architecture, a loss and a training step must provide.

Both are versioned by ``interface_version``. A plugin declares the version it was
written against; ganforge accepts every version in ``SUPPORTED_INTERFACE_VERSIONS``.
New optional hooks get defaults here, so adding them never breaks an older plugin.

This module imports torch only for type annotations, lazily.
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Optional, Sequence, Union

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
    #: Paired data: the shape of the condition images an image-to-image generator takes; else None.
    condition_shape: Optional[tuple[int, int, int]] = None

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def image_size(self) -> int:
        return self.image_shape[1]


#: What a step's output generator takes: latents (``G(z, labels)``) or the batch's condition images
#: (``G(condition)``, an image-to-image generator trained on paired data).
NOISE, CONDITION = "noise", "condition"
GENERATOR_INPUTS = (NOISE, CONDITION)

#: The roles a named network plays: which of ``--g-*`` / ``--d-*`` optimizer settings it takes,
#: and which learning rates a health-monitor remedy lowers.
GENERATOR, DISCRIMINATOR = "generator", "discriminator"
ROLES = (GENERATOR, DISCRIMINATOR)


class Architecture(abc.ABC):
    """A GAN architecture plugin: builds named networks, by default a generator ``G`` and a
    discriminator ``D`` (``build_generator`` / ``build_discriminator``). An architecture with
    other networks lists their names in ``networks`` and overrides ``build_networks``.

    Contract of the default networks (the one the built-in ``alternating`` step uses):
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
    #: The names of the networks ``build_networks`` returns (a step plugin names the ones it trains).
    networks: ClassVar[tuple[str, ...]] = ("G", "D")

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

    def build_networks(self, spec: ModelSpec) -> dict[str, "nn.Module"]:
        """Return every network for ``spec`` by name, the names of ``networks``. The default
        builds ``G`` and ``D`` with the two methods below."""
        return {"G": self.build_generator(spec), "D": self.build_discriminator(spec)}

    def build_generator(self, spec: ModelSpec) -> "nn.Module":
        """Return the generator ``G`` for ``spec`` (used by the default ``build_networks``)."""
        raise NotImplementedError

    def build_discriminator(self, spec: ModelSpec) -> "nn.Module":
        """Return the discriminator ``D`` for ``spec`` (used by the default ``build_networks``)."""
        raise NotImplementedError


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
    #: D's logits on a batch of real images, for losses that pair real and fake (relativistic
    #: losses such as RpGAN); None where the step does not provide them (the alternating step).
    real_logits: Optional["torch.Tensor"] = None


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


# -- steps: how an iteration updates the networks --------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One part of a training iteration (after stylegan3's training phases).

    Each iteration the engine runs the step's phases in order; a phase runs at iterations whose
    index is a multiple of ``interval``, ``repeats`` times in a row. For each run it calls the
    step's ``run_phase``, multiplies the loss it returns by ``gain``, back-propagates it (with the
    phase's gradient scaler) and steps the optimizers of ``updates``. Networks the phase neither
    updates nor names in ``keeps_graph`` are frozen while it runs (no weight gradients).

    ``lazy`` marks lazy regularisation (StyleGAN2): the penalty is computed every ``interval``
    iterations with ``gain`` defaulting to ``interval``, and the optimizers of ``updates`` get
    ``lr * c`` and ``betas ** c`` with ``c = interval / (interval + 1)``, so that the main and
    regularisation updates together move the weights as one update per iteration would.
    """

    name: str
    updates: tuple[str, ...]
    interval: int = 1
    repeats: int = 1
    lazy: bool = False
    #: The loss's multiplier before the backward pass; None: ``interval`` for a lazy phase, else 1.
    gain: Optional[float] = None
    #: Networks not updated here whose graph a later phase of the iteration back-propagates
    #: through (e.g. fake images made here and reused by the generator's phase): not frozen.
    keeps_graph: tuple[str, ...] = ()
    #: The loss differentiates a gradient (R1, R2, path length, WGAN-GP): the phase runs the
    #: networks uncompiled, as torch.compile does not support double backward.
    double_backward: bool = False
    #: Logged metrics are named ``PREFIX_loss`` and ``PREFIX_TERM``; None: the name in lower case.
    prefix: Optional[str] = None

    @property
    def loss_gain(self) -> float:
        if self.gain is not None:
            return float(self.gain)
        return float(self.interval) if self.lazy else 1.0

    @property
    def metric_prefix(self) -> str:
        return self.name.lower() if self.prefix is None else self.prefix

    def runs_at(self, step: int) -> bool:
        return step % self.interval == 0


@dataclass(frozen=True)
class StepSpec:
    """What a step plugin needs to know about the run."""

    config: Any  # the run's TrainConfig (read it, do not change it)
    options: Mapping[str, Any]  # the step's own options (``-S key=value``), resolved
    num_classes: Optional[int]  # None for an unconditional run
    batch_size: int  # this process's share of ``--batch-size``


class Batch(dict):
    """A batch of real data as named fields: ``images`` (``(N, C, H, W)`` in [-1, 1]), ``labels``
    (long ``(N,)``, or None for unlabelled data) and, for paired data, ``condition`` (each image's
    condition image, in [-1, 1]: what an image-to-image generator sees)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the batch has no field '{name}' (fields: {', '.join(self)})") from None


class PhaseContext(abc.ABC):
    """What the engine hands a step's ``run_phase``: the networks as this phase runs them, the
    data, the noise, the run's loss. Attributes: ``spec`` (StepSpec), ``step`` (the iteration,
    0-based), ``repeat`` (which of the phase's repeats), ``loss`` (the run's Loss plugin),
    ``scratch``, a dict the phases of one iteration share (emptied before each iteration), and
    ``state``, a dict of tensors the step keeps across iterations (e.g. a running mean), saved
    in checkpoints so that a resumed run continues exactly."""

    spec: StepSpec
    step: int
    repeat: int
    loss: "Loss"
    scratch: dict
    state: dict

    @abc.abstractmethod
    def net(self, name: str) -> Callable[..., "torch.Tensor"]:
        """The network ``name`` as this phase runs it (wrapped for several processes, compiled with
        ``--compile``, frozen when the phase does not update it)."""

    @abc.abstractmethod
    def module(self, name: str) -> "nn.Module":
        """The network ``name`` itself (e.g. for its attributes); call ``net`` to run it."""

    @abc.abstractmethod
    def next_batch(self) -> Batch:
        """The next batch of real data, in the run's memory format."""

    @abc.abstractmethod
    def latent(self, n: int) -> "torch.Tensor":
        """``n`` latent vectors from the run's prior."""

    @abc.abstractmethod
    def random_labels(self, n: int) -> Optional["torch.Tensor"]:
        """``n`` random class labels of a conditional run, else None."""

    @abc.abstractmethod
    def seen_by(self, name: str, labels: Optional["torch.Tensor"]) -> Callable[["torch.Tensor"], "torch.Tensor"]:
        """The discriminator ``name`` as the losses see it: ``x -> D(augment(x), labels)`` with
        ``--augment`` (a new random draw per call), else ``x -> D(x, labels)``."""


class Step(abc.ABC):
    """A step plugin: how one training iteration updates the networks.

    It names the networks it trains with their roles (``networks``), declares its ``phases``
    and computes each phase's loss in ``run_phase``; the engine does the rest (autocast,
    gradient scalers, freezing, backward, optimizer steps, several processes, metrics).
    The built-in ``alternating`` step (D updates, then G updates) is written this way.
    """

    interface_version: ClassVar[int] = INTERFACE_VERSION
    description: ClassVar[str] = ""
    #: The networks the step trains: name -> role (GENERATOR or DISCRIMINATOR). The role picks the
    #: optimizer settings a network takes by default (``--g-*`` or ``--d-*``).
    networks: ClassVar[Mapping[str, str]] = {"G": GENERATOR, "D": DISCRIMINATOR}
    #: The generator that is sampled, evaluated and exported.
    output: ClassVar[str] = "G"
    #: What ``output`` takes: NOISE (``output(z, labels)``) or CONDITION (``output(condition)``, an
    #: image-to-image generator; the run then needs paired data, whose batches carry ``condition``).
    generator_input: ClassVar[str] = NOISE
    #: Step options (``-S key=value``), declared as architecture options are.
    options: ClassVar[Mapping[str, Any]] = {}
    #: Training defaults this step wants (TrainConfig field names).
    defaults: ClassVar[Mapping[str, Any]] = {}

    def validate(self, spec: StepSpec) -> None:
        """Raise InvalidSpec when the step cannot train this run (checked before anything is built)."""

    @abc.abstractmethod
    def phases(self, spec: StepSpec) -> Sequence[Phase]:
        """The phases of an iteration, in the order they run."""

    @abc.abstractmethod
    def run_phase(self, phase: Phase, ctx: PhaseContext) -> LossResult:
        """The loss of one run of ``phase`` (a scalar, or a mapping with "loss" and logged terms)."""

    def phase_metrics(self, phase: Phase, ctx: PhaseContext) -> Mapping[str, "torch.Tensor"]:
        """Scalars to log after the phase's update (called without gradients), named
        ``PREFIX_NAME``; e.g. what the loss reports about D. Default: none."""
        return {}

    def real_batches_per_iteration(self, spec: StepSpec) -> int:
        """How many real batches one iteration draws (``--epochs`` and images/s count them)."""
        return 1


_REQUIRED_METHODS = {
    "architecture": (Architecture, ("build_networks", "check_image_shape", "validate")),
    "loss": (Loss, ("discriminator_loss", "generator_loss")),
    "step": (Step, ("phases", "validate", "real_batches_per_iteration")),
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
    if kind == "architecture" and obj.build_networks is Architecture.build_networks:
        missing += [m for m in ("build_discriminator", "build_generator") if getattr(obj, m) is getattr(Architecture, m)]
    if missing:
        raise InvalidPluginError(f"{where}: missing method(s) {', '.join(missing)} of {base.__name__}")
    try:
        instance = obj()
    except Exception as exc:  # noqa: BLE001 - reported with the plugin's name
        raise InvalidPluginError(f"{where}: {obj.__name__}() raised {type(exc).__name__}: {exc}") from exc
    if kind == "architecture":  # the two builders, where the plugin has them
        methods += tuple(m for m in ("build_generator", "build_discriminator") if getattr(obj, m) is not getattr(Architecture, m))
    for method in methods:
        try:
            inspect.signature(getattr(instance, method)).bind(None)
        except TypeError:
            raise InvalidPluginError(
                f"{where}: {obj.__name__}.{method} must take exactly one argument besides self, "
                f"its signature is {method}{inspect.signature(getattr(instance, method))}"
            ) from None
    if kind in ("architecture", "step"):
        declarations(getattr(instance, "options", {}), where)  # refuses non-scalar defaults, naming the option
    if kind == "architecture":
        _check_names("networks", instance.networks, where)
    if kind == "step":
        _check_step_networks(instance, where)
        for method in ("run_phase", "phase_metrics"):
            try:
                inspect.signature(getattr(instance, method)).bind(None, None)
            except TypeError:
                raise InvalidPluginError(f"{where}: {obj.__name__}.{method} must take (phase, ctx) besides self, its "
                                         f"signature is {method}{inspect.signature(getattr(instance, method))}") from None
    return instance


def _check_names(what: str, names: Any, where: str) -> None:
    if isinstance(names, str) or not all(isinstance(n, str) and n.isidentifier() for n in names) or not names:
        raise InvalidPluginError(f"{where}: {what} must be a non-empty collection of names (letters, digits, _), "
                                 f"got {names!r}")


def _check_step_networks(step: Step, where: str) -> None:
    networks = step.networks
    if not isinstance(networks, Mapping):
        raise InvalidPluginError(f"{where}: networks must map each network's name to its role, got {networks!r}")
    _check_names("networks", list(networks), where)
    bad = {n: r for n, r in networks.items() if r not in ROLES}
    if bad:
        raise InvalidPluginError(f"{where}: each network's role must be {_or_list(ROLES)}, got {bad}")
    if step.generator_input not in GENERATOR_INPUTS:
        raise InvalidPluginError(f"{where}: generator_input must be {_or_list(GENERATOR_INPUTS)}, "
                                 f"got {step.generator_input!r}")
    if networks.get(step.output) != GENERATOR:
        raise InvalidPluginError(f"{where}: output must name one of its generators "
                                 f"({', '.join(n for n, r in networks.items() if r == GENERATOR) or 'none'}), "
                                 f"got {step.output!r}")


def _or_list(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
