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
