"""Fuzzing the CLI and the data loaders with hypothesis: random option values, TOML files,
paths and file contents must give a clean exit (0), a one-line error or a usage error (exit 2),
or a counted skip -- never a traceback.

To stay fast, the embedded digits are cut to 64 images and a configuration that assembles
trains one iteration and writes one checkpoint instead of its whole run. Value ranges that
would really allocate many GiB (a 10^7-wide layer) are left out on purpose: absurd sizes are
drawn far beyond any machine so that they are refused, not attempted.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.data import sources
from ganforge.data.dataset import ImageData
from ganforge.data.folder import load_image_folder
from ganforge.errors import GanforgeError
from ganforge.training.loop.driver import RunDriver
from ganforge.training.hooks.standard import Checkpoints

FAST = settings(max_examples=int(os.environ.get("GANFORGE_FUZZ_EXAMPLES", "12")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SLOW = settings(FAST, max_examples=int(os.environ.get("GANFORGE_FUZZ_SLOW_EXAMPLES", "1100")))
COUNTS = {"inputs": 0, "errors": 0, "usage": 0, "ok": 0, "tracebacks": 0}


_DIGITS = sources.DATASETS["mnist-5k"]
_CACHE: dict = {}


def small_digits(root, channels):
    """The first 64 embedded digits, loaded once."""
    if channels not in _CACHE:
        full = _DIGITS(root, channels)
        _CACHE[channels] = ImageData(full.images[:64].clone(), full.labels[:64].clone(), full.class_names, full.name)
    return _CACHE[channels]


@pytest.fixture
def fast_runs(monkeypatch):
    def one_iteration(self):
        self.update(self.batches, self.step)
        self.step += 1
        next(h for h in self.hooks if isinstance(h, Checkpoints)).save(self, periodic=False)
        return {}

    monkeypatch.setitem(sources.DATASETS, "mnist-5k", small_digits)
    monkeypatch.setattr(RunDriver, "run_steps", one_iteration)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def check_clean(result, args):
    """Exit 0, a ganforge one-line error, or click's usage error; never an exception."""
    COUNTS["inputs"] += 1
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    if crashed or result.exit_code not in (0, 2):
        COUNTS["tracebacks"] += 1
        import traceback

        detail = "".join(traceback.format_exception(result.exception)) if result.exception else ""
        pytest.fail(f"ganforge {' '.join(map(str, args))!r} -> exit {result.exit_code}\n{result.output}\n{detail}")
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        if lines and lines[-1].startswith("error: "):
            assert sum(line.startswith("error: ") for line in lines) == 1, result.stderr
            COUNTS["errors"] += 1
        else:
            # click's usage error (plain or in rich's box), or the help for no arguments
            assert "Usage:" in result.output or "Error" in result.output, result.output
            COUNTS["usage"] += 1
    else:
        COUNTS["ok"] += 1
    assert "Traceback" not in result.output


def invoke(*args):
    args = [str(a) for a in args]
    result = CliRunner().invoke(app, args)
    check_clean(result, args)
    return result


# -- strategies ---------------------------------------------------------------------------------

SMALL_INT = st.integers(-3, 70)
ABSURD_INT = st.integers(10 ** 12, 10 ** 30)
wild_int = st.one_of(SMALL_INT, ABSURD_INT, st.integers(-10 ** 30, -1))
wild_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 1e300]))
junk_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
wild_value = st.one_of(wild_int.map(str), wild_float.map(repr), junk_text, st.just("nan"), st.just("inf"))

INT_OPTIONS = ["--steps", "--batch-size", "--latent-dim", "--d-steps", "--g-steps", "--log-every",
               "--sample-every", "--checkpoint-every", "--keep-checkpoints", "--seed", "--image-size", "--channels"]
FLOAT_OPTIONS = ["--epochs", "--g-lr", "--d-lr", "--g-momentum", "--d-momentum"]
CHOICE_OPTIONS = {
    "--loss": ["minimax", "nonsaturating", "lsgan"], "--dataset": ["mnist-5k", "folder"],
    "--latent-prior": ["normal", "uniform"], "--g-optimizer": ["adam", "rmsprop", "sgd"],
    "--d-optimizer": ["adam", "rmsprop", "sgd"], "--device": ["cpu", "auto", "cuda:0"],
}
ARCH_KEYS = ["ngf", "ndf", "d_batchnorm", "g_hidden", "d_hidden", "dropout", "impl", "depth"]


