import json

import pytest
import torch

from ganforge.generator_file import load_generator
from ganforge.training.setup.assemble import build_run, resolve_config
from ganforge.training.loop.driver import RunDriver
from ganforge.training.hooks.standard import standard_hooks
from ganforge.training.loop.rundir import create_run_dir

SMALL = {"dcgan": {"ngf": "8", "ndf": "8"}, "cgan": {"ngf": "8", "ndf": "8"},
         "gan": {"g_hidden": "32", "d_hidden": "32"}}


def make_driver(tmp_path, arch="dcgan", name="run", **flags):
    flags = {"arch": arch, "batch_size": 16, "steps": 4, "log_every": 1, "sample_every": 2,
             "checkpoint_every": 2, "runs_dir": str(tmp_path), "arch_options": SMALL.get(arch), **flags}
    config, plugins = resolve_config(flags)
    run = build_run(config, plugins)
    return RunDriver(run, create_run_dir(str(tmp_path), name), standard_hooks(config, progress=False))


@pytest.mark.parametrize("arch", ["gan", "dcgan", "cgan"])
@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan"])
def test_every_builtin_architecture_trains_with_every_builtin_loss(tmp_path, arch, loss):
    driver = make_driver(tmp_path, arch, loss=loss, steps=3)
    before = [p.detach().clone() for p in driver.run.generator.parameters()]
    final = driver.run_steps()
    assert driver.step == 3
    reported = {"d_acc_real", "d_acc_fake"} if loss != "lsgan" else {"d_real_score", "d_fake_score"}
    for key in ("d_loss", "g_loss", "img_per_s", *reported):
        assert torch.isfinite(torch.tensor(final[key])), key
    after = list(driver.run.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    images = driver.run.generator(torch.randn(2, 100), torch.tensor([1, 2]) if arch == "cgan" else None)
    assert images.shape == (2, 1, 28, 28) and images.abs().max() <= 1


def test_lsgan_reports_scores_not_accuracy(tmp_path):
    final = make_driver(tmp_path, loss="lsgan", steps=1).run_steps()
    assert "d_acc_real" not in final and "d_real_score" in final


def test_run_directory_contents(tmp_path):
    driver = make_driver(tmp_path)
    driver.run_steps()
    d = driver.run_dir
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "img_per_s", "epoch"} <= set(records[0])
    assert sorted(p.name for p in (d / "samples").iterdir()) == ["step-000002.png", "step-000004.png"]
    assert sorted(p.name for p in (d / "checkpoints").iterdir()) == [
        "latest.pt", "latest.pt.sha256", "step-000002.pt", "step-000002.pt.sha256"]
    assert (d / "losses.png").stat().st_size > 1000
    assert (d / "generator.safetensors").is_file()


def test_d_and_g_step_ratio(tmp_path):
    driver = make_driver(tmp_path, steps=2, d_steps=3, g_steps=2)
    calls = {"D": 0, "G": 0}
    run_phase = driver.run.step.run_phase
    driver.run.step.run_phase = lambda phase, ctx: calls.__setitem__(phase.name, calls[phase.name] + 1) or \
        run_phase(phase, ctx)
    try:
        driver.run_steps()
    finally:
        del driver.run.step.run_phase
    assert calls == {"D": 6, "G": 4}


@pytest.mark.parametrize("optimizer,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                           ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)])
def test_per_network_optimizers(tmp_path, optimizer, cls):
    driver = make_driver(tmp_path, g_optimizer=optimizer, g_lr=1e-3, d_optimizer="adam", d_lr=5e-4,
                         g_momentum=0.9, g_nesterov=optimizer == "sgd", g_weight_decay=0.01)
    assert isinstance(driver.run.g_optimizer, cls)
    group = driver.run.g_optimizer.param_groups[0]
    assert group["lr"] == 1e-3 and group["weight_decay"] == 0.01
    assert driver.run.d_optimizer.param_groups[0]["lr"] == 5e-4


def test_nested_optimizer_settings_and_flat_keys_agree(tmp_path):
    nested, _ = resolve_config({"arch": "dcgan", "g_optim": {"name": "sgd", "lr": 0.01, "momentum": 0.5}})
    flat, _ = resolve_config({"arch": "dcgan", "g_optimizer": "sgd", "g_lr": 0.01, "g_momentum": 0.5})
    assert nested.g_optim == flat.g_optim and nested.g_optim.betas == (0.5, 0.999)


def test_epochs_set_the_number_of_steps(tmp_path):
    driver = make_driver(tmp_path, epochs=0.5, d_steps=2, batch_size=50)
    assert driver.total_steps == 25  # 100 batches of 50 per epoch, half an epoch, 2 per step


def test_uniform_prior(tmp_path):
    driver = make_driver(tmp_path, latent_prior="uniform")
    z = driver.update.latent(1000)
    assert z.min() >= -1 and z.max() <= 1 and z.std() < 0.7


@pytest.mark.parametrize("extra", [{}, {"ema": 0.9, "augment": "diffaugment", "subset": 200}],
                         ids=["plain", "ema-augment-subset"])
def test_resume_continues_exactly(tmp_path, extra):
    from ganforge.training.loop.checkpoint import load_checkpoint

    straight = make_driver(tmp_path, name="straight", steps=4, **extra)
    straight.run_steps()

    first = make_driver(tmp_path, name="split", steps=2, **extra)
    first.run_steps()
    config = first.run.config
    config.steps = 4
    resumed = RunDriver(build_run(config, first.run.plugins), first.run_dir, standard_hooks(config, progress=False))
    resumed.load_state_dict(load_checkpoint(first.run_dir))
    assert resumed.step == 2
    assert resumed.run.d_optimizer.state_dict()["state"][0]["step"] == first.run.d_optimizer.state_dict()["state"][0]["step"]
    resumed.run_steps()
    for a, b in zip(straight.run.generator.state_dict().values(), resumed.run.generator.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert torch.equal(straight.batches._order, resumed.batches._order)
    if extra:
        for a, b in zip(straight.output_generator.state_dict().values(), resumed.output_generator.state_dict().values()):
            assert torch.equal(a, b)
        assert straight.output_generator is not straight.run.generator


def test_exported_generator_rebuilds_the_same_network(tmp_path):
    driver = make_driver(tmp_path, arch="cgan")
    driver.run_steps()
    G, info = load_generator(driver.run_dir, torch.device("cpu"))
    assert info.arch == "cgan" and info.spec.num_classes == 10 and info.class_names[8] == "8"
    z, labels = torch.randn(4, 100), torch.tensor([0, 1, 8, 9])
    driver.run.generator.eval()
    torch.testing.assert_close(G(z, labels), driver.run.generator(z, labels))


def test_an_option_added_after_the_export_takes_its_legacy_value_as_resume_does(tmp_path, monkeypatch):
    from ganforge.models.dcgan import DCGAN
    from ganforge.options import Option

    driver = make_driver(tmp_path)
    driver.run_steps()
    newer = {**DCGAN.options, "blur": Option("on", choices=("on", "off"), legacy="off"), "gain": Option(2.0)}
    monkeypatch.setattr(DCGAN, "options", newer)
    _, info = load_generator(driver.run_dir, torch.device("cpu"))
    assert info.spec.options["blur"] == "off"  # exported before "blur" existed: its legacy value
    assert info.spec.options["gain"] == 2.0  # no legacy value declared: the default
