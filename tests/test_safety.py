"""What the user sees when files are damaged or malicious, outputs cannot be written, or a
configuration cannot fit in memory: one line, exit code 2, checkpoints kept."""

import errno
import hashlib
import pickle
import shutil

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganforge.cli.app import app
from ganforge.memory import GIB, available_memory, check_fits
from ganforge.errors import GanforgeError
from ganforge.training.loop import checkpoint as checkpoint_module
from ganforge.training.loop.checkpoint import find_checkpoint
from ganforge.training.loop.driver import RunDriver

TINY = ["-O", "ngf=4", "-O", "ndf=4", "--batch-size", "8", "--log-every", "1", "--sample-every", "4",
        "--checkpoint-every", "2", "--device", "cpu"]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments, after_progress=False):
    """Exit code 2 and one ``error:`` line (the only line, or the last after training's progress lines)."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert "Traceback" not in result.output and errors == lines[-1:], result.output
    assert after_progress or len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 4-step run: latest.pt (step 4) and step-000002.pt."""
    root = tmp_path_factory.mktemp("trained")
    result = cli("train", "dcgan", *TINY, "--steps", "4", "--runs-dir", root, "--name", "run")
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


# -- damaged checkpoints ----------------------------------------------------------------------

def test_truncated_latest_resumes_from_the_periodic_checkpoint_saying_so(run):
    latest = run / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    result = cli("train", "--resume", run, "--steps", "5")
    assert result.exit_code == 0, result.output
    assert ("warning: checkpoints/latest.pt is unusable: checksum mismatch (truncated or damaged; 1000 bytes); "
            "resuming from checkpoints/step-000002.pt (step 2) instead") in result.stderr
    assert f"resuming {run} at step 2 of 5" in result.stderr
    assert find_checkpoint(run, warn=pytest.fail).state["step"] == 5


def test_no_intact_checkpoint_is_one_line(run):
    for p in (run / "checkpoints").glob("*.pt"):
        p.write_bytes(b"")
    one_line_error(cli("train", "--resume", run), "no intact checkpoint to resume from",
                   "latest.pt: checksum mismatch", "step-000002.pt: checksum mismatch")


# -- malicious files: nothing is ever unpickled with code execution -------------------------------

