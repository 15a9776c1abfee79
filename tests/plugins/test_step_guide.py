"""The step plugin written from docs/PLUGINS.md ("Writing a training step") alone: the guide's
files, taken verbatim, are pip-installed, pass their own tests, and train through the CLI."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guide_package import guide_files, install_guide_package, put_on_path, run_package_tests
from ganforge import registry
from ganforge.cli.app import app

def step_guide_files() -> dict[str, str]:
    return guide_files("step-file")


@pytest.fixture(scope="module")
def installed_step_example(tmp_path_factory):
    return install_guide_package(tmp_path_factory.mktemp("step-guide"), "step-file", "ganforge-lazy-r1")


@pytest.fixture
def on_path(installed_step_example, monkeypatch):
    return put_on_path(installed_step_example, monkeypatch)


def test_the_guide_holds_a_complete_step_package():
    assert {"pyproject.toml", "src/ganforge_lazy_r1/step.py", "tests/test_lazy_r1.py"} <= set(step_guide_files())


def test_the_example_step_passes_its_own_tests(on_path):
    assert run_package_tests(on_path / "tests" / "test_lazy_r1.py") == 2


def test_the_example_step_trains_dcgan_with_its_lazy_phase(on_path, tmp_path):
    assert registry.find("step").get("lazy-r1").distribution == "ganforge-lazy-r1"
    result = CliRunner().invoke(app, ["train", "dcgan", "--step", "lazy-r1", "-S", "r1_interval=2", "--steps", "4",
                                      "--log-every", "1", "--batch-size", "8", "--device", "cpu", "-O", "ngf=4",
                                      "-O", "ndf=4", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert ["d_reg_r1" in r for r in records] == [True, False, True, False]
    assert all("d_loss" in r and "g_loss" in r for r in records)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["step"], config["step_options"]) == ("lazy-r1", {"gamma": 1.0, "r1_interval": 2})
