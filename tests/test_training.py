import json

import pytest
import torch

from ganforge.generator_file import load_generator
from ganforge.training.assemble import build_run, resolve_config
from ganforge.training.loop import Trainer
from ganforge.training.rundir import create_run_dir

SMALL = {"dcgan": {"ngf": "8", "ndf": "8"}, "cgan": {"ngf": "8", "ndf": "8"},
         "gan": {"g_hidden": "32", "d_hidden": "32"}}


def make_trainer(tmp_path, arch="dcgan", name="run", **flags):
    flags = {"arch": arch, "batch_size": 16, "steps": 4, "log_every": 1, "sample_every": 2,
             "checkpoint_every": 2, "runs_dir": str(tmp_path), "arch_options": SMALL.get(arch), **flags}
    run = build_run(resolve_config(flags))
    return Trainer(run, create_run_dir(str(tmp_path), name))


@pytest.mark.parametrize("arch", ["gan", "dcgan", "cgan"])
@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "lsgan"])
def test_every_builtin_architecture_trains_with_every_builtin_loss(tmp_path, arch, loss):
    trainer = make_trainer(tmp_path, arch, loss=loss, steps=3)
    before = [p.detach().clone() for p in trainer.run.generator.parameters()]
    final = trainer.train()
    assert trainer.step == 3
    for key in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake", "img_per_s"):
        assert torch.isfinite(torch.tensor(final[key])), key
    after = list(trainer.run.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    images = trainer.run.generator(torch.randn(2, 100), torch.tensor([1, 2]) if arch == "cgan" else None)
    assert images.shape == (2, 1, 28, 28) and images.abs().max() <= 1


def test_run_directory_contents(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.train()
    d = trainer.run_dir
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"d_loss", "g_loss", "d_acc_real", "d_acc_fake", "img_per_s", "epoch"} <= set(records[0])
    assert sorted(p.name for p in (d / "samples").iterdir()) == ["step-000002.png", "step-000004.png"]
    assert sorted(p.name for p in (d / "checkpoints").iterdir()) == [
        "latest.pt", "latest.pt.sha256", "step-000002.pt", "step-000002.pt.sha256"]
    assert (d / "losses.png").stat().st_size > 1000
    assert (d / "generator.safetensors").is_file()


def test_d_and_g_step_ratio(tmp_path):
    trainer = make_trainer(tmp_path, steps=2, d_steps=3, g_steps=2)
    calls = {"d": 0, "g": 0}
    d_step, g_step = trainer.discriminator_step, trainer.generator_step
    trainer.discriminator_step = lambda *a: calls.__setitem__("d", calls["d"] + 1) or d_step(*a)
    trainer.generator_step = lambda *a: calls.__setitem__("g", calls["g"] + 1) or g_step(*a)
    trainer.train()
    assert calls == {"d": 6, "g": 4}


@pytest.mark.parametrize("optimizer,cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop),
                                           ("sgd", torch.optim.SGD)])
def test_per_network_optimizers(tmp_path, optimizer, cls):
    trainer = make_trainer(tmp_path, g_optimizer=optimizer, g_lr=1e-3, d_optimizer="adam", d_lr=5e-4,
                           g_momentum=0.9, g_nesterov=optimizer == "sgd")
    assert isinstance(trainer.run.g_optimizer, cls)
    assert trainer.run.g_optimizer.param_groups[0]["lr"] == 1e-3
    assert trainer.run.d_optimizer.param_groups[0]["lr"] == 5e-4


def test_epochs_set_the_number_of_steps(tmp_path):
    trainer = make_trainer(tmp_path, epochs=0.5, d_steps=2, batch_size=50)
    assert trainer.run.total_steps == 25  # 100 batches of 50 per epoch, half an epoch, 2 per step


def test_uniform_prior(tmp_path):
    trainer = make_trainer(tmp_path, latent_prior="uniform")
    z = trainer._latent(1000)
    assert z.min() >= -1 and z.max() <= 1 and z.std() < 0.7


def test_resume_continues_exactly(tmp_path):
    straight = make_trainer(tmp_path, name="straight", steps=4)
    straight.train()

    first = make_trainer(tmp_path, name="split", steps=2)
    first.train()
    resumed = Trainer(build_run(first.run.config), first.run_dir)
    resumed.resume()
    assert resumed.step == 2
    assert resumed.run.d_optimizer.state_dict()["state"][0]["step"] == first.run.d_optimizer.state_dict()["state"][0]["step"]
    resumed.run.config.steps = 4
    resumed.train()
    for a, b in zip(straight.run.generator.state_dict().values(), resumed.run.generator.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_exported_generator_rebuilds_the_same_network(tmp_path):
    trainer = make_trainer(tmp_path, arch="cgan")
    trainer.train()
    G, info = load_generator(trainer.run_dir, torch.device("cpu"))
    assert info.arch == "cgan" and info.spec.num_classes == 10 and info.class_names[8] == "8"
    z, labels = torch.randn(4, 100), torch.tensor([0, 1, 8, 9])
    trainer.run.generator.eval()
    torch.testing.assert_close(G(z, labels), trainer.run.generator(z, labels))