@st.composite
def option_pairs(draw):
    kind = draw(st.sampled_from(["int", "int", "float", "choice", "betas", "arch", "arch", "flag", "name"]))
    if kind == "int":
        return [draw(st.sampled_from(INT_OPTIONS)), str(draw(st.one_of(wild_int, wild_int.map(str), wild_value)))]
    if kind == "float":
        return [draw(st.sampled_from(FLOAT_OPTIONS)), draw(st.one_of(wild_float.map(repr), wild_value))]
    if kind == "choice":
        flag = draw(st.sampled_from(sorted(CHOICE_OPTIONS)))
        return [flag, draw(st.one_of(st.sampled_from(CHOICE_OPTIONS[flag]), junk_text))]
    if kind == "betas":
        pair = draw(st.one_of(st.tuples(wild_float, wild_float).map(lambda t: f"{t[0]!r},{t[1]!r}"), junk_text))
        return [draw(st.sampled_from(["--g-betas", "--d-betas"])), pair]
    if kind == "arch":
        key = draw(st.one_of(st.sampled_from(ARCH_KEYS), st.sampled_from(ARCH_KEYS), junk_text))
        value = draw(st.one_of(SMALL_INT.map(str), ABSURD_INT.map(str), wild_value, st.just("8,8"), st.just("")))
        return ["-O", f"{key}={value}"]
    if kind == "flag":
        return [draw(st.sampled_from(["--g-nesterov", "--no-d-nesterov", "--d-nesterov"]))]
    return ["--name", draw(junk_text)]


def base_args(arch: str, runs: Path) -> list[str]:
    widths = ["-O", "g_hidden=8", "-O", "d_hidden=8"] if arch == "gan" else ["-O", "ngf=4", "-O", "ndf=4"]
    return ["train", arch, "--steps", "1", "--batch-size", "2", *widths, "--device", "cpu", "--runs-dir", str(runs),
            "--log-every", "1"]


def fuzz_options(data):
    arch = data.draw(st.sampled_from(["dcgan", "dcgan", "gan", "cgan", "junk"]))
    if arch == "junk":
        arch = data.draw(junk_text.filter(lambda s: not s.startswith("-")))
    pairs = data.draw(st.lists(option_pairs(), min_size=1, max_size=3))
    with tempfile.TemporaryDirectory() as tmp:
        args = base_args(arch, Path(tmp) / "runs") + [x for pair in pairs for x in pair]
        if "--dataset" in args and "--data-root" not in args:
            args += ["--data-root", str(Path(tmp) / "missing")]
        invoke(*args)


# TOML: valid documents with wrong or random values, and broken documents.
toml_scalar = st.one_of(st.integers(-10 ** 18, 10 ** 18), st.floats(allow_nan=True, allow_infinity=True),
                        st.booleans(), junk_text)
toml_value = st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3), st.dictionaries(junk_text, toml_scalar, max_size=2))
TRAIN_KEYS = ["arch", "loss", "dataset", "data_root", "image_size", "channels", "batch_size", "steps", "epochs",
              "latent_dim", "latent_prior", "d_steps", "g_steps", "g_optimizer", "g_lr", "g_betas", "g_momentum",
              "g_nesterov", "d_betas", "arch_options", "seed", "device", "log_every", "checkpoint_every",
              "keep_checkpoints", "runs_dir", "run_name", "train"]


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_literal(v)}" for k, v in value.items()) + "}"


