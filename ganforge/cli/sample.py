"""``ganforge sample``: draw images from an exported generator."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import GanforgeError


def sample(
    source: Path = typer.Argument(..., help="A run directory or a generator.safetensors file."),
    n: int = typer.Option(64, "--n", help="Number of images."),
    out: Optional[Path] = typer.Option(None, help="PNG file to write the grid to (default samples.png); with --input, "
                                       "the directory to write one PNG per input image to."),
    input_path: Optional[Path] = typer.Option(None, "--input", help="Image-to-image generators: an image file or a folder "
                                         "of images to translate (resized and centre-cropped to what it takes)."),
    label: Optional[int] = typer.Option(None, help="Class label to draw (conditional generators only)."),
    seed: int = typer.Option(0, help="Random seed for z."),
    interpolate: bool = typer.Option(False, help="A latent walk from seed to seed+1 instead of random draws."),
    device: str = typer.Option("cpu", help="auto, cpu, cuda, cuda:N or mps."),
    best: bool = typer.Option(False, "--best", help="Sample the run's best generator (generator-best.safetensors, "
                              "kept by --eval-every) instead of its latest."),
) -> None:
    """Write a grid of generated images (ganforge sample runs/cgan-... --label 8), or translate images with
    an image-to-image generator (ganforge sample runs/pix2pix-... --input photos/ --out translated/)."""
    if n <= 0:
        raise GanforgeError(f"--n must be positive, got {n}")
    if input_path is not None:
        if out is None or out.suffix.lower() == ".png":
            raise GanforgeError("--input writes one PNG per input image: give --out DIRECTORY")
        if not input_path.exists():
            raise GanforgeError(f"--input {input_path}: no such file or directory")
    out = Path("samples.png") if out is None else out
    if input_path is None and out.suffix.lower() != ".png":
        raise GanforgeError(f"--out must name a .png file, got '{out}'")
    import torch

    from ..devices import resolve_device
    from ..generator_file import load_generator
    from ..images import save_grid
    from ..interfaces import CONDITION
    from ..training.loop.rundir import best_generator

    dev = resolve_device(device)
    generator, info = load_generator(best_generator(source) if best else source, dev)
    if (info.generator_input == CONDITION) != (input_path is not None):
        raise GanforgeError(f"the '{info.arch}' generator translates condition images: pass --input IMAGE_OR_FOLDER "
                            f"--out DIRECTORY" if input_path is None else
                            f"--input: the '{info.arch}' generator makes images from noise and takes no input images")
    if input_path is not None:
        from ..translate import translate_files

        written = translate_files(generator, info, input_path, out, dev)
        typer.echo(f"wrote {len(written)} translated image(s) to {out}", err=True)
        typer.echo(str(out))
        return
    labels = _labels(label, n, info, dev)
    z = _latents(n, info, seed, interpolate, dev)
    with torch.no_grad():
        images = generator(z, labels)
    save_grid(images, out, nrow=n if interpolate and n <= 16 else None, make_parents=True)
    what = f" of class {label} ({info.class_names[label]})" if label is not None and info.class_names else ""
    typer.echo(f"wrote {n} samples{what} to {out}", err=True)
    typer.echo(str(out))


def _labels(label: Optional[int], n: int, info, device):
    import torch

    classes = info.spec.num_classes
    if label is None:
        # A conditional generator without --label draws every class in turn.
        return torch.arange(n, device=device) % classes if classes else None
    if not classes:
        raise GanforgeError(f"--label: the '{info.arch}' generator is unconditional and takes no label")
    if not 0 <= label < classes:
        raise GanforgeError(f"--label must be between 0 and {classes - 1}, got {label}")
    return torch.full((n,), label, dtype=torch.long, device=device)


def _latents(n: int, info, seed: int, interpolate: bool, device):
    import torch

    from ..generator_file import sample_latent

    dim, prior = info.spec.latent_dim, info.latent_prior
    if not interpolate:
        return sample_latent(n, dim, prior, torch.Generator().manual_seed(seed), device)
    a = sample_latent(1, dim, prior, torch.Generator().manual_seed(seed), device)
    b = sample_latent(1, dim, prior, torch.Generator().manual_seed(seed + 1), device)
    t = torch.linspace(0, 1, n, device=device)[:, None]
    if prior == "normal":
        return _slerp(a, b, t)
    return (1 - t) * a + t * b


def _slerp(a, b, t):
    """Spherical interpolation: keeps intermediate points at a typical Gaussian radius."""
    import torch

    cos = (a * b).sum() / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
