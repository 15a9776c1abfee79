"""`ganforge train --tensorboard` (the optional extra): scalars and sample grids in RUN/tensorboard."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorboard", reason="the optional 'tensorboard' extra is not installed")


def events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_scalars_and_grids_are_logged_and_a_resume_purges_what_it_trains_again(tmp_path):
    import ganforge

    run = ganforge.train("dcgan", steps=4, batch_size=16, log_every=1, sample_every=2, checkpoint_every=2,
                         arch_options={"ngf": "4", "ndf": "4"}, device="cpu", tensorboard=True,
                         runs_dir=str(tmp_path), run_name="run", progress=False, verbose=False)
    acc = events(run)
    assert [e.step for e in acc.Scalars("train/d_loss")] == [1, 2, 3, 4]
    assert {"train/g_loss", "train/d_acc_real"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Images("samples")] == [2, 4]
    ganforge.resume(run, steps=6, progress=False, verbose=False)
    steps = [e.step for e in events(run).Scalars("train/d_loss")]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_rollback_purges_the_abandoned_steps_and_logs_its_action(tmp_path):
    import ganforge

    # the discriminator of this recipe wins at step 9 (tests/test_rollback.py): back to step 0 or 5
    run = ganforge.train("dcgan", steps=16, batch_size=8, seed=7, log_every=1, sample_every=100, checkpoint_every=5,
                         d_lr=0.02, g_lr=1e-6, on_problem="rollback", max_rollbacks=1,
                         arch_options={"ngf": "4", "ndf": "4"}, device="cpu", tensorboard=True,
                         runs_dir=str(tmp_path), run_name="run", progress=False, verbose=False)
    acc = events(run)
    assert [e.step for e in acc.Scalars("train/d_loss")] == list(range(1, 17))
    texts = [t.tensor_proto.string_val[0] for t in acc.Tensors("health/text_summary")]
    assert sum(b"rolled back to step 0" in t for t in texts) == 1
