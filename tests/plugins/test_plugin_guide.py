"""A plugin written from docs/PLUGINS.md alone: the guide's example files, taken verbatim
from the guide, are pip-installed, pass their own tests, and train through the CLI."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganforge import registry
from ganforge.cli.app import app
from ganforge.training.setup.config import OPTION_NAMES

from guide_package import GUIDE, guide_files as marked_files, install_guide_package, put_on_path, run_package_tests


def guide_files() -> dict[str, str]:
    return marked_files("file")


def test_guide_example_is_a_complete_package():
    files = guide_files()
    assert {"pyproject.toml", "src/ganforge_mlp_cgan/arch.py", "src/ganforge_mlp_cgan/loss.py",
            "tests/test_mlp_cgan.py"} <= set(files)


def test_guide_lists_every_training_option():
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## Training defaults", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in re.findall(r"^\| (`.+?`) \|", section, re.M):
        listed |= set(re.findall(r"`(\w+)`", row))
    assert listed == OPTION_NAMES


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """Write the guide's files as a project and pip-install it into a private target dir."""
    return install_guide_package(tmp_path_factory.mktemp("guide"), "file", "ganforge-mlp-cgan")


@pytest.fixture
def on_path(installed_example, monkeypatch):
    return put_on_path(installed_example, monkeypatch)


def test_example_is_found_with_its_distribution(on_path):
    assert registry.find("architecture").get("mlp-cgan").distribution == "ganforge-mlp-cgan"
    assert registry.find("loss").get("smooth-ns").distribution == "ganforge-mlp-cgan"


def test_example_passes_its_own_tests(on_path):
    assert run_package_tests(on_path / "tests" / "test_mlp_cgan.py") == 2


def test_example_trains_and_samples_a_label(on_path, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "mlp-cgan", "--steps", "3", "--device", "cpu", "-O", "hidden=32",
                                 "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_dir = result.stdout.strip().splitlines()[-1]
    config = json.loads(Path(run_dir, "config.json").read_text())
    assert (config["loss"], config["batch_size"]) == ("smooth-ns", 32)  # the architecture's defaults
    assert "d_real_score" in Path(run_dir, "metrics.jsonl").read_text()
    out = tmp_path / "sevens.png"
    result = runner.invoke(app, ["sample", run_dir, "--n", "4", "--label", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