@st.composite
def toml_documents(draw):
    if draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(junk_text, st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
    table = draw(st.dictionaries(st.sampled_from(TRAIN_KEYS), toml_value, max_size=4))
    table = {k: v for k, v in table.items() if not (k == "runs_dir" and isinstance(v, str))}  # stay in tmp
    lines = [f"{k} = {toml_literal(v)}" for k, v in table.items()]
    return ("[train]\n" if draw(st.booleans()) else "") + "\n".join(lines) + "\n"


def fuzz_toml(data):
    text = data.draw(toml_documents())
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "c.toml"
        config.write_text(text, encoding="utf-8", errors="surrogateescape")
        invoke(*base_args("dcgan", Path(tmp) / "runs"), "--config", config)


# Files: random bytes, truncated or broken images, odd modes, huge headers.
def png_with_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def image_bytes(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode) \
        .save(buffer, format=fmt)
    return buffer.getvalue()


@st.composite
def file_contents(draw):
    kind = draw(st.sampled_from(["empty", "random", "truncated", "mode", "huge", "text"]))
    if kind == "empty":
        return b""
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "text":
        return draw(junk_text).encode("utf-8", "surrogatepass")
    if kind == "huge":
        side = draw(st.sampled_from([0, 1, 70000, 2 ** 31 - 1]))
        return png_with_header(side, draw(st.sampled_from([1, 70000, 2 ** 31 - 1])))
    mode = draw(st.sampled_from(["1", "L", "P", "RGB", "RGBA", "CMYK", "I", "F", "I;16", "LA"]))
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP", "PPM"]))
    try:
        data = image_bytes(mode, (draw(st.integers(1, 9)), draw(st.integers(1, 9))), fmt)
    except (OSError, ValueError, KeyError):
        data = image_bytes("RGB", (3, 3), "PNG")
    return data[: draw(st.integers(0, len(data)))] if kind == "truncated" else data


SUFFIXES = [".png", ".jpg", ".gif", ".tif", ".bmp", ".webp", ".ppm", ".pgm"]


def fuzz_folder_loader(data):
    files = data.draw(st.lists(st.tuples(file_contents(), st.sampled_from(SUFFIXES)), min_size=1, max_size=5))
    labelled = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as tmp:
        for i, (content, suffix) in enumerate(files):
            where = Path(tmp) / (f"class{i % 2}" if labelled else "") / f"f{i}{suffix}"
            where.parent.mkdir(exist_ok=True)
            where.write_bytes(content)
        COUNTS["inputs"] += 1
        try:
            out = load_image_folder(tmp, data.draw(st.sampled_from([None, 1, 3])), data.draw(st.integers(1, 16)))
        except GanforgeError as exc:
            assert "\n" not in str(exc)
            COUNTS["errors"] += 1
            return
        COUNTS["ok"] += 1
        assert len(out) + out.skipped == len(files) and out.images.dtype == torch.uint8


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 2-step run on the same 64 digits the fuzzed runs see."""
    root = tmp_path_factory.mktemp("fuzz-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sources.DATASETS, "mnist-5k", small_digits)
        result = CliRunner().invoke(app, ["train", "dcgan", "-O", "ngf=4", "-O", "ndf=4", "--steps", "2",
                                          "--batch-size", "8", "--checkpoint-every", "1", "--device", "cpu",
                                          "--runs-dir", str(root), "--name", "run"])
    assert result.exit_code == 0, result.output
    return root / "run"


PATH_KINDS = ["missing", "file", "dir", "run-broken-file", "run-copy"]


def make_path(kind: str, content: bytes, tmp: Path, run: Path, target: str) -> Path:
    import shutil

    if kind == "missing":
        return tmp / "nope" / "x"
    if kind == "file":
        (tmp / "f").write_bytes(content)
        return tmp / "f"
    if kind == "dir":
        (tmp / "d").mkdir()
        return tmp / "d"
    copy = tmp / "run"
    shutil.copytree(run, copy)
    if kind == "run-broken-file":
        (copy / target).write_bytes(content)
    return copy


def fuzz_paths(data, run):
    command = data.draw(st.sampled_from(["resume", "sample", "config", "data-root", "sample-out"]))
    kind = data.draw(st.sampled_from(PATH_KINDS))
    content = data.draw(file_contents())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if command == "resume":
            target = data.draw(st.sampled_from(["checkpoints/latest.pt", "checkpoints/step-000001.pt",
                                                "checkpoints/latest.pt.sha256", "config.json", "metrics.jsonl"]))
            path = make_path(kind, content, tmp, run, target)
            invoke("train", "--resume", path, *data.draw(st.sampled_from([[], ["--steps", "3"]])))
        elif command == "sample":
            path = make_path(kind, content, tmp, run, "generator.safetensors")
            invoke("sample", path, "--n", "2", "--out", tmp / "s.png")
        elif command == "sample-out":
            out = make_path(kind if kind in ("missing", "file", "dir") else "dir", content, tmp, run, "")
            invoke("sample", run, "--n", "2", "--out", data.draw(st.sampled_from([out, out / "x.png", Path(str(out) + ".png")])))
        elif command == "config":
            path = make_path(kind if kind in ("missing", "file", "dir") else "file", content, tmp, run, "")
            invoke(*base_args("dcgan", tmp / "runs"), "--config", path)
        else:
            path = make_path(kind if kind in ("missing", "file", "dir") else "file", content, tmp, run, "")
            if kind == "dir":
                (path / "a.png").write_bytes(content)
            invoke(*base_args("dcgan", tmp / "runs"), "--dataset", "folder", "--data-root", path,
                   "--image-size", "32", "--batch-size", "1")


@st.composite
def other_commands(draw):
    which = draw(st.sampled_from(["plugins", "info", "sample", "top"]))
    extra = draw(st.lists(st.one_of(st.sampled_from(["--check", "--json", "--n", "--label", "--seed", "--interpolate",
                                                     "--device", "-h"]), junk_text), max_size=3))
    return ([] if which == "top" else [which]) + extra


# -- the tests ----------------------------------------------------------------------------------

@FAST
@given(data=st.data())
def test_fuzz_training_options(fast_runs, data):
    fuzz_options(data)


@FAST
@given(data=st.data())
def test_fuzz_toml_files(fast_runs, data):
    fuzz_toml(data)


@FAST
@given(data=st.data())
def test_fuzz_paths_and_file_contents(fast_runs, trained_run, data):
    fuzz_paths(data, trained_run)


@settings(FAST, max_examples=40)
@given(data=st.data())
def test_fuzz_image_folder_loader(data):
    fuzz_folder_loader(data)


@settings(FAST, max_examples=10)
@given(args=other_commands())
def test_fuzz_other_commands(args):
    invoke(*args)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_everything_many_times(fast_runs, trained_run, data):
    which = data.draw(st.sampled_from(["options", "toml", "paths", "folder"]))
    {"options": fuzz_options, "toml": fuzz_toml, "folder": fuzz_folder_loader,
     "paths": lambda d: fuzz_paths(d, trained_run)}[which](data)


def test_zz_report_fuzz_counts():
    """Prints how many inputs the fuzz tests above threw (run with -s to see)."""
    print("fuzz counts:", json.dumps(COUNTS))
    assert COUNTS["tracebacks"] == 0
