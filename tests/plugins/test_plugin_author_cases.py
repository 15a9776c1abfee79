"""What a plugin author meets, end to end: the guide's example package (docs/PLUGINS.md),
written to a temporary directory with a deliberately broken variant for each case of
issue 13, pip-installed, and driven through the CLI. Every message is asserted exactly,
and the ones docs/PLUGINS.md shows are asserted to appear there verbatim."""

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from ganforge import registry
from ganforge.cli.app import app
from ganforge.testing import ConformanceError, check_architecture, quick_check

from test_plugin_guide import GUIDE, guide_files

DIST = "ganforge-mlp-cgan 0.1.0"

# Variants of the guide's architecture and loss, in a second package of the same distribution.
CASES = '''
import torch
from torch import nn

from ganforge.interfaces import InvalidSpec, Option, UnsupportedImageShape
from ganforge_mlp_cgan.arch import MLPConditionalGAN
from ganforge_mlp_cgan.loss import SmoothedNonSaturating


class TupleDefault(MLPConditionalGAN):
    """Issue 13, case 1: a tuple default used to load and turn -O hidden=32,32 into characters."""
    options = {"hidden": (64, 128)}


class WithActivation(MLPConditionalGAN):
    """Case 2: a declared choice is checked before anything is built."""
    options = {**MLPConditionalGAN.options,
               "activation": Option("leaky_relu", choices=("leaky_relu", "relu"), help="hidden activation")}


class OldStyleActivation(MLPConditionalGAN):
    """Case 2, an old plugin: a plain default, and a ValueError from build_generator."""
    options = {**MLPConditionalGAN.options, "activation": "leaky_relu"}

    def build_generator(self, spec):
        if spec.options["activation"] not in ("leaky_relu", "relu"):
            raise ValueError(f"unknown activation {spec.options['activation']!r}")
        return super().build_generator(spec)


class Patches(MLPConditionalGAN):
    """Case 2: a rule over options and image shape, in the validate hook."""
    options = {**MLPConditionalGAN.options, "patch": Option(4, min=1, help="side of the square patches")}

    def validate(self, spec):
        super().validate(spec)  # channels, square images, image_sizes
        size, patch = spec.image_size, spec.options["patch"]
        if size % patch:
            raise InvalidSpec(f"patch={patch} does not divide the image size {size}")


class HintTwice(MLPConditionalGAN):
    """Case 3: a plugin that gives the hint itself gets it once."""
    def check_image_shape(self, image_shape):
        if image_shape[1] != 32:
            raise UnsupportedImageShape(f"only 32x32 images, not {image_shape[1]}x{image_shape[2]} "
                                        f"(set --image-size 32)")


class HintOnce(MLPConditionalGAN):
    """Case 3: a plugin that does not gets ganforge's hint."""
    def check_image_shape(self, image_shape):
        if image_shape[1] != 32:
            raise UnsupportedImageShape(f"only 32x32 images, not {image_shape[1]}x{image_shape[2]}")


class BrokenLossDefault(MLPConditionalGAN):
    """Case 5: the default loss of this architecture does not keep the loss contract."""
    defaults = {"loss": "smooth-broken"}


class NoLossEntry(SmoothedNonSaturating):
    def discriminator_loss(self, batch):
        return {"total": super().discriminator_loss(batch)["loss"]}
'''

VARIANTS = {
    "ganforge.architectures": {
        "mlp-tuple": "TupleDefault", "mlp-act": "WithActivation", "mlp-old-act": "OldStyleActivation",
        "mlp-patches": "Patches", "mlp-hint-twice": "HintTwice", "mlp-hint-once": "HintOnce",
        "mlp-broken-loss": "BrokenLossDefault",
    },
    "ganforge.losses": {"smooth-broken": "NoLossEntry"},
}

# A second distribution that also registers the example's loss name.
OTHER_SMOOTHING = """
from ganforge.losses.builtin import NonSaturating


class OtherSmoothing(NonSaturating):
    description = "another package's smooth-ns"
"""


@pytest.fixture(scope="module")
def installed_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("author-cases")
    project, target = root / "ganforge-mlp-cgan", root / "site"
    files = guide_files()
    pyproject = files["pyproject.toml"]
    for group, entries in VARIANTS.items():
        header = f'[project.entry-points."{group}"]\n'
        lines = "".join(f'{name} = "mlp_cgan_cases:{cls}"\n' for name, cls in entries.items())
        assert header in pyproject
        pyproject = pyproject.replace(header, header + lines)
    files["pyproject.toml"] = pyproject
    files["src/mlp_cgan_cases/__init__.py"] = textwrap.dedent(CASES)
    for rel, body in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(body, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                    "--no-index", "--target", str(target), str(project)], check=True)
    return target


