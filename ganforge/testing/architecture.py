"""Architecture checks: declarations, output shapes and ranges, gradients, determinism,
state_dict round trips, then a few real training steps."""

from __future__ import annotations

import io
from typing import Any, Mapping, Optional, Sequence

import torch

from ..errors import InvalidPluginError
from ..contract import ContractError, expect_images, expect_logits
from ..interfaces import Architecture, InvalidSpec, ModelSpec, UnsupportedImageShape
from ..options import declarations
from .common import (as_instance, build_pair, checked_defaults, conformance_check, describe, fail, isolated,
                     make_spec, resolved_options, sample_inputs, seed_cpu)
from .training import check_training_steps

#: Sizes tried when an architecture declares ``image_sizes = None`` (any size).
ANY_SIZE_PROBES = (28, 32)


@conformance_check("architecture")
def check_architecture(arch: Any, *, image_sizes: Optional[Sequence[int]] = None,
                       channels: Optional[Sequence[int]] = None,
                       options: Optional[Mapping[str, Any]] = None, latent_dim: int = 8,
                       batch_size: int = 4, train_steps: int = 2, loss: Any = None,
                       seed: int = 0) -> None:
    """Run every architecture check; raise ConformanceError at the first failure.

    ``arch`` is the Architecture class (or an instance). ``image_sizes`` and ``channels``
    default to what it declares (sizes 28 and 32 when it declares any size); the first
    channel count is tried at every size, the others at the smallest. ``options`` overrides
    some of ``arch.options`` (use it to make the networks small). ``loss`` (a name, class or
    instance) is the loss of the training steps; by default the one ``arch.defaults`` names,
    else "nonsaturating". Runs on one CPU thread; the global RNG state is restored
    afterwards.
    """
    arch = as_instance("architecture", arch)
    with isolated():
        check_declarations(arch)
        opts = resolved_options(arch, options)
        specs = [make_spec(arch, shape, latent_dim, opts)
                 for shape in shapes_to_check(arch, image_sizes, channels)]
        for spec in specs:
            check_validate(arch, spec)
            check_outputs(arch, spec, batch_size, seed)
            check_gradients(arch, spec, batch_size, seed)
            check_determinism(arch, spec, batch_size, seed)
            check_state_dict_round_trip(arch, spec, batch_size, seed)
        check_training_steps(arch, specs[0], steps=train_steps, batch_size=batch_size, loss=loss, seed=seed)


def shapes_to_check(arch: Architecture, image_sizes=None, channels=None) -> list[tuple[int, int, int]]:
    sizes = tuple(image_sizes or arch.image_sizes or ANY_SIZE_PROBES)
    chans = tuple(channels or arch.channels)
    shapes = [(chans[0], s, s) for s in sizes]
    shapes += [(c, min(sizes), min(sizes)) for c in chans[1:]]
    for shape in shapes:
        try:
            arch.check_image_shape(shape)
        except UnsupportedImageShape as exc:
            fail("check_image_shape", f"rejects {shape[1]}x{shape[2]}x{shape[0]}, which the architecture "
                                      f"declares (channels={arch.channels}, image_sizes={arch.image_sizes}): {exc}")
    return shapes


@conformance_check("validate")
def check_validate(arch: Architecture, spec: ModelSpec) -> None:
    """``validate`` accepts a spec of a declared shape with the options under test."""
    try:
        arch.validate(spec)
    except InvalidSpec as exc:
        options = ", ".join(f"{k}={v!r}" for k, v in spec.options.items()) or "no options"
        fail("validate", f"rejects {describe(spec)} with {options}, a shape the architecture declares "
                         f"(channels={arch.channels}, image_sizes={arch.image_sizes}): {exc}")


@conformance_check("declarations")
def check_declarations(arch: Architecture) -> None:
    """Class attributes have the documented types; defaults name TrainConfig fields."""
    name = type(arch).__name__
    if not isinstance(arch.conditional, bool):
        fail("declarations", f"{name}.conditional must be True or False, got {arch.conditional!r}")
    if not (isinstance(arch.channels, tuple) and arch.channels
            and all(c in (1, 3) for c in arch.channels)):
        fail("declarations", f"{name}.channels must be a non-empty tuple of 1 and/or 3, got {arch.channels!r}")
    sizes = arch.image_sizes
    if sizes is not None and not (isinstance(sizes, tuple) and sizes
                                  and all(isinstance(s, int) and s > 0 for s in sizes)):
        fail("declarations", f"{name}.image_sizes must be None or a non-empty tuple of positive ints, got {sizes!r}")
    try:
        declarations(arch.options, name)
    except InvalidPluginError as exc:
        fail("declarations", str(exc))
    if not isinstance(arch.description, str):
        fail("declarations", f"{name}.description must be a string")
    checked_defaults(arch)
    if sizes is not None:
        outside = max(sizes) + 1
        try:
            arch.check_image_shape((arch.channels[0], outside, outside))
        except UnsupportedImageShape:
            pass
        else:
            fail("check_image_shape", f"accepts size {outside}, which is not in image_sizes {sizes}; "
                                      f"raise ganforge.interfaces.UnsupportedImageShape for it")