class Payload:
    """Unpickling this would create the marker file (``open(marker, "w")``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker, as_torch_zip):
    payload = {"step": 1, "generator": Payload(marker), "discriminator": {}, "g_optimizer": {}, "d_optimizer": {}}
    if as_torch_zip:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    # The attacker writes a matching checksum too: weights_only is what must stop it.
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


@pytest.mark.parametrize("as_torch_zip", [True, False], ids=["torch-zip", "raw-pickle"])
def test_malicious_checkpoints_are_refused_without_running_code(run, tmp_path, as_torch_zip):
    marker = tmp_path / "pwned"
    plant(run / "checkpoints" / "latest.pt", marker, as_torch_zip)
    result = cli("train", "--resume", run, "--steps", "5")  # falls back to the intact periodic one
    assert result.exit_code == 0, result.output
    assert "latest.pt is unusable: not a loadable checkpoint" in result.stderr and "step-000002.pt" in result.stderr
    for p in (run / "checkpoints").glob("*.pt"):  # now every checkpoint is malicious
        plant(p, marker, as_torch_zip)
    one_line_error(cli("train", "--resume", run), "no intact checkpoint", "not a loadable checkpoint")
    assert not marker.exists()


def test_malicious_generator_config_and_run_config_are_refused(run, tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Payload(marker))
    (run / "generator.safetensors").write_bytes(evil)
    one_line_error(cli("sample", run, "--n", "4", "--out", tmp_path / "s.png"), "not a safetensors file")
    (tmp_path / "evil.toml").write_bytes(evil)
    one_line_error(cli("train", "dcgan", "--config", tmp_path / "evil.toml", "--runs-dir", tmp_path / "r"),
                   "evil.toml is not valid TOML")
    (run / "config.json").write_bytes(evil)
    one_line_error(cli("train", "--resume", run), "cannot read config.json")
    assert not marker.exists() and not (tmp_path / "r").exists()


# -- outputs that cannot be written ----------------------------------------------------------------

def test_sample_to_an_unwritable_place_is_one_line(trained, tmp_path):
    one_line_error(cli("sample", trained, "--n", "4", "--out", "/proc/x.png"), "cannot write /proc/x.png")
    (tmp_path / "file").write_text("")
    one_line_error(cli("sample", trained, "--n", "4", "--out", tmp_path / "file" / "x.png"), "cannot write")
    (tmp_path / "dir.png").mkdir()
    one_line_error(cli("sample", trained, "--n", "4", "--out", tmp_path / "dir.png"), "it is a directory")


def test_unwritable_runs_dir_is_one_line_before_training(tmp_path):
    one_line_error(cli("train", "dcgan", *TINY, "--steps", "2", "--runs-dir", "/proc/ganforge-runs"),
                   "cannot write /proc/ganforge-runs")
    (tmp_path / "file").write_text("")
    one_line_error(cli("train", "dcgan", *TINY, "--steps", "2", "--runs-dir", tmp_path / "file"), "cannot write")


def fail_with(errno_code):
    def fail(*args, **kwargs):
        raise OSError(errno_code, "simulated")
    return fail


@pytest.mark.parametrize("target", ["sample grid", "checkpoint"])
def test_a_full_disk_during_training_is_one_line_and_keeps_the_checkpoints(tmp_path, monkeypatch, target):
    if target == "sample grid":  # the first grid is written at step 4, after step 2's checkpoint
        monkeypatch.setattr(Image.Image, "save", fail_with(errno.ENOSPC))
        where = "run/samples/step-000004.png"
    else:
        real_save = torch.save
        monkeypatch.setattr(checkpoint_module.torch, "save", lambda state, path, *a, **k: fail_with(
            errno.ENOSPC)() if state["step"] == 4 else real_save(state, path, *a, **k))
        where = "run/checkpoints/latest.pt"
    result = cli("train", "dcgan", *TINY, "--steps", "6", "--runs-dir", tmp_path, "--name", "run")
    run = tmp_path / "run"
    one_line_error(result, f"cannot write {tmp_path}/{where}: the disk is full; free some space (ENOSPC)",
                   f"(checkpoints kept; after fixing it, continue with: ganforge train --resume {run})",
                   after_progress=True)
    assert find_checkpoint(run, warn=pytest.fail).state["step"] == 2
    assert not [p for p in run.rglob("*.tmp")]
    monkeypatch.undo()
    resumed = cli("train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    assert find_checkpoint(run, warn=pytest.fail).state["step"] == 6


def remove_at_step(monkeypatch, step, which):
    update = RunDriver._update

    def iterate(self):
        values = update(self)
        if self.step + 1 == step:  # the step just computed; the driver counts it next
            shutil.rmtree(self.run_dir / which if which else self.run_dir)
        return values

    monkeypatch.setattr(RunDriver, "_update", iterate)


def test_run_directory_removed_mid_run_is_one_line(tmp_path, monkeypatch):
    remove_at_step(monkeypatch, 3, None)
    result = cli("train", "dcgan", *TINY, "--steps", "6", "--runs-dir", tmp_path, "--name", "run")
    one_line_error(result, f"cannot write {tmp_path}/run/metrics.jsonl: the directory does not exist "
                           "(was it removed?) (ENOENT)", after_progress=True)
    assert not (tmp_path / "run").exists()  # not silently recreated


@pytest.mark.parametrize("which", ["samples", "checkpoints"])
def test_a_removed_sub_directory_is_recreated(tmp_path, monkeypatch, which):
    remove_at_step(monkeypatch, 5, which)  # after step 4's sample grid and checkpoint
    result = cli("train", "dcgan", *TINY, "--steps", "6", "--runs-dir", tmp_path, "--name", "run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "samples" / "step-000006.png").is_file()
    assert find_checkpoint(tmp_path / "run", warn=pytest.fail).state["step"] == 6


# -- memory -----------------------------------------------------------------------------------

def test_an_image_size_that_cannot_fit_is_refused_up_front(tmp_path):
    line = one_line_error(cli("train", "dcgan", "--image-size", "100000", "--runs-dir", tmp_path / "runs"),
                          "--image-size 100000 (5,000 images of 1x100000x100000) needs about",
                          "lower --image-size")
    estimate = float(line.split("needs about ")[1].split(" GiB")[0].replace(",", ""))
    assert estimate >= 5000 * 100000 ** 2 / GIB  # at least the uint8 result itself
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    one_line_error(cli("train", "dcgan", "--dataset", "folder", "--data-root", folder, "--image-size", "1000000",
                       "--runs-dir", tmp_path / "runs"), "--image-size 1000000 (1 image files in", "lower --image-size")
    assert not (tmp_path / "runs").exists()


def test_networks_whose_training_state_cannot_fit_are_refused_before_they_are_built(tmp_path, monkeypatch):
    import ganforge.memory

    # Linux would lend these pages and then kill the process mid-step; the estimate refuses first.
    monkeypatch.setattr(ganforge.memory, "available_memory", lambda: 512 * 1024 ** 2)
    built = []
    monkeypatch.setattr(torch.nn.ConvTranspose2d, "reset_parameters", lambda self: built.append(self.weight.device))
    line = one_line_error(cli("train", "dcgan", "--latent-dim", "200000", "-O", "ngf=4", "-O", "ndf=4",
                              "--runs-dir", tmp_path / "runs"),
                          "training the networks of 'dcgan' (weights, gradients, optimizer state) needs about",
                          "lower the architecture's width options (-O) or --latent-dim")
    first_layer = 200000 * 8 * 7 * 7 * 4  # z -> 8 maps of 7x7, float32
    estimate = float(line.split("needs about ")[1].split(" GiB")[0])
    assert estimate >= 4 * first_layer / GIB  # weights, gradients, Adam's two moments
    assert built and all(device.type == "meta" for device in built)  # nothing real was allocated
    assert not (tmp_path / "runs").exists()


def test_check_fits():
    assert available_memory() > 0
    check_fits(GIB, "x", "--opt", available=2 * GIB)
    with pytest.raises(GanforgeError, match=r"x needs about 3.0 GiB of memory but only 2.0 GiB is available; lower --opt"):
        check_fits(3 * GIB, "x", "--opt", available=2 * GIB)