@pytest.fixture
def cases(installed_cases, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_cases))
    registry.clear_cache()


@pytest.fixture
def clash(cases, make_distribution):
    make_distribution("other-smoothing", {"ganforge.losses": {"smooth-ns": "other_smoothing_mod:OtherSmoothing"}},
                      {"other_smoothing_mod": OTHER_SMOOTHING}, "2.0")


FAST = ["--steps", "1", "--batch-size", "8", "--device", "cpu", "-O", "hidden=16"]


def train(tmp_path, *args):
    return CliRunner().invoke(app, ["train", *map(str, args), "--runs-dir", str(tmp_path / "runs")])


def one_line_error(result, tmp_path) -> str:
    """The whole stderr of a refused run: one `error:` line, exit code 2, no run directory."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not (tmp_path / "runs").exists()
    return lines[0][len("error: "):]


def documented(message: str) -> str:
    assert message in GUIDE.read_text(encoding="utf-8"), f"docs/PLUGINS.md does not show: {message}"
    return message


# Case 1: a non-scalar default is refused when the plugin loads, naming the option.

TUPLE_MESSAGE = (f"architecture plugin 'mlp-tuple' from {DIST}: option 'hidden' has default (64, 128), a tuple; "
                 f"option defaults must be int, float, bool or str (for a list, use a string such as \"64,128\" "
                 f"and split it yourself)")


def test_tuple_default_is_refused_at_load(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-tuple", *FAST[:-2], "-O", "hidden=32,32"), tmp_path)
    assert message == documented(TUPLE_MESSAGE)
    from mlp_cgan_cases import TupleDefault

    with pytest.raises(ConformanceError) as info:
        check_architecture(TupleDefault)
    assert str(info.value) == ("interface: architecture mlp_cgan_cases.TupleDefault: option 'hidden' has default "
                               "(64, 128), a tuple; option defaults must be int, float, bool or str (for a list, "
                               "use a string such as \"64,128\" and split it yourself)")


def test_plugins_check_reports_the_tuple_default(cases):
    result = CliRunner().invoke(app, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert (rows["mlp-tuple"]["status"], rows["mlp-tuple"]["problem"]) == ("error", TUPLE_MESSAGE)
    assert rows["mlp-cgan"]["status"] == "ok, checks passed"


# Case 2: option values are parsed and checked before anything is built or written.

def test_wrong_type_is_refused(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-cgan", *FAST[:-2], "-O", "hidden=32,32"), tmp_path)
    assert message == documented("architecture 'mlp-cgan': option hidden='32,32': expected int")


def test_out_of_range_is_refused(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-cgan", *FAST[:-2], "-O", "hidden=0"), tmp_path)
    assert message == documented("architecture 'mlp-cgan': option hidden='0': must be at least 1")


def test_bad_choice_is_refused(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-act", *FAST, "-O", "activation=tanh"), tmp_path)
    assert message == documented("architecture 'mlp-act': option activation='tanh': must be one of leaky_relu or relu")


def test_unknown_option_is_refused_with_the_known_ones(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-cgan", *FAST, "-O", "hiden=3"), tmp_path)
    assert message == documented("architecture 'mlp-cgan' has no option hiden; did you mean 'hidden'? "
                                 "(options: hidden)")


def test_value_error_from_build_generator_is_one_line(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-old-act", *FAST, "-O", "activation=tanh"), tmp_path)
    assert message == documented(f"architecture plugin 'mlp-old-act' from {DIST}: build_generator raised "
                                 f"ValueError: unknown activation 'tanh'")


def test_validate_hook_sees_options_and_shape(cases, tmp_path):
    message = one_line_error(train(tmp_path, "mlp-patches", *FAST, "-O", "patch=5"), tmp_path)
    assert message == documented(f"architecture plugin 'mlp-patches' from {DIST}: patch=5 does not divide the "
                                 f"image size 28")
    ok = train(tmp_path, "mlp-patches", *FAST, "-O", "patch=7")
    assert ok.exit_code == 0, ok.output


def test_kit_runs_the_validate_hook(cases):
    from mlp_cgan_cases import Patches

    with pytest.raises(ConformanceError) as info:
        check_architecture(Patches, options={"hidden": 16, "patch": 5}, image_sizes=(28,))
    assert str(info.value) == ("validate: rejects 28x28x1 with hidden=16, patch=5, a shape the architecture declares "
                               "(channels=(1, 3), image_sizes=None): patch=5 does not divide the image size 28")
    with pytest.raises(ConformanceError, match=r"^options: Patches: option patch=0: must be at least 1$"):
        check_architecture(Patches, options={"patch": 0})


# Case 3: ganforge adds its hint once, whether or not the plugin's message has it.

def test_hint_is_never_doubled(cases, tmp_path):
    twice = one_line_error(train(tmp_path, "mlp-hint-twice", *FAST), tmp_path)
    once = one_line_error(train(tmp_path, "mlp-hint-once", *FAST), tmp_path)
    assert twice == f"architecture plugin 'mlp-hint-twice' from {DIST}: only 32x32 images, not 28x28 (set --image-size 32)"
    assert once == documented(f"architecture plugin 'mlp-hint-once' from {DIST}: only 32x32 images, not 28x28 "
                              f"(set --image-size)")


# Case 4: a clash is resolved with DIST:NAME, and a package's default loss is its own.

def test_clash_message_suggests_qualified_names(clash, tmp_path):
    message = one_line_error(train(tmp_path, "gan", *FAST[:-2], "--loss", "smooth-ns"), tmp_path)
    assert message == documented(
        "loss name 'smooth-ns' is registered by ganforge-mlp-cgan 0.1.0 "
        "(ganforge_mlp_cgan.loss:SmoothedNonSaturating) and other-smoothing 2.0 "
        "(other_smoothing_mod:OtherSmoothing); name one as ganforge-mlp-cgan:smooth-ns or "
        "other-smoothing:smooth-ns (e.g. --loss ganforge-mlp-cgan:smooth-ns), or uninstall one of them")


def test_qualified_loss_name_trains_and_is_recorded(clash, tmp_path):
    result = train(tmp_path, "gan", "--steps", "1", "--batch-size", "8", "--device", "cpu",
                   "-O", "g_hidden=16", "-O", "d_hidden=16", "--loss", "other-smoothing:smooth-ns")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs").glob("*/config.json").__next__().read_text())
    assert config["loss"] == "other-smoothing:smooth-ns"


def test_default_loss_comes_from_the_architectures_own_distribution(clash, tmp_path):
    result = train(tmp_path, "mlp-cgan", *FAST)
    assert result.exit_code == 0, result.output
    run_dir = result.stdout.strip().splitlines()[-1]
    config = json.loads(open(f"{run_dir}/config.json").read())
    assert config["loss"] == "ganforge-mlp-cgan:smooth-ns"  # recorded so that --resume finds the same one
    assert "d_real_score" in open(f"{run_dir}/metrics.jsonl").read()  # the example's loss logged its extra
    resumed = CliRunner().invoke(app, ["train", "--resume", run_dir, "--steps", "2"])
    assert resumed.exit_code == 0, resumed.output


def test_plugins_lists_both_with_how_to_select_them(clash):
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0  # the index alone: nothing imported
    rows = [row for row in json.loads(result.stdout) if row["name"] == "smooth-ns"]
    assert [(r["distribution"], r["status"], r["note"]) for r in rows] == [
        ("ganforge-mlp-cgan", "not loaded", "name clash: select it as ganforge-mlp-cgan:smooth-ns"),
        ("other-smoothing", "not loaded", "name clash: select it as other-smoothing:smooth-ns"),
    ]


# Case 5: a broken default loss is the loss's problem, under its registered name.

BROKEN_LOSS = ("discriminator_loss: a loss returned a mapping without a 'loss' entry (keys: total); "
               "return {'loss': total, ...}")


def test_plugins_check_blames_the_default_loss(cases):
    result = CliRunner().invoke(app, ["plugins", "--check", "--json"])
    assert result.exit_code == 1
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["mlp-broken-loss"]["status"] == "check failed"
    assert rows["mlp-broken-loss"]["problem"] == documented(
        f"loss: the architecture's default loss, loss plugin 'smooth-broken' from {DIST}, fails its checks: "
        f"{BROKEN_LOSS}")
    assert (rows["smooth-broken"]["status"], rows["smooth-broken"]["problem"]) == ("check failed", BROKEN_LOSS)


def test_quick_check_only_raises_conformance_errors(cases):
    from mlp_cgan_cases import OldStyleActivation

    arch = OldStyleActivation()
    arch.options = {**arch.options, "activation": "tanh"}  # a default the plugin itself cannot build
    assert quick_check("architecture", arch) == (
        "outputs: OldStyleActivation at 28x28x1: build_generator raised ValueError: unknown activation 'tanh'")


# Old plugins keep working: plain defaults and an overridden check_image_shape, without validate.

def test_guide_example_still_trains_with_plain_values(cases, tmp_path):
    result = train(tmp_path, "mlp-hint-twice", "--image-size", "32", *FAST)
    assert result.exit_code == 0, result.output