@conformance_check("outputs")
def check_outputs(arch: Architecture, spec: ModelSpec, batch_size: int = 4, seed: int = 0) -> None:
    """G makes (N, C, H, W) images in [-1, 1]; D returns finite logits of shape (N,);
    a conditional pair uses its labels."""
    where = describe(spec)
    G, D = build_pair(arch, spec, seed)
    z, labels, real = sample_inputs(spec, batch_size, seed)
    for mode in ("train", "eval"):
        G.train(mode == "train")
        D.train(mode == "train")
        with torch.no_grad():
            fake = G(z, labels)
            _expect_images(fake, (batch_size, *spec.image_shape), f"generator ({mode} mode) at {where}")
            for what, x in (("real", real), ("generated", fake)):
                logits = D(x, labels)
                _expect_logits(logits, batch_size, f"discriminator on {what} images ({mode} mode) at {where}")
    if spec.num_classes:
        _check_uses_labels(G, D, z, real, labels, spec.num_classes, where)


def _expect_images(images, shape, what: str) -> None:
    try:
        expect_images(images, shape, what)
    except ContractError as exc:
        fail("outputs", str(exc))


def _expect_logits(logits, batch_size: int, what: str) -> None:
    try:
        expect_logits(logits, batch_size, what)
    except ContractError as exc:
        fail("outputs", str(exc))


def _check_uses_labels(G, D, z, real, labels, num_classes: int, where: str) -> None:
    G.eval()
    D.eval()
    other = (labels + 1) % num_classes
    with torch.no_grad():
        if torch.equal(G(z, labels), G(z, other)):
            fail("outputs", f"conditional generator at {where} ignores its labels")
        if torch.equal(D(real, labels), D(real, other)):
            fail("outputs", f"conditional discriminator at {where} ignores its labels")


@conformance_check("gradients")
def check_gradients(arch: Architecture, spec: ModelSpec, batch_size: int = 4, seed: int = 0) -> None:
    """A loss on D(real) and D(G(z)) sends a finite gradient to every trainable parameter."""
    G, D = build_pair(arch, spec, seed)
    z, labels, real = sample_inputs(spec, batch_size, seed)
    G.train()
    D.train()
    (D(real, labels).mean() - D(G(z, labels), labels).mean()).backward()
    for net, module in (("generator", G), ("discriminator", D)):
        missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
        if missing:
            fail("gradients", f"{net} parameter(s) {', '.join(missing[:5])} at {describe(spec)} received no "
                              f"gradient; remove unused parameters or use them in forward()")
        bad = [n for n, p in module.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            fail("gradients", f"{net} parameter(s) {', '.join(bad[:5])} got non-finite gradients")


@conformance_check("determinism")
def check_determinism(arch: Architecture, spec: ModelSpec, batch_size: int = 4, seed: int = 0) -> None:
    """The same seed builds the same weights and, in train and eval mode, the same outputs."""
    first, second = build_pair(arch, spec, seed), build_pair(arch, spec, seed)
    for net, a, b in zip(("generator", "discriminator"), first, second):
        differing = _differing_entries(a.state_dict(), b.state_dict())
        if differing:
            fail("determinism", f"two {net}s built after torch.manual_seed({seed}) differ in "
                                f"{', '.join(differing[:5])}; draw all randomness from torch's global generator")
    z, labels, real = sample_inputs(spec, batch_size, seed)
    for mode in ("train", "eval"):
        outputs = []
        for G, D in (first, second):
            G.train(mode == "train")
            D.train(mode == "train")
            seed_cpu(seed + 1)
            with torch.no_grad():
                outputs.append((G(z, labels), D(real, labels)))
        if not (torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])):
            fail("determinism", f"same weights, inputs and seed give different outputs in {mode} mode "
                                f"at {describe(spec)}")


@conformance_check("state_dict")
def check_state_dict_round_trip(arch: Architecture, spec: ModelSpec, batch_size: int = 4, seed: int = 0) -> None:
    """Weights saved (torch.save, and safetensors for G as `ganforge sample` reads it) load
    into a freshly built network, which then computes the same outputs."""
    from safetensors.torch import load as st_load
    from safetensors.torch import save as st_save

    trained, fresh = build_pair(arch, spec, seed), build_pair(arch, spec, seed + 1)
    z, labels, real = sample_inputs(spec, batch_size, seed)
    for index, (net, run_input) in enumerate((("generator", lambda m: m(z, labels)),
                                               ("discriminator", lambda m: m(real, labels)))):
        source, target = trained[index], fresh[index]
        buffer = io.BytesIO()
        torch.save(source.state_dict(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
        if net == "generator":
            try:
                state = st_load(st_save({k: v.detach().cpu().contiguous() for k, v in state.items()}))
            except Exception as exc:  # noqa: BLE001 - reported as the check's failure
                fail("state_dict", f"generator weights cannot be exported to safetensors: {exc}")
        try:
            target.load_state_dict(state)
        except Exception as exc:  # noqa: BLE001
            fail("state_dict", f"{net} state_dict does not load into a newly built {net}: {exc}")
        source.eval()
        target.eval()
        with torch.no_grad():
            if not torch.equal(run_input(source), run_input(target)):
                fail("state_dict", f"{net} computes different outputs after loading its own state_dict; "
                                   f"keep all state in parameters and buffers")


def _differing_entries(a: dict, b: dict) -> list[str]:
    if a.keys() != b.keys():
        return sorted(set(a) ^ set(b))
    return [k for k in a if not torch.equal(a[k], b[k])]
